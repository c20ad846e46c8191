package fabric

import (
	"context"
	"testing"
	"time"
)

// TestPeerHeightsWait: wait returns once every followed peer holds the
// block, not before; gives up after its bound; and a ledger following no
// other peer (nil) waits for nothing.
func TestPeerHeightsWait(t *testing.T) {
	ctx := context.Background()
	if !(*peerHeights)(nil).wait(ctx, 7, time.Hour) {
		t.Fatal("nil heights: wait says no")
	}
	h := &peerHeights{held: map[string]uint64{"Org2MSP": 0, "Org3MSP": 0}, changed: make(chan struct{})}
	if h.wait(ctx, 3, 10*time.Millisecond) {
		t.Fatal("no peer holds block 3, wait says yes")
	}
	done := make(chan bool)
	go func() { done <- h.wait(ctx, 3, time.Minute) }()
	h.set("Org2MSP", 4)
	h.set("Org3MSP", 3) // holds blocks 0..2
	select {
	case <-done:
		t.Fatal("wait returned with Org3's peer a block behind")
	case <-time.After(20 * time.Millisecond):
	}
	h.set("Org3MSP", 2) // an older height changes nothing
	h.set("Org3MSP", 4)
	if !<-done {
		t.Fatal("wait says no once both hold block 3")
	}
	if h.held["Org3MSP"] != 4 {
		t.Fatalf("held %v", h.held)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if h.wait(cctx, 9, time.Minute) {
		t.Fatal("wait says yes on a cancelled context")
	}
}
