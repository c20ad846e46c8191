package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/suite"
)

// Push transfers (HttpData-PUSH). The consumer names its receiver in the
// transfer request's dataAddress with an access token it issued to the
// provider (sub = the provider, cnf.jkt = the provider's registered key, aud
// = the consumer's /push); the provider, once transfer.authorized is
// committed and the start message delivered, PUTs the dataset there with a
// DPoP proof signed by its own key. The consumer's receiver verifies the
// token as its own (iss = the consumer), writes and hashes the body, and
// records its transfer.completed; the provider records its own and completes
// the transfer.

const (
	transferFormatPush = "HttpData-PUSH"
	taskPush           = "tp.provider.push"
	// transferPropertyHash carries the dataset's registered content hash in a
	// pull data address, so the consumer can check what it received.
	transferPropertyHash = "contentHash"
)

// pushAudience is the aud of the tokens this node issues to providers that
// push to it.
func (n *Node) pushAudience() string { return n.cfg.PublicURL + "/push" }

// receivedDir is where pushed datasets land: DataDir/received/{transfer}/.
func (n *Node) receivedDir() string { return filepath.Join(n.cfg.DataDir, "received") }

// ReceivedPath is where a dataset pushed for the consumer transfer id lands.
func (n *Node) ReceivedPath(id string) string { return filepath.Join(n.receivedDir(), id, "dataset") }

// newReceiver builds the consumer's push receiver served under /push/.
func (n *Node) newReceiver() (*dataplane.Receiver, error) {
	cfg := dataplane.DefaultReceiverConfig()
	cfg.Audience, cfg.BaseURL, cfg.Dir, cfg.Now, cfg.Logger = n.pushAudience(), n.cfg.PublicURL, n.receivedDir(), n.now, n.log
	cfg.Live, cfg.Hash = pushLive{n}, n.hashAlg()
	var hashes dataplane.HashLookup
	if n.datasets != nil {
		hashes = n.registeredHash
	}
	return dataplane.NewReceiver(cfg, dataplane.IdentityVerifier{V: n.verifier}, hashes, dpRecorder{n})
}

type pushLive struct{ n *Node }

// CheckTransfer is the consumer's re-check of every push: the token (issued
// by this node) names one of its push transfers, still STARTED, from that
// transfer's provider, under an agreement it has not seen revoked.
func (l pushLive) CheckTransfer(ctx context.Context, g dataplane.Grant) error {
	v := l.n.st.View(ctx)
	x, err := v.Transfer(g.Transfer)
	if errors.Is(err, store.ErrNotFound) || err == nil && (x.Role != store.RoleConsumer || x.Format != transferFormatPush) {
		return fmt.Errorf("%w: %s is not a push transfer of this node", dataplane.ErrUnknownTransfer, g.Transfer)
	} else if err != nil {
		return err
	}
	if x.Counterparty != g.Subject || x.AgreementID != g.Agreement {
		return fmt.Errorf("%w: token is for %s under agreement %s, transfer %s is from %s under %s",
			dataplane.ErrWrongTransfer, g.Subject, g.Agreement, x.ID, x.Counterparty, x.AgreementID)
	}
	ag, err := v.Agreement(x.AgreementID)
	if err != nil {
		return err
	}
	if ag.State == store.AgreementRevoked {
		return fmt.Errorf("%w: agreement %s: %s", dataplane.ErrRevoked, ag.ID, ag.Reason)
	}
	if x.State != string(dsp.TransferStarted) {
		return fmt.Errorf("%w: transfer %s is %s, not STARTED", dataplane.ErrUnknownTransfer, x.ID, x.State)
	}
	return nil
}

// issuePushAddress issues the provider a push token for consumer transfer
// x, names this node's receiver, and keeps both with x (DataAddress, TokenID).
func (n *Node) issuePushAddress(ctx context.Context, x *store.Transfer) (*dsp.DataAddress, error) {
	prov, err := n.registry.Participant(ctx, x.Counterparty)
	if err != nil {
		return nil, err
	}
	if len(prov.Keys) == 0 {
		return nil, fmt.Errorf("%w: provider %s has no registered key to bind the push token to", errPermanent, prov.ID)
	}
	tok, err := n.issuer.AccessToken(identity.AccessGrant{Consumer: prov.ID, Audience: n.pushAudience(), Agreement: x.AgreementID,
		Dataset: x.DatasetID, Transfer: x.ID, TTL: n.cfg.AccessTTL, ConsumerKeyThumbprint: prov.Keys[0].Kid})
	if err != nil {
		return nil, err
	}
	jti, err := tokenID(tok)
	if err != nil {
		return nil, err
	}
	addr := &dsp.DataAddress{Type: "DataAddress", EndpointType: endpointTypeHTTP, Endpoint: n.cfg.PublicURL + dataplane.PushPrefix + x.ID,
		EndpointProperties: []dsp.EndpointProperty{
			{Type: "EndpointProperty", Name: transferPropertyAuth, Value: tok},
			{Type: "EndpointProperty", Name: transferPropertyAuthTy, Value: "DPoP"},
		}}
	x.DataAddress, _ = json.Marshal(addr)
	x.TokenID = jti
	if err := n.st.Update(ctx, func(tx *store.Tx) error { return tx.UpdateTransfer(x, x.State, "", "") }); err != nil {
		return nil, err
	}
	return addr, nil
}

