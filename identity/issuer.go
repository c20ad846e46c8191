package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer signs the tokens one participant issues: protocol tokens for its calls,
// access tokens for its data plane (as a provider), role tokens (as the
// authority, or self-signed participant read tokens).
type Issuer struct {
	id        string
	key       *Key
	now       func() time.Time
	protoTTL  time.Duration
	agreement AgreementChecker
}

// AgreementChecker reports whether an agreement is still live (signed, not
// revoked, within its terms), returning nil if so. The connector provides it
// from its store or the ledger; RefreshAccess refuses without it.
type AgreementChecker func(ctx context.Context, agreement string) error

// IssuerOption configures an Issuer.
type IssuerOption func(*Issuer)

// WithIssuerClock injects the issuer's clock.
func WithIssuerClock(now func() time.Time) IssuerOption { return func(i *Issuer) { i.now = now } }

// WithProtocolTTL sets the life of protocol tokens (default and maximum 5 minutes).
func WithProtocolTTL(d time.Duration) IssuerOption { return func(i *Issuer) { i.protoTTL = d } }

// WithAgreementChecker sets how RefreshAccess learns whether an agreement lives.
func WithAgreementChecker(c AgreementChecker) IssuerOption {
	return func(i *Issuer) { i.agreement = c }
}

// NewIssuer makes the issuer of participant id, signing with key (which must be
// one of the participant's registered keys for anyone to accept its tokens).
func NewIssuer(id string, key *Key, opts ...IssuerOption) (*Issuer, error) {
	if id == "" {
		return nil, errors.New("identity: issuer: field id: required")
	}
	if key == nil {
		return nil, errors.New("identity: issuer: field key: required")
	}
	i := &Issuer{id: id, key: key, now: time.Now, protoTTL: MaxProtocolTTL}
	for _, o := range opts {
		o(i)
	}
	if i.protoTTL <= 0 || i.protoTTL > MaxProtocolTTL {
		return nil, fmt.Errorf("identity: issuer: protocol TTL %v: must be in (0, %v]", i.protoTTL, MaxProtocolTTL)
	}
	return i, nil
}

// ID is the issuing participant's id.
func (i *Issuer) ID() string { return i.id }

// Key is the issuer's signing key.
func (i *Issuer) Key() *Key { return i.key }

func (i *Issuer) registered(aud string, ttl time.Duration) jwt.RegisteredClaims {
	now := i.now().Truncate(time.Second)
	return jwt.RegisteredClaims{
		Issuer:    i.id,
		Audience:  jwt.ClaimStrings{aud},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        newJTI(),
	}
}

// ProtocolToken signs a protocol token for one call to the participant aud:
// iss = sub = this participant, a fresh jti, exp at most 5 minutes ahead.
func (i *Issuer) ProtocolToken(aud string) (string, error) {
	if aud == "" {
		return "", errors.New("identity: protocol token: field aud: required (the callee's participant id)")
	}
	rc := i.registered(aud, i.protoTTL)
	rc.Subject = i.id
	return sign(i.key, TypProtocol, &ProtocolClaims{Kind: KindProtocol, RegisteredClaims: rc})
}

// AccessGrant is what a provider grants when a transfer starts.
type AccessGrant struct {
	// Consumer is the consumer's participant id (sub).
	Consumer string
	// Audience is the provider's data plane (aud), e.g. its participant id
	// suffixed "/data" or the data plane's base URL; the data plane checks it.
	Audience  string
	Agreement string
	Dataset   string
	Transfer  string
	// TTL is the token's life; 0 means DefaultAccessTTL, at most MaxAccessTTL.
	TTL time.Duration
	// ConsumerKeyThumbprint is the RFC 7638 thumbprint (= kid) of the consumer's
	// registered key that must sign each request's DPoP proof.
	ConsumerKeyThumbprint string
}

