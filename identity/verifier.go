package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/suite"
)

// Verifier checks the tokens presented to one participant. It never trusts a
// token for its key or algorithm: the key is the issuer's registered key named
// by kid, read from the Registry; the algorithm must be on AllowedAlgorithms and
// match that key. Audience and issuer are always checked, times with a small
// leeway against an injected clock, and tokens over a size limit are refused
// before parsing. Safe for concurrent use.
type Verifier struct {
	reg         *Registry
	now         func() time.Time
	leeway      time.Duration
	maxBytes    int
	self        string
	authority   string
	refreshSpan time.Duration

	suite *suite.Suite

	protoReplay *replayCache
	proofReplay *replayCache
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// WithClock injects the verifier's clock (tests use a fake one).
func WithClock(now func() time.Time) VerifierOption { return func(v *Verifier) { v.now = now } }

// WithLeeway sets the tolerated clock skew (default 30 s, at most 2 minutes).
func WithLeeway(d time.Duration) VerifierOption { return func(v *Verifier) { v.leeway = d } }

// WithMaxTokenBytes sets the size above which tokens are refused unparsed
// (default 8 KiB).
func WithMaxTokenBytes(n int) VerifierOption { return func(v *Verifier) { v.maxBytes = n } }

// WithSelf names the participant this verifier works for. VerifyAccess
// requires it: an access token for this data plane must have been issued by
// this participant.
func WithSelf(id string) VerifierOption { return func(v *Verifier) { v.self = id } }

// WithAuthority names the space's authority participant, whose registered key
// (pinned at genesis) must sign auditor and regulator role tokens.
func WithAuthority(id string) VerifierOption { return func(v *Verifier) { v.authority = id } }

// WithSuite sets the space's crypto suite (default suite.Intl): only its JWS
// algorithms are accepted, and a token of the other suite's algorithm is
// refused naming the rule suite.alg.
func WithSuite(s *suite.Suite) VerifierOption { return func(v *Verifier) { v.suite = s } }

// WithReplayCapacity bounds each replay cache (protocol jti, DPoP proof jti) to
// n unexpired ids (default 1<<20, about 60 MiB each when full).
func WithReplayCapacity(n int) VerifierOption {
	return func(v *Verifier) {
		v.protoReplay = newReplayCache(n)
		v.proofReplay = newReplayCache(n)
	}
}

// WithRefreshWindow sets how long after expiry an access token may still be
// exchanged for a new one through VerifyAccessForRefresh (default 1 hour).
func WithRefreshWindow(d time.Duration) VerifierOption {
	return func(v *Verifier) { v.refreshSpan = d }
}

// NewVerifier makes a verifier resolving keys from reg.
func NewVerifier(reg *Registry, opts ...VerifierOption) (*Verifier, error) {
	if reg == nil {
		return nil, errors.New("identity: verifier: registry: required")
	}
	v := &Verifier{
		reg: reg, now: time.Now, suite: suite.Intl, leeway: DefaultLeeway, maxBytes: MaxTokenBytes, refreshSpan: time.Hour,
		protoReplay: newReplayCache(1 << 20), proofReplay: newReplayCache(1 << 20),
	}
	for _, o := range opts {
		o(v)
	}
	if v.leeway < 0 || v.leeway > 2*time.Minute {
		return nil, fmt.Errorf("identity: verifier: leeway %v: must be in [0, 2m]", v.leeway)
	}
	if v.maxBytes <= 0 {
		return nil, fmt.Errorf("identity: verifier: max token bytes %d: must be positive", v.maxBytes)
	}
	return v, nil
}

// verified is a parsed, signature-checked token and who signed it.
type verified struct {
	key         resolvedKey
	participant Participant
}

// parseSpec says what one verification expects.
type parseSpec struct {
	kind    Kind
	aud     string
	iss     string           // fixed issuer, or "" when decided by pre
	pre     func() error     // run in the key function, before the key lookup
	timeNow func() time.Time // time for exp/nbf/iat checks; v.now by default
}

// parse verifies token's header, signature and standard claims into claims.
func (v *Verifier) parse(ctx context.Context, token string, claims jwt.Claims, s parseSpec) (verified, error) {
	var out verified
	if len(token) > v.maxBytes {
		return out, fmt.Errorf("%w: %d bytes, limit %d", ErrTokenTooLarge, len(token), v.maxBytes)
	}
	if err := uniqueMembers(token); err != nil {
		return out, err
	}
	if s.aud == "" {
		return out, errors.New("identity: verify: the expected audience is required")
	}
	now := s.timeNow
	if now == nil {
		now = v.now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.suite.Algorithms()),
		jwt.WithAudience(s.aud),
		jwt.WithTimeFunc(now),
		jwt.WithLeeway(v.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
		jwt.WithIssuedAt(),
	}
	if s.iss != "" {
		opts = append(opts, jwt.WithIssuer(s.iss))
	}
	var keyErr error
	keyFunc := func(t *jwt.Token) (any, error) {
		keyErr = v.keyFor(ctx, t, s, &out)
		if keyErr != nil {
			return nil, keyErr
		}
		return out.key.pub, nil
	}
	t, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, keyFunc)
	if err != nil {
		if keyErr != nil {
			return out, keyErr
		}
		return out, v.classify(t, err)
	}
	if k, ok := claims.(interface{ tokenKind() Kind }); ok && k.tokenKind() != s.kind {
		return out, fmt.Errorf("%w: claim tkn: %q, want %q", ErrWrongKind, k.tokenKind(), s.kind)
	}
	if jti, _ := claims.(interface{ jti() string }); jti != nil && jti.jti() == "" {
		return out, fmt.Errorf("%w: claim jti: required", ErrMalformed)
	}
	return out, nil
}

