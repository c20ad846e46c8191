package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzSpace is a space with fixed keys and a fixed clock, so that the seed
// corpus under testdata/fuzz holds tokens that verify.
type fuzzSpace struct {
	ver              *Verifier
	prov, cons, auth *Issuer
	now              time.Time
}

func newFuzzSpace(tb testing.TB) *fuzzSpace {
	tb.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	src := NewMemorySource()
	mk := func(id string, seed byte) *Issuer {
		k, err := NewKey(ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed)), 32))))
		if err != nil {
			tb.Fatal(err)
		}
		src.Put(Participant{ID: id, Keys: []JWK{k.JWK()}, Status: StatusActive})
		iss, err := NewIssuer(id, k, WithIssuerClock(clk))
		if err != nil {
			tb.Fatal(err)
		}
		return iss
	}
	fs := &fuzzSpace{auth: mk(authorityID, 0), prov: mk(providerID, 1), cons: mk(consumerID, 2), now: now}
	v, err := NewVerifier(NewRegistry(src, WithRegistryClock(clk)), WithClock(clk), WithSelf(providerID), WithAuthority(authorityID))
	if err != nil {
		tb.Fatal(err)
	}
	fs.ver = v
	return fs
}

// sentinels are the errors a verifier may return for a bad token.
var sentinels = []error{
	ErrUnknownParticipant, ErrUnknownKey, ErrSuspended, ErrTokenTooLarge, ErrMalformed, ErrAlgorithm,
	ErrForbiddenHeader, ErrWrongKind, ErrExpired, ErrNotYetValid, ErrLifetime, ErrWrongAudience,
	ErrWrongIssuer, ErrReplay, ErrNoProof, ErrBadProof, ErrRole, ErrBadSignature, ErrBadKey,
}

// checkRefusal fails unless err is nil or wraps one of our sentinels: a
// verifier must explain every refusal.
func checkRefusal(t *testing.T, err error) {
	if err == nil {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("refusal without a sentinel: %v", err)
}

func FuzzVerifyProtocol(f *testing.F) {
	fs := newFuzzSpace(f)
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fs.ver.VerifyProtocol(t.Context(), token, providerID)
		checkRefusal(t, err)
		if err == nil && (c.Issuer != c.Subject || c.Kind != KindProtocol) {
			t.Fatalf("accepted inconsistent claims %+v", c)
		}
	})
}

func FuzzVerifyAccess(f *testing.F) {
	fs := newFuzzSpace(f)
	f.Add("", "")
	f.Fuzz(func(t *testing.T, token, proof string) {
		c, err := fs.ver.VerifyAccess(t.Context(), token, proof, "GET", dataURL, dataPlane)
		checkRefusal(t, err)
		if err == nil && (c.Issuer != providerID || c.Cnf == nil || c.Kind != KindAccess) {
			t.Fatalf("accepted inconsistent claims %+v", c)
		}
	})
}

func FuzzVerifyRole(f *testing.F) {
	fs := newFuzzSpace(f)
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fs.ver.VerifyRole(t.Context(), token, "ledger")
		checkRefusal(t, err)
		if err == nil && c.Role != RoleParticipant && c.Issuer != authorityID {
			t.Fatalf("accepted %s token from %q", c.Role, c.Issuer)
		}
	})
}

// TestWriteFuzzSeeds regenerates the seed corpus under testdata/fuzz from the
// fixed fuzz space: TDSC_UPDATE_FUZZ_SEEDS=1 go test ./identity -run TestWriteFuzzSeeds
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("TDSC_UPDATE_FUZZ_SEEDS") == "" {
		t.Skip("set TDSC_UPDATE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	fs := newFuzzSpace(t)
	must := func(s string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	write := func(fuzz, name string, args ...string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			fmt.Fprintf(&b, "string(%q)\n", a)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proto := must(fs.cons.ProtocolToken(providerID))
	write("FuzzVerifyProtocol", "valid", proto)
	write("FuzzVerifyProtocol", "stripped", proto[:strings.LastIndexByte(proto, '.')+1])
	write("FuzzVerifyProtocol", "none", "eyJhbGciOiJub25lIiwidHlwIjoidGRzYy1wcm90b2NvbCtqd3QifQ.eyJpc3MiOiJjb25zdW1lci1iIn0.")
	write("FuzzVerifyProtocol", "wrongaud", must(fs.cons.ProtocolToken("elsewhere")))
	g := AccessGrant{Consumer: consumerID, Audience: dataPlane, Agreement: "agr-A", Dataset: "ds-1", Transfer: "t1", ConsumerKeyThumbprint: fs.cons.Key().KeyID()}
	acc := must(fs.prov.AccessToken(g))
	write("FuzzVerifyAccess", "valid", acc, must(DPoPProofAt(fs.cons.Key(), "GET", dataURL, acc, fs.now)))
	write("FuzzVerifyAccess", "otherkey", acc, must(DPoPProofAt(fs.prov.Key(), "GET", dataURL, acc, fs.now)))
	write("FuzzVerifyAccess", "noproof", acc, "")
	write("FuzzVerifyRole", "auditor", must(fs.auth.RoleToken(RoleAuditor, "aud-1", "ledger", []string{"records"}, time.Hour)))
	write("FuzzVerifyRole", "self", must(fs.cons.RoleToken(RoleParticipant, consumerID, "ledger", nil, time.Hour)))
	write("FuzzVerifyRole", "forgedauditor", must(fs.cons.RoleToken(RoleAuditor, consumerID, "ledger", nil, time.Hour)))
}
