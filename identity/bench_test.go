package identity

import (
	"testing"
	"time"

	"github.com/tdsc/tdsc/suite"
)

func benchSpace(b *testing.B) *space {
	b.Helper()
	return newSpaceTB(b)
}

func BenchmarkProtocolSignEdDSA(b *testing.B) {
	s := benchSpace(b)
	for b.Loop() {
		if _, err := s.prov.ProtocolToken(consumerID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProtocolSignES256(b *testing.B) {
	s := benchSpace(b)
	for b.Loop() {
		if _, err := s.cons.ProtocolToken(providerID); err != nil {
			b.Fatal(err)
		}
	}
}

// benchVerifyProtocol verifies b.N distinct tokens (each jti new, as in real
// traffic), registry lookup and replay cache included.
func benchVerifyProtocol(b *testing.B, issuer func(*space) *Issuer) {
	s := benchSpace(b)
	iss := issuer(s)
	v, err := NewVerifier(s.reg, WithClock(s.clock.Now), WithReplayCapacity(b.N+1))
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	for i := range toks {
		toks[i], _ = iss.ProtocolToken(providerID)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.VerifyProtocol(b.Context(), toks[i], providerID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyProtocolEdDSA(b *testing.B) {
	benchVerifyProtocol(b, func(s *space) *Issuer { return s.prov })
}

func BenchmarkVerifyProtocolES256(b *testing.B) {
	benchVerifyProtocol(b, func(s *space) *Issuer { return s.cons })
}

// BenchmarkEd25519Verify is the floor: one bare Ed25519 signature check.
func BenchmarkEd25519Verify(b *testing.B) {
	k, _ := GenerateEd25519()
	msg := []byte("header.payload-of-a-typical-protocol-token-of-about-three-hundred-bytes")
	sig, _ := k.SignDetached(msg)
	jwk := k.JWK()
	for b.Loop() {
		if err := jwk.VerifyDetached(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAccess verifies an access token with a fresh DPoP proof per
// request: two signature checks (provider's token, consumer's ES256 proof).
func BenchmarkVerifyAccess(b *testing.B) {
	s := benchSpace(b)
	v, _ := NewVerifier(s.reg, WithClock(s.clock.Now), WithSelf(providerID), WithReplayCapacity(b.N+1))
	tok, _ := s.prov.AccessToken(s.grant())
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i], _ = DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now())
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.VerifyAccess(b.Context(), tok, proofs[i], "GET", dataURL, dataPlane); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRole(b *testing.B) {
	s := benchSpace(b)
	tok, _ := s.authority.RoleToken(RoleAuditor, "aud-1", "ledger", nil, time.Hour)
	for b.Loop() {
		if _, err := s.ver.VerifyRole(b.Context(), tok, "ledger"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyProtocolSM2(b *testing.B) {
	s := newSuiteSpace(b, suite.GM)
	v, err := NewVerifier(s.reg, WithClock(s.clock.Now), WithReplayCapacity(b.N+1), WithSuite(suite.GM))
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	for i := range toks {
		toks[i], _ = s.prov.ProtocolToken(providerID)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.VerifyProtocol(b.Context(), toks[i], providerID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSM2Verify is the gm floor: one bare SM2 signature check.
func BenchmarkSM2Verify(b *testing.B) {
	k, _ := GenerateSM2()
	msg := []byte("header.payload-of-a-typical-protocol-token-of-about-three-hundred-bytes")
	sig, _ := k.SignDetached(msg)
	jwk := k.JWK()
	for b.Loop() {
		if err := jwk.VerifyDetached(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
