package fabric

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/status"
)

// resendAfter is the longest a transaction the orderers took may go without
// its commit status before it is submitted to them again (Config.resendAfter
// by default), and how long it goes where the bound is not learned (see
// commitWaits): a transaction commits within a second or two here even on
// two loaded cores; one that waits longer was most likely lost in
// ordering.
const resendAfter = 5 * time.Second

// Learning the resend bound from the commits (commitWaits.bound): the bound
// is waitFactor times the 90th percentile of the last len(ring) waits for a
// commit status (of fewer than ten, the longest), once minWaits are known,
// at least minResend past the channel's batch timeout and at most
// Config.resendAfter. A ledger learns it from its first few transactions,
// so that one opened just before an orderer renews its certificate or a
// leader goes gains too (a test's ledger had six when it lost one).
const (
	waitFactor = 4
	minWaits   = 3
	minResend  = time.Second
)

// commitWaits holds how long this ledger's last transactions waited for
// their commit status once the orderers took them, to send a lost one
// again sooner than resendAfter where transactions commit in a fraction of
// it: a Raft leader that goes away loses what it took and had not cut
// into a block, and its writers waited the whole resendAfter for it.
// Safe for concurrent use.
type commitWaits struct {
	mu   sync.Mutex
	ring [64]time.Duration
	n    int // waits added so far
}

// add notes a transaction's wait.
func (w *commitWaits) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ring[w.n%len(w.ring)] = d
	w.n++
}

// bound is how long a transaction may wait for its commit status before it
// is sent again: waitFactor times the 90th percentile of the last waits,
// at least minResend past batch (the channel's batch timeout: an orderer
// may hold a lone transaction that long before it cuts a block), at most
// most. most where the bound is not learned: batch 0 (an ordering that
// does not lose what it took, or a configuration not read) or fewer than
// minWaits known. A lost transaction's own wait is among those noted after
// it, but the percentile is not moved by a few.
func (w *commitWaits) bound(batch, most time.Duration) time.Duration {
	if batch <= 0 {
		return most
	}
	w.mu.Lock()
	n := min(w.n, len(w.ring))
	if n < minWaits {
		w.mu.Unlock()
		return most
	}
	last := slices.Clone(w.ring[:n])
	w.mu.Unlock()
	slices.Sort(last)
	p90 := last[(n*9+9)/10-1]
	return min(most, max(batch+minResend, waitFactor*p90))
}

// errOrdered is what a submission again returns (in place of the
// gateway's refusal) when an orderer answered that it had ordered the
// transaction already: see orderedAlready.
var errOrdered = errors.New("the orderers had ordered the transaction already")

// alreadyProcessed is how a SmartBFT orderer refuses a request it removed
// from its pool when a decided block held it (Fabric's BFTChain.submit
// wrapping SmartBFT's ErrReqAlreadyProcessed), in a gateway's error
// detail: "received unsuccessful response from orderer:
// status=SERVICE_UNAVAILABLE, info=failed to submit request: request
// already processed". The gateway takes "request already exists" (still
// in the pool) as success, this one as a failure.
const alreadyProcessed = "request already processed"

// orderedAlready reports whether a submission's error has an orderer
// answer that it ordered the transaction already: of a BFT cluster, a
// copy sent again after its block was decided, whose commit status is on
// its way. The gateway fails the submission (too few orderers took it);
// making it again every submitAgain until the status comes would only
// be refused again.
func orderedAlready(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if d, ok := d.(*gateway.ErrorDetail); ok && strings.Contains(d.GetMessage(), alreadyProcessed) {
			return true
		}
	}
	return false
}

// resendPace is how awaitCommit submits a transaction again: Every after
// a submission the orderers took, Again after one they refused; a
// submission again is given up after GiveUp (Every if 0); Refused says
// they refused the first.
type resendPace struct {
	Every, Again, GiveUp time.Duration
	Refused              bool
}

// awaitCommit waits for a transaction's commit status (status, one call for
// the whole wait) and, while it does not come, submits the transaction
// again (resubmit: the same signed envelope, so the same transaction id),
// one submission at a time, each p.Every after one the orderers took and
// p.Again after one they refused; resent is told of each and how it went.
// A submission answered errOrdered counts as taken: the next is p.Every
// after it (one orderer's word does not stop the resending: one that
// lies would leave the transaction to the timeout).
// A submission again is given up after p.GiveUp (a refusal): the gateway
// tries the orderers in a random order, and one that takes what it cannot
// forward (a Raft follower whose TLS certificate the others no longer
// accept, while it restarts on a renewed one) can hold the call for
// seconds, where the next call likely reaches another. It returns what
// status returns.
//
// A Raft leader that goes away loses the transactions it had taken but
// not yet cut into a block, and those its followers had forwarded to it:
// the orderers answered SUCCESS, and no block will ever hold them (Fabric's
// orderers do not hand them to the next leader), so their status would
// come only as the commit-status timeout. Submitting the same transaction
// again is safe: ordered twice, it is committed once — the peers mark the
// later copy DUPLICATE_TXID, which the follower and the audit skip as
// every invalid transaction, and the status is the first copy's.
func awaitCommit(ctx context.Context, p resendPace, status func(context.Context) (*client.Status, error),
	resubmit func(context.Context) error, resent func(n int, err error)) (*client.Status, error) {
	type answer struct {
		st  *client.Status
		err error
	}
	got := make(chan answer, 1)
	go func() {
		st, err := status(ctx)
		got <- answer{st, err}
	}()
	next := time.NewTimer(p.Every)
	if p.Refused {
		next.Reset(p.Again)
	}
	defer next.Stop()
	sent := make(chan error, 1)
	giveUp := cmp.Or(p.GiveUp, p.Every)
	for n := 1; ; {
		select {
		case a := <-got:
			return a.st, a.err
		case <-next.C:
			go func() {
				ctx, cancel := context.WithTimeout(ctx, giveUp)
				defer cancel()
				sent <- resubmit(ctx)
			}()
		case err := <-sent:
			resent(n, err)
			n++
			if err != nil && !errors.Is(err, errOrdered) {
				next.Reset(p.Again)
			} else {
				next.Reset(p.Every)
			}
		}
	}
}