// Validate checks every field, naming the one at fault.
func (g AccessGrant) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"Consumer", g.Consumer}, {"Audience", g.Audience}, {"Agreement", g.Agreement},
		{"Dataset", g.Dataset}, {"Transfer", g.Transfer}, {"ConsumerKeyThumbprint", g.ConsumerKeyThumbprint},
	} {
		if f.v == "" {
			return fmt.Errorf("identity: access grant: field %s: required", f.name)
		}
	}
	if g.TTL < 0 || g.TTL > MaxAccessTTL {
		return fmt.Errorf("identity: access grant: field TTL: %v must be in [0, %v]", g.TTL, MaxAccessTTL)
	}
	return nil
}

// AccessToken signs an access token for the grant, bound to the consumer's key.
func (i *Issuer) AccessToken(g AccessGrant) (string, error) {
	if err := g.Validate(); err != nil {
		return "", err
	}
	ttl := g.TTL
	if ttl == 0 {
		ttl = DefaultAccessTTL
	}
	rc := i.registered(g.Audience, ttl)
	rc.Subject = g.Consumer
	return sign(i.key, TypAccess, &AccessClaims{
		Kind: KindAccess, Agreement: g.Agreement, Dataset: g.Dataset, Transfer: g.Transfer,
		Cnf: &Confirmation{JKT: g.ConsumerKeyThumbprint}, RegisteredClaims: rc,
	})
}

// RefreshAccess issues a new access token for the same grant as claims (which
// the caller verified with Verifier.VerifyAccessForRefresh), if this issuer
// issued it and the agreement is still live. The new token keeps the old
// token's life span and binding and gets a fresh jti and exp.
func (i *Issuer) RefreshAccess(ctx context.Context, claims *AccessClaims) (string, error) {
	if claims == nil {
		return "", errors.New("identity: refresh: claims: required")
	}
	if claims.Issuer != i.id {
		return "", fmt.Errorf("%w: claim iss: %q, this provider is %q", ErrWrongIssuer, claims.Issuer, i.id)
	}
	if i.agreement == nil {
		return "", errors.New("identity: refresh: no AgreementChecker configured (WithAgreementChecker)")
	}
	if err := i.agreement(ctx, claims.Agreement); err != nil {
		return "", fmt.Errorf("%w: agreement %q: %w", ErrAgreementEnded, claims.Agreement, err)
	}
	if claims.Cnf == nil || len(claims.Audience) != 1 || claims.IssuedAt == nil || claims.ExpiresAt == nil {
		return "", fmt.Errorf("%w: refresh: claims cnf, aud, iat and exp are required", ErrMalformed)
	}
	ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time)
	if ttl > MaxAccessTTL {
		ttl = MaxAccessTTL
	}
	return i.AccessToken(AccessGrant{
		Consumer: claims.Subject, Audience: claims.Audience[0], Agreement: claims.Agreement,
		Dataset: claims.Dataset, Transfer: claims.Transfer, TTL: ttl, ConsumerKeyThumbprint: claims.Cnf.JKT,
	})
}

// RoleToken signs a role token: sub may act as role within scope on the service
// aud for ttl. The authority issues auditor and regulator tokens; a participant
// issues itself RoleParticipant tokens (sub must then be its own id).
func (i *Issuer) RoleToken(role, subject, aud string, scope []string, ttl time.Duration) (string, error) {
	switch role {
	case RoleAuditor, RoleRegulator:
	case RoleParticipant:
		if subject != i.id {
			return "", fmt.Errorf("%w: field subject: a participant token is self-signed, sub must be %q, got %q", ErrRole, i.id, subject)
		}
	default:
		return "", fmt.Errorf("%w: field role: must be %s, %s or %s, got %q", ErrRole, RoleAuditor, RoleRegulator, RoleParticipant, role)
	}
	if subject == "" || aud == "" {
		return "", errors.New("identity: role token: fields subject and aud: required")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("identity: role token: field ttl: %v must be positive", ttl)
	}
	rc := i.registered(aud, ttl)
	rc.Subject = subject
	return sign(i.key, TypRole, &RoleClaims{Kind: KindRole, Role: role, Scope: scope, RegisteredClaims: rc})
}
