package dcp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
)

// IDClaims are the claims of a self-issued ID token (DCP §4.3): iss = sub =
// the bearer's DID, aud = the verifier's DID, jti, iat, exp, and optionally
// the access token (token) the verifier passes on to the bearer's Credential
// Service.
type IDClaims struct {
	Token string `json:"token,omitempty"`
	// Tkn is tdsc's token-kind claim; a DCP token must not carry it, so that a
	// tdsc protocol token can never pass as a DCP one.
	Tkn string `json:"tkn,omitempty"`
	jwt.RegisteredClaims
}

// AccessClaims are the claims of the access token a holder's STS mints for
// its own Credential Service: iss = sub = the holder, aud = the verifier
// allowed to use it, the scopes it may read (space-separated).
type AccessClaims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

// STS is a node's Secure Token Service: it signs the node's self-issued ID
// tokens and its Credential Service's access tokens with the node's key,
// named by its DID document method id.
type STS struct {
	did string
	key *identity.Key
	ttl time.Duration
	now func() time.Time
}

// NewSTS makes the STS of the node did holding key (the key of its DID
// document). ttl is the token life (at most MaxIDTokenTTL; 0 means 2 min).
func NewSTS(did string, key *identity.Key, ttl time.Duration, now func() time.Time) (*STS, error) {
	if _, err := WebURL(did); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("dcp: STS of %q: key: required", did)
	}
	if ttl == 0 {
		ttl = 2 * time.Minute
	}
	if ttl < 0 || ttl > MaxIDTokenTTL {
		return nil, fmt.Errorf("dcp: STS of %q: token life %v: must be in (0, %v]", did, ttl, MaxIDTokenTTL)
	}
	if now == nil {
		now = time.Now
	}
	return &STS{did: did, key: key, ttl: ttl, now: now}, nil
}

// DID is the node's DID.
func (s *STS) DID() string { return s.did }

// algs are the JWS algorithms the node accepts: its crypto suite's, the one
// of its key (a gm space's nodes sign and accept SM3withSM2 only, an intl
// space's EdDSA and ES256), as tdsc's own tokens in the space.
func (s *STS) algs() []string { return s.key.JWK().Suite().Algorithms() }

// KeyID is the DID URL of the node's key.
func (s *STS) KeyID() string { return s.did + "#" + KeyFragment }

func (s *STS) registered(aud string) jwt.RegisteredClaims {
	now := s.now()
	return jwt.RegisteredClaims{
		Issuer: s.did, Subject: s.did, Audience: jwt.ClaimStrings{aud}, ID: newID(),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
	}
}

// IDToken mints a self-issued ID token for the verifier aud, carrying the
// access token (may be empty).
func (s *STS) IDToken(aud, accessToken string) (string, error) {
	if aud == "" {
		return "", fmt.Errorf("dcp: STS: audience: required (the verifier's DID)")
	}
	return signJWT(s.key, s.KeyID(), "JWT", &IDClaims{Token: accessToken, RegisteredClaims: s.registered(aud)})
}

// AccessToken mints the token that lets verifier read scopes from this
// node's Credential Service (the bearer_access_scope of DCP §4.3.2).
func (s *STS) AccessToken(verifier string, scopes ...string) (string, error) {
	if verifier == "" || len(scopes) == 0 {
		return "", fmt.Errorf("dcp: STS: access token: verifier and at least one scope required")
	}
	for _, sc := range scopes {
		if _, err := ParseScope(sc); err != nil {
			return "", err
		}
	}
	return signJWT(s.key, s.KeyID(), TypAccess, &AccessClaims{Scope: strings.Join(scopes, " "), RegisteredClaims: s.registered(verifier)})
}

// Request mints what a node sends to verifier: an ID token with an access
// token for scopes inside it.
func (s *STS) Request(verifier string, scopes ...string) (string, error) {
	at, err := s.AccessToken(verifier, scopes...)
	if err != nil {
		return "", err
	}
	return s.IDToken(verifier, at)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// selfIssued verifies a self-issued ID token addressed to aud (DCP §4.3.3):
// the key is the sub DID's capabilityInvocation key, iss = sub, the document
// id is sub, exp and nbf hold, the life is bounded and the jti is new.
func selfIssued(ctx context.Context, res *Resolver, replay *identity.ReplayCache, token, aud string, algs []string, now func() time.Time, leeway time.Duration) (*IDClaims, error) {
	if aud == "" {
		return nil, fmt.Errorf("dcp: verify: the expected audience is required")
	}
	c := &IDClaims{}
	_, err := verifyJWT(ctx, res, token, c, jwtSpec{
		typs: []string{"", "JWT"}, rel: CapabilityInvocation, aud: aud, algs: algs, now: now, leeway: leeway,
		signer: func() (string, error) {
			if c.Issuer == "" || c.Issuer != c.Subject {
				return "", fmt.Errorf("%w: claims iss %q and sub %q: must be equal, the bearer's DID", identity.ErrWrongIssuer, c.Issuer, c.Subject)
			}
			if c.Tkn != "" {
				return "", fmt.Errorf("%w: claim tkn %q: a tdsc token is not a DCP self-issued ID token", identity.ErrWrongKind, c.Tkn)
			}
			return c.Subject, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if err := lifetime(&c.RegisteredClaims, MaxIDTokenTTL); err != nil {
		return nil, err
	}
	if c.ID == "" {
		return nil, fmt.Errorf("%w: claim jti: required", identity.ErrMalformed)
	}
	if err := replay.Add(c.Issuer, c.ID, c.ExpiresAt.Add(leeway), now()); err != nil {
		return nil, err
	}
	return c, nil
}
