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
	t, err := readTerms(ag)
	if err != nil {
		return err
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
	local := func(p string) string {
		if filepath.IsAbs(p) || d.n.cfg.DataSources == "" {
			return p
		}
		return filepath.Join(d.n.cfg.DataSources, p)
	}
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

// Completed records transfer.completed once the whole object has moved
// (a resumed download completes on its last piece).
func (r dpRecorder) Completed(ctx context.Context, t dataplane.TransferResult) error {
	if t.Offset+t.Bytes < t.Size {
		return nil
	}
	x, err := r.n.st.View(ctx).Transfer(t.Transfer)
	if err != nil {
		return err
	}
	rec := &ledger.Record{ID: "transfer.completed/" + t.Transfer, Kind: ledger.KindTransferCompleted, Counterparty: x.Counterparty,
		Agreement: x.AgreementID, Dataset: x.DatasetID, Transfer: x.ID, TokenID: t.TokenID, Bytes: t.Size, ContentHash: "sha256:" + t.ContentHash}
	if err := r.n.st.Update(ctx, func(tx *store.Tx) error { return r.n.lw.enqueue(tx, rec) }); err != nil {
		return err
	}
	r.n.lw.wake()
	return nil
}

// Denied records transfer.denied for a refused request from a known consumer.
func (r dpRecorder) Denied(ctx context.Context, d dataplane.DenialInfo) error {
	if d.Consumer == "" {
		r.n.log.Info("data plane refused an unidentified request", "reason", d.Reason, "path", d.Path)
		return nil
	}
	rec := &ledger.Record{ID: "transfer.denied/" + r.n.newID(), Kind: ledger.KindTransferDenied, Counterparty: d.Consumer,
		Agreement: d.Agreement, Dataset: d.Dataset, Transfer: d.Transfer, TokenID: d.TokenID, Decision: ledger.DecisionDeny,
		Rule: "dataplane." + d.Reason, Reason: strings.TrimSpace(d.Reason + ": " + d.Detail)}
	if err := r.n.st.Update(ctx, func(tx *store.Tx) error { return r.n.lw.enqueue(tx, rec) }); err != nil {
		return err
	}
	r.n.lw.wake()
	return nil
}
