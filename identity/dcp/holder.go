package dcp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tdsc/tdsc/identity"
)

// HolderRequest is a holder's record of a credential request it made.
type HolderRequest struct {
	HolderPid string `json:"holderPid"`
	Issuer    string `json:"issuer"`
	// Location is the request's status URL at the Issuer Service.
	Location string `json:"location,omitempty"`
	// Status is RECEIVED until the issuer's CredentialMessage arrives, then
	// ISSUED or REJECTED (with Reason).
	Status string `json:"status"`
	Reason string `json:"rejectionReason,omitempty"`
	// Credentials are the ids of the credentials filed for it.
	Credentials []string `json:"credentials,omitempty"`
}

// ReceivedOffer is a CredentialOfferMessage a trusted issuer sent.
type ReceivedOffer struct {
	Issuer      string             `json:"issuer"`
	Credentials []CredentialObject `json:"credentials"`
	Received    time.Time          `json:"received"`
}

// maxOffers bounds the offers a Credential Service remembers.
const maxOffers = 100

// Offers lists the offers received, oldest first.
func (cs *CredentialService) Offers() []ReceivedOffer {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return slices.Clone(cs.offers)
}

// Request returns the record of the request holderPid.
func (cs *CredentialService) Request(holderPid string) (HolderRequest, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	r, ok := cs.requests[holderPid]
	if !ok {
		return HolderRequest{}, false
	}
	cp := *r
	cp.Credentials = slices.Clone(r.Credentials)
	return cp, true
}

// issuer authenticates an issuer's write: its self-issued ID token addressed
// to this holder, by an issuer this holder trusts, and the access token in it,
// if any, one this holder minted for that issuer.
func (cs *CredentialService) issuer(ctx context.Context, r *http.Request) (string, error) {
	scheme, bearer, ok := identity.Authorization(r)
	if !ok || scheme != identity.SchemeBearer {
		return "", fmt.Errorf("%w: header Authorization: want \"Bearer <the issuer's self-issued ID token>\"", identity.ErrMalformed)
	}
	id, err := selfIssued(ctx, cs.res, cs.replay, bearer, cs.sts.DID(), cs.sts.algs(), cs.sts.now, cs.leeway)
	if err != nil {
		return "", err
	}
	if !cs.trusted[id.Issuer] {
		return "", fmt.Errorf("%w: %s may not write to this Credential Service (not among its trusted issuers)", ErrUntrustedIssuer, id.Issuer)
	}
	if id.Token != "" {
		if _, err := cs.access(id); err != nil {
			return "", err
		}
	}
	return id.Issuer, nil
}

