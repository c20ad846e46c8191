package fabric

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
)

// TestAwaitCommit: a status that comes in time sends nothing again; one
// that does not has the transaction sent again each period until it
// comes (as the copy sent again is ordered), one submission at a time
// (a hanging one is not doubled, nor waited for once the status comes);
// the status call's error ends the wait.
func TestAwaitCommit(t *testing.T) {
	const every = 20 * time.Millisecond
	ok := &client.Status{Successful: true, BlockNumber: 7}
	never := func(n int, err error) { t.Errorf("sent again (%d, %v) though the status came at once", n, err) }

	t.Run("in time", func(t *testing.T) {
		st, err := awaitCommit(context.Background(), every,
			func(context.Context) (*client.Status, error) { return ok, nil },
			func(context.Context) error { t.Error("resubmitted"); return nil }, never)
		if err != nil || st != ok {
			t.Fatalf("got %v, %v", st, err)
		}
	})

	t.Run("lost, then ordered when sent again", func(t *testing.T) {
		var sends atomic.Int32
		ordered := make(chan struct{})
		var told []int
		st, err := awaitCommit(context.Background(), every,
			func(ctx context.Context) (*client.Status, error) {
				select {
				case <-ordered:
					return ok, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
			func(context.Context) error {
				switch sends.Add(1) {
				case 1:
					return errors.New("no leader") // the cluster still electing
				case 2:
					close(ordered)
				}
				return nil
			},
			func(n int, err error) { told = append(told, n) })
		if err != nil || st != ok {
			t.Fatalf("got %v, %v", st, err)
		}
		if n := sends.Load(); n != 2 {
			t.Fatalf("sent again %d times, want 2 (the first refused)", n)
		}
		if len(told) < 1 || told[0] != 1 {
			t.Fatalf("told of %v", told)
		}
	})

	t.Run("one submission at a time", func(t *testing.T) {
		var sends atomic.Int32
		hang := make(chan struct{})
		defer close(hang)
		st, err := awaitCommit(context.Background(), every,
			func(context.Context) (*client.Status, error) {
				time.Sleep(10 * every)
				return ok, nil
			},
			func(context.Context) error {
				sends.Add(1)
				<-hang
				return nil
			},
			func(n int, err error) { t.Errorf("told of a submission that never ended (%d, %v)", n, err) })
		if err != nil || st != ok {
			t.Fatalf("got %v, %v", st, err)
		}
		if n := sends.Load(); n != 1 {
			t.Fatalf("%d submissions while the first hung, want 1", n)
		}
	})

	t.Run("the status call fails", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*every)
		defer cancel()
		_, err := awaitCommit(ctx, every,
			func(ctx context.Context) (*client.Status, error) { <-ctx.Done(); return nil, ctx.Err() },
			func(context.Context) error { return nil }, func(int, error) {})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the status call's error", err)
		}
	})
}
