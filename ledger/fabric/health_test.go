package fabric

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFollowHealth: a failure to open the stream ends when one opens; a
// failure to add blocks lasts through the stream opening again (as it does
// after every such failure) until blocks are added; the failure's start is
// the first of a run; the peer's height failing, and a follower behind the
// peer that has added nothing for StallAfter, are unwell too. Ready is
// well and at most ReadyLag blocks behind.
func TestFollowHealth(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var h followHealth
	h.added = t0
	if err := h.check(5, 5, nil, t0.Add(time.Hour)); err != nil {
		t.Fatalf("caught up: %v", err)
	}
	down := errors.New("rpc error: code = Unavailable")
	h.streamFailed(down, t0)
	h.streamFailed(down, t0.Add(time.Second))
	err := h.check(5, 0, down, t0.Add(3*time.Second))
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "cannot read the channel's blocks from block 5 (failing for 3s)") {
		t.Fatalf("stream down: %v", err)
	}
	h.streamOpened()
	if err := h.check(5, 5, nil, t0.Add(4*time.Second)); err != nil {
		t.Fatalf("stream open again: %v", err)
	}

	disk := errors.New("index file: write: no space left on device")
	h.addFailed(disk, t0.Add(10*time.Second))
	h.streamOpened() // the retry opens the stream, and fails on the same block
	h.addFailed(disk, t0.Add(11*time.Second))
	err = h.check(6, 7, nil, t0.Add(12*time.Second))
	if !errors.Is(err, disk) || !strings.Contains(err.Error(), "cannot add block 6 (failing for 2s)") {
		t.Fatalf("add failing: %v", err)
	}
	if got := h.failures.Load(); got != 4 {
		t.Errorf("failures %d, want 4", got)
	}
	h.blocksAdded(t0.Add(13 * time.Second))
	if err := h.check(7, 7, nil, t0.Add(14*time.Second)); err != nil {
		t.Fatalf("blocks added: %v", err)
	}

	if err := h.check(7, 0, down, t0.Add(14*time.Second)); !errors.Is(err, down) || !strings.Contains(err.Error(), "does not give its height") {
		t.Fatalf("height failing: %v", err)
	}
	// Behind: well while blocks were added lately, stalled after StallAfter.
	if err := h.check(7, 9, nil, t0.Add(13*time.Second+StallAfter)); err != nil {
		t.Fatalf("behind, adding: %v", err)
	}
	err = h.check(7, 9, nil, t0.Add(14*time.Second+StallAfter))
	if err == nil || !strings.Contains(err.Error(), "holds the blocks before 7 of the peer's 9 and has added none for 31s") {
		t.Fatalf("stalled: %v", err)
	}

	// Ready: well, and at most ReadyLag blocks behind.
	now := t0.Add(15 * time.Second)
	h.blocksAdded(now)
	if err := h.ready(7, 7+ReadyLag, nil, now); err != nil {
		t.Fatalf("ReadyLag behind: %v", err)
	}
	if err := h.check(7, 8+ReadyLag, nil, now); err != nil {
		t.Fatalf("catching up is well: %v", err)
	}
	err = h.ready(7, 8+ReadyLag, nil, now)
	if err == nil || !strings.Contains(err.Error(), "catching up: it holds the blocks before 7 of the peer's 24") {
		t.Fatalf("catching up: %v", err)
	}
	h.addFailed(disk, now)
	if err := h.ready(7, 7, nil, now); !errors.Is(err, disk) {
		t.Fatalf("unwell is not ready: %v", err)
	}
}