// tokenID reads a token's jti without verifying it (this node issued it, or
// the peer that issued it verifies it).
func tokenID(tok string) (string, error) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
		return "", err
	}
	if claims.ID == "" {
		return "", errors.New("access token has no jti")
	}
	return claims.ID, nil
}

// checkPushAddress is the provider's check of the consumer's push address.
func checkPushAddress(a *dsp.DataAddress) error {
	if a == nil {
		return fmt.Errorf("format %s needs a dataAddress naming the consumer's endpoint", transferFormatPush)
	}
	u, err := url.Parse(a.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("dataAddress.endpoint %q: must be an absolute http(s) URL", a.Endpoint)
	}
	tok := a.Property(transferPropertyAuth)
	if tok == "" {
		return fmt.Errorf("dataAddress.endpointProperties: %q is required (the consumer's access token for the push)", transferPropertyAuth)
	}
	if _, err := tokenID(tok); err != nil {
		return fmt.Errorf("dataAddress.endpointProperties %q: not a token: %v", transferPropertyAuth, err)
	}
	return nil
}

// providerPush pushes a started push transfer's dataset to the consumer,
// re-checking the agreement first, and completes the transfer.
func (n *Node) providerPush(ctx context.Context, id string) error {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil || x.State != string(dsp.TransferStarted) || x.Format != transferFormatPush || x.Role != store.RoleProvider {
		return err
	}
	var addr dsp.DataAddress
	if err := json.Unmarshal(x.DataAddress, &addr); err != nil {
		return fmt.Errorf("%w: transfer %s: push address: %v", errPermanent, x.ID, err)
	}
	g := dataplane.Grant{TokenID: x.TokenID, Issuer: n.cfg.ParticipantID, Subject: x.Counterparty, Agreement: x.AgreementID,
		Dataset: x.DatasetID, Transfer: x.ID}
	if err := (dpLive{n}).CheckTransfer(ctx, g); err != nil {
		reason, _ := dataplane.ReasonOf(err)
		return n.refusePush(ctx, x, "dataplane."+reason, err.Error())
	}
	ds, err := (dpDatasets{n}).Dataset(ctx, x.DatasetID)
	if err != nil {
		return n.refusePush(ctx, x, "dataplane.not-found", err.Error())
	}
	tok := addr.Property(transferPropertyAuth)
	pusher := dataplane.NewPusher(n.pushClient, dpRecorder{n}, n.now)
	pusher.Hash = n.hashAlg()
	res, err := pusher.Push(ctx, dataplane.PushRequest{
		URL: addr.Endpoint, Token: tok, Proof: dataplane.KeyProof(n.key, tok), Grant: g, Dataset: ds})
	var de *dataplane.Error
	switch {
	case errors.As(err, &de) && de.Status < 500 && de.Status != 429:
		return n.endPush(ctx, x, "refused", "push.refused", fmt.Sprintf("the consumer refused the push: %s: %s", de.Reason, de.Message))
	case errors.Is(err, dataplane.ErrHashMismatch):
		return n.endPush(ctx, x, "hash-mismatch", ruleHashMismatch, err.Error())
	case err != nil:
		return err // the consumer is away or busy: the push is tried again
	}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := moveTransfer(tx, x, dsp.TransferCompleted, n.cfg.ParticipantID,
			fmt.Sprintf("pushed %d bytes, %s %s, to %s", res.Size, n.hashAlg(), res.ContentHash, addr.Endpoint)); err != nil {
			return err
		}
		return tx.AddTask(taskSendTransferState, x.ID)
	})
	if err != nil {
		return err
	}
	n.watch.changed(x.ID)
	n.tasks.kick(taskSendTransferState, x.ID)
	return nil
}

// refusePush records transfer.denied for a push the live check refused and
// terminates the transfer.
func (n *Node) refusePush(ctx context.Context, x *store.Transfer, rule, reason string) error {
	rec := &ledger.Record{ID: "transfer.denied/" + x.ID, Kind: ledger.KindTransferDenied, Counterparty: x.Counterparty,
		Agreement: x.AgreementID, Dataset: x.DatasetID, Transfer: x.ID, TokenID: x.TokenID, Decision: ledger.DecisionDeny, Rule: rule, Reason: reason}
	if err := n.lw.record(ctx, rec); err != nil {
		return err
	}
	return n.endPush(ctx, x, "refused", rule, reason)
}

