package fabric

import (
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// TestWaiting: a follower that keeps up takes only the blocks already
// delivered; one catching up waits for the next blocks up to the height it
// catches up to, and no further.
func TestWaiting(t *testing.T) {
	block := func(n uint64) *common.Block { return &common.Block{Header: &common.BlockHeader{Number: n}} }
	feed := func(from, to uint64, gap time.Duration) <-chan *common.Block {
		c := make(chan *common.Block, 16) // the sender ends when the test does not take them all
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
	c := make(chan *common.Block, 200)
	for n := uint64(2); n < 202; n++ {
		c <- block(n)
	}
	if bs := waiting(c, 0); len(bs) != maxBlocksAtOnce-1 {
		t.Fatalf("took %d delivered blocks at once, want %d", len(bs), maxBlocksAtOnce-1)
	}
}
