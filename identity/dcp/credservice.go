package dcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
)

// Message types and the path of the Resolution API.
const (
	TypeQuery         = "PresentationQueryMessage"
	TypeResponse      = "PresentationResponseMessage"
	PresentationsPath = "/presentations/query"
	maxQueryBytes     = 64 << 10
)

// QueryMessage is a PresentationQueryMessage (DCP §5.4.1).
type QueryMessage struct {
	Context                []string        `json:"@context"`
	Type                   string          `json:"type"`
	Scope                  []string        `json:"scope,omitempty"`
	PresentationDefinition json.RawMessage `json:"presentationDefinition,omitempty"`
}

// ResponseMessage is a PresentationResponseMessage (DCP §5.4.2); the
// presentations are JWT VPs.
type ResponseMessage struct {
	Context      []string `json:"@context"`
	Type         string   `json:"type"`
	Presentation []string `json:"presentation"`
}

// ParseQuery parses and checks a query read from untrusted input: the DCP
// context and type, exactly one of scope and presentationDefinition (the
// latter refused with ErrNotImplemented), a non-empty scope of valid scopes.
func ParseQuery(b []byte) (*QueryMessage, []Scope, error) {
	var q QueryMessage
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, nil, fmt.Errorf("%w: body: %v", ErrQuery, err)
	}
	if !slices.Contains(q.Context, ContextDCP) {
		return nil, nil, fmt.Errorf("%w: field @context: must contain %q", ErrQuery, ContextDCP)
	}
	if q.Type != TypeQuery {
		return nil, nil, fmt.Errorf("%w: field type: %q, want %q", ErrQuery, q.Type, TypeQuery)
	}
	pd := len(q.PresentationDefinition) > 0 && string(q.PresentationDefinition) != "null"
	switch {
	case pd && q.Scope != nil:
		return nil, nil, fmt.Errorf("%w: fields scope and presentationDefinition: exactly one is allowed", ErrQuery)
	case pd:
		var m map[string]any
		if json.Unmarshal(q.PresentationDefinition, &m) != nil || len(m) == 0 {
			return nil, nil, fmt.Errorf("%w: field presentationDefinition: must be a non-empty object", ErrQuery)
		}
		return nil, nil, fmt.Errorf("%w: field presentationDefinition: ask with scope", ErrNotImplemented)
	case len(q.Scope) == 0:
		return nil, nil, fmt.Errorf("%w: field scope: a non-empty array is required", ErrQuery)
	}
	scopes := make([]Scope, 0, len(q.Scope))
	for _, s := range q.Scope {
		sc, err := ParseScope(s)
		if err != nil {
			return nil, nil, err
		}
		scopes = append(scopes, sc)
	}
	return &q, scopes, nil
}

// CredentialService is a holder's store of credentials and its Resolution
// API. A verifier's request must carry, as Bearer, a self-issued ID token of
// the verifier addressed to this holder whose token claim is an access token
// this holder's STS minted for that verifier; only the scopes of that access
// token are answered (others are left out, DCP §5.4.1.2).
type CredentialService struct {
	sts    *STS
	res    *Resolver
	replay *identity.ReplayCache
	leeway time.Duration

	mu    sync.RWMutex
	creds []storedCredential
	// path, when set, keeps the credentials issuers delivered across
	// restarts (OpenStore).
	path string

	// The Credential Issuance Protocol's holder side (holder.go).
	trusted  map[string]bool
	offers   []ReceivedOffer
	offerSeq uint64 // offers received so far
	requests map[string]*HolderRequest
	// changed is closed and replaced when an offer or a CredentialMessage
	// arrives (changes).
	changed chan struct{}
}

type storedCredential struct {
	id     string
	issuer string
	types  []string
	jwt    string
	// from is when it was issued (validFrom, else iat); until its
	// validUntil (zero: none).
	from, until time.Time
	status      *Status // its credentialStatus, if any
	// delivered: an issuer delivered it (CredentialMessage), so the store
	// file keeps it; credentials the node's configuration names are filed
	// at every start instead.
	delivered bool
}

// expired reports whether c's validUntil has passed at now.
func (c *storedCredential) expired(now time.Time) bool {
	return !c.until.IsZero() && !now.Before(c.until)
}

