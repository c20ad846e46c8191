package fabric

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// StallAfter is how long a follower behind its peer may add no block before
// Health reports it stalled.
const StallAfter = 30 * time.Second

// followHealth is how the follower is doing. Two failures are kept apart,
// since each ends in its own way: the block stream could not be opened
// (ended when one opens), and blocks delivered could not be added — a
// block that does not link, an index file that cannot be written (ended
// only when blocks are added: the stream opens again after every such
// failure, to fail on the same block).
type followHealth struct {
	mu        sync.Mutex
	streamErr error     // the last failure to open the block stream, until one opens
	addErr    error     // the last failure to add blocks, until blocks are added
	since     time.Time // when the current failure began
	added     time.Time // when blocks were last added (or the view opened)
	failures  atomic.Int64
}

// streamFailed records that the stream could not be opened.
func (h *followHealth) streamFailed(err error, now time.Time) { h.failed(&h.streamErr, err, now) }

// streamOpened ends a failure to open the stream.
func (h *followHealth) streamOpened() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streamErr = nil
}

// addFailed records that the blocks delivered could not be added.
func (h *followHealth) addFailed(err error, now time.Time) { h.failed(&h.addErr, err, now) }

// failed records err in slot (streamErr or addErr); a failure that begins
// while none lasts starts the failing time.
func (h *followHealth) failed(slot *error, err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures.Add(1)
	if h.streamErr == nil && h.addErr == nil {
		h.since = now
	}
	*slot = err
}

// blocksAdded ends a failure to add blocks.
func (h *followHealth) blocksAdded(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addErr, h.added = nil, now
}

// check says why a follower that holds the blocks before next, of a peer
// of height (or heightErr), is not well at now; nil if it is.
func (h *followHealth) check(next, height uint64, heightErr error, now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.addErr; err != nil {
		return fmt.Errorf("fabric: the follower cannot add block %d (failing for %s): %w", next, now.Sub(h.since).Round(time.Second), err)
	}
	if err := h.streamErr; err != nil {
		return fmt.Errorf("fabric: the follower cannot read the channel's blocks from block %d (failing for %s): %w", next, now.Sub(h.since).Round(time.Second), err)
	}
	if heightErr != nil {
		return fmt.Errorf("fabric: the gateway's peer does not give its height: %w", heightErr)
	}
	if height > next && now.Sub(h.added) > StallAfter {
		return fmt.Errorf("fabric: the follower holds the blocks before %d of the peer's %d and has added none for %s", next, height, now.Sub(h.added).Round(time.Second))
	}
	return nil
}

// ReadyLag is how many blocks a follower may be behind its peer and still
// be ready: one that keeps up is a block or two behind now and then (the
// blocks it is adding), one catching up is many.
const ReadyLag = 16

// ready is check, and also not ready while the follower is more than
// ReadyLag blocks behind the peer (catching up: reads would wait for it).
func (h *followHealth) ready(next, height uint64, heightErr error, now time.Time) error {
	if err := h.check(next, height, heightErr, now); err != nil {
		return err
	}
	if height > next+ReadyLag {
		return fmt.Errorf("fabric: the follower is catching up: it holds the blocks before %d of the peer's %d", next, height)
	}
	return nil
}

// Ready is Health, and also says the ledger is not ready while its
// follower is more than ReadyLag blocks behind the gateway's peer (a
// service reading the channel from block 0, or from where its index file
// ended): reads would wait until it has caught up. The ledger service's
// /readyz answers 503 with it, so a load balancer holds reads back while a
// liveness probe on /healthz lets the catch-up run.
func (l *Ledger) Ready(ctx context.Context) error { return l.probe(ctx, l.health.ready) }

// Health says why the ledger cannot serve reads now, or nil: the follower
// fails to read the channel's blocks or to add them to the index (a block
// that does not follow the one before, an index file that cannot be
// written: writers may still get their receipts, which the chain's order
// gives, while reads wait for blocks that never come), the gateway's peer
// does not answer its height, or the follower is behind the peer and has
// added no block for StallAfter. A follower catching up that adds blocks
// is well. The ledger service's /healthz answers 503 with it.
func (l *Ledger) Health(ctx context.Context) error { return l.probe(ctx, l.health.check) }

// probe asks the gateway peer's height (shared by the ledger's probes: see
// sharedProbe) and gives it, with the follower's next block, to judge
// (check or ready).
func (l *Ledger) probe(ctx context.Context, judge func(next, height uint64, heightErr error, now time.Time) error) error {
	h, herr := l.peerHeight.ask(ctx, l.Height, time.Now)
	l.ixMu.RLock()
	next := l.next
	l.ixMu.RUnlock()
	return judge(next, h, herr, time.Now())
}

// HeightFresh is how long the peer's height asked by one probe (Health,
// Ready) answers the probes after it: a load balancer, a liveness probe
// and a person's curl, each every second or less, cost the peer one height
// query a second between them, not one each.
const HeightFresh = time.Second

// sharedProbe shares an answer among probes (the peer's height for Health
// and Ready; whether the endorsers' peers run the chaincode for
// WritesReady): an answer younger than HeightFresh is given again, and
// probes that come while one asks wait for its answer (or their own
// context's end).
type sharedProbe[T any] struct {
	mu     sync.Mutex
	at     time.Time // when the last answer came; zero if none has
	value  T
	err    error
	asking chan struct{} // closed when the query in flight ends; nil if none is
}

// ask gives the answer: a fresh one, the one in flight's, or one of its
// own from query. An answer to a query whose context ended is given to its
// caller only: those waiting for it ask again.
func (p *sharedProbe[T]) ask(ctx context.Context, query func(context.Context) (T, error), now func() time.Time) (T, error) {
	for {
		p.mu.Lock()
		if !p.at.IsZero() && now().Sub(p.at) < HeightFresh {
			v, err := p.value, p.err
			p.mu.Unlock()
			return v, err
		}
		if wait := p.asking; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		done := make(chan struct{})
		p.asking = done
		p.mu.Unlock()
		v, err := query(ctx)
		p.mu.Lock()
		if ctx.Err() == nil {
			p.at, p.value, p.err = now(), v, err
		}
		p.asking = nil
		close(done)
		p.mu.Unlock()
		return v, err
	}
}
