package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A peer can hang without going away: stopped (SIGSTOP), stalled on its
// disk, or behind a network that drops its packets while the connection
// stays open. Its block stream breaks no more than its chaincode fails, so
// neither peerHeights' away mark nor a failure's unable mark finds it; a
// proposal that asks it waits for the endorse timeout (the ledger's
// Timeout, a minute), and under a policy that needs only some
// organisations every transaction whose turn names it waits so, while the
// others could endorse. So a peer is also asked whether it answers at all.

// answerWithin bounds how long a probe of the endorsers' peers
// (askEndorsers, askPeers) waits for one peer's answer: a peer that takes
// longer is marked unable ("did not answer"), and asked alone again
// until it answers (probeUnable).
const answerWithin = 2 * time.Second

// slowEndorsement is how long an endorsement may wait before the
// endorsers' peers are asked whether they answer (endorseWatch).
const slowEndorsement = time.Second

// errNoAnswer is a node's error (askPeers, deliverServed) when it did not
// answer within answerWithin.
var errNoAnswer = fmt.Errorf("it did not answer within %v", answerWithin)

// answer runs ask with a context bounded by answerWithin: errNoAnswer if
// that bound ended it while ctx lasts, else ask's error. The bound is
// met by more timers than the context's own, which may fire a moment
// before it is done: a connection's deadline (a TLS handshake fails
// "context deadline exceeded", status Unavailable) and the server's end
// of a gRPC call (its grpc-timeout, status DeadlineExceeded). So a call
// that fails once the bound has passed, or with DeadlineExceeded, did
// not answer.
func answer(ctx context.Context, ask func(context.Context) error) error {
	return answerBy(ctx, answerWithin, ask)
}

func answerBy(ctx context.Context, within time.Duration, ask func(context.Context) error) error {
	actx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	err := ask(actx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	deadline, _ := actx.Deadline()
	if actx.Err() != nil || !time.Now().Before(deadline) || status.Code(err) == codes.DeadlineExceeded {
		return errNoAnswer
	}
	return err
}

// probeContext is the context of a probe the ledger starts on its own
// (not a caller's): bounded by timeout, and ended by Close, which does
// not wait for the probe.
func (l *Ledger) probeContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// endorseWatch watches an endorsement in flight for an endorser it asked
// that cannot endorse now while enough others can (see watch).
type endorseWatch struct {
	slow, every time.Duration
	// probe asks the endorsers' peers whether they answer, marking those
	// that do not (Ledger.askEndorsers through the shared probe).
	probe func()
	// cannot says whether an endorser cannot endorse now
	// (Ledger.cannotEndorse); spare whether enough others can for a
	// transaction to ask only them.
	cannot func(msp string) bool
	spare  func() bool
}

// watch returns, once the endorsement has waited w.slow and until done is
// closed, the endorsers of asked that cannot endorse, as soon as there are
// some and enough others can: it probes the peers then and every w.every.
// It returns nil once done is closed.
func (w endorseWatch) watch(done <-chan struct{}, asked []string) []string {
	t := time.NewTimer(w.slow)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-t.C:
		}
		w.probe()
		if gone := slices.DeleteFunc(slices.Clone(asked), func(msp string) bool { return !w.cannot(msp) }); len(gone) > 0 && w.spare() {
			return gone
		}
		t.Reset(w.every)
	}
}

// errEndorsersGone ends an endorsement that asked endorsers which cannot
// endorse now (endorseWatch): it is given up as unavailable, and the retry
// asks others.
type errEndorsersGone []string

func (e errEndorsersGone) Error() string {
	return "gave the endorsement up: " + strings.Join(e, ", ") + " cannot endorse now"
}

// endorse endorses proposal, asked of endorsers. While it waits, an
// endorseWatch gives it up once an endorser it asked cannot endorse now
// (a peer that does not answer is found by the watch's probe) while
// enough others can: it returns ErrUnavailable then, and the transaction's
// retry asks the others (Ledger.endorsers). A transaction that asks every
// endorser (a policy that needs them all), or that the gateway chooses
// for, waits as before: there are no others.
func (l *Ledger) endorse(ctx context.Context, proposal *client.Proposal, endorsers []string) (*client.Transaction, error) {
	if len(endorsers) == 0 || len(endorsers) >= len(l.cfg.Profile.Endorsers) {
		return proposal.EndorseWithContext(ctx)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if gone := l.endorseWatch().watch(done, endorsers); gone != nil {
			cancel(errEndorsersGone(gone))
		}
	}()
	tx, err := proposal.EndorseWithContext(ctx)
	close(done)
	<-watched
	var gone errEndorsersGone
	if err != nil && errors.As(context.Cause(ctx), &gone) {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, gone)
	}
	return tx, err
}

// endorseWatch is the watch of this ledger's endorsements.
func (l *Ledger) endorseWatch() endorseWatch {
	return endorseWatch{slow: slowEndorsement, every: unableProbeEvery,
		probe: func() {
			ctx, cancel := l.probeContext(2 * answerWithin)
			defer cancel()
			_, _ = l.endorseProbe.ask(ctx, l.askEndorsers, time.Now)
		},
		cannot: l.cannotEndorse,
		spare:  func() bool { return l.endorsersAble() >= l.endorsersAsked() },
	}
}
