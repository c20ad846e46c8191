package dcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
)

// JOSE typ headers of the DCP JWTs.
const (
	TypVC     = "vc+jwt"
	TypVP     = "vp+jwt"
	TypAccess = "dcp-access+jwt"
	// MaxJWTBytes bounds every DCP JWT read (presentations carry credentials).
	MaxJWTBytes = 64 << 10
	// MaxIDTokenTTL is the longest life (exp - iat) of a self-issued ID token,
	// access token or presentation this package accepts.
	MaxIDTokenTTL = 5 * time.Minute
)

func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("body over %d bytes", max)
	}
	return b, nil
}

// signJWT signs claims with key under typ, naming the key by its method id.
func signJWT(key *identity.Key, kid, typ string, claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.GetSigningMethod(key.JWK().Algorithm()), claims)
	t.Header["typ"] = typ
	t.Header["kid"] = kid
	return t.SignedString(key.Signer())
}

// forbiddenHeaders would let a JWT pick its own key; keys come from DID documents.
var forbiddenHeaders = []string{"jku", "x5u", "x5c", "jwk", "crit"}

// jwtSpec says how one DCP JWT is verified.
type jwtSpec struct {
	typs   []string // accepted typ headers ("" = absent)
	rel    Relationship
	aud    string   // required audience, or ""
	algs   []string // the JWS algorithms accepted (the verifying node's suite's)
	now    func() time.Time
	leeway time.Duration
	// signer returns the DID whose document holds the key, from the claims
	// not yet verified (iss for tokens and credentials, holder for
	// presentations); it may refuse them first.
	signer func() (string, error)
}

// verifyJWT parses token into claims, resolving the signing key from the
// signer's DID document with the relationship spec.rel; returns that DID.
func verifyJWT(ctx context.Context, res *Resolver, token string, claims jwt.Claims, s jwtSpec) (string, error) {
	if len(token) > MaxJWTBytes {
		return "", fmt.Errorf("%w: %d bytes, limit %d", identity.ErrTokenTooLarge, len(token), MaxJWTBytes)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(s.algs), jwt.WithTimeFunc(s.now), jwt.WithLeeway(s.leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
	}
	if s.aud != "" {
		opts = append(opts, jwt.WithAudience(s.aud))
	}
	var did string
	var pub any
	var keyErr error
	kf := func(t *jwt.Token) (any, error) {
		keyErr = func() error {
			for _, h := range forbiddenHeaders {
				if _, ok := t.Header[h]; ok {
					return fmt.Errorf("%w: header %s: keys come from the DID document, never from the token", identity.ErrForbiddenHeader, h)
				}
			}
			typ, _ := t.Header["typ"].(string)
			if !slices.Contains(s.typs, typ) {
				return fmt.Errorf("%w: header typ: %q, want one of %q", identity.ErrWrongKind, typ, s.typs)
			}
			var err error
			if did, err = s.signer(); err != nil {
				return err
			}
			kid, _ := t.Header["kid"].(string)
			if strings.HasPrefix(kid, "did:") && !strings.HasPrefix(kid, did+"#") {
				return fmt.Errorf("%w: header kid: %q is not a key of %q", identity.ErrUnknownKey, kid, did)
			}
			doc, err := res.Resolve(ctx, did)
			if err != nil {
				return err
			}
			k, err := doc.Key(kid, s.rel)
			if err != nil {
				return err
			}
			if k.Algorithm() != t.Method.Alg() {
				return fmt.Errorf("%w: header alg: %q, but key %q of %q is %s", identity.ErrAlgorithm, t.Method.Alg(), kid, did, k.Algorithm())
			}
			pub, err = k.PublicKey()
			return err
		}()
		if keyErr != nil {
			return nil, keyErr
		}
		return pub, nil
	}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, kf)
	if err != nil {
		if keyErr != nil {
			return "", keyErr
		}
		return "", classify(err)
	}
	return did, nil
}

func classify(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		sentinel = identity.ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		sentinel = identity.ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		sentinel = identity.ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		sentinel = identity.ErrWrongAudience
	default:
		sentinel = identity.ErrMalformed
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// lifetime refuses a JWT living longer than max.
func lifetime(rc *jwt.RegisteredClaims, max time.Duration) error {
	if rc.IssuedAt == nil || rc.ExpiresAt == nil {
		return fmt.Errorf("%w: claims iat and exp: required", identity.ErrMalformed)
	}
	if d := rc.ExpiresAt.Sub(rc.IssuedAt.Time); d > max {
		return fmt.Errorf("%w: exp - iat is %v, limit %v", identity.ErrLifetime, d, max)
	}
	return nil
}
