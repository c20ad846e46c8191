package fabric

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// preparedBlock is block n after prev holding txs, as prepareBlock gives a
// block of valid transactions of the chaincode.
func preparedBlock(t *testing.T, n uint64, prev []byte, txs ...*endorsedWrites) *prepared {
	t.Helper()
	data := [][]byte{[]byte(fmt.Sprintf("block %d", n))}
	sum := sha256.Sum256(data[0])
	p := &prepared{Block: &common.Block{Header: &common.BlockHeader{Number: n, PreviousHash: prev, DataHash: sum[:]}, Data: &common.BlockData{Data: data}}, dataHash: sum}
	for i, w := range txs {
		d, err := decodeTx(w, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.txs = append(p.txs, preparedTx{i: i, txID: fmt.Sprintf("tx-%d-%d", n, i), d: d})
	}
	return p
}

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

// TestFileUpdatesOverlap: a follower keeping its index in a file stages
// each group of blocks while the update before is written (addToFile):
// the index answers as one in memory that took the same blocks, and the
// file, opened again, holds them all with the position after the last; a
// group refused half way through (repeating a batch of the update being
// written) leaves the file and the index (read back) with the groups
// before it, and the follower's position there.
func TestFileUpdatesOverlap(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 800, 5, 3)
	var txs [][]*ledger.Batch
	txs = append(txs, w.Setup)
	for _, st := range w.Streams {
		for i := 0; i < len(st); i += 3 {
			txs = append(txs, st[i:min(len(st), i+3)])
		}
	}
	path := filepath.Join(t.TempDir(), "index.db")
	file := withGenesis(t, fileIndex(t, path), s)
	mem := indexWithGenesis(t, s, false)
	l := &Ledger{view: &view{ix: file, changed: make(chan struct{}), given: newGiven(), next: 1, prevHash: []byte("hash of block 0")}, stop: make(chan struct{})}

	// Blocks of two transactions; groups of one or two blocks; the first
	// group passed, the others given by more.
	prev, n := l.prevHash, uint64(1)
	var groups [][]*prepared
	for k := 0; k < len(txs); {
		var g []*prepared
		for range 1 + len(groups)%2 {
			if k >= len(txs) {
				break
			}
			var ws []*endorsedWrites
			for _, tx := range txs[k:min(len(txs), k+2)] {
				ws = append(ws, committed(t, tx))
				if err := addTx(mem, n, fmt.Sprintf("tx-%d-%d", n, len(ws)-1), committed(t, tx)); err != nil {
					t.Fatal(err)
				}
			}
			k += 2
			b := preparedBlock(t, n, prev, ws...)
			g, prev, n = append(g, b), headerHash(b.Header), n+1
		}
		groups = append(groups, g)
	}
	if len(groups) <= maxUpdatesAtOnce {
		t.Fatalf("%d groups: too few to pass maxUpdatesAtOnce", len(groups))
	}
	rest := groups[1:]
	more := func(<-chan struct{}) []*prepared {
		if len(rest) == 0 {
			return nil
		}
		g := rest[0]
		rest = rest[1:]
		return g
	}
	for g := groups[0]; g != nil; g = more(nil) {
		if err := l.addBlocks(g, more); err != nil {
			t.Fatal(err)
		}
	}
	if l.next != n {
		t.Fatalf("the follower is at block %d, want %d", l.next, n)
	}
	sameIndex(t, mem, file)

	// A refused group after a good one, in one call: the good one stays.
	more2, err := ledgertest.NewWorkload(s, 20, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	good := preparedBlock(t, n, prev, committed(t, more2.Setup))
	// The refused block repeats a batch of the good one, whose write is
	// in flight while it is staged.
	bad := preparedBlock(t, n+1, headerHash(good.Header), committed(t, more2.Streams[0][:1]), committed(t, more2.Setup[:1]))
	given := false
	err = l.addBlocks([]*prepared{good}, func(<-chan struct{}) []*prepared {
		if given {
			return nil
		}
		given = true
		return []*prepared{bad}
	})
	if err == nil || !strings.Contains(err.Error(), "written twice") {
		t.Fatalf("a group repeating a batch: %v", err)
	}
	if err := addTx(mem, n, fmt.Sprintf("tx-%d-0", n), committed(t, more2.Setup)); err != nil {
		t.Fatal(err)
	}
	if l.next != n+1 {
		t.Fatalf("after the refused group the follower is at block %d, want %d", l.next, n+1)
	}
	sameIndex(t, mem, file)
	if err := file.st.close(); err != nil {
		t.Fatal(err)
	}
	again := fileIndex(t, path)
	sameIndex(t, mem, again)
	if next, _ := again.st.(*diskStore).position(); next != n+1 {
		t.Fatalf("the file's position is block %d, want %d", next, n+1)
	}
}