// endPush terminates a push transfer that cannot complete and tells the consumer.
func (n *Node) endPush(ctx context.Context, x *store.Transfer, code, rule, reason string) error {
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		x.Code, x.Rule, x.Reason = code, rule, reason
		if err := moveTransfer(tx, x, dsp.TransferTerminated, n.cfg.ParticipantID, "push ended by "+rule+": "+reason); err != nil {
			return err
		}
		return tx.AddTask(taskSendTransferState, x.ID)
	})
	if err != nil {
		return err
	}
	n.watch.changed(x.ID)
	n.tasks.kick(taskSendTransferState, x.ID)
	return fmt.Errorf("%w: %s: %s", errPermanent, rule, reason)
}

// Receipt is what the consumer received for a pull transfer: the bytes and
// their hash as it computed them (api.Receipt: SHA256 hex in an intl space,
// or ContentHash "sha256:<hex>" / "sm3:<hex>").
type Receipt = api.Receipt

// ErrReceiptMismatch: the bytes the consumer received do not hash to the
// dataset's registered hash; the completion record says so.
var ErrReceiptMismatch = errors.New("connector: received content does not match the registered hash")

// RecordReceipt is the consumer's transfer.completed for a pull transfer it
// downloaded: the bytes and hash it computed, compared with ExpectedHash
// (the ledger's registration, else the provider's word). A mismatch is recorded (with
// decision deny) and returned as ErrReceiptMismatch. A second receipt for the
// same transfer records nothing more.
func (n *Node) RecordReceipt(ctx context.Context, id string, rc Receipt) (*ledger.Record, error) {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil {
		return nil, err
	}
	if x.Role != store.RoleConsumer || x.PeerPID == "" || x.Format != transferFormatPull {
		return nil, badRequest("transfer %s: only the consumer of a started pull transfer records a receipt (a push is recorded by the receiver)", id)
	}
	given := rc.ContentHash
	if given == "" {
		given = rc.SHA256
	}
	d, err := digest.Parse(given)
	if err == nil && d.Algorithm() != n.hashAlg() {
		return nil, badRequest("contentHash: %s: this space's suite is %s: a %s hash is not allowed, want %s:<hex> (rule %s)", given, n.cs, d.Algorithm(), n.hashAlg(), suite.RuleHash)
	}
	if err != nil || rc.Bytes < 0 {
		return nil, badRequest("contentHash (or sha256): must be %s:<64 hex digits> of the received bytes; bytes: not negative", n.hashAlg())
	}
	hash := d.Hex()
	expected, _, err := n.ExpectedHash(ctx, id)
	if err != nil {
		return nil, err
	}
	registered := digest.Hex(n.hashAlg(), expected)
	var addr dsp.DataAddress
	if len(x.DataAddress) > 0 {
		_ = json.Unmarshal(x.DataAddress, &addr)
	}
	jti := x.TokenID
	if tok := addr.Property(transferPropertyAuth); jti == "" && tok != "" {
		jti, _ = tokenID(tok)
	}
	rec := n.completionRecord(x, jti, rc.Bytes, hash, registered, false)
	if err := n.lw.record(ctx, rec); err != nil {
		return nil, err
	}
	if rec.Decision == ledger.DecisionDeny {
		return rec, fmt.Errorf("%w: %s", ErrReceiptMismatch, rec.Reason)
	}
	return rec, nil
}

// ExpectedHash is the content hash a consumer should find in a pull it
// downloads: the one registered on the ledger (source "ledger") when this
// node reads registrations (WithRegisteredDatasets) and the ledger can be
// read, else the one the provider named in the data address (source
// "provider"); "" when neither names one.
func (n *Node) ExpectedHash(ctx context.Context, id string) (hash, source string, err error) {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil {
		return "", "", err
	}
	if x.Role != store.RoleConsumer {
		return "", "", badRequest("transfer %s: only a consumer's transfer has an expected hash", id)
	}
	if n.datasets != nil {
		h, err := n.registeredHash(ctx, x.DatasetID)
		if err == nil && h != "" {
			return n.hashAlg() + ":" + h, "ledger", nil
		}
		if err != nil {
			// The ledger keeps both parties' hashes either way.
			n.log.WarnContext(ctx, "the ledger's registration cannot be read; the provider's stated hash stands", "transfer", id, "err", err)
		}
	}
	var addr dsp.DataAddress
	if len(x.DataAddress) > 0 && json.Unmarshal(x.DataAddress, &addr) == nil {
		if h := digest.Hex(n.hashAlg(), addr.Property(transferPropertyHash)); h != "" {
			return n.hashAlg() + ":" + h, "provider", nil
		}
	}
	return "", "", nil
}

// registeredHash is the content hash the dataset's provider registered on the
// ledger (normalised hex), "" when it registered none; an error when the
// ledger cannot be read.
func (n *Node) registeredHash(ctx context.Context, dataset string) (string, error) {
	e, err := n.datasets.RegisteredDataset(ctx, dataset)
	if errors.Is(err, ledger.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading dataset.registered of %s: %w", dataset, err)
	}
	return digest.Hex(n.hashAlg(), e.Record.ContentHash), nil
}
