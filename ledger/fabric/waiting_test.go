package fabric

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// TestWaiting: a follower that keeps up takes only the blocks already
// delivered; one catching up waits for the next blocks up to the height it
// catches up to, and no further.
func TestWaiting(t *testing.T) {
	block := func(n uint64) *prepared {
		return &prepared{Block: &common.Block{Header: &common.BlockHeader{Number: n}}}
	}
	feed := func(from, to uint64, gap time.Duration) <-chan *prepared {
		c := make(chan *prepared, 16) // the sender ends when the test does not take them all
		go func() {
			for n := from; n < to; n++ {
				time.Sleep(gap)
				c <- block(n)
			}
		}()
		return c
	}
	// Blocks 2..9 arrive 5 ms apart after block 1 was taken.
	if bs := waiting(feed(2, 10, 5*time.Millisecond), 0); len(bs) != 0 {
		t.Fatalf("keeping up: took %d blocks that were not there yet", len(bs))
	}
	bs := waiting(feed(2, 10, 5*time.Millisecond), 8) // the height: blocks 0..7
	if len(bs) != 6 || bs[0].Header.Number != 2 || bs[5].Header.Number != 7 {
		t.Fatalf("catching up to height 8: took %d blocks (%v)", len(bs), bs)
	}
	c := make(chan *prepared, 200)
	for n := uint64(2); n < 202; n++ {
		c <- block(n)
	}
	if bs := waiting(c, 0); len(bs) != maxBlocksAtOnce-1 {
		t.Fatalf("took %d delivered blocks at once, want %d", len(bs), maxBlocksAtOnce-1)
	}
}

// TestPrepareAhead: blocks are prepared several at once and given in their
// order; a cancelled context ends the stage even when nobody reads.
func TestPrepareAhead(t *testing.T) {
	in := make(chan *common.Block)
	go func() {
		defer close(in)
		for n := uint64(0); n < 50; n++ {
			in <- &common.Block{Header: &common.BlockHeader{Number: n}, Data: &common.BlockData{Data: [][]byte{{byte(n)}}}}
		}
	}()
	var n uint64
	for p := range prepareAhead(context.Background(), in, "tdsc", nil) {
		if p.Header.Number != n {
			t.Fatalf("block %d given at position %d", p.Header.Number, n)
		}
		if want := sha256.Sum256([]byte{byte(n)}); p.dataHash != want {
			t.Fatalf("block %d: data hash %x, want %x", n, p.dataHash, want)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("%d blocks given, want 50", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	endless := make(chan *common.Block)
	go func() {
		for n := uint64(0); ; n++ {
			select {
			case endless <- &common.Block{Header: &common.BlockHeader{Number: n}, Data: &common.BlockData{}}:
			case <-time.After(time.Second):
				return
			}
		}
	}()
	out := prepareAhead(ctx, endless, "tdsc", nil)
	<-out
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-out:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the stage did not end after its context was cancelled")
		}
	}
}
