package identity

import (
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"

	"github.com/tdsc/tdsc/suite"
)

// Protocol, access (with a DPoP proof) and role tokens in both suites.
func TestTokensInBothSuites(t *testing.T) {
	for _, cs := range []*suite.Suite{suite.Intl, suite.GM} {
		t.Run(cs.Name(), func(t *testing.T) {
			s := newSuiteSpace(t, cs)
			for _, iss := range []*Issuer{s.cons, s.prov, s.authority} {
				if cs == suite.GM && iss.Key().JWK().Algorithm() != suite.AlgSM2 {
					t.Fatalf("gm key of %s is %s", iss.ID(), iss.Key().JWK().Algorithm())
				}
				tok := s.must(iss.ProtocolToken(providerID))
				if _, err := s.ver.VerifyProtocol(t.Context(), tok, providerID); err != nil {
					t.Fatalf("%s: %v", iss.ID(), err)
				}
			}
			tok := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			if _, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane); err != nil {
				t.Fatal(err)
			}
			role := s.must(s.authority.RoleToken(RoleAuditor, "aud-1", "ledger", nil, time.Hour))
			if _, err := s.ver.VerifyRole(t.Context(), role, "ledger"); err != nil {
				t.Fatal(err)
			}
			// The proof's ath is the suite's hash of the access token.
			if cs == suite.GM {
				sum := sm3.Sum([]byte(tok))
				if !strings.Contains(decodePayload(t, proof), base64.RawURLEncoding.EncodeToString(sum[:])) {
					t.Fatal("gm DPoP proof's ath is not SM3 of the token")
				}
			}
		})
	}
}