func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token, s parseSpec, out *verified) error {
	if err := checkHeader(t.Header, s.kind.typ()); err != nil {
		return err
	}
	iss, _ := t.Claims.GetIssuer()
	if s.iss != "" && iss != s.iss {
		return fmt.Errorf("%w: claim iss: %q, want %q", ErrWrongIssuer, iss, s.iss)
	}
	if s.pre != nil {
		if err := s.pre(); err != nil {
			return err
		}
	}
	kid, _ := t.Header["kid"].(string)
	k, p, err := v.reg.resolve(ctx, iss, kid)
	if err != nil {
		return err
	}
	if alg := k.jwk.Algorithm(); alg != t.Method.Alg() {
		return fmt.Errorf("%w: header alg: %q, but key %q of %q is %s", ErrAlgorithm, t.Method.Alg(), kid, iss, alg)
	}
	out.key, out.participant = k, p
	return nil
}

// forbiddenHeaders would let a token pick its own key or change how it is
// processed; none is needed when keys come from the registry.
var forbiddenHeaders = []string{"jku", "x5u", "x5c", "jwk", "crit"}

func checkHeader(h map[string]any, typ string) error {
	for _, name := range forbiddenHeaders {
		if _, ok := h[name]; ok {
			return fmt.Errorf("%w: header %s: keys come from the registry, never from the token", ErrForbiddenHeader, name)
		}
	}
	if got, _ := h["typ"].(string); got != typ {
		return fmt.Errorf("%w: header typ: %q, want %q", ErrWrongKind, got, typ)
	}
	return nil
}