// NewCredentialService makes the Credential Service of the node whose STS is
// sts, resolving verifiers' DIDs with res.
func NewCredentialService(sts *STS, res *Resolver, opts ...CredentialServiceOption) *CredentialService {
	cs := &CredentialService{sts: sts, res: res, replay: identity.NewReplayCache(1 << 18), leeway: identity.DefaultLeeway,
		trusted: map[string]bool{}, requests: map[string]*HolderRequest{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(cs)
	}
	return cs
}

// CredentialServiceOption configures a CredentialService.
type CredentialServiceOption func(*CredentialService)

// WithTrustedIssuers names the issuers whose CredentialMessages and offers
// the Credential Service accepts (POST /credentials, POST /offers); without
// any, it accepts none and files credentials through Store only.
func WithTrustedIssuers(dids ...string) CredentialServiceOption {
	return func(cs *CredentialService) {
		for _, d := range dids {
			cs.trusted[d] = true
		}
	}
}

// Store files a credential issued to this holder (one the node's
// configuration names). Its subject must be the holder's DID. A credential
// replaces the ones with its id, and those its issuer issued earlier with the
// same types: a renewed credential supersedes the one it renews, which may
// since have been revoked, so that presentations carry the newest only.
func (cs *CredentialService) Store(vcJWT string) error {
	sc, err := cs.parseStored(vcJWT)
	if err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.file(sc)
	return nil
}

// parseStored reads what the store keeps of a credential about this holder.
func (cs *CredentialService) parseStored(vcJWT string) (storedCredential, error) {
	c, err := ParseUnverifiedCredential(vcJWT)
	if err != nil {
		return storedCredential{}, err
	}
	if c.Subject.ID != cs.sts.DID() {
		return storedCredential{}, fmt.Errorf("%w: credentialSubject.id %q is not this holder %q", ErrWrongSubject, c.Subject.ID, cs.sts.DID())
	}
	sc := storedCredential{id: c.CredID, issuer: c.CredIssuer, types: slices.Sorted(slices.Values(c.Type)), jwt: vcJWT, status: c.Status}
	if c.IssuedAt != nil {
		sc.from = c.IssuedAt.Time
	}
	for _, f := range []struct {
		name, v string
		t       *time.Time
	}{{"validFrom", c.ValidFrom, &sc.from}, {"validUntil", c.ValidUntil, &sc.until}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			return storedCredential{}, fmt.Errorf("%w: credential %s %q: not an RFC 3339 date-time", identity.ErrMalformed, f.name, f.v)
		}
		*f.t = t
	}
	return sc, nil
}

// file stores sc unless a credential its issuer issued later with the same
// types is stored (sc is then superseded already), and drops those it
// supersedes; cs.mu held. It reports whether sc was filed.
func (cs *CredentialService) file(sc storedCredential) bool {
	same := func(o storedCredential) bool { return o.issuer == sc.issuer && slices.Equal(o.types, sc.types) }
	if slices.ContainsFunc(cs.creds, func(o storedCredential) bool { return o.id != sc.id && same(o) && o.from.After(sc.from) }) {
		return false
	}
	cs.creds = slices.DeleteFunc(cs.creds, func(o storedCredential) bool { return o.id == sc.id || same(o) })
	cs.creds = append(cs.creds, sc)
	return true
}

// HeldCredential is what a node shows of a credential it holds.
type HeldCredential struct {
	ID         string    `json:"id"`
	Issuer     string    `json:"issuer"`
	Types      []string  `json:"types"`
	ValidFrom  time.Time `json:"validFrom,omitzero"`
	ValidUntil time.Time `json:"validUntil,omitzero"`
	Expired    bool      `json:"expired"`
	// Delivered: an issuer delivered it (kept in the store file), not read
	// from the node's configuration.
	Delivered bool `json:"delivered"`
}

// Held lists the credentials the Credential Service holds, in the order
// they were filed.
func (cs *CredentialService) Held() []HeldCredential {
	now := cs.sts.now()
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	out := make([]HeldCredential, 0, len(cs.creds))
	for _, c := range cs.creds {
		out = append(out, HeldCredential{ID: c.id, Issuer: c.issuer, Types: slices.Clone(c.types), ValidFrom: c.from.UTC(),
			ValidUntil: c.until.UTC(), Expired: c.expired(now), Delivered: c.delivered})
	}
	return out
}

// authorize checks the Bearer ID token and its access token and returns the
// verifier's DID and the scopes it may read.
func (cs *CredentialService) authorize(ctx context.Context, r *http.Request) (string, []Scope, error) {
	scheme, bearer, ok := identity.Authorization(r)
	if !ok || scheme != identity.SchemeBearer {
		return "", nil, fmt.Errorf("%w: header Authorization: want \"Bearer <self-issued ID token>\"", identity.ErrMalformed)
	}
	now := cs.sts.now
	id, err := selfIssued(ctx, cs.res, cs.replay, bearer, cs.sts.DID(), cs.sts.algs(), now, cs.leeway)
	if err != nil {
		return "", nil, err
	}
	if id.Token == "" {
		return "", nil, fmt.Errorf("%w: claim token: an access token from this holder is required", identity.ErrMalformed)
	}
	at, err := cs.access(id)
	if err != nil {
		return "", nil, err
	}
	var scopes []Scope
	for _, s := range strings.Fields(at.Scope) {
		if sc, err := ParseScope(s); err == nil {
			scopes = append(scopes, sc)
		}
	}
	return id.Issuer, scopes, nil
}

