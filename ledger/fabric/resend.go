package fabric

import (
	"context"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
)

// resendAfter is how long a transaction the orderers took may go without
// its commit status before it is submitted to them again. A transaction
// commits within a second or two here even on two loaded cores; one
// that waits longer was most likely lost in ordering.
const resendAfter = 5 * time.Second

// resendPace is how awaitCommit submits a transaction again: Every after
// a submission the orderers took, Again after one they refused; Refused
// says they refused the first.
type resendPace struct {
	Every, Again time.Duration
	Refused      bool
}

// awaitCommit waits for a transaction's commit status (status, one call for
// the whole wait) and, while it does not come, submits the transaction
// again (resubmit: the same signed envelope, so the same transaction id),
// one submission at a time, each p.Every after one the orderers took and
// p.Again after one they refused; resent is told of each and how it went.
// It returns what status returns.
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
	for n := 1; ; {
		select {
		case a := <-got:
			return a.st, a.err
		case <-next.C:
			go func() { sent <- resubmit(ctx) }()
		case err := <-sent:
			resent(n, err)
			n++
			if err != nil {
				next.Reset(p.Again)
			} else {
				next.Reset(p.Every)
			}
		}
	}
}
