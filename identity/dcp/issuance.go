package dcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/google/uuid"

	"github.com/tdsc/tdsc/identity"
)

// Issuing is what the Issuer Service needs of the authority's credential
// issuer (*CredentialIssuer, or a wrapper that persists it).
type Issuing interface {
	Issue(p identity.Participant) (IssuedCredential, error)
	Revoke(id, reason string) error
	Credentials(participant string) []IssuedCredential
}

// IssuerServiceConfig configures the authority's Issuer Service.
type IssuerServiceConfig struct {
	// DID and Key are the authority's (the issuer's): requests must be
	// addressed to DID, and deliveries are authenticated with tokens Key signs.
	DID string
	Key *identity.Key
	// Issuer signs the credentials; Ledger is the registry they state.
	Issuer Issuing
	Ledger identity.Source
	// Endpoint is the Issuer Service's public base URL: the IssuerService
	// entry of the authority's DID document, and the base of Location headers.
	Endpoint string
	// Resolver resolves holders' DID documents (their keys and Credential
	// Services); HTTPClient delivers to Credential Services (HTTPS).
	Resolver   *Resolver
	HTTPClient *http.Client
	// AllowedHosts limits the Credential Service hosts credentials are
	// delivered to (empty allows any).
	AllowedHosts Hosts
	// MaxRequests bounds the requests remembered for the status API (default
	// 10 000; the oldest are forgotten first).
	MaxRequests int
	// Requests, when set, keeps the requests across restarts (a
	// *RequestLog): a request is accepted only once its state is saved, and
	// each decision is saved as it is made. A request the service had not
	// decided when it stopped is rejected when it starts again, asking the
	// holder to request again: the access token its delivery needed has
	// gone with the process.
	Requests RequestStore
	// Log receives what the service cannot answer on (a decision not
	// saved); nil discards it.
	Log    *slog.Logger
	Leeway time.Duration
	Now    func() time.Time
}

// IssuerService is the Credential Issuance Protocol of DCP 1.0 §6 on the
// authority: GET /metadata, POST /credentials (a holder's
// CredentialRequestMessage, authenticated by its self-issued ID token) and
// GET /requests/{id}. The ledger registry decides: a request is granted only
// for a participant the ledger registers under the requesting DID and shows
// active; the credential then goes to the holder's Credential Service in a
// CredentialMessage, authenticated with the issuer's own self-issued token.
// Safe for concurrent use; Close waits for deliveries in flight.
type IssuerService struct {
	cfg    IssuerServiceConfig
	sts    *STS
	http   *resty.Client
	replay *identity.ReplayCache
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	reqs    map[string]*IssuanceRequest
	order   []string
	pending int // requests being decided
}

// RequestStore keeps the Issuer Service's requests: Requests returns those
// kept when the service starts, Save keeps a request's latest state.
type RequestStore interface {
	Requests() []IssuanceRequest
	Save(IssuanceRequest) error
}

// defaultMaxRequests is IssuerServiceConfig.MaxRequests's default.
const defaultMaxRequests = 10000

// reasonInterrupted rejects, on start, a request the service had not
// decided when it stopped.
const reasonInterrupted = "the Issuer Service stopped before deciding this request: request again"

// maxPending bounds the requests being decided at once; more are refused
// with ErrBusy.
const maxPending = 256

// IssuanceRequest is the Issuer Service's record of one credential request.
type IssuanceRequest struct {
	ID        string    `json:"issuerPid"`
	Holder    string    `json:"holder"`
	HolderPid string    `json:"holderPid"`
	Status    string    `json:"status"`
	Reason    string    `json:"rejectionReason,omitempty"`
	Received  time.Time `json:"received"`
	// Credential is the id of the credential issued for it.
	Credential string `json:"credential,omitempty"`
}

// MembershipObjectID is the id of the membership credential in the issuer's
// credentialsSupported.
const MembershipObjectID = "urn:tdsc:credential-object:" + TypeMembership

