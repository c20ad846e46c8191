package dcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/tdsc/tdsc/identity"
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// STS is this node's token service; its DID is the audience callers must
	// address, and it signs this node's queries to callers' Credential Services.
	STS      *STS
	Resolver *Resolver
	// Space is the data space whose membership credentials are required.
	Space string
	// Trusted are the DIDs of trusted issuers (the space's authority).
	Trusted []string
	// Scopes are asked of the caller's Credential Service (default the
	// membership scope); every one must be answered.
	Scopes []string
	// HTTPClient reaches Credential Services and status lists (HTTPS; tests
	// pass a client trusting the space CA).
	HTTPClient *http.Client
	// CacheTTL bounds how long a verified presentation (per caller) and a
	// status list are reused (default 30 s, as the ledger registry): the
	// longest a revocation goes unseen.
	CacheTTL time.Duration
	// AllowedHosts limits the hosts of the Credential Services and status
	// lists fetched (Hosts; the Resolver has its own list for documents).
	AllowedHosts Hosts
	// CacheSize bounds the number of callers cached (default 10 000).
	CacheSize int
	Leeway    time.Duration
	Now       func() time.Time
}

// Verifier authenticates DCP callers: their self-issued ID token, then their
// presentations, and yields the same identity.Participant the ledger
// registry yields for tdsc peers. Safe for concurrent use.
type Verifier struct {
	cfg     VerifierConfig
	http    *resty.Client
	replay  *identity.ReplayCache
	trusted map[string]bool

	mu      sync.Mutex
	holders map[string]holderEntry
	lists   map[string]listEntry
}

type holderEntry struct {
	p       identity.Participant
	until   time.Time
	checked time.Time
	status  []*Status
}

type listEntry struct {
	list    StatusList
	fetched time.Time
}

// Result is an authenticated DCP caller.
type Result struct {
	// Participant carries the caller's attributes as the authority's
	// credential states them; ID is its tdsc participant id (its DID when the
	// credential names none) and DID its DID.
	Participant identity.Participant
	Claims      *IDClaims
}

// NewVerifier makes a verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.STS == nil || cfg.Resolver == nil {
		return nil, errors.New("dcp: verifier: fields STS and Resolver: required")
	}
	if cfg.Space == "" || len(cfg.Trusted) == 0 {
		return nil, errors.New("dcp: verifier: fields Space and Trusted: required (the space and its authority's DID)")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{ScopeMembership}
	}
	for _, s := range cfg.Scopes {
		if _, err := ParseScope(s); err != nil {
			return nil, fmt.Errorf("dcp: verifier: field Scopes: %w", err)
		}
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = identity.DefaultLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.AllowedHosts.Validate(); err != nil {
		return nil, err
	}
	if cfg.CacheTTL < 0 || cfg.CacheSize < 0 || cfg.Leeway < 0 || cfg.Leeway > 2*time.Minute {
		return nil, errors.New("dcp: verifier: fields CacheTTL, CacheSize: must be positive; Leeway in [0, 2m]")
	}
	hc := restyOver(cfg.HTTPClient)
	hc.SetTimeout(10 * time.Second).SetRedirectPolicy(resty.NoRedirectPolicy())
	v := &Verifier{cfg: cfg, http: hc, replay: identity.NewReplayCache(1 << 20), trusted: map[string]bool{},
		holders: map[string]holderEntry{}, lists: map[string]listEntry{}}
	for _, t := range cfg.Trusted {
		v.trusted[t] = true
	}
	return v, nil
}

