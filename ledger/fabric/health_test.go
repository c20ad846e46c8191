package fabric

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// TestHeightProbe: probes that come while one asks the peer's height wait
// for its answer; an answer is given again for HeightFresh, errors too; a
// query whose caller's context ended answers that caller only, and one
// waiting for it asks again.
func TestHeightProbe(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }
	var p sharedProbe[uint64]
	var queries atomic.Int64
	release := make(chan struct{})
	slow := func(ctx context.Context) (uint64, error) {
		queries.Add(1)
		select {
		case <-release:
			return 42, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}

	// Five probes at once: one query.
	var wg sync.WaitGroup
	got := make([]uint64, 5)
	for k := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := p.ask(context.Background(), slow, now)
			if err != nil {
				t.Errorf("probe %d: %v", k, err)
			}
			got[k] = h
		}()
	}
	waitFor(t, func() bool { return queries.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // the others reach the wait
	close(release)
	wg.Wait()
	if n := queries.Load(); n != 1 || !slices.Equal(got, []uint64{42, 42, 42, 42, 42}) {
		t.Fatalf("%d queries, heights %v; want one query, 42 each", n, got)
	}

	// Fresh for HeightFresh, errors too; then asked again.
	down := errors.New("rpc error: code = Unavailable")
	failing := func(context.Context) (uint64, error) { queries.Add(1); return 0, down }
	clock = t0.Add(HeightFresh - time.Nanosecond)
	if h, err := p.ask(context.Background(), failing, now); h != 42 || err != nil || queries.Load() != 1 {
		t.Fatalf("fresh: %d, %v after %d queries", h, err, queries.Load())
	}
	clock = t0.Add(HeightFresh)
	if _, err := p.ask(context.Background(), failing, now); !errors.Is(err, down) || queries.Load() != 2 {
		t.Fatalf("stale: %v after %d queries", err, queries.Load())
	}
	if _, err := p.ask(context.Background(), slow, now); !errors.Is(err, down) || queries.Load() != 2 {
		t.Fatalf("an error is fresh too: %v after %d queries", err, queries.Load())
	}

	// The asker's context ends: the one waiting asks again.
	clock = t0.Add(3 * HeightFresh)
	release = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := p.ask(ctx, slow, now); first <- err }()
	waitFor(t, func() bool { return queries.Load() == 3 })
	second := make(chan uint64, 1)
	go func() { h, _ := p.ask(context.Background(), slow, now); second <- h }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("asker cancelled: %v", err)
	}
	waitFor(t, func() bool { return queries.Load() == 4 })
	close(release)
	if h := <-second; h != 42 {
		t.Fatalf("the waiting probe's own query: %d", h)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
