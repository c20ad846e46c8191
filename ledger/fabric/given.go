package fabric

import (
	"context"
	"sync"

	"github.com/tdsc/tdsc/ledger"
)

// givenBlocks is how many blocks back the receipts a follower gave stay
// to be taken: a writer takes its transaction's as soon as the follower
// gives its block; one that comes later reads the index.
const givenBlocks = 64

// given holds the receipts of the batches a follower added, from the moment
// its update has built them, before the update is in the index file: an
// index file commits each update (bbolt's writes and syncs, about a third of
// a writing follower's time), and a writer waiting for its receipt need not
// wait for that. A receipt is the block order's (a batch's indexes, the tree
// size after it), which the chain fixes: should the file's commit fail, the
// follower reads the same blocks again and gives the same receipts. Reads
// of the index still wait for the update (the follower's lock), so a reader
// who holds a receipt finds its records.
type given struct {
	mu      sync.Mutex
	upTo    uint64                    // blocks before it have given their receipts
	changed chan struct{}             // closed, and replaced, when upTo moves
	byRoot  map[string]ledger.Receipt // batch root -> its receipt
	order   []givenRoot               // byRoot's keys in the order given
}

type givenRoot struct {
	block uint64
	root  string
}

func newGiven() *given {
	return &given{changed: make(chan struct{}), byRoot: map[string]ledger.Receipt{}}
}

// give takes the receipts of the batches in evs and moves upTo to next
// (the block after the last added); receipts of blocks more than
// givenBlocks before next are forgotten.
func (g *given) give(next uint64, evs []Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ev := range evs {
		for _, r := range ev.Batches {
			g.byRoot[r.BatchRoot] = r
			g.order = append(g.order, givenRoot{ev.Block, r.BatchRoot})
		}
	}
	k := 0
	for k < len(g.order) && g.order[k].block+givenBlocks < next {
		delete(g.byRoot, g.order[k].root)
		k++
	}
	g.order = g.order[k:]
	if next > g.upTo {
		g.upTo = next
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// receipt returns the receipt given for the batch of root, if it is held.
func (g *given) receipt(root string) (ledger.Receipt, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.byRoot[root]
	return r, ok
}

// wait waits until the receipts of block n are given.
func (g *given) wait(ctx context.Context, n uint64, stop <-chan struct{}) error {
	return waitPast(ctx, n, stop, func() (uint64, <-chan struct{}) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.upTo, g.changed
	})
}
