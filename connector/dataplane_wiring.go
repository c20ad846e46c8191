package connector

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
)

// The node is the data plane's LiveCheck, Datasets and Recorder: it answers
// from the same store the control plane writes, and records outcomes through
// the same outbox.

// newDataPlane builds the pull handler served under /data/.
func (n *Node) newDataPlane() (*dataplane.Server, error) {
	cfg := dataplane.DefaultConfig()
	cfg.Audience, cfg.BaseURL, cfg.Now, cfg.Logger, cfg.Registerer = n.dataAudience(), n.cfg.PublicURL, n.now, n.log, n.promReg
	cfg.HashEverySend, cfg.Hash = n.cfg.HashEverySend, n.hashAlg()
	return dataplane.NewServer(cfg, dataplane.IdentityVerifier{V: n.verifier}, dpLive{n}, dpDatasets{n}, dpRecorder{n})
}

type dpLive struct{ n *Node }

// CheckTransfer re-checks, per request, that the transfer is started under a
// live agreement for this dataset and inside the agreement's time window.
func (l dpLive) CheckTransfer(ctx context.Context, g dataplane.Grant) error {
	v := l.n.st.View(ctx)
	x, err := v.Transfer(g.Transfer)
	if errors.Is(err, store.ErrNotFound) || err == nil && x.Role != store.RoleProvider {
		return fmt.Errorf("%w: %s", dataplane.ErrUnknownTransfer, g.Transfer)
	} else if err != nil {
		return err
	}
	if x.AgreementID != g.Agreement || x.Counterparty != g.Subject {
		return fmt.Errorf("%w: token is for agreement %s, transfer %s is under %s", dataplane.ErrWrongTransfer, g.Agreement, x.ID, x.AgreementID)
	}
	if x.DatasetID != g.Dataset {
		return fmt.Errorf("%w: transfer %s moves dataset %s", dataplane.ErrWrongDataset, x.ID, x.DatasetID)
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
	if x.Format != transferFormatPush && g.TokenID != x.TokenID {
		// A resume issues a new token; the ones before it stop working.
		return fmt.Errorf("%w: token %s was superseded by %s when transfer %s was resumed", dataplane.ErrTokenExpired, g.TokenID, x.TokenID, x.ID)
	}
	t, err := readTerms(ag)
	if err != nil {
		return err
	}
	if t.ComputeOnly {
		return fmt.Errorf("%w: %s", dataplane.ErrComputeOnly, computeOnlyReason(ag))
	}
	now := l.n.now()
	if nb, err := ledger.ParseTime(t.NotBefore); err == nil && t.NotBefore != "" && now.Before(nb) {
		return fmt.Errorf("%w: agreement %s starts at %s", dataplane.ErrOutsideWindow, ag.ID, t.NotBefore)
	}
	if na, err := ledger.ParseTime(t.NotAfter); err == nil && t.NotAfter != "" && !now.Before(na) {
		return fmt.Errorf("%w: agreement %s ended at %s", dataplane.ErrOutsideWindow, ag.ID, t.NotAfter)
	}
	return nil
}

type dpDatasets struct{ n *Node }

// localPath resolves the path of a file: or dir: source against
// Config.DataSources (an absolute path stands as it is).
func (n *Node) localPath(p string) string {
	if filepath.IsAbs(p) || n.cfg.DataSources == "" {
		return p
	}
	return filepath.Join(n.cfg.DataSources, p)
}

// Dataset resolves a dataset's registered source: "file:PATH" or "dir:PATH"
// (relative to Config.DataSources), or an http(s) URL.
func (d dpDatasets) Dataset(ctx context.Context, id string) (dataplane.Dataset, error) {
	ds, err := d.n.st.View(ctx).Dataset(id)
	if errors.Is(err, store.ErrNotFound) {
		return dataplane.Dataset{}, fmt.Errorf("%w: dataset %s", dataplane.ErrNotFound, id)
	} else if err != nil {
		return dataplane.Dataset{}, err
	}
	out := dataplane.Dataset{ID: ds.ID, ContentHash: ds.ContentHash}
	local := d.n.localPath
	switch src := ds.Source; {
	case strings.HasPrefix(src, "file:"):
		out.Source = dataplane.FileSource{Path: local(strings.TrimPrefix(src, "file:"))}
	case strings.HasPrefix(src, "dir:"):
		out.Source = dataplane.DirSource{Root: local(strings.TrimPrefix(src, "dir:"))}
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		out.Source = &dataplane.HTTPSource{URL: src}
	default:
		return dataplane.Dataset{}, fmt.Errorf("%w: dataset %s has no servable source (%q); register it with file:, dir: or an http(s) URL", dataplane.ErrNotFound, id, src)
	}
	return out, nil
}

type dpRecorder struct{ n *Node }

// ruleHashMismatch names a completion whose bytes do not hash to the
// dataset's registered hash.
const ruleHashMismatch = "transfer.hash-mismatch"

// completionRecord is this node's transfer.completed for the ledger transfer
// (the provider's process id): one per transfer and party, so its id names
// both and the outbox keeps only the first. A hash that differs from the
// registered one is kept with decision deny and the reason.
func (n *Node) completionRecord(x *store.Transfer, tokenID string, bytes int64, hash, registered string, mismatch bool) *ledger.Record {
	ledgerID := x.ID
	if x.Role == store.RoleConsumer {
		ledgerID = x.PeerPID
	}
	rec := &ledger.Record{ID: "transfer.completed/" + ledgerID + "/" + n.cfg.ParticipantID, Kind: ledger.KindTransferCompleted,
		Counterparty: x.Counterparty, Agreement: x.AgreementID, Dataset: x.DatasetID, Transfer: ledgerID, TokenID: tokenID,
		Bytes: bytes, ContentHash: n.hashAlg() + ":" + hash, Decision: ledger.DecisionAllow}
	switch {
	case registered != "" && registered != hash:
		rec.Decision, rec.Rule = ledger.DecisionDeny, ruleHashMismatch
		rec.Reason = fmt.Sprintf("hash-mismatch: %d bytes hash to %s:%s, the registered hash is %s:%s", bytes, n.hashAlg(), hash, n.hashAlg(), registered)
	case mismatch:
		rec.Decision, rec.Rule = ledger.DecisionDeny, ruleHashMismatch
		rec.Reason = fmt.Sprintf("hash-mismatch: %d bytes hash to %s:%s here, the other party's hash differs", bytes, n.hashAlg(), hash)
	}
	return rec
}

// Completed records transfer.completed once the whole object has moved (a
// resumed download completes on its last piece). Called again for the same
// transfer (a cut request whose last bytes reached the kernel, then the
// resumed one), it records nothing more: the record id is the same.
func (r dpRecorder) Completed(ctx context.Context, t dataplane.TransferResult) error {
	if t.Offset+t.Bytes < t.Size {
		return nil
	}
	x, err := r.n.st.View(ctx).Transfer(t.Transfer)
	if err != nil {
		return err
	}
	rec := r.n.completionRecord(x, t.TokenID, t.Size, t.ContentHash, t.RegisteredHash, t.Mismatch)
	if err := r.n.lw.record(ctx, rec); err != nil {
		return err
	}
	return nil
}

// Denied records transfer.denied for a refused request. When the token did
// not verify its claims are untrusted: the counterparty and agreement come
// from the transfer named in the URL, if this node knows it.
func (r dpRecorder) Denied(ctx context.Context, d dataplane.DenialInfo) error {
	role := store.RoleProvider
	if d.Role == dataplane.RoleConsumer {
		role = store.RoleConsumer
	}
	rec := &ledger.Record{ID: "transfer.denied/" + r.n.newID(), Kind: ledger.KindTransferDenied, Counterparty: d.Consumer,
		Agreement: d.Agreement, Dataset: d.Dataset, Transfer: d.Transfer, TokenID: d.TokenID, Decision: ledger.DecisionDeny,
		Rule: "dataplane." + d.Reason, Reason: strings.TrimSpace(d.Reason + ": " + d.Detail)}
	x, err := r.n.st.View(ctx).Transfer(d.Transfer)
	switch {
	case err == nil && x.Role == role && (d.Consumer == "" || role == store.RoleConsumer):
		// The token did not verify (or, on the push side, names this node as
		// its issuer): the transfer named in the URL says who the request was
		// for — its consumer on the pull side, its provider on the push side.
		rec.Counterparty, rec.Agreement, rec.Dataset, rec.Transfer = x.Counterparty, x.AgreementID, x.DatasetID, x.ID
		if role == store.RoleConsumer {
			rec.Transfer = x.PeerPID
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	case role == store.RoleConsumer || d.Consumer == "":
		r.n.log.Info("data plane refused a request for no known transfer", "reason", d.Reason, "path", d.Path)
		return nil
	}
	if err := r.n.lw.record(ctx, rec); err != nil {
		return err
	}
	return nil
}
