package identity

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// forge signs claims with key under alg-appropriate method and extra headers,
// as an attacker with their own tooling would.
func forge(t *testing.T, method jwt.SigningMethod, signKey any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// protoClaims are well-formed protocol claims from consumer to provider at now.
func protoClaims(now time.Time, iss, sub string) *ProtocolClaims {
	return &ProtocolClaims{Kind: KindProtocol, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: iss, Subject: sub, Audience: jwt.ClaimStrings{providerID},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: newJTI(),
	}}
}

func headers(k *Key, typ string) map[string]any {
	return map[string]any{"kid": k.KeyID(), "typ": typ}
}

// tamper replaces the payload of a signed token, keeping header and signature.
func tamper(tok string, edit func(string) string) string {
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(edit(string(p))))
	return strings.Join(parts, ".")
}

func TestAttacks(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *space) error
		want error
	}{
		{"alg none", func(t *testing.T, s *space) error {
			tok := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
				headers(s.cons.Key(), TypProtocol), protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrAlgorithm},
		{"HS256 with the public key as secret", func(t *testing.T, s *space) error {
			secret := []byte(s.cons.Key().JWK().X)
			tok := forge(t, jwt.SigningMethodHS256, secret, headers(s.cons.Key(), TypProtocol),
				protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrAlgorithm},
		{"EdDSA alg on an ES256 key", func(t *testing.T, s *space) error {
			k, _ := GenerateEd25519()
			h := headers(s.cons.Key(), TypProtocol) // consumer's ES256 kid
			tok := forge(t, jwt.SigningMethodEdDSA, k.Signer(), h, protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrAlgorithm},
		{"unknown kid", func(t *testing.T, s *space) error {
			k, _ := GenerateEd25519()
			tok := forge(t, jwt.SigningMethodEdDSA, k.Signer(), headers(k, TypProtocol),
				protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrUnknownKey},
		{"injected kid", func(t *testing.T, s *space) error {
			k, _ := GenerateEd25519()
			tok := forge(t, jwt.SigningMethodEdDSA, k.Signer(), map[string]any{"kid": "../../keys/provider' OR '1'='1", "typ": TypProtocol},
				protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrUnknownKey},
		{"another participant's kid", func(t *testing.T, s *space) error {
			k, _ := GenerateEd25519()
			tok := forge(t, jwt.SigningMethodEdDSA, k.Signer(), headers(s.prov.Key(), TypProtocol),
				protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrUnknownKey},
		{"missing kid", func(t *testing.T, s *space) error {
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), map[string]any{"typ": TypProtocol},
				protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrUnknownKey},
		{"jku header", func(t *testing.T, s *space) error {
			h := headers(s.cons.Key(), TypProtocol)
			h["jku"] = "https://attacker.example/jwks.json"
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), h, protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrForbiddenHeader},
		{"x5u header", func(t *testing.T, s *space) error {
			h := headers(s.cons.Key(), TypProtocol)
			h["x5u"] = "https://attacker.example/cert.pem"
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), h, protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrForbiddenHeader},
		{"embedded jwk header", func(t *testing.T, s *space) error {
			k, _ := GenerateEd25519()
			h := headers(k, TypProtocol)
			h["jwk"] = k.JWK()
			tok := forge(t, jwt.SigningMethodEdDSA, k.Signer(), h, protoClaims(s.clock.Now(), consumerID, consumerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrForbiddenHeader},
		{"expired", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken(providerID))
			s.clock.Add(MaxProtocolTTL + DefaultLeeway + time.Second)
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrExpired},
		{"not yet valid", func(t *testing.T, s *space) error {
			s.clock.Add(10 * time.Minute)
			tok := s.must(s.cons.ProtocolToken(providerID))
			s.clock.Add(-10 * time.Minute)
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrNotYetValid},
		{"lifetime over 5 minutes", func(t *testing.T, s *space) error {
			c := protoClaims(s.clock.Now(), consumerID, consumerID)
			c.ExpiresAt = jwt.NewNumericDate(s.clock.Now().Add(time.Hour))
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), headers(s.cons.Key(), TypProtocol), c)
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrLifetime},
		{"wrong audience", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken("someone-else"))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrWrongAudience},
		{"wrong issuer: sub is not iss", func(t *testing.T, s *space) error {
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), headers(s.cons.Key(), TypProtocol),
				protoClaims(s.clock.Now(), consumerID, authorityID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrWrongIssuer},
		{"wrong issuer: access token from another provider", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrWrongIssuer},
		{"wrong issuer: auditor token not from the authority", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.RoleToken(RoleAuditor, consumerID, "ledger", nil, time.Hour))
			_, err := s.ver.VerifyRole(t.Context(), tok, "ledger")
			return err
		}, ErrWrongIssuer},
		{"wrong issuer: participant token for someone else", func(t *testing.T, s *space) error {
			c := &RoleClaims{Kind: KindRole, Role: RoleParticipant, RegisteredClaims: jwt.RegisteredClaims{
				Issuer: consumerID, Subject: providerID, Audience: jwt.ClaimStrings{"ledger"},
				IssuedAt: jwt.NewNumericDate(s.clock.Now()), ExpiresAt: jwt.NewNumericDate(s.clock.Now().Add(time.Minute)), ID: newJTI(),
			}}
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), headers(s.cons.Key(), TypRole), c)
			_, err := s.ver.VerifyRole(t.Context(), tok, "ledger")
			return err
		}, ErrWrongIssuer},
		{"access token used as protocol token", func(t *testing.T, s *space) error {
			g := s.grant()
			g.Audience = providerID
			tok := s.must(s.prov.AccessToken(g))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrWrongKind},
		{"protocol token used as access token", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.ProtocolToken(dataPlane))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrWrongKind},
		{"protocol token used as role token", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken("ledger"))
			_, err := s.ver.VerifyRole(t.Context(), tok, "ledger")
			return err
		}, ErrWrongKind},
		{"DPoP proof used as protocol token", func(t *testing.T, s *space) error {
			tok := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, "x", s.clock.Now()))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrForbiddenHeader},
		{"protocol typ with access claims", func(t *testing.T, s *space) error {
			c := protoClaims(s.clock.Now(), consumerID, consumerID)
			c.Kind = KindAccess
			tok := forge(t, jwt.SigningMethodES256, s.cons.Key().Signer(), headers(s.cons.Key(), TypProtocol), c)
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrWrongKind},
		{"replayed jti", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken(providerID))
			if _, err := s.ver.VerifyProtocol(t.Context(), tok, providerID); err != nil {
				t.Fatalf("first use: %v", err)
			}
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrReplay},
		{"replayed DPoP proof", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			if _, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane); err != nil {
				t.Fatalf("first use: %v", err)
			}
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrReplay},
		{"payload altered after signing", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken(providerID))
			tok = tamper(tok, func(p string) string { return strings.Replace(p, consumerID, "consumer-x", 2) })
			s.src.Put(Participant{ID: "consumer-x", Keys: []JWK{s.cons.Key().JWK()}, Status: StatusActive})
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrBadSignature},
		{"agreement altered after signing", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			tok = tamper(tok, func(p string) string { return strings.Replace(p, "agr-A", "agr-B", 1) })
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrBadSignature},
		{"signature stripped", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken(providerID))
			tok = tok[:strings.LastIndexByte(tok, '.')+1]
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrBadSignature},
		{"signature segment removed", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken(providerID))
			tok = tok[:strings.LastIndexByte(tok, '.')]
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrMalformed},
		{"suspended participant's valid token", func(t *testing.T, s *space) error {
			tok := s.must(s.sp.ProtocolToken(providerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrSuspended},
		{"unregistered participant", func(t *testing.T, s *space) error {
			k, _ := GenerateEd25519()
			iss, _ := NewIssuer("stranger", k, WithIssuerClock(s.clock.Now))
			tok := s.must(iss.ProtocolToken(providerID))
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrUnknownParticipant},
		{"token for agreement A used for agreement B", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			c, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			return c.Require("agr-B", "ds-1", "t1")
		}, ErrWrongAgreement},
		{"access token without proof", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, "", "GET", dataURL, dataPlane)
			return err
		}, ErrNoProof},
		{"access token with another key's proof", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			thief, _ := GenerateES256()
			proof := s.must(DPoPProofAt(thief, "GET", dataURL, tok, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrBadProof},
		{"proof for another URL", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL+"/other", tok, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrBadProof},
		{"proof for another method", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "POST", dataURL, tok, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrBadProof},
		{"proof for another token", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			other := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, other, s.clock.Now()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrBadProof},
		{"stale proof", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
			s.clock.Add(DPoPMaxAge + DefaultLeeway + time.Second)
			_, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane)
			return err
		}, ErrBadProof},
		{"1 MB token", func(t *testing.T, s *space) error {
			tok := s.must(s.cons.ProtocolToken(providerID))
			tok = tok[:10] + strings.Repeat("A", 1<<20) + tok[10:]
			_, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
			return err
		}, ErrTokenTooLarge},
		{"1 MB proof", func(t *testing.T, s *space) error {
			tok := s.must(s.prov.AccessToken(s.grant()))
			_, err := s.ver.VerifyAccess(t.Context(), tok, strings.Repeat("A", 1<<20), "GET", dataURL, dataPlane)
			return err
		}, ErrTokenTooLarge},
		{"role token with unknown role", func(t *testing.T, s *space) error {
			c := &RoleClaims{Kind: KindRole, Role: "admin", RegisteredClaims: jwt.RegisteredClaims{
				Issuer: authorityID, Subject: "x", Audience: jwt.ClaimStrings{"ledger"},
				IssuedAt: jwt.NewNumericDate(s.clock.Now()), ExpiresAt: jwt.NewNumericDate(s.clock.Now().Add(time.Minute)), ID: newJTI(),
			}}
			tok := forge(t, jwt.SigningMethodEdDSA, s.authority.Key().Signer(), headers(s.authority.Key(), TypRole), c)
			_, err := s.ver.VerifyRole(t.Context(), tok, "ledger")
			return err
		}, ErrRole},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpace(t)
			err := tc.run(t, s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}
