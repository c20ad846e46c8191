package connector

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// WithDCP makes the node speak the Decentralized Claims Protocol 1.0 beside
// tdsc's protocol tokens (docs/security.md): d is the node's DID document,
// Secure Token Service, Credential Service and verifier (dcp.NewNode). The
// node then serves d's document and Credential Service on its public server,
// accepts DSP calls bearing a DCP self-issued ID token from a DID peer the
// ledger registers under that DID, advertises DCP in its dspace-version
// document, and calls DID peers (participant ids "did:web:…") with DCP
// tokens.
func WithDCP(d *dcp.Node) Option { return func(o *options) { o.dcp = d } }

// DCP is the node's DCP side (nil when it speaks tdsc tokens only).
func (n *Node) DCP() *dcp.Node { return n.dcp }

// authenticate verifies the bearer token of a DSP (or compute) call and
// returns the caller's claims. A tdsc protocol token is verified against the
// ledger registry as always. Any other token is a DCP self-issued ID token:
// its signature by a key of the caller's DID document, its audience (this
// node's DID, never its tdsc id: a token minted for one scheme is refused by
// the other), and the caller's presentations from a trusted issuer; then the
// ledger must register the participant the credential names, active, under
// that very DID. The ledger registry stays the one source of truth: a
// credential never admits a participant the ledger does not know or has
// suspended, and policies read the registry's attributes either way.
func (n *Node) authenticate(ctx context.Context, tok string) (identity.Claims, error) {
	if dcp.IsTDSCToken(tok) {
		return n.verifier.VerifyProtocol(ctx, tok, n.cfg.ParticipantID)
	}
	if n.dcp == nil {
		return nil, fmt.Errorf("%w: header typ: this node accepts tdsc protocol tokens (typ %s) only; it has no DID (config did)", identity.ErrWrongKind, identity.TypProtocol)
	}
	return n.dcp.Verifier.VerifyRegistered(ctx, tok, n.registry)
}

// peerToken is the bearer token this node sends with a call to peer: a DCP
// self-issued ID token (with an access token to this node's membership
// credential) when the peer is a DID participant, else a tdsc protocol token.
func (n *Node) peerToken(peer string) (string, error) {
	if !isDIDPeer(peer) {
		return n.issuer.ProtocolToken(peer)
	}
	if n.dcp == nil {
		return "", fmt.Errorf("%w: peer %s is a DID participant and speaks DCP; this node has no DID (config did) to call it with", errPermanent, peer)
	}
	return n.dcp.Token(peer)
}

// isDIDPeer reports whether a participant id is a did:web: the ledger names a
// participant that joined with its DID by that DID, and such a participant
// authenticates with DCP.
func isDIDPeer(id string) bool { return strings.HasPrefix(id, "did:web:") }

// credentialStoreFile, in the data directory, keeps the credentials issuers
// delivered to the node (dcp.CredentialService.OpenStore).
const credentialStoreFile = "dcp-credentials.json"

// newDCP builds the node's DCP side from its configuration (did,
// trustedIssuers, credentialFiles, dcpCacheTtl): its DID document with its
// key and DSP endpoint, and its Credential Service holding the credentials
// (those issuers delivered before, then the configured files).
func newDCP(cfg Config, key *identity.Key, hc *http.Client) (*dcp.Node, error) {
	d, err := dcp.NewNode(dcp.NodeConfig{DID: cfg.DID, Key: key, DSP: cfg.PublicURL, Space: cfg.Space, Trusted: cfg.TrustedIssuers,
		HTTPClient: hc, CacheTTL: cfg.DCPCacheTTL, AllowedHosts: cfg.DCPAllowedHosts,
		CredentialStore: filepath.Join(cfg.DataDir, credentialStoreFile)})
	if err != nil {
		return nil, fmt.Errorf("config: did: %w", err)
	}
	for _, f := range cfg.CredentialFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("config: credentialFiles: %w", err)
		}
		if err := d.Credentials.Store(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("config: credentialFiles: %s: %w", f, err)
		}
	}
	return d, nil
}

// keepCredential keeps the node's membership credential from its
// credentialIssuer (dcp.Node.KeepMembership) until the node closes.
func (n *Node) keepCredential() {
	err := n.dcp.KeepMembership(n.ctx, dcp.KeepConfig{Issuer: n.cfg.CredentialIssuer, Check: n.cfg.CredentialCheck, Log: n.log})
	if err != nil {
		n.log.Error("dcp: not keeping the membership credential", "err", err)
	}
}

// Identity is how the node identifies itself: its participant id and its
// DCP side (DID, trusted issuers, credentials held, the keeper's last
// doings).
func (n *Node) Identity() api.Identity {
	id := api.Identity{ParticipantID: n.cfg.ParticipantID, Credentials: []api.Credential{}}
	if n.dcp == nil {
		return id
	}
	id.DID, id.TrustedIssuers = n.dcp.STS.DID(), n.cfg.TrustedIssuers
	for _, c := range n.dcp.Credentials.Held() {
		id.Credentials = append(id.Credentials, api.Credential{ID: c.ID, Issuer: c.Issuer, Types: c.Types,
			ValidFrom: rfc3339(c.ValidFrom), ValidUntil: rfc3339(c.ValidUntil), Expired: c.Expired, Delivered: c.Delivered})
	}
	if k := n.dcp.Keeper(); k.Issuer != "" {
		id.Keeper = &api.KeeperStatus{Issuer: k.Issuer, Renewed: rfc3339(k.Renewed), Credential: k.Credential,
			Reason: k.Reason, Error: k.Error, Failed: rfc3339(k.Failed)}
	}
	return id
}

func (n *Node) apiIdentity(r *http.Request) (int, any, error) {
	return http.StatusOK, n.Identity(), nil
}