// access verifies the access token in id's token claim: minted by this
// holder's STS for id's issuer.
func (cs *CredentialService) access(id *IDClaims) (*AccessClaims, error) {
	now := cs.sts.now
	at := &AccessClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods(cs.sts.algs()), jwt.WithTimeFunc(now), jwt.WithLeeway(cs.leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithIssuer(cs.sts.DID()), jwt.WithSubject(cs.sts.DID()),
		jwt.WithAudience(id.Issuer)).
		ParseWithClaims(id.Token, at, func(t *jwt.Token) (any, error) {
			if typ, _ := t.Header["typ"].(string); typ != TypAccess {
				return nil, fmt.Errorf("%w: access token header typ: %q, want %q", identity.ErrWrongKind, typ, TypAccess)
			}
			if kid, _ := t.Header["kid"].(string); kid != cs.sts.KeyID() {
				return nil, fmt.Errorf("%w: access token header kid: %q is not this holder's key", identity.ErrUnknownKey, kid)
			}
			return cs.sts.key.JWK().PublicKey()
		})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenInvalidAudience) {
			return nil, fmt.Errorf("%w: access token claim aud: minted for another verifier than %q", identity.ErrWrongAudience, id.Issuer)
		}
		return nil, fmt.Errorf("access token: %w", classify(err))
	}
	return at, nil
}

// Present makes the holder's answer to verifier for the requested scopes,
// limited to the granted ones: one presentation with every credential a
// requested and granted scope matches (none when nothing matches). Expired
// credentials are left out.
func (cs *CredentialService) Present(verifier string, requested, granted []Scope) (*ResponseMessage, error) {
	cs.mu.RLock()
	var vcs []Enveloped
	now := cs.sts.now()
	for _, c := range cs.creds {
		if c.expired(now) {
			continue // a verifier refuses the whole presentation over it
		}
		for _, r := range requested {
			if r.Matches(c.id, c.types) && slices.ContainsFunc(granted, func(g Scope) bool { return g.Alias == r.Alias && g.Discriminator == r.Discriminator }) {
				vcs = append(vcs, Envelope(c.jwt))
				break
			}
		}
	}
	cs.mu.RUnlock()
	resp := &ResponseMessage{Context: []string{ContextDCP}, Type: TypeResponse, Presentation: []string{}}
	if len(vcs) == 0 {
		return resp, nil
	}
	rc := cs.sts.registered(verifier)
	vp, err := signJWT(cs.sts.key, cs.sts.KeyID(), TypVP, &PresentationClaims{
		Context: []string{ContextVC2}, Type: []string{"VerifiablePresentation"}, Holder: cs.sts.DID(),
		Credentials: vcs, RegisteredClaims: rc,
	})
	if err != nil {
		return nil, fmt.Errorf("dcp: sign presentation: %w", err)
	}
	resp.Presentation = append(resp.Presentation, vp)
	return resp, nil
}

// Handler is the Resolution API (POST PresentationsPath) and the Storage
// and Offer APIs of credential issuance (POST CredentialsPath, OffersPath).
func (cs *CredentialService) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+CredentialsPath, cs.serveCredentials)
	mux.HandleFunc("POST "+OffersPath, cs.serveOffers)
	mux.HandleFunc("POST "+PresentationsPath, func(w http.ResponseWriter, r *http.Request) {
		verifier, granted, err := cs.authorize(r.Context(), r)
		if err != nil {
			writeError(w, err)
			return
		}
		b, err := readLimited(http.MaxBytesReader(w, r.Body, maxQueryBytes), maxQueryBytes)
		if err != nil {
			writeError(w, fmt.Errorf("%w: body: %v", ErrQuery, err))
			return
		}
		_, requested, err := ParseQuery(b)
		if err != nil {
			writeError(w, err)
			return
		}
		resp, err := cs.Present(verifier, requested, granted)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	return mux
}

func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	if errors.Is(err, ErrBusy) {
		w.Header().Set("Retry-After", "1") // seconds: requests are decided in about that
	}
	w.WriteHeader(StatusCode(err))
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