// NewIssuerService makes the Issuer Service.
func NewIssuerService(cfg IssuerServiceConfig) (*IssuerService, error) {
	if cfg.Issuer == nil || cfg.Ledger == nil || cfg.Resolver == nil {
		return nil, errors.New("dcp: issuer service: fields Issuer, Ledger and Resolver: required")
	}
	if !strings.HasPrefix(cfg.Endpoint, "https://") {
		return nil, fmt.Errorf("dcp: issuer service: field Endpoint: %q must be an https URL", cfg.Endpoint)
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if err := cfg.AllowedHosts.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = defaultMaxRequests
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = identity.DefaultLeeway
	}
	if cfg.MaxRequests < 0 || cfg.Leeway < 0 || cfg.Leeway > 2*time.Minute {
		return nil, errors.New("dcp: issuer service: field MaxRequests must be positive, Leeway in [0, 2m]")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sts, err := NewSTS(cfg.DID, cfg.Key, 0, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("dcp: issuer service: %w", err)
	}
	hc := restyOver(cfg.HTTPClient)
	hc.SetTimeout(10 * time.Second).SetRedirectPolicy(resty.NoRedirectPolicy())
	s := &IssuerService{cfg: cfg, sts: sts, http: hc, replay: identity.NewReplayCache(1 << 18), reqs: map[string]*IssuanceRequest{}}
	if err := s.restore(); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// restore takes up the requests cfg.Requests kept, rejecting those not
// decided before the service stopped (reasonInterrupted).
func (s *IssuerService) restore() error {
	if s.cfg.Requests == nil {
		return nil
	}
	for _, r := range s.cfg.Requests.Requests() {
		if r.Status == StatusReceived {
			r.Status, r.Reason = StatusRejected, reasonInterrupted
			if err := s.cfg.Requests.Save(r); err != nil {
				return fmt.Errorf("dcp: issuer service: %w", err)
			}
		}
		if _, ok := s.reqs[r.ID]; !ok {
			s.order = append(s.order, r.ID)
		}
		s.reqs[r.ID] = &r
	}
	s.forget()
	return nil
}

// forget drops the oldest requests past MaxRequests; s.mu held (or s not
// yet shared).
func (s *IssuerService) forget() {
	for len(s.order) > s.cfg.MaxRequests {
		delete(s.reqs, s.order[0])
		s.order = s.order[1:]
	}
}

// ServiceEntry is the IssuerService entry of the issuer's DID document.
func (s *IssuerService) ServiceEntry() Service {
	return Service{ID: "issuer-service", Type: ServiceIssuer, ServiceEndpoint: s.cfg.Endpoint}
}

// Metadata is the issuer's IssuerMetadata: the space's membership credential
// in the vc20-bssl/jwt profile. Its issuance policy asks for no presentation:
// the ledger registry is what decides.
func (s *IssuerService) Metadata() IssuerMetadata {
	return IssuerMetadata{Context: []string{ContextDCP}, Type: TypeIssuerMetadata, Issuer: s.cfg.DID,
		CredentialsSupported: []CredentialObject{{
			ID: MembershipObjectID, Type: TypeCredentialObject, CredentialType: TypeMembership,
			CredentialSchema: s.cfg.Endpoint + MembershipSchemaPath, OfferReason: "reissue",
			BindingMethods: []string{"did:web"}, Profile: ProfileVC20JWT,
			IssuancePolicy: json.RawMessage(`{"id":"tdsc-ledger-registration","purpose":"none: the holder's DID must be registered on the space's ledger and active","input_descriptors":[]}`),
		}}}
}

// membershipSchema is the JSON Schema of a membership credential's
// credentialSubject (the attributes the ledger registers).
const membershipSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "tdsc MembershipCredential credentialSubject",
  "type": "object",
  "required": ["id", "memberOf"],
  "properties": {
    "id": {"type": "string", "description": "the holder's DID, as the ledger registers it"},
    "memberOf": {"type": "string", "description": "the data space id"},
    "participant": {"type": "string", "description": "the participant's id on the ledger"},
    "name": {"type": "string"},
    "region": {"type": "string"},
    "industry": {"type": "string"},
    "orgType": {"type": "string"},
    "creditCode": {"type": "string"},
    "member": {"type": "array", "items": {"type": "string"}}
  }
}
`

// Requests lists the requests remembered, oldest first.
func (s *IssuerService) Requests() []IssuanceRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]IssuanceRequest, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.reqs[id])
	}
	return out
}

// Flush waits until every accepted request is decided and delivered.
func (s *IssuerService) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops deliveries in flight and waits for them (bounded by ctx).
func (s *IssuerService) Close(ctx context.Context) error {
	s.cancel()
	return s.Flush(ctx)
}

// Handler serves the Issuer Service under its base path: GET MetadataPath,
// GET MembershipSchemaPath, POST CredentialsPath, GET RequestsPath{id}.
func (s *IssuerService) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+MetadataPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Metadata())
	})
	mux.HandleFunc("GET "+MembershipSchemaPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = w.Write([]byte(membershipSchema))
	})
	mux.HandleFunc("POST "+CredentialsPath, func(w http.ResponseWriter, r *http.Request) {
		req, err := s.receive(r.Context(), w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Location", s.cfg.Endpoint+RequestsPath+req.ID)
		writeJSON(w, http.StatusCreated, statusOf(req))
	})
	mux.HandleFunc("GET "+RequestsPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.status(r.Context(), r, r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func statusOf(r IssuanceRequest) CredentialStatus {
	return CredentialStatus{Context: []string{ContextDCP}, Type: TypeCredentialStatus, IssuerPid: r.ID, HolderPid: r.HolderPid,
		Status: r.Status, RejectionReason: r.Reason}
}

// caller verifies the request's self-issued ID token, addressed to the issuer.
func (s *IssuerService) caller(ctx context.Context, r *http.Request) (*IDClaims, error) {
	scheme, tok, ok := identity.Authorization(r)
	if !ok || scheme != identity.SchemeBearer {
		return nil, fmt.Errorf("%w: header Authorization: want \"Bearer <self-issued ID token>\"", identity.ErrMalformed)
	}
	return selfIssued(ctx, s.cfg.Resolver, s.replay, tok, s.cfg.DID, s.sts.algs(), s.cfg.Now, s.cfg.Leeway)
}

// receive authenticates and records a CredentialRequestMessage, and starts
// deciding it.
func (s *IssuerService) receive(ctx context.Context, w http.ResponseWriter, r *http.Request) (IssuanceRequest, error) {
	id, err := s.caller(ctx, r)
	if err != nil {
		return IssuanceRequest{}, err
	}
	b, err := readLimited(http.MaxBytesReader(w, r.Body, maxIssuanceBytes), maxIssuanceBytes)
	if err != nil {
		return IssuanceRequest{}, fmt.Errorf("%w: body: %v", ErrIssuance, err)
	}
	m, err := ParseCredentialRequest(b)
	if err != nil {
		return IssuanceRequest{}, err
	}
	for i, c := range m.Credentials {
		if c.ID != MembershipObjectID {
			return IssuanceRequest{}, fmt.Errorf("%w: field credentials[%d].id: %q is not among this issuer's credentialsSupported (GET %s)", ErrIssuance, i, c.ID, MetadataPath)
		}
	}
	req := &IssuanceRequest{ID: uuid.NewString(), Holder: id.Subject, HolderPid: m.HolderPid, Status: StatusReceived, Received: s.cfg.Now().UTC()}
	s.mu.Lock()
	if s.pending >= maxPending {
		s.mu.Unlock()
		return IssuanceRequest{}, fmt.Errorf("%w: %d requests are being decided; request again later", ErrBusy, maxPending)
	}
	s.pending++
	s.mu.Unlock()
	if s.cfg.Requests != nil {
		if err := s.cfg.Requests.Save(*req); err != nil {
			s.mu.Lock()
			s.pending--
			s.mu.Unlock()
			return IssuanceRequest{}, fmt.Errorf("the request could not be recorded (request again later): %w", err)
		}
	}
	s.mu.Lock()
	s.reqs[req.ID] = req
	s.order = append(s.order, req.ID)
	s.forget()
	cp := *req
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.decide(cp, id.Token)
		s.mu.Lock()
		s.pending--
		s.mu.Unlock()
	}()
	return cp, nil
}

// status answers GET /requests/{id}, to the holder that made the request only.
func (s *IssuerService) status(ctx context.Context, r *http.Request, id string) (CredentialStatus, error) {
	c, err := s.caller(ctx, r)
	if err != nil {
		return CredentialStatus{}, err
	}
	s.mu.Lock()
	req, ok := s.reqs[id]
	var cp IssuanceRequest
	if ok {
		cp = *req
	}
	s.mu.Unlock()
	if !ok || cp.Holder != c.Subject {
		return CredentialStatus{}, fmt.Errorf("%w: %q is not a request of %s", ErrNoRequest, id, c.Subject)
	}
	return statusOf(cp), nil
}

// set records a request's decision, and saves it when the service keeps
// its requests (a request forgotten in memory meanwhile is still saved).
func (s *IssuerService) set(req IssuanceRequest, status, reason, credential string) {
	req.Status, req.Reason, req.Credential = status, reason, credential
	s.mu.Lock()
	if r, ok := s.reqs[req.ID]; ok {
		*r = req
	}
	s.mu.Unlock()
	if s.cfg.Requests != nil {
		if err := s.cfg.Requests.Save(req); err != nil {
			s.cfg.Log.Error("dcp: issuer service: a decision was not saved; after a restart the request reads as interrupted",
				"request", req.ID, "holder", req.Holder, "status", status, "err", err)
		}
	}
}

// DIDSource is what a Ledger may offer besides identity.Source: the
// participant registered under a DID whose id is not that DID.
type DIDSource interface {
	ParticipantByDID(ctx context.Context, did string) (identity.Participant, error)
}

// Participant returns the participant the ledger registers under did: the
// one registered by its DID (its id is the DID); else, when the Ledger is a
// DIDSource, the one it finds; else the one the authority issued to under
// that DID before, read again from the ledger. Either way the ledger's
// record must name did now.
func (s *IssuerService) Participant(ctx context.Context, did string) (identity.Participant, error) {
	p, err := s.cfg.Ledger.Participant(ctx, did)
	if ds, ok := s.cfg.Ledger.(DIDSource); ok && errors.Is(err, identity.ErrUnknownParticipant) {
		p, err = ds.ParticipantByDID(ctx, did)
	}
	if errors.Is(err, identity.ErrUnknownParticipant) {
		prev := s.cfg.Issuer.Credentials("")
		for i := len(prev) - 1; i >= 0; i-- {
			if prev[i].DID == did {
				p, err = s.cfg.Ledger.Participant(ctx, prev[i].Participant)
				break
			}
		}
	}
	if errors.Is(err, identity.ErrUnknownParticipant) {
		return identity.Participant{}, fmt.Errorf("no participant is registered under DID %s on the ledger: %w", did, err)
	}
	if err != nil {
		return identity.Participant{}, fmt.Errorf("the ledger could not be read (request again later): %w", err)
	}
	if p.DID != did {
		return identity.Participant{}, fmt.Errorf("%w: the ledger registers participant %s under DID %q, not %s", identity.ErrUnknownParticipant, p.ID, p.DID, did)
	}
	return p, nil
}

// decide grants or rejects a request after the ledger, and delivers the
// outcome to the holder's Credential Service when the ledger registers the
// holder (an unregistered DID learns it from the status API only).
func (s *IssuerService) decide(req IssuanceRequest, access string) {
	ctx := s.ctx
	p, err := s.Participant(ctx, req.Holder)
	if err != nil {
		s.set(req, StatusRejected, err.Error(), "")
		return
	}
	ic, reused := s.current(p)
	if !reused {
		ic, err = s.cfg.Issuer.Issue(p)
	}
	if err != nil {
		reason := "not issued: " + err.Error()
		if errors.Is(err, identity.ErrSuspended) {
			reason = fmt.Sprintf("participant %s is %s on the ledger; credentials are issued to active participants only", p.ID, p.Status)
		}
		s.set(req, StatusRejected, reason, "")
		_ = s.deliver(ctx, req, access, CredentialMessage{Status: StatusRejected, RejectionReason: reason})
		return
	}
	msg := CredentialMessage{Status: StatusIssued, Credentials: []CredentialContainer{{CredentialType: TypeMembership, Format: ProfileVC20JWT, Payload: ic.JWT}}}
	if err := s.deliver(ctx, req, access, msg); err != nil {
		reason := "issued but not delivered, request again: " + err.Error()
		if !reused {
			_ = s.cfg.Issuer.Revoke(ic.ID, "not delivered to the holder's Credential Service")
		}
		s.set(req, StatusRejected, reason, ic.ID)
		return
	}
	s.set(req, StatusIssued, "", ic.ID)
}

// current returns p's credential issued under its DID that is unrevoked,
// states what the ledger states now and has more than half its life left:
// a request then gets that credential again rather than a new one, so that
// requests cannot use up the status list's entries.
func (s *IssuerService) current(p identity.Participant) (IssuedCredential, bool) {
	if p.Status != identity.StatusActive && p.Status != "" {
		return IssuedCredential{}, false // Issue refuses it with the reason
	}
	now := s.cfg.Now()
	prev := s.cfg.Issuer.Credentials(p.ID)
	for i := len(prev) - 1; i >= 0; i-- {
		c := prev[i]
		if c.Revoked || c.DID != p.DID || c.ValidUntil.Sub(now) <= c.ValidUntil.Sub(c.IssuedAt)/2 || !statesSame(&c, p) {
			continue
		}
		return c, true
	}
	return IssuedCredential{}, false
}

// deliver writes msg to the holder's Credential Service (POST
// <CredentialService>/credentials), authenticated with the issuer's
// self-issued ID token carrying the holder's access token, if it sent one.
func (s *IssuerService) deliver(ctx context.Context, req IssuanceRequest, access string, msg CredentialMessage) error {
	msg.Context, msg.Type, msg.IssuerPid, msg.HolderPid = []string{ContextDCP}, TypeCredentialMessage, req.ID, req.HolderPid
	return s.post(ctx, req.Holder, access, CredentialsPath, msg)
}

// Offer sends holder (a DID the ledger registers, active) a
// CredentialOfferMessage for the membership credential (DCP §6.6.1), to its
// Credential Service's offer API. A tdsc node keeping its credential
// (Node.KeepMembership) requests one when it gets it.
func (s *IssuerService) Offer(ctx context.Context, holder string) error {
	p, err := s.Participant(ctx, holder)
	if err != nil {
		return err
	}
	if p.Status != identity.StatusActive && p.Status != "" {
		return fmt.Errorf("%w: participant %s is %s on the ledger; credentials are offered to active participants only", identity.ErrSuspended, p.ID, p.Status)
	}
	md := s.Metadata()
	return s.post(ctx, holder, "", OffersPath, CredentialOfferMessage{Context: []string{ContextDCP}, Type: TypeCredentialOffer,
		Issuer: s.cfg.DID, Credentials: md.CredentialsSupported})
}

// Reoffer offers a new credential to the holders of the credentials
// revoked (ids, as CredentialIssuer.Reconcile returns them) whom the ledger
// still registers under the same DID and shows active: their ledger entry
// changed, and the credential that stated it is revoked. Holders suspended
// or gone are not offered anything. It returns the holders offered and what
// failed.
func (s *IssuerService) Reoffer(ctx context.Context, revoked []string) ([]string, error) {
	gone := map[string]bool{}
	for _, id := range revoked {
		gone[id] = true
	}
	var dids []string
	for _, c := range s.cfg.Issuer.Credentials("") {
		if gone[c.ID] && c.DID != "" && !slices.Contains(dids, c.DID) {
			dids = append(dids, c.DID)
		}
	}
	var offered []string
	var errs []error
	for _, did := range dids {
		p, err := s.Participant(ctx, did)
		if err != nil || (p.Status != identity.StatusActive && p.Status != "") {
			continue // suspended, gone, or under another DID now
		}
		if err := s.Offer(ctx, did); err != nil {
			errs = append(errs, fmt.Errorf("offer to %s: %w", did, err))
			continue
		}
		offered = append(offered, did)
	}
	return offered, errors.Join(errs...)
}

// post writes body to path under holder's Credential Service, authenticated
// with the issuer's self-issued ID token (carrying access, if any).
func (s *IssuerService) post(ctx context.Context, holder, access, path string, body any) error {
	doc, err := s.cfg.Resolver.Resolve(ctx, holder)
	if err != nil {
		return err
	}
	base, err := doc.ServiceEndpoint(ServiceCredential)
	if err != nil {
		return err
	}
	if err := s.cfg.AllowedHosts.Allow(base); err != nil {
		return fmt.Errorf("%s's Credential Service: %w", holder, err)
	}
	tok, err := s.sts.IDToken(holder, access)
	if err != nil {
		return err
	}
	r, err := s.http.R().SetContext(ctx).SetAuthToken(tok).SetBody(body).Post(base + path)
	if err != nil {
		return fmt.Errorf("POST %s%s: %w", base, path, err)
	}
	if !r.IsSuccess() {
		return fmt.Errorf("POST %s%s: HTTP %d: %s", base, path, r.StatusCode(), truncate(r.String(), 300))
	}
	return nil
}
