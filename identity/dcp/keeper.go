package dcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// KeepConfig configures KeepMembership.
type KeepConfig struct {
	// Issuer is the DID of the issuer the membership credential comes from
	// (the space authority's); it must be one of the node's trusted issuers.
	Issuer string
	// Check is how often the node looks at its credential (default 1 min);
	// an offer from Issuer makes it look at once.
	Check time.Duration
	// Wait bounds how long a request waits for the issuer's answer (default
	// 1 min).
	Wait time.Duration
	// Log receives what the node requested and why a request failed (each
	// failure once until it changes); nil discards it.
	Log *slog.Logger
}

// renewAt is the share of a credential's life left at which the keeper asks
// for a new one. The Issuer Service gives a holder its current credential
// again while more than half its life is left (IssuerService.current), so a
// holder asking at 40 % gets a new one even with its clock a little ahead.
const renewAt = 0.4

// KeepMembership keeps the node's membership credential from cfg.Issuer
// current until ctx ends. It requests one (RequestCredential) when the node
// holds none from that issuer that is valid with more than 40 % of its life
// left, when the status list shows the one it holds revoked, and whenever
// that issuer sends an offer (the authority offers after it revoked a
// credential whose participant's ledger entry changed; the status list
// covers an offer the node missed). A request that fails or is rejected is
// tried again after a backoff from 1 s up to Check. For its first 30 s it
// requests only once the node serves its own DID document (startGrace). It
// returns an error at once only for a configuration it cannot keep, and nil
// when ctx ends.
func (n *Node) KeepMembership(ctx context.Context, cfg KeepConfig) error {
	if !n.Credentials.trusted[cfg.Issuer] {
		return fmt.Errorf("%w: %s is not among this node's trusted issuers; its CredentialMessage would be refused", ErrUntrustedIssuer, cfg.Issuer)
	}
	if cfg.Check <= 0 {
		cfg.Check = time.Minute
	}
	if cfg.Wait <= 0 {
		cfg.Wait = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	n.noteKeep(func(k *KeeperStatus) { *k = KeeperStatus{Issuer: cfg.Issuer} })
	cs := n.Credentials
	started := time.Now()
	var (
		seen, _ = cs.offersSince(cfg.Issuer, 0)
		offered bool
		backoff time.Duration
		last    string // the last failure logged
	)
	for {
		changed := cs.changes()
		var o bool
		seen, o = cs.offersSince(cfg.Issuer, seen)
		offered = offered || o // an offer stays to act on until a request succeeds
		wait := cfg.Check
		why := cs.membershipNeed(cfg.Issuer)
		if why == "" && !offered {
			why = n.membershipRevoked(ctx, cfg)
		}
		if offered || why != "" {
			if offered {
				why = "the issuer offered a credential"
			}
			id, err := n.renew(ctx, cfg, why, started)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				n.noteKeep(func(k *KeeperStatus) { k.Reason, k.Error, k.Failed = why, err.Error(), time.Now().UTC() })
				if err.Error() != last {
					level := slog.LevelWarn
					if errors.Is(err, errNotServed) {
						level = slog.LevelDebug // the node's server is starting
					}
					cfg.Log.Log(ctx, level, "dcp: membership credential not renewed", "issuer", cfg.Issuer, "because", why, "err", err)
					last = err.Error()
				}
				backoff = min(max(2*backoff, time.Second), cfg.Check)
				wait = backoff
			default:
				n.noteKeep(func(k *KeeperStatus) {
					k.Renewed, k.Credential, k.Reason, k.Error, k.Failed = time.Now().UTC(), id, why, "", time.Time{}
				})
				cfg.Log.Info("dcp: membership credential renewed", "issuer", cfg.Issuer, "because", why, "credential", id)
				backoff, last, offered = 0, "", false
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// renew requests the membership credential and waits until the issuer
// delivers it or rejects the request; it returns the credential's id.
func (n *Node) renew(ctx context.Context, cfg KeepConfig, why string, started time.Time) (string, error) {
	if time.Since(started) < startGrace {
		if err := n.served(ctx); err != nil {
			return "", err
		}
	}
	req, err := n.RequestCredential(ctx, cfg.Issuer)
	if err != nil {
		return "", err
	}
	cfg.Log.Debug("dcp: membership credential requested", "issuer", cfg.Issuer, "because", why, "request", req.Location)
	deadline := time.NewTimer(cfg.Wait)
	defer deadline.Stop()
	for {
		changed := n.Credentials.changes()
		got, _ := n.Credentials.Request(req.HolderPid)
		switch got.Status {
		case StatusIssued:
			if len(got.Credentials) == 0 {
				return "", fmt.Errorf("%w: %s answered request %s ISSUED with no credential", ErrIssuance, cfg.Issuer, req.Location)
			}
			return got.Credentials[len(got.Credentials)-1], nil
		case StatusRejected:
			return "", fmt.Errorf("%w: %s rejected request %s: %s", ErrIssuance, cfg.Issuer, req.Location, got.Reason)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-deadline.C:
			return "", fmt.Errorf("%w: no answer from %s to request %s within %v", ErrIssuance, cfg.Issuer, req.Location, cfg.Wait)
		case <-changed:
		}
	}
}

// startGrace is how long after it starts the keeper first checks that the
// node serves its DID document (served) before it requests. The node's
// server starts after the node, and the issuer authenticates a request by
// resolving that document: a request sent before it is served is refused,
// and the issuer remembers the failed resolution for a while (its
// resolver's failure TTL, 5 s by default), refusing the node's next
// requests too. After startGrace the keeper requests without the check, so
// a node that cannot reach its own public address (hairpin NAT) still gets
// its credential.
const startGrace = 30 * time.Second

// served checks that the node's own DID document is served at its did:web
// address, where the issuer resolves it to find where to deliver.
func (n *Node) served(ctx context.Context) error {
	u := mustWebURL(n.STS.DID())
	r, err := n.http.R().SetContext(ctx).Get(u)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errNotServed, u, err)
	}
	if r.StatusCode() != http.StatusOK {
		return fmt.Errorf("%w: %s: HTTP %d", errNotServed, u, r.StatusCode())
	}
	return nil
}

// errNotServed: the node's own DID document cannot be read at its address.
var errNotServed = errors.New("this node's DID document is not served (yet)")

// offersSince returns how many offers have been received, and whether one
// from issuer came after the first seen of them.
func (cs *CredentialService) offersSince(issuer string, seen uint64) (uint64, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	newer := min(cs.offerSeq-seen, uint64(len(cs.offers))) // those kept that came after seen
	later := cs.offers[uint64(len(cs.offers))-newer:]
	return cs.offerSeq, slices.ContainsFunc(later, func(o ReceivedOffer) bool { return o.Issuer == issuer })
}

// membershipRevoked says why the membership credential the node holds from
// cfg.Issuer needs replacing when its status list shows it revoked or
// suspended (an offer may not have reached the node), else "". A list that
// cannot be read says nothing: the credential is kept, and its verifiers
// refuse it alike.
func (n *Node) membershipRevoked(ctx context.Context, cfg KeepConfig) string {
	st := n.Credentials.membershipStatus(cfg.Issuer)
	if st == nil {
		return ""
	}
	set, err := n.Verifier.statusSet(ctx, st)
	if err != nil {
		cfg.Log.Debug("dcp: status of the membership credential unknown", "issuer", cfg.Issuer, "err", err)
		return ""
	}
	if set {
		return fmt.Sprintf("its status list %s shows index %s set (%s)", st.StatusListCredential, st.StatusListIndex, st.StatusPurpose)
	}
	return ""
}

// membershipStatus is the credentialStatus of the membership credential
// the holder keeps from issuer (nil: none, or one without a status).
func (cs *CredentialService) membershipStatus(issuer string) *Status {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	var st *Status
	for _, c := range cs.creds {
		if c.issuer == issuer && slices.Contains(c.types, TypeMembership) && c.status != nil {
			st = c.status
		}
	}
	return st
}

// membershipNeed says why the holder needs a membership credential from
// issuer now, or "" when it holds one that is valid with more than renewAt
// of its life left.
func (cs *CredentialService) membershipNeed(issuer string) string {
	now := cs.sts.now()
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	why := "the node holds none"
	for _, c := range cs.creds {
		if c.issuer != issuer || !slices.Contains(c.types, TypeMembership) {
			continue
		}
		switch {
		case c.expired(now):
			why = "it expired at " + c.until.UTC().Format(time.RFC3339)
		case c.until.IsZero():
			return ""
		case c.until.Sub(now) > time.Duration(renewAt*float64(c.until.Sub(c.from))):
			return ""
		default:
			why = fmt.Sprintf("it expires at %s, less than %.0f%% of its life left", c.until.UTC().Format(time.RFC3339), renewAt*100)
		}
	}
	return why
}

// KeeperStatus is what KeepMembership last did.
type KeeperStatus struct {
	// Issuer is the issuer kept from ("" when the node keeps none).
	Issuer string `json:"issuer,omitempty"`
	// Renewed is when a request last brought a credential, Credential its id.
	Renewed    time.Time `json:"renewed,omitzero"`
	Credential string    `json:"credential,omitempty"`
	// Reason is why the node last requested one.
	Reason string `json:"reason,omitempty"`
	// Error is why the last request failed, at Failed; cleared by a
	// request that succeeds.
	Error  string    `json:"error,omitempty"`
	Failed time.Time `json:"failed,omitzero"`
}

// Keeper reports what KeepMembership last did.
func (n *Node) Keeper() KeeperStatus {
	n.keepMu.Lock()
	defer n.keepMu.Unlock()
	return n.keep
}

// noteKeep records what KeepMembership did.
func (n *Node) noteKeep(f func(*KeeperStatus)) {
	n.keepMu.Lock()
	defer n.keepMu.Unlock()
	f(&n.keep)
}
