package dcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tdsc/tdsc/identity"
)

// IssuerConfig configures the authority's CredentialIssuer.
type IssuerConfig struct {
	// DID is the authority's did:web; its document's key is Key.
	DID string
	Key *identity.Key
	// Space is the data space id credentials state membership of.
	Space string
	// StatusURL is the public URL at which Handler's status list is served
	// (…/credentials/status/revocation under the authority's base URL).
	StatusURL string
	// Validity is a credential's life (default 30 days).
	Validity time.Duration
	// StatusTTL is how long a signed status list credential is served before
	// it is signed again (default 1 min); verifiers cache it as long.
	StatusTTL time.Duration
	Now       func() time.Time
}

func (c *IssuerConfig) validate() error {
	if _, err := WebURL(c.DID); err != nil {
		return fmt.Errorf("dcp: issuer: field DID: %w", err)
	}
	if c.Key == nil {
		return errors.New("dcp: issuer: field Key: required")
	}
	if c.Space == "" {
		return errors.New("dcp: issuer: field Space: required")
	}
	if c.StatusURL == "" {
		return errors.New("dcp: issuer: field StatusURL: required")
	}
	if c.Validity == 0 {
		c.Validity = 30 * 24 * time.Hour
	}
	if c.StatusTTL == 0 {
		c.StatusTTL = time.Minute
	}
	if c.Validity < 0 || c.StatusTTL < 0 {
		return errors.New("dcp: issuer: fields Validity and StatusTTL: must be positive")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// IssuedCredential is the authority's record of a credential it issued.
type IssuedCredential struct {
	ID          string    `json:"id"`
	Participant string    `json:"participant"`
	DID         string    `json:"did"`
	Index       int       `json:"statusListIndex"`
	IssuedAt    time.Time `json:"issuedAt"`
	ValidUntil  time.Time `json:"validUntil"`
	Revoked     bool      `json:"revoked"`
	Reason      string    `json:"reason,omitempty"`
	JWT         string    `json:"jwt"`
}

// issuerState is what the issuer persists (State, LoadState).
type issuerState struct {
	Next        int                `json:"next"`
	Credentials []IssuedCredential `json:"credentials"`
}

// CredentialIssuer is the authority as a DCP credential issuer. The ledger
// registry stays the source of truth: a credential is a signed view of a
// participant's registered state, and Reconcile revokes, through the status
// list, every credential of a participant the ledger shows suspended (or
// whose DID or attributes changed). Safe for concurrent use.
type CredentialIssuer struct {
	cfg IssuerConfig

	mu     sync.Mutex
	st     issuerState
	list   StatusList
	signed string
	signAt time.Time
}

// NewCredentialIssuer makes an issuer; state, when not nil, is what State
// returned earlier (its issued credentials and status list).
func NewCredentialIssuer(cfg IssuerConfig, state []byte) (*CredentialIssuer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ci := &CredentialIssuer{cfg: cfg, list: NewStatusList()}
	if state != nil {
		if err := json.Unmarshal(state, &ci.st); err != nil {
			return nil, fmt.Errorf("dcp: issuer state: %w", err)
		}
		for _, c := range ci.st.Credentials {
			if c.Index < 0 || c.Index >= StatusListBits || c.Index >= ci.st.Next {
				return nil, fmt.Errorf("dcp: issuer state: credential %q: statusListIndex %d out of range", c.ID, c.Index)
			}
			ci.list.Set(c.Index, c.Revoked)
		}
	}
	return ci, nil
}

// State is the issuer's state to persist (JSON).
func (ci *CredentialIssuer) State() ([]byte, error) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	return json.MarshalIndent(ci.st, "", "  ")
}

// DID is the issuer's DID.
func (ci *CredentialIssuer) DID() string { return ci.cfg.DID }

// Issue signs a membership credential for p as the ledger registers it. p
// must be active and name its DID.
func (ci *CredentialIssuer) Issue(p identity.Participant) (IssuedCredential, error) {
	if p.Status != identity.StatusActive && p.Status != "" {
		return IssuedCredential{}, fmt.Errorf("%w: %q has status %q on the ledger; credentials are issued to active participants only", identity.ErrSuspended, p.ID, p.Status)
	}
	if _, err := WebURL(p.DID); err != nil {
		return IssuedCredential{}, fmt.Errorf("participant %q field did: %w", p.ID, err)
	}
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if ci.st.Next >= StatusListBits {
		return IssuedCredential{}, fmt.Errorf("dcp: issuer: the status list is full (%d credentials)", StatusListBits)
	}
	now := ci.cfg.Now()
	idx := ci.st.Next
	until := now.Add(ci.cfg.Validity)
	id := "urn:uuid:" + uuid.NewString()
	c := &CredentialClaims{
		Context: []string{ContextVC2}, CredID: id, Type: []string{"VerifiableCredential", TypeMembership},
		CredIssuer: ci.cfg.DID, ValidFrom: jsonTime(now), ValidUntil: jsonTime(until),
		Subject: Subject{
			ID: p.DID, MemberOf: ci.cfg.Space, Participant: p.ID, Name: p.Name, Region: p.Region,
			Industry: p.Industry, OrgType: p.OrgType, CreditCode: p.CreditCode, Member: p.Member,
		},
		Status: &Status{
			ID: ci.cfg.StatusURL + "#" + strconv.Itoa(idx), Type: "BitstringStatusListEntry", StatusPurpose: "revocation",
			StatusListIndex: strconv.Itoa(idx), StatusListCredential: ci.cfg.StatusURL,
		},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: ci.cfg.DID, Subject: p.DID, ID: id, IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(until),
		},
	}
	tok, err := signJWT(ci.cfg.Key, ci.cfg.DID+"#"+KeyFragment, TypVC, c)
	if err != nil {
		return IssuedCredential{}, fmt.Errorf("dcp: issuer: sign: %w", err)
	}
	rec := IssuedCredential{ID: id, Participant: p.ID, DID: p.DID, Index: idx, IssuedAt: now.UTC(), ValidUntil: until.UTC(), JWT: tok}
	ci.st.Next++
	ci.st.Credentials = append(ci.st.Credentials, rec)
	return rec, nil
}

