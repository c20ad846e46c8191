package fabric

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// noMore is addBlocks' more when no blocks follow.
func noMore(<-chan struct{}) []*prepared { return nil }

// TestGivenReceipts: the follower gives each batch's receipt when its
// update has added the block, and the receipt is the one the index then
// answers, in memory and in a file; a writer waiting for a block is woken
// when it is given; a block refused gives nothing and moves nothing; the
// receipts of blocks more than givenBlocks back are forgotten (a writer then
// reads them from the index).
func TestGivenReceipts(t *testing.T) {
	stores(t, func(t *testing.T, disk bool) {
		s, w := ledgertest.MustWorkload(t, 120, 5, 2)
		l := &Ledger{view: &view{ix: indexWithGenesis(t, s, disk), changed: make(chan struct{}), given: newGiven()}, stop: make(chan struct{})}
		l.next = 1 // the genesis' block read
		prev := []byte("hash of block 0")
		l.prevHash = prev

		// A writer waits for block 2 (the second block added).
		woken := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			woken <- l.given.wait(ctx, 2, l.stop)
		}()

		var all []*ledger.Batch
		block := uint64(1)
		for k, st := range w.Streams {
			txs := []*endorsedWrites{committed(t, st[:2]), committed(t, st[2:4])}
			if k == 0 {
				txs = append([]*endorsedWrites{committed(t, w.Setup)}, txs...)
				all = append(all, w.Setup...)
			}
			all = append(all, st[:4]...)
			b := preparedBlock(t, block, prev, txs...)
			if err := l.addBlocks([]*prepared{b}, noMore); err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				select {
				case err := <-woken:
					t.Fatalf("waiting for block 2 ended at block 1: %v", err)
				case <-time.After(50 * time.Millisecond):
				}
			}
			prev, block = headerHash(b.Header), block+1
		}
		if err := <-woken; err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			got, ok := l.given.receipt(b.Root)
			if !ok {
				t.Fatalf("batch %s: no receipt given", b.Root)
			}
			sb, err := l.ix.batchByRoot(b.Root)
			if err != nil || sb == nil {
				t.Fatalf("batch %s: not in the index: %v", b.Root, err)
			}
			if want := sb.receipt(); !reflect.DeepEqual(got, want) {
				t.Fatalf("batch %s: given %+v, the index answers %+v", b.Root, got, want)
			}
		}

		// A block whose second transaction repeats a batch: refused, nothing
		// given (the first transaction's batch neither), upTo unmoved.
		st := w.Streams[0]
		bad := preparedBlock(t, block, prev, committed(t, st[4:5]), committed(t, st[:1]))
		if err := l.addBlocks([]*prepared{bad}, noMore); err == nil {
			t.Fatal("a block repeating a batch was added")
		}
		if _, ok := l.given.receipt(st[4].Root); ok {
			t.Fatal("a refused block's batch has a receipt")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := l.given.wait(ctx, block, l.stop); !errors.Is(err, ledger.ErrUnavailable) {
			t.Fatalf("waiting for the refused block: %v, want ErrUnavailable", err)
		}

		// Blocks long after: the first blocks' receipts are forgotten, and
		// a closed ledger ends a wait.
		l.given.give(1+givenBlocks, nil) // the block after the last added
		if _, ok := l.given.receipt(all[0].Root); !ok {
			t.Fatal("the receipts of a block givenBlocks back forgotten")
		}
		l.given.give(2+givenBlocks, nil)
		if _, ok := l.given.receipt(all[0].Root); ok {
			t.Fatal("the receipts of a block more than givenBlocks back kept")
		}
		if _, ok := l.given.receipt(all[len(all)-1].Root); !ok {
			t.Fatal("the receipts of the last block forgotten with the first's")
		}
		close(l.stop)
		if err := l.given.wait(context.Background(), block+givenBlocks+1, l.stop); err == nil || errors.Is(err, ledger.ErrUnavailable) {
			t.Fatalf("waiting on a closed ledger: %v", err)
		}
	})
}