// classify turns a golang-jwt error into one of ours, keeping both for errors.Is.
func (v *Verifier) classify(t *jwt.Token, err error) error {
	if t != nil && t.Header != nil {
		alg, _ := t.Header["alg"].(string)
		if !v.suite.AllowsAlg(alg) {
			if slices.Contains(suite.Intl.Algorithms(), alg) || slices.Contains(suite.GM.Algorithms(), alg) {
				return fmt.Errorf("%w: header alg: %w", ErrAlgorithm, v.suite.CheckAlg(alg, false))
			}
			return fmt.Errorf("%w: header alg: %q is not one of %v", ErrAlgorithm, alg, v.suite.Algorithms())
		}
	}
	var sentinel error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		sentinel = ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		sentinel = ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		sentinel = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		sentinel = ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		sentinel = ErrWrongAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		sentinel = ErrWrongIssuer
	default:
		sentinel = ErrMalformed
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

func (c *ProtocolClaims) tokenKind() Kind { return c.Kind }
func (c *AccessClaims) tokenKind() Kind   { return c.Kind }
func (c *RoleClaims) tokenKind() Kind     { return c.Kind }
func (c *ProtocolClaims) jti() string     { return c.ID }
func (c *AccessClaims) jti() string       { return c.ID }
func (c *RoleClaims) jti() string         { return c.ID }

// lifetime refuses a token whose exp - iat exceeds max.
func lifetime(rc *jwt.RegisteredClaims, max time.Duration) error {
	if rc.IssuedAt == nil || rc.ExpiresAt == nil {
		return fmt.Errorf("%w: claims iat and exp: required", ErrMalformed)
	}
	if d := rc.ExpiresAt.Sub(rc.IssuedAt.Time); d > max {
		return fmt.Errorf("%w: exp - iat is %v, limit %v", ErrLifetime, d, max)
	}
	return nil
}

// VerifyProtocol verifies a protocol token addressed to wantAud (this
// participant's id): the caller's registered key, iss = sub, life at most
// 5 minutes, and a jti not seen before.
func (v *Verifier) VerifyProtocol(ctx context.Context, token, wantAud string) (*ProtocolClaims, error) {
	c := &ProtocolClaims{}
	if _, err := v.parse(ctx, token, c, parseSpec{kind: KindProtocol, aud: wantAud}); err != nil {
		return nil, err
	}
	if c.Subject != c.Issuer {
		return nil, fmt.Errorf("%w: claim sub %q must equal iss %q in a protocol token", ErrWrongIssuer, c.Subject, c.Issuer)
	}
	if err := lifetime(&c.RegisteredClaims, MaxProtocolTTL); err != nil {
		return nil, err
	}
	if err := v.protoReplay.add(c.Issuer, c.ID, c.ExpiresAt.Add(v.leeway), v.now()); err != nil {
		return nil, err
	}
	return c, nil
}

// VerifyAccess verifies an access token and its DPoP proof for a request with
// this method and URL to the data plane wantAud. The token must have been
// issued by this participant (WithSelf), be bound (cnf.jkt) to a registered key
// of the consumer, and the proof must be signed by that key, for this method,
// URL and token, fresh, and not replayed. The caller then checks the claims
// against the requested transfer with AccessClaims.Require.
func (v *Verifier) VerifyAccess(ctx context.Context, token, proof, method, url, wantAud string) (*AccessClaims, error) {
	return v.verifyAccess(ctx, token, proof, method, url, wantAud, false)
}

// VerifyAccessForRefresh is VerifyAccess for a refresh request: the token may
// have expired up to the refresh window ago (default 1 hour); the proof must
// still be fresh. Pass the claims to Issuer.RefreshAccess, which checks that the
// agreement still lives.
func (v *Verifier) VerifyAccessForRefresh(ctx context.Context, token, proof, method, url, wantAud string) (*AccessClaims, error) {
	return v.verifyAccess(ctx, token, proof, method, url, wantAud, true)
}

func (v *Verifier) verifyAccess(ctx context.Context, token, proof, method, url, wantAud string, refresh bool) (*AccessClaims, error) {
	if v.self == "" {
		return nil, errors.New("identity: verifier: VerifyAccess needs WithSelf (the provider's id)")
	}
	if len(proof) > v.maxBytes {
		return nil, fmt.Errorf("%w: %w: proof of %d bytes, limit %d", ErrBadProof, ErrTokenTooLarge, len(proof), v.maxBytes)
	}
	if err := uniqueMembers(proof); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	c := &AccessClaims{}
	spec := parseSpec{kind: KindAccess, aud: wantAud, iss: v.self}
	if refresh {
		// Judge the token's times as at its expiry when it expired less than
		// the refresh window ago; jwt fills c before it validates the times.
		spec.timeNow = func() time.Time {
			now := v.now()
			if c.ExpiresAt != nil && now.After(c.ExpiresAt.Time) && now.Sub(c.ExpiresAt.Time) <= v.refreshSpan {
				return c.ExpiresAt.Time
			}
			return now
		}
	}
	if _, err := v.parse(ctx, token, c, spec); err != nil {
		return nil, err
	}
	if err := lifetime(&c.RegisteredClaims, MaxAccessTTL); err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: claim sub: required (the consumer)", ErrMalformed)
	}
	if c.Cnf == nil || c.Cnf.JKT == "" {
		return nil, fmt.Errorf("%w: claim cnf.jkt: required, access tokens are bound to the consumer's key", ErrMalformed)
	}
	if proof == "" {
		return nil, fmt.Errorf("%w: send a DPoP header signed by the key with thumbprint %q", ErrNoProof, c.Cnf.JKT)
	}
	if err := v.verifyProof(ctx, proof, method, url, token, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Require checks that the token authorises this agreement, and, when not
// empty, this dataset and transfer, naming the claim that differs.
func (c *AccessClaims) Require(agreement, dataset, transfer string) error {
	if c.Agreement != agreement {
		return fmt.Errorf("%w: claim agreement: token is for %q, request is for %q", ErrWrongAgreement, c.Agreement, agreement)
	}
	if dataset != "" && c.Dataset != dataset {
		return fmt.Errorf("%w: claim dataset: token is for %q, request is for %q", ErrWrongAgreement, c.Dataset, dataset)
	}
	if transfer != "" && c.Transfer != transfer {
		return fmt.Errorf("%w: claim transfer: token is for %q, request is for %q", ErrWrongAgreement, c.Transfer, transfer)
	}
	return nil
}

// MaxSelfRoleTTL is the longest life of a participant's self-signed read token.
const MaxSelfRoleTTL = time.Hour

// VerifyRole verifies a role token for the service wantAud (for instance the
// ledger). Auditor and regulator tokens must be signed by the authority
// (WithAuthority) with its registered key; participant tokens must be
// self-signed (iss = sub) with the participant's own registered key and live
// at most MaxSelfRoleTTL.
func (v *Verifier) VerifyRole(ctx context.Context, token, wantAud string) (*RoleClaims, error) {
	c := &RoleClaims{}
	pre := func() error {
		switch c.Role {
		case RoleAuditor, RoleRegulator:
			if v.authority == "" {
				return fmt.Errorf("%w: role %s needs the authority, and this verifier has none (WithAuthority)", ErrWrongIssuer, c.Role)
			}
			if c.Issuer != v.authority {
				return fmt.Errorf("%w: claim iss: role %s is issued by the authority %q only, got %q", ErrWrongIssuer, c.Role, v.authority, c.Issuer)
			}
		case RoleParticipant:
			if c.Issuer != c.Subject {
				return fmt.Errorf("%w: claim iss: a participant role token is self-signed, iss %q must equal sub %q", ErrWrongIssuer, c.Issuer, c.Subject)
			}
		default:
			return fmt.Errorf("%w: claim role: %q is not %s, %s or %s", ErrRole, c.Role, RoleAuditor, RoleRegulator, RoleParticipant)
		}
		return nil
	}
	if _, err := v.parse(ctx, token, c, parseSpec{kind: KindRole, aud: wantAud, pre: pre}); err != nil {
		return nil, err
	}
	if c.Role == RoleParticipant {
		if err := lifetime(&c.RegisteredClaims, MaxSelfRoleTTL); err != nil {
			return nil, err
		}
	}
	return c, nil
}
