package identity

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// FuzzSignedClaims signs arbitrary header and payload JSON with a registered
// key, so that the fuzzer explores the claim and header checks behind a valid
// signature. Whatever it builds, an accepted token must satisfy its kind's
// invariants.
func FuzzSignedClaims(f *testing.F) {
	fs := newFuzzSpace(f)
	kid := fs.cons.Key().KeyID()
	now := fs.now.Unix()
	f.Add(`{"alg":"EdDSA","typ":"tdsc-protocol+jwt","kid":"`+kid+`"}`,
		fmt.Sprintf(`{"tkn":"protocol","iss":"consumer-b","sub":"consumer-b","aud":"provider-a","iat":%d,"exp":%d,"jti":"j1"}`, now, now+60))
	f.Add(`{"alg":"EdDSA","typ":"tdsc-role+jwt","kid":"`+kid+`"}`,
		fmt.Sprintf(`{"tkn":"role","role":"auditor","iss":"consumer-b","sub":"consumer-b","aud":"ledger","iat":%d,"exp":%d,"jti":"j2"}`, now, now+60))
	f.Add(`{"alg":"EdDSA","typ":"tdsc-access+jwt","kid":"`+kid+`"}`,
		fmt.Sprintf(`{"tkn":"access","iss":"provider-a","sub":"consumer-b","aud":"provider-a/data","agreement":"a","dataset":"d","transfer":"t","cnf":{"jkt":"%s"},"iat":%d,"exp":%d,"jti":"j3"}`, kid, now, now+60))
	f.Add(`{"alg":"EdDSA","typ":"tdsc-protocol+jwt","kid":"`+kid+`","jku":"https://x"}`,
		fmt.Sprintf(`{"tkn":"protocol","iss":"consumer-b","sub":"consumer-b","aud":["provider-a","x"],"iat":%d,"exp":%d,"jti":"j4"}`, now, now+600))
	f.Fuzz(func(t *testing.T, header, payload string) {
		enc := base64.RawURLEncoding
		input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
		sig, err := fs.cons.Key().Signer().Sign(nil, []byte(input), crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		tok := input + "." + enc.EncodeToString(sig)

		if c, err := fs.ver.VerifyProtocol(t.Context(), tok, providerID); err == nil {
			if c.Issuer != consumerID || c.Subject != consumerID || !slices.Contains(c.Audience, providerID) ||
				c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxProtocolTTL || c.ID == "" || c.Kind != KindProtocol {
				t.Fatalf("accepted protocol claims %+v", c)
			}
		} else {
			checkRefusal(t, err)
		}
		if c, err := fs.ver.VerifyRole(t.Context(), tok, "ledger"); err == nil {
			if c.Role != RoleParticipant || c.Issuer != consumerID || c.Subject != consumerID {
				t.Fatalf("accepted role claims from a participant key: %+v", c)
			}
		} else {
			checkRefusal(t, err)
		}
		// The consumer's key never signs an access token the provider accepts.
		if c, err := fs.ver.VerifyAccess(t.Context(), tok, "x", "GET", dataURL, dataPlane); err == nil {
			t.Fatalf("accepted an access token signed by the consumer: %+v", c)
		} else {
			checkRefusal(t, err)
		}
	})
}
