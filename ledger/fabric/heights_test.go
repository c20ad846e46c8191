package fabric

import (
	"context"
	"testing"
	"time"
)

// TestPeerHeightsWait: wait returns once every followed peer holds the
// block, not before; gives up after its bound, and then does not wait for
// the peers it gave up on until they deliver a block again; and a ledger
// following no other peer (nil) waits for nothing.
func TestPeerHeightsWait(t *testing.T) {
	ctx := context.Background()
	if !(*peerHeights)(nil).wait(ctx, 7, time.Hour) {
		t.Fatal("nil heights: wait says no")
	}
	h := &peerHeights{held: map[string]uint64{"Org2MSP": 0, "Org3MSP": 0}, behind: map[string]bool{}, changed: make(chan struct{})}
	if h.wait(ctx, 3, 10*time.Millisecond) {
		t.Fatal("no peer holds block 3, wait says yes")
	}
	// The wait above gave up and marked both peers behind; each delivers a
	// block before the next wait starts, so that wait counts on both
	// whenever its goroutine runs.
	h.set("Org2MSP", 1)
	h.set("Org3MSP", 1)
	if h.behind["Org2MSP"] || h.behind["Org3MSP"] {
		t.Fatalf("behind %v after both delivered", h.behind)
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
	// A peer that stops streaming is waited for once, not for every
	// receipt, until it delivers a block again.
	if h.wait(ctx, 5, 10*time.Millisecond) {
		t.Fatal("no peer holds block 5, wait says yes")
	}
	start := time.Now()
	if !h.wait(ctx, 6, time.Minute) || time.Since(start) > 10*time.Second {
		t.Fatalf("waited %v for peers marked behind", time.Since(start))
	}
	h.set("Org2MSP", 8)
	if h.behind["Org2MSP"] || !h.behind["Org3MSP"] {
		t.Fatalf("behind %v: Org2's peer delivered a block", h.behind)
	}
	done = make(chan bool)
	go func() { done <- h.wait(ctx, 8, time.Minute) }()
	select {
	case <-done:
		t.Fatal("wait returned with Org2's peer a block short, though it delivers again")
	case <-time.After(20 * time.Millisecond):
	}
	h.set("Org2MSP", 9)
	if !<-done {
		t.Fatal("wait says no once Org2's peer holds block 8 (Org3's still marked behind)")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if h.wait(cctx, 9, time.Minute) {
		t.Fatal("wait says yes on a cancelled context")
	}
}

// TestPeerHeightsAway: a peer whose stream ended is away: a receipt
// waiting for it stops waiting at once, and it is away until it delivers
// a block again.
func TestPeerHeightsAway(t *testing.T) {
	ctx := context.Background()
	if (*peerHeights)(nil).isAway("Org2MSP") {
		t.Fatal("nil heights: a peer is away")
	}
	h := &peerHeights{held: map[string]uint64{"Org2MSP": 3, "Org3MSP": 3}, behind: map[string]bool{}, away: map[string]bool{}, changed: make(chan struct{})}
	done := make(chan bool)
	go func() { done <- h.wait(ctx, 3, time.Minute) }()
	h.set("Org2MSP", 4)
	select {
	case <-done:
		t.Fatal("wait returned with Org3's peer a block short")
	case <-time.After(20 * time.Millisecond):
	}
	h.setAway("Org3MSP")
	if !<-done {
		t.Fatal("wait says no though the peer short of the block is away")
	}
	if !h.isAway("Org3MSP") || h.isAway("Org2MSP") {
		t.Fatalf("away %v, want Org3's peer only", h.away)
	}
	h.setAway("Org3MSP") // again: no change
	h.set("Org3MSP", 3)  // not a new block: still away
	if !h.isAway("Org3MSP") {
		t.Fatal("Org3's peer back without a new block, but not away")
	}
	h.set("Org3MSP", 5)
	if h.isAway("Org3MSP") {
		t.Fatal("Org3's peer delivered a block and is still away")
	}
}