func decodePayload(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A token of the other suite is refused naming the rule, even when signed by
// a key the registry holds.
func TestMixedSuiteTokensRefused(t *testing.T) {
	gm := newSuiteSpace(t, suite.GM)
	es, _ := GenerateES256()
	gm.src.Put(Participant{ID: "intruder", Name: "intruder", Keys: []JWK{es.JWK()}, Status: StatusActive})
	iss, _ := NewIssuer("intruder", es, WithIssuerClock(gm.clock.Now))
	tok := gm.must(iss.ProtocolToken(providerID))
	_, err := gm.ver.VerifyProtocol(t.Context(), tok, providerID)
	if !errors.Is(err, ErrAlgorithm) || !errors.Is(err, suite.ErrMixed) || !strings.Contains(err.Error(), suite.RuleAlg) {
		t.Fatalf("ES256 token in a gm space: %v", err)
	}

	intl := newSuiteSpace(t, suite.Intl)
	sm, _ := GenerateSM2()
	intl.src.Put(Participant{ID: "intruder", Name: "intruder", Keys: []JWK{sm.JWK()}, Status: StatusActive})
	iss, _ = NewIssuer("intruder", sm, WithIssuerClock(intl.clock.Now))
	tok = intl.must(iss.ProtocolToken(providerID))
	if _, err := intl.ver.VerifyProtocol(t.Context(), tok, providerID); !errors.Is(err, suite.ErrMixed) {
		t.Fatalf("SM2 token in an intl space: %v", err)
	}
}

func TestSM2JWK(t *testing.T) {
	k, err := GenerateSM2()
	if err != nil {
		t.Fatal(err)
	}
	j := k.JWK()
	if j.Kty != "EC" || j.Crv != "SM2" || j.Alg != suite.AlgSM2 || j.Suite() != suite.GM {
		t.Fatalf("jwk %+v", j)
	}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	// RFC 7638 members in lexicographic order, hashed with SM3.
	canon := `{"crv":"SM2","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	sum := sm3.Sum([]byte(canon))
	if j.Kid != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("kid %s is not the SM3 thumbprint", j.Kid)
	}
	msg := []byte("tdsc-batch-v1\n")
	sig, err := k.SignDetached(msg)
	if err != nil || j.VerifyDetached(msg, sig) != nil {
		t.Fatalf("detached: %v", err)
	}
	if j.VerifyDetached([]byte("other"), sig) == nil {
		t.Fatal("verifies another message")
	}
	// A P-256 JWK relabelled SM2 names the field at fault.
	p, _ := GenerateES256()
	bad := p.JWK()
	bad.Crv, bad.Kid = "SM2", ""
	if _, err := bad.PublicKey(); err == nil || !strings.Contains(err.Error(), "not on SM2") {
		t.Fatalf("P-256 point as SM2: %v", err)
	}

	path := filepath.Join(t.TempDir(), "sm2.pem")
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadKey(path)
	if err != nil || back.KeyID() != k.KeyID() {
		t.Fatalf("load: %v", err)
	}
	if sig, err := back.SignDetached(msg); err != nil || j.VerifyDetached(msg, sig) != nil {
		t.Fatalf("loaded key signs: %v", err)
	}
	for alg, want := range map[string]bool{"": true, suite.AlgSM2: true, suite.AlgES256: false, suite.AlgEdDSA: false} {
		if _, err := Generate(suite.GM, alg); (err == nil) != want {
			t.Errorf("Generate(gm, %q): %v", alg, err)
		}
	}
}

// FuzzSM2JWK: arbitrary SM2 JWK coordinates and signatures never panic the
// decoders; a key that decodes re-encodes to the same JWK.
func FuzzSM2JWK(f *testing.F) {
	k, _ := GenerateSM2()
	j := k.JWK()
	sig, _ := k.SignDetached([]byte("m"))
	f.Add(j.X, j.Y, j.Kid, []byte("m"), sig)
	f.Add("", "", "", []byte{}, []byte{})
	f.Add(j.X+"=", j.Y, "", []byte("m"), sig[:63])
	f.Fuzz(func(t *testing.T, x, y, kid string, msg, sig []byte) {
		jk := JWK{Kty: "EC", Crv: "SM2", X: x, Y: y, Kid: kid}
		if err := jk.Validate(); err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("refusal not ErrBadKey: %v", err)
			}
			return
		}
		pub, err := jk.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		back, err := NewJWK(pub)
		if err != nil || back.X != x || back.Y != y {
			t.Fatalf("round trip: %+v %v", back, err)
		}
		_ = jk.VerifyDetached(msg, sig)
	})
}

// FuzzVerifyProtocolGM: the token parser and SM2 signature decoder of a gm
// verifier never panic, explain every refusal with a sentinel, and accept
// only consistent SM3withSM2 tokens. Seeds: a valid SM2 token, the same with
// its signature cut, and an EdDSA token of a registered key.
func FuzzVerifyProtocolGM(f *testing.F) {
	s := newSuiteSpace(f, suite.GM)
	tok, err := s.cons.ProtocolToken(providerID)
	if err != nil {
		f.Fatal(err)
	}
	ed, _ := GenerateEd25519()
	s.src.Put(Participant{ID: "ed-co", Name: "ed-co", Keys: []JWK{ed.JWK()}, Status: StatusActive})
	edIss, _ := NewIssuer("ed-co", ed, WithIssuerClock(s.clock.Now))
	edTok, _ := edIss.ProtocolToken(providerID)
	f.Add(tok)
	f.Add(tok[:len(tok)-20])
	f.Add(edTok)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.ver.VerifyProtocol(t.Context(), token, providerID)
		checkRefusal(t, err)
		if err == nil {
			alg := strings.SplitN(token, ".", 2)[0]
			if c.Issuer != c.Subject || c.Kind != KindProtocol || !strings.Contains(decodeHeader(alg), suite.AlgSM2) {
				t.Fatalf("accepted %+v with header %s", c, decodeHeader(alg))
			}
		}
	})
}

func decodeHeader(h string) string {
	b, _ := base64.RawURLEncoding.DecodeString(h)
	return string(b)
}
