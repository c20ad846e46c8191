package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestFollowDirectory: every change is dropped once, across full pages, in
// the first poll; later polls continue from where the last ended; a failed
// read is tried again at the next poll; a reader that makes no progress
// does not hold the loop.
func TestFollowDirectory(t *testing.T) {
	var mu sync.Mutex
	changes := make([]DirectoryChange, 0, MaxPageSize+3)
	for i := range MaxPageSize + 3 {
		changes = append(changes, DirectoryChange{Participant: fmt.Sprintf("p%d", i), Index: uint64(10 + 2*i)})
	}
	failNext := false
	var sinces []uint64
	read := func(_ context.Context, since uint64, limit int) (DirectoryChanges, error) {
		mu.Lock()
		defer mu.Unlock()
		sinces = append(sinces, since)
		if failNext {
			failNext = false
			return DirectoryChanges{}, errors.New("ledger away")
		}
		out := DirectoryChanges{Changes: []DirectoryChange{}, Next: since}
		for _, c := range changes {
			if c.Index >= since && len(out.Changes) < limit {
				out.Changes = append(out.Changes, c)
				out.Next = c.Index + 1
			}
		}
		return out, nil
	}
	dropped := map[string]int{}
	drop := func(p string) { mu.Lock(); dropped[p]++; mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		FollowDirectory(ctx, read, 20*time.Millisecond, drop, slog.New(slog.DiscardHandler))
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	waitFor("the first poll's two pages", func() bool { return len(dropped) == MaxPageSize+3 })
	// A new change, after a failed read: dropped at a later poll, once.
	mu.Lock()
	failNext = true
	changes = append(changes, DirectoryChange{Participant: "p0", Index: 5000})
	mu.Unlock()
	waitFor("the change after the failure", func() bool { return dropped["p0"] == 2 })
	cancel()
	<-done
	for p, n := range dropped {
		if want := map[bool]int{true: 2, false: 1}[p == "p0"]; n != want {
			t.Errorf("%s dropped %d times, want %d", p, n, want)
		}
	}
	if sinces[0] != 0 || sinces[1] != changes[MaxPageSize-1].Index+1 {
		t.Errorf("reads from %v, want 0 and then past the first page", sinces[:2])
	}

	// A reader whose pages are full but never move on ends each poll.
	stuck := func(_ context.Context, since uint64, limit int) (DirectoryChanges, error) {
		return DirectoryChanges{Changes: changes[:MaxPageSize], Next: since}, nil
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		FollowDirectory(ctx, stuck, 20*time.Millisecond, func(string) {}, slog.New(slog.DiscardHandler))
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("a reader making no progress held the loop past its context")
	}
}
