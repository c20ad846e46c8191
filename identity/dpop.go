package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/suite"
)

// DPoPProof makes the proof of possession a consumer sends with each data-plane
// request (RFC 9449): a JWT of typ dpop+jwt signed by key, carrying key's public
// JWK in its header and the request's method (htm), URL without query or
// fragment (htu), the time (iat), a fresh jti, and ath, the SHA-256 of the
// access token, so the proof is good for this request with this token only.
func DPoPProof(key *Key, method, rawURL, accessToken string) (string, error) {
	return DPoPProofAt(key, method, rawURL, accessToken, time.Now())
}

// DPoPProofAt is DPoPProof with an explicit time, for callers with an injected clock.
func DPoPProofAt(key *Key, method, rawURL, accessToken string, now time.Time) (string, error) {
	if key == nil || method == "" || accessToken == "" {
		return "", errors.New("identity: dpop proof: key, method and access token are required")
	}
	htu, err := normalizeHTU(rawURL)
	if err != nil {
		return "", err
	}
	pub := key.JWK()
	pub.Kid, pub.Alg, pub.Use = "", "", ""
	m := jwt.GetSigningMethod(key.JWK().Algorithm())
	t := jwt.NewWithClaims(m, &dpopClaims{
		HTM: method, HTU: htu, ATH: accessTokenHash(pub.Suite(), accessToken),
		RegisteredClaims: jwt.RegisteredClaims{IssuedAt: jwt.NewNumericDate(now), ID: newJTI()},
	})
	t.Header["typ"] = TypDPoP
	t.Header["jwk"] = pub
	return t.SignedString(key.Signer())
}

// accessTokenHash is the proof's ath (RFC 9449 §4.2): the hash of the access
// token, with the suite of the proof's key (SHA-256, or SM3 in a gm space).
func accessTokenHash(s *suite.Suite, token string) string {
	return base64.RawURLEncoding.EncodeToString(s.Sum([]byte(token)))
}

// normalizeHTU is the URL as compared in htu: scheme and host lower-cased, no
// query, no fragment, "/" for an empty path.
func normalizeHTU(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%w: claim htu: %q is not an absolute URL", ErrBadProof, raw)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + path, nil
}

// verifyProof checks a DPoP proof against the verified access token claims c.
func (v *Verifier) verifyProof(ctx context.Context, proof, method, rawURL, token string, c *AccessClaims) error {
	var key JWK
	var keyErr error
	keyFunc := func(t *jwt.Token) (any, error) {
		keyErr = proofKey(t, &key)
		if keyErr != nil {
			return nil, keyErr
		}
		return key.PublicKey()
	}
	pc := &dpopClaims{}
	t, err := jwt.NewParser(
		jwt.WithValidMethods(v.suite.Algorithms()),
		jwt.WithTimeFunc(v.now),
		jwt.WithLeeway(v.leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	).ParseWithClaims(proof, pc, keyFunc)
	if err != nil {
		if keyErr != nil {
			return fmt.Errorf("%w: %w", ErrBadProof, keyErr)
		}
		return fmt.Errorf("%w: %w", ErrBadProof, v.classify(t, err))
	}
	now := v.now()
	if pc.IssuedAt == nil || now.Sub(pc.IssuedAt.Time) > DPoPMaxAge+v.leeway {
		return fmt.Errorf("%w: claim iat: proofs must be made within %v of the request", ErrBadProof, DPoPMaxAge)
	}
	if pc.ID == "" {
		return fmt.Errorf("%w: claim jti: required", ErrBadProof)
	}
	tp, err := key.Thumbprint()
	if err != nil {
		return fmt.Errorf("%w: header jwk: %w", ErrBadProof, err)
	}
	if tp != c.Cnf.JKT {
		return fmt.Errorf("%w: header jwk: proof signed by key %q, token bound to %q", ErrBadProof, tp, c.Cnf.JKT)
	}
	if pc.HTM != method {
		return fmt.Errorf("%w: claim htm: %q, request is %q", ErrBadProof, pc.HTM, method)
	}
	want, err := normalizeHTU(rawURL)
	if err != nil {
		return err
	}
	if got, err := normalizeHTU(pc.HTU); err != nil || got != want {
		return fmt.Errorf("%w: claim htu: %q, request is %q", ErrBadProof, pc.HTU, want)
	}
	if pc.ATH != accessTokenHash(key.Suite(), token) {
		return fmt.Errorf("%w: claim ath: proof was made for another access token", ErrBadProof)
	}
	// The bound key must be a registered, active key of the consumer.
	if _, _, err := v.reg.resolve(ctx, c.Subject, tp); err != nil {
		return err
	}
	return v.proofReplay.add(tp, pc.ID, pc.IssuedAt.Add(DPoPMaxAge+2*v.leeway), now)
}

// proofKey checks a DPoP proof's header and decodes the key it carries.
func proofKey(t *jwt.Token, key *JWK) error {
	h := t.Header
	if typ, _ := h["typ"].(string); typ != TypDPoP {
		return fmt.Errorf("%w: header typ: %q, want %q", ErrWrongKind, typ, TypDPoP)
	}
	for _, name := range []string{"jku", "x5u", "x5c", "crit", "kid"} {
		if _, ok := h[name]; ok {
			return fmt.Errorf("%w: header %s: not allowed in a DPoP proof", ErrForbiddenHeader, name)
		}
	}
	raw, ok := h["jwk"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: header jwk: required, the consumer's public key", ErrMalformed)
	}
	if _, ok := raw["d"]; ok {
		return fmt.Errorf("%w: header jwk: contains a private key", ErrBadKey)
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, key); err != nil {
		return fmt.Errorf("%w: header jwk: %v", ErrBadKey, err)
	}
	key.Kid = ""
	if _, err := key.PublicKey(); err != nil {
		return err
	}
	if alg := key.Algorithm(); alg != t.Method.Alg() {
		return fmt.Errorf("%w: header alg: %q, but the jwk is an %s key", ErrAlgorithm, t.Method.Alg(), alg)
	}
	return nil
}