// Verify authenticates a request bearing token (the value after "Bearer ").
func (v *Verifier) Verify(ctx context.Context, token string) (*Result, error) {
	c, err := selfIssued(ctx, v.cfg.Resolver, v.replay, token, v.cfg.STS.DID(), v.cfg.STS.algs(), v.cfg.Now, v.cfg.Leeway)
	if err != nil {
		return nil, err
	}
	p, err := v.holder(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Result{Participant: p, Claims: c}, nil
}

// Registry is where VerifyRegistered reads participants: the ledger's
// (identity.Registry), refusing unknown and suspended ones.
type Registry interface {
	Participant(ctx context.Context, id string) (identity.Participant, error)
}

// VerifyRegistered is Verify, then the ledger's word on the caller: the
// participant the credential names must be registered in reg, active, under
// the caller's very DID. A credential never admits a participant the ledger
// does not know or has suspended, nor speaks for another participant; the
// Result then carries the ledger's view of the participant (the attributes
// policies evaluate).
func (v *Verifier) VerifyRegistered(ctx context.Context, token string, reg Registry) (*Result, error) {
	res, err := v.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	p, err := reg.Participant(ctx, res.Caller())
	if err != nil {
		return nil, err // unknown, suspended, or the ledger away
	}
	if p.DID != res.Participant.DID {
		return nil, fmt.Errorf("%w: credentialSubject.id: the credential names participant %s with DID %q, but the ledger registers %s with DID %q",
			identity.ErrWrongIssuer, res.Caller(), res.Participant.DID, p.ID, p.DID)
	}
	res.Participant = p
	return res, nil
}

// VerifyRequest is Verify for the "Authorization: Bearer" token of r.
func (v *Verifier) VerifyRequest(r *http.Request) (*Result, error) {
	scheme, tok, ok := identity.Authorization(r)
	if !ok || scheme != identity.SchemeBearer {
		return nil, fmt.Errorf("%w: header Authorization: want \"Bearer <self-issued ID token>\"", identity.ErrMalformed)
	}
	return v.Verify(r.Context(), tok)
}

// Invalidate forgets what was verified of did (its presentations and DID
// document), so its next request is checked afresh.
func (v *Verifier) Invalidate(did string) {
	v.mu.Lock()
	delete(v.holders, did)
	v.mu.Unlock()
	v.cfg.Resolver.Invalidate(did)
}

// holder returns the caller's verified attributes, from the cache when its
// presentations were verified less than CacheTTL ago and its credentials'
// status lists are unchanged, else from its Credential Service.
func (v *Verifier) holder(ctx context.Context, c *IDClaims) (identity.Participant, error) {
	did, now := c.Subject, v.cfg.Now()
	v.mu.Lock()
	e, ok := v.holders[did]
	v.mu.Unlock()
	if ok && now.Sub(e.checked) < v.cfg.CacheTTL && now.Before(e.until) {
		for _, s := range e.status {
			if err := v.checkStatus(ctx, s); err != nil {
				v.Invalidate(did)
				return identity.Participant{}, err
			}
		}
		return e.p, nil
	}
	if c.Token == "" {
		return identity.Participant{}, fmt.Errorf("%w: claim token: the access token to the caller's Credential Service is required", identity.ErrMalformed)
	}
	doc, err := v.cfg.Resolver.Resolve(ctx, did)
	if err != nil {
		return identity.Participant{}, err
	}
	base, err := doc.ServiceEndpoint(ServiceCredential)
	if err != nil {
		return identity.Participant{}, err
	}
	if err := v.cfg.AllowedHosts.Allow(base); err != nil {
		return identity.Participant{}, fmt.Errorf("%q's Credential Service: %w", did, err)
	}
	query, err := v.cfg.STS.IDToken(did, c.Token)
	if err != nil {
		return identity.Participant{}, err
	}
	var resp ResponseMessage
	r, err := v.http.R().SetContext(ctx).SetAuthToken(query).SetResult(&resp).
		SetBody(QueryMessage{Context: []string{ContextDCP}, Type: TypeQuery, Scope: v.cfg.Scopes}).
		Post(base + PresentationsPath)
	if err != nil {
		return identity.Participant{}, fmt.Errorf("%w: query of %q's Credential Service at %s: %v", ErrPresentation, did, base, err)
	}
	if r.StatusCode() != http.StatusOK {
		return identity.Participant{}, fmt.Errorf("%w: %q's Credential Service at %s answered HTTP %d: %s", ErrPresentation, did, base, r.StatusCode(), truncate(r.String(), 300))
	}
	entry, err := v.checkPresentations(ctx, did, &resp)
	if err != nil {
		return identity.Participant{}, err
	}
	entry.checked = now
	v.mu.Lock()
	if len(v.holders) >= v.cfg.CacheSize {
		for k, old := range v.holders { // drop the expired first
			if now.Sub(old.checked) >= v.cfg.CacheTTL {
				delete(v.holders, k)
			}
		}
		for k := range v.holders { // then any, until there is room
			if len(v.holders) < v.cfg.CacheSize {
				break
			}
			delete(v.holders, k)
		}
	}
	v.holders[did] = entry
	v.mu.Unlock()
	return entry.p, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkPresentations verifies a PresentationResponseMessage from holder's
// Credential Service (DCP §5.4.3): each presentation signed by an
// authentication key of holder, addressed to this verifier, unexpired; each
// credential from a trusted issuer, signed by its assertionMethod key, valid
// now, about holder, and not revoked; and every requested scope answered by
// a membership credential of this space.
func (v *Verifier) checkPresentations(ctx context.Context, holder string, resp *ResponseMessage) (holderEntry, error) {
	var e holderEntry
	if resp.Type != TypeResponse {
		return e, fmt.Errorf("%w: field type: %q, want %q", ErrPresentation, resp.Type, TypeResponse)
	}
	if len(resp.Presentation) == 0 {
		return e, fmt.Errorf("%w: field presentation: empty, the requested credentials %v are missing", ErrPresentation, v.cfg.Scopes)
	}
	now := v.cfg.Now
	var creds []*CredentialClaims
	for i, vpJWT := range resp.Presentation {
		vp := &PresentationClaims{}
		_, err := verifyJWT(ctx, v.cfg.Resolver, vpJWT, vp, jwtSpec{
			typs: []string{TypVP, "JWT"}, rel: Authentication, aud: v.cfg.STS.DID(), algs: v.cfg.STS.algs(), now: now, leeway: v.cfg.Leeway,
			signer: func() (string, error) {
				if vp.Issuer != holder || (vp.Holder != "" && vp.Holder != holder) {
					return "", fmt.Errorf("%w: presentation[%d] iss %q, holder %q: must be the caller %q", identity.ErrWrongIssuer, i, vp.Issuer, vp.Holder, holder)
				}
				return holder, nil
			},
		})
		if err != nil {
			return e, fmt.Errorf("%w: presentation[%d]: %w", ErrPresentation, i, err)
		}
		if err := lifetime(&vp.RegisteredClaims, MaxIDTokenTTL); err != nil {
			return e, fmt.Errorf("%w: presentation[%d]: %w", ErrPresentation, i, err)
		}
		if !slices.Contains(vp.Type, "VerifiablePresentation") {
			return e, fmt.Errorf("%w: presentation[%d] field type: must contain VerifiablePresentation", ErrPresentation, i)
		}
		for j, env := range vp.Credentials {
			vcJWT, ok := strings.CutPrefix(env.ID, envelopedPrefix)
			if env.Type != "EnvelopedVerifiableCredential" || !ok {
				return e, fmt.Errorf("%w: presentation[%d].verifiableCredential[%d]: want an EnvelopedVerifiableCredential with a %s URL", ErrPresentation, i, j, envelopedPrefix)
			}
			vc, err := parseCredential(ctx, v.cfg.Resolver, vcJWT, func(iss string) bool { return v.trusted[iss] }, v.cfg.STS.algs(), now, v.cfg.Leeway)
			if err != nil {
				return e, fmt.Errorf("presentation[%d].verifiableCredential[%d]: %w", i, j, err)
			}
			if vc.Subject.ID != holder {
				return e, fmt.Errorf("%w: presentation[%d].verifiableCredential[%d] credentialSubject.id %q, but the holder is %q", ErrWrongSubject, i, j, vc.Subject.ID, holder)
			}
			if vc.Status != nil {
				if err := v.checkStatus(ctx, vc.Status); err != nil {
					return e, fmt.Errorf("presentation[%d].verifiableCredential[%d] %s: %w", i, j, vc.CredID, err)
				}
				e.status = append(e.status, vc.Status)
			}
			creds = append(creds, vc)
		}
	}
	for _, s := range v.cfg.Scopes {
		sc, _ := ParseScope(s)
		if !slices.ContainsFunc(creds, func(c *CredentialClaims) bool { return sc.Matches(c.CredID, c.Type) }) {
			return e, fmt.Errorf("%w: no credential answers the requested scope %q", ErrPresentation, s)
		}
	}
	var member *CredentialClaims
	for _, c := range creds {
		if slices.Contains(c.Type, TypeMembership) && c.Subject.MemberOf == v.cfg.Space {
			member = c
			break
		}
	}
	if member == nil {
		return e, fmt.Errorf("%w: no %s for the space %q among %d credentials", ErrPresentation, TypeMembership, v.cfg.Space, len(creds))
	}
	e.p = member.Subject.Attributes()
	e.until = member.ExpiresAt.Time
	return e, nil
}

// checkStatus refuses a credential whose status list bit is set. Lists are
// fetched over HTTPS, must be signed by a trusted issuer, and are cached for
// CacheTTL.
func (v *Verifier) checkStatus(ctx context.Context, s *Status) error {
	set, err := v.statusSet(ctx, s)
	if err != nil {
		return err
	}
	if set {
		return fmt.Errorf("%w: status list %s index %s is set (%s)", ErrRevoked, s.StatusListCredential, s.StatusListIndex, s.StatusPurpose)
	}
	return nil
}

// statusSet reports whether the status list bit of s is set; an error means
// the verifier cannot tell.
func (v *Verifier) statusSet(ctx context.Context, s *Status) (bool, error) {
	if s.Type != "BitstringStatusListEntry" || (s.StatusPurpose != "revocation" && s.StatusPurpose != "suspension") {
		return false, fmt.Errorf("%w: credentialStatus: type %q purpose %q, want a BitstringStatusListEntry for revocation or suspension", identity.ErrMalformed, s.Type, s.StatusPurpose)
	}
	idx, err := s.Index()
	if err != nil {
		return false, err
	}
	list, err := v.statusList(ctx, s.StatusListCredential, s.StatusPurpose)
	if err != nil {
		return false, err
	}
	return list.Get(idx)
}

func (v *Verifier) statusList(ctx context.Context, u, purpose string) (StatusList, error) {
	now := v.cfg.Now()
	v.mu.Lock()
	e, ok := v.lists[u]
	v.mu.Unlock()
	if ok && now.Sub(e.fetched) < v.cfg.CacheTTL {
		return e.list, nil
	}
	if !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("%w: statusListCredential %q: must be an https URL", identity.ErrMalformed, u)
	}
	if err := v.cfg.AllowedHosts.Allow(u); err != nil {
		return nil, fmt.Errorf("statusListCredential: %w", err)
	}
	r, err := v.http.R().SetContext(ctx).SetDoNotParseResponse(true).Get(u)
	if err != nil {
		return nil, fmt.Errorf("%w: status list %s: %v (cannot tell whether the credential is revoked)", ErrRevoked, u, err)
	}
	body := r.RawBody()
	defer body.Close()
	b, err := readLimited(body, MaxJWTBytes)
	if err != nil || r.StatusCode() != http.StatusOK {
		return nil, fmt.Errorf("%w: status list %s: HTTP %d %v (cannot tell whether the credential is revoked)", ErrRevoked, u, r.StatusCode(), err)
	}
	list, err := v.ParseStatusList(ctx, string(b), u, purpose)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.lists[u] = listEntry{list: list, fetched: now}
	v.mu.Unlock()
	return list, nil
}

// ParseStatusList verifies a BitstringStatusListCredential JWT read from u
// (signed by a trusted issuer, id u, this purpose) and decodes its list.
func (v *Verifier) ParseStatusList(ctx context.Context, token, u, purpose string) (StatusList, error) {
	c, err := parseCredential(ctx, v.cfg.Resolver, token, func(iss string) bool { return v.trusted[iss] }, v.cfg.STS.algs(), v.cfg.Now, v.cfg.Leeway)
	if err != nil {
		return nil, fmt.Errorf("status list %s: %w", u, err)
	}
	if c.CredID != u || !slices.Contains(c.Type, "BitstringStatusListCredential") || c.Subject.StatusPurpose != purpose {
		return nil, fmt.Errorf("%w: status list %s: id %q, type %v, purpose %q: want id %q, BitstringStatusListCredential, purpose %q", identity.ErrMalformed, u, c.CredID, c.Type, c.Subject.StatusPurpose, u, purpose)
	}
	return DecodeStatusList(c.Subject.EncodedList)
}