// Receive files the credentials of a CredentialMessage from issuer, already
// authenticated: every credential must be a vc20-bssl/jwt credential signed
// by issuer (an assertionMethod key of its DID document), valid now, of the
// type its container names, and about this holder; one that is not refuses
// the whole message and nothing is filed. The credentials filed supersede
// earlier ones (Store) and, with a store file (OpenStore), are in it before
// Receive returns. A rejection is recorded against the holder's request.
func (cs *CredentialService) Receive(ctx context.Context, issuer string, m *CredentialMessage) (err error) {
	var ids, jwts []string
	for i, c := range m.Credentials {
		if c.Format != ProfileVC20JWT && c.Format != "jwt" {
			return fmt.Errorf("%w: field credentials[%d].format: %q, this holder stores %s (or \"jwt\") only", ErrIssuance, i, c.Format, ProfileVC20JWT)
		}
		vc, err := parseCredential(ctx, cs.res, c.Payload, func(iss string) bool { return iss == issuer }, cs.sts.algs(), cs.sts.now, cs.leeway)
		if err != nil {
			return fmt.Errorf("credentials[%d].payload: %w", i, err)
		}
		if vc.Subject.ID != cs.sts.DID() {
			return fmt.Errorf("%w: credentials[%d] credentialSubject.id %q is not this holder %q", ErrWrongSubject, i, vc.Subject.ID, cs.sts.DID())
		}
		if !slices.Contains(vc.Type, c.CredentialType) {
			return fmt.Errorf("%w: field credentials[%d].credentialType: %q is not among the credential's types %v", ErrIssuance, i, c.CredentialType, vc.Type)
		}
		ids, jwts = append(ids, vc.CredID), append(jwts, c.Payload)
	}
	stored := make([]storedCredential, len(jwts))
	for i, j := range jwts {
		if stored[i], err = cs.parseStored(j); err != nil {
			return fmt.Errorf("credentials[%d].payload: %w", i, err)
		}
		stored[i].delivered = true
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	before := slices.Clone(cs.creds)
	for _, sc := range stored {
		cs.file(sc)
	}
	if err := cs.save(); err != nil {
		cs.creds = before
		return err
	}
	if r, ok := cs.requests[m.HolderPid]; ok && r.Issuer == issuer {
		r.Status, r.Reason = m.Status, m.RejectionReason
		r.Credentials = append(r.Credentials, ids...)
	}
	cs.signal()
	return nil
}

func (cs *CredentialService) serveCredentials(w http.ResponseWriter, r *http.Request) {
	issuer, err := cs.issuer(r.Context(), r)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := readLimited(http.MaxBytesReader(w, r.Body, maxIssuanceBytes), maxIssuanceBytes)
	if err != nil {
		writeError(w, fmt.Errorf("%w: body: %v", ErrIssuance, err))
		return
	}
	m, err := ParseCredentialMessage(b)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := cs.Receive(r.Context(), issuer, m); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (cs *CredentialService) serveOffers(w http.ResponseWriter, r *http.Request) {
	issuer, err := cs.issuer(r.Context(), r)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := readLimited(http.MaxBytesReader(w, r.Body, maxIssuanceBytes), maxIssuanceBytes)
	if err != nil {
		writeError(w, fmt.Errorf("%w: body: %v", ErrIssuance, err))
		return
	}
	m, err := ParseCredentialOffer(b)
	if err != nil {
		writeError(w, err)
		return
	}
	if m.Issuer != issuer {
		writeError(w, fmt.Errorf("%w: field issuer: %q, but the token is %s's", ErrIssuance, m.Issuer, issuer))
		return
	}
	cs.mu.Lock()
	cs.offers = append(cs.offers, ReceivedOffer{Issuer: issuer, Credentials: m.Credentials, Received: cs.sts.now().UTC()})
	if len(cs.offers) > maxOffers {
		cs.offers = slices.Delete(cs.offers, 0, len(cs.offers)-maxOffers)
	}
	cs.offerSeq++
	cs.signal()
	cs.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// RequestCredential asks the Issuer Service of issuerDID (its DID
// document's IssuerService entry) for the membership credential: it reads
// the issuer's metadata, sends a CredentialRequestMessage with a self-issued
// ID token, and returns the request as recorded. The issuer delivers the
// credential to this node's Credential Service later; Credentials.Request
// (HolderPid) shows when, and IssuanceStatus asks the issuer. issuerDID must
// be one of the node's trusted issuers, or its delivery would be refused.
func (n *Node) RequestCredential(ctx context.Context, issuerDID string) (HolderRequest, error) {
	if !n.Credentials.trusted[issuerDID] {
		return HolderRequest{}, fmt.Errorf("%w: %s is not among this node's trusted issuers; its CredentialMessage would be refused", ErrUntrustedIssuer, issuerDID)
	}
	base, err := n.issuerService(ctx, issuerDID)
	if err != nil {
		return HolderRequest{}, err
	}
	r, err := n.http.R().SetContext(ctx).Get(base + MetadataPath)
	if err != nil {
		return HolderRequest{}, fmt.Errorf("%s's metadata: %w", issuerDID, err)
	}
	if r.StatusCode() != http.StatusOK {
		return HolderRequest{}, fmt.Errorf("%s's metadata at %s: HTTP %d: %s", issuerDID, base+MetadataPath, r.StatusCode(), truncate(r.String(), 300))
	}
	md, err := ParseIssuerMetadata(r.Body())
	if err != nil {
		return HolderRequest{}, fmt.Errorf("%s's metadata: %w", issuerDID, err)
	}
	if md.Issuer != issuerDID {
		return HolderRequest{}, fmt.Errorf("%w: %s's metadata names issuer %q", ErrIssuance, issuerDID, md.Issuer)
	}
	var refs []CredentialRef
	for _, o := range md.CredentialsSupported {
		if o.CredentialType == TypeMembership && o.Profile == ProfileVC20JWT {
			refs = append(refs, CredentialRef{ID: o.ID})
		}
	}
	if len(refs) == 0 {
		return HolderRequest{}, fmt.Errorf("%w: %s offers no %s in the %s profile", ErrIssuance, issuerDID, TypeMembership, ProfileVC20JWT)
	}
	tok, err := n.STS.IDToken(issuerDID, "")
	if err != nil {
		return HolderRequest{}, err
	}
	req := &HolderRequest{HolderPid: uuid.NewString(), Issuer: issuerDID, Status: StatusReceived}
	n.Credentials.mu.Lock()
	n.Credentials.requests[req.HolderPid] = req
	n.Credentials.mu.Unlock()
	r, err = n.http.R().SetContext(ctx).SetAuthToken(tok).
		SetBody(CredentialRequestMessage{Context: []string{ContextDCP}, Type: TypeCredentialRequest, HolderPid: req.HolderPid, Credentials: refs}).
		Post(base + CredentialsPath)
	fail := func(err error) (HolderRequest, error) {
		n.Credentials.mu.Lock()
		delete(n.Credentials.requests, req.HolderPid)
		n.Credentials.mu.Unlock()
		return HolderRequest{}, err
	}
	if err != nil {
		return fail(fmt.Errorf("credential request to %s: %w", issuerDID, err))
	}
	if r.StatusCode() != http.StatusCreated || r.Header().Get("Location") == "" {
		return fail(fmt.Errorf("credential request to %s at %s: HTTP %d (want 201 with a Location): %s", issuerDID, base+CredentialsPath, r.StatusCode(), truncate(r.String(), 300)))
	}
	n.Credentials.mu.Lock()
	req.Location = r.Header().Get("Location")
	n.Credentials.mu.Unlock()
	got, _ := n.Credentials.Request(req.HolderPid)
	return got, nil
}

// IssuanceStatus asks the issuer for the status of req (GET its Location).
func (n *Node) IssuanceStatus(ctx context.Context, req HolderRequest) (*CredentialStatus, error) {
	base, err := n.issuerService(ctx, req.Issuer)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(req.Location, base+RequestsPath) {
		return nil, fmt.Errorf("%w: request location %q is not under %s's Issuer Service %s", ErrIssuance, req.Location, req.Issuer, base)
	}
	tok, err := n.STS.IDToken(req.Issuer, "")
	if err != nil {
		return nil, err
	}
	r, err := n.http.R().SetContext(ctx).SetAuthToken(tok).Get(req.Location)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", req.Location, err)
	}
	if r.StatusCode() != http.StatusOK {
		return nil, fmt.Errorf("status of %s: HTTP %d: %s", req.Location, r.StatusCode(), truncate(r.String(), 300))
	}
	return ParseCredentialStatus(r.Body())
}

// issuerService resolves the base URL of issuerDID's Issuer Service.
func (n *Node) issuerService(ctx context.Context, issuerDID string) (string, error) {
	doc, err := n.Resolver.Resolve(ctx, issuerDID)
	if err != nil {
		return "", err
	}
	base, err := doc.ServiceEndpoint(ServiceIssuer)
	if err != nil {
		return "", err
	}
	if err := n.hosts.Allow(base); err != nil {
		return "", fmt.Errorf("%s's Issuer Service: %w", issuerDID, err)
	}
	if !strings.HasPrefix(base, "https://") {
		return "", fmt.Errorf("%w: %s's IssuerService endpoint %q: must be an https URL", ErrDID, issuerDID, base)
	}
	return base, nil
}

// Stored returns the JWTs of the stored credentials of type typ (all, when
// typ is empty), in the order they were filed.
func (cs *CredentialService) Stored(typ string) []string {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	var out []string
	for _, c := range cs.creds {
		if typ == "" || slices.Contains(c.types, typ) {
			out = append(out, c.jwt)
		}
	}
	return out
}