// ErrNoCredential: no issued credential has this id.
var ErrNoCredential = errors.New("dcp: no such credential")

// Revoke revokes the credential id (for good: a reinstated participant gets
// a new credential).
func (ci *CredentialIssuer) Revoke(id, reason string) error {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	for i := range ci.st.Credentials {
		if c := &ci.st.Credentials[i]; c.ID == id {
			ci.revokeLocked(c, reason)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrNoCredential, id)
}

func (ci *CredentialIssuer) revokeLocked(c *IssuedCredential, reason string) {
	if c.Revoked {
		return
	}
	c.Revoked, c.Reason = true, reason
	ci.list.Set(c.Index, true)
	ci.signed = "" // sign the list again on the next request
}

// Credentials lists the issued credentials, of participant when not empty.
func (ci *CredentialIssuer) Credentials(participant string) []IssuedCredential {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	var out []IssuedCredential
	for _, c := range ci.st.Credentials {
		if participant == "" || c.Participant == participant {
			out = append(out, c)
		}
	}
	return out
}

// Reconcile makes the status list agree with the ledger: every unrevoked
// credential whose participant is suspended, unknown, or registered now
// under another DID or other attributes is revoked. It returns the ids
// revoked. A source that cannot be read stops it with nothing changed for
// the remaining credentials.
func (ci *CredentialIssuer) Reconcile(ctx context.Context, src identity.Source) ([]string, error) {
	ci.mu.Lock()
	ids := map[string]bool{}
	for _, c := range ci.st.Credentials {
		if !c.Revoked {
			ids[c.Participant] = true
		}
	}
	ci.mu.Unlock()
	state := map[string]identity.Participant{}
	for id := range ids {
		p, err := src.Participant(ctx, id)
		if errors.Is(err, identity.ErrUnknownParticipant) {
			p = identity.Participant{ID: id, Status: "unregistered"}
		} else if err != nil {
			return nil, fmt.Errorf("dcp: reconcile: read participant %q: %w", id, err)
		}
		state[id] = p
	}
	ci.mu.Lock()
	defer ci.mu.Unlock()
	var revoked []string
	for i := range ci.st.Credentials {
		c := &ci.st.Credentials[i]
		p, ok := state[c.Participant]
		if c.Revoked || !ok {
			continue
		}
		reason := ""
		switch {
		case p.Status != identity.StatusActive && p.Status != "":
			reason = "participant " + p.Status + " on the ledger"
		case p.DID != c.DID:
			reason = "participant's DID changed on the ledger"
		case !statesSame(c, p):
			reason = "participant's attributes changed on the ledger"
		}
		if reason != "" {
			ci.revokeLocked(c, reason)
			revoked = append(revoked, c.ID)
		}
	}
	return revoked, nil
}

// statesSame compares a credential's subject with the participant's state.
func statesSame(c *IssuedCredential, p identity.Participant) bool {
	cl, err := ParseUnverifiedCredential(c.JWT)
	if err != nil {
		return false
	}
	s := cl.Subject
	return s.Name == p.Name && s.Region == p.Region && s.Industry == p.Industry && s.OrgType == p.OrgType &&
		s.CreditCode == p.CreditCode && slices.Equal(s.Member, p.Member)
}

// StatusListCredential is the signed BitstringStatusListCredential, re-signed
// after a change or every StatusTTL.
func (ci *CredentialIssuer) StatusListCredential() (string, error) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	now := ci.cfg.Now()
	if ci.signed != "" && now.Sub(ci.signAt) < ci.cfg.StatusTTL {
		return ci.signed, nil
	}
	until := now.Add(ci.cfg.StatusTTL)
	c := &CredentialClaims{
		Context: []string{ContextVC2}, CredID: ci.cfg.StatusURL, Type: []string{"VerifiableCredential", "BitstringStatusListCredential"},
		CredIssuer: ci.cfg.DID, ValidFrom: jsonTime(now), ValidUntil: jsonTime(until),
		Subject: Subject{ID: ci.cfg.StatusURL + "#list", Type: "BitstringStatusList", StatusPurpose: "revocation", EncodedList: ci.list.Encode()},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: ci.cfg.DID, Subject: ci.cfg.StatusURL + "#list", ID: ci.cfg.StatusURL, IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(until.Add(time.Minute)),
		},
	}
	tok, err := signJWT(ci.cfg.Key, ci.cfg.DID+"#"+KeyFragment, TypVC, c)
	if err != nil {
		return "", fmt.Errorf("dcp: issuer: sign the status list: %w", err)
	}
	ci.signed, ci.signAt = tok, now
	return tok, nil
}

// StatusPath is where Handler serves the revocation list.
const StatusPath = "/credentials/status/revocation"

// Handler serves the status list credential at GET StatusPath as
// application/vc+jwt.
func (ci *CredentialIssuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, _ *http.Request) {
		tok, err := ci.StatusListCredential()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vc+jwt")
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(ci.cfg.StatusTTL/time.Second)))
		_, _ = w.Write([]byte(tok))
	})
	return mux
}
