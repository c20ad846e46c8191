package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestEndorseWatch: an endorsement that answers before the watch's slow
// mark costs no probe; one that waits past it has the peers probed, and
// the watch names the endorsers asked that cannot endorse once the probe
// found them, while enough others can; under a policy that cannot spare
// them it names none and ends when the endorsement does.
func TestEndorseWatch(t *testing.T) {
	type fake struct {
		mu       sync.Mutex
		probes   int
		silent   map[string]bool // found by the probe
		marked   map[string]bool
		canSpare bool
	}
	newWatch := func(f *fake) endorseWatch {
		return endorseWatch{slow: 20 * time.Millisecond, every: 5 * time.Millisecond,
			probe: func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.probes++
				for msp := range f.silent {
					f.marked[msp] = true
				}
			},
			cannot: func(msp string) bool { f.mu.Lock(); defer f.mu.Unlock(); return f.marked[msp] },
			spare:  func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.canSpare },
		}
	}
	// Answered at once: no probe, nothing named.
	f := &fake{silent: map[string]bool{"Org3MSP": true}, marked: map[string]bool{}, canSpare: true}
	done := make(chan struct{})
	close(done)
	if gone := newWatch(f).watch(done, []string{"Org1MSP", "Org3MSP"}); gone != nil || f.probes != 0 {
		t.Fatalf("an endorsement answered at once: named %v after %d probes; want none, no probe", gone, f.probes)
	}
	// Org3's peer does not answer: named after the probe, Org1 not.
	start := time.Now()
	if gone := newWatch(f).watch(make(chan struct{}), []string{"Org1MSP", "Org3MSP"}); fmt.Sprint(gone) != "[Org3MSP]" {
		t.Fatalf("with Org3's peer silent: named %v, want [Org3MSP]", gone)
	}
	if took := time.Since(start); took < 20*time.Millisecond || f.probes != 1 {
		t.Fatalf("named after %v and %d probes; want after the slow mark (20ms), one probe", took, f.probes)
	}
	// Every endorser answers: the watch probes on until the endorsement ends.
	f = &fake{silent: map[string]bool{}, marked: map[string]bool{}, canSpare: true}
	done = make(chan struct{})
	time.AfterFunc(60*time.Millisecond, func() { close(done) })
	if gone := newWatch(f).watch(done, []string{"Org1MSP", "Org2MSP"}); gone != nil || f.probes < 2 {
		t.Fatalf("every peer answering: named %v after %d probes; want none, a probe every 5ms after 20ms", gone, f.probes)
	}
	// Org2's peer silent but the policy cannot spare it: nothing named,
	// the endorsement waits.
	f = &fake{silent: map[string]bool{"Org2MSP": true}, marked: map[string]bool{}}
	done = make(chan struct{})
	time.AfterFunc(60*time.Millisecond, func() { close(done) })
	if gone := newWatch(f).watch(done, []string{"Org1MSP", "Org2MSP"}); gone != nil {
		t.Fatalf("a silent peer the policy cannot spare: named %v, want none", gone)
	}
	// Marked before the watch, by another transaction's probe: named too.
	f = &fake{silent: map[string]bool{}, marked: map[string]bool{"Org2MSP": true}, canSpare: true}
	if gone := newWatch(f).watch(make(chan struct{}), []string{"Org1MSP", "Org2MSP"}); fmt.Sprint(gone) != "[Org2MSP]" {
		t.Fatalf("an endorser marked already: named %v, want [Org2MSP]", gone)
	}
	if e := errEndorsersGone([]string{"Org2MSP", "Org3MSP"}).Error(); e != "gave the endorsement up: Org2MSP, Org3MSP cannot endorse now" {
		t.Fatalf("error: %q", e)
	}
}

// TestAnswer: a node's answer within the bound is its own; one that waits
// past it, whose server ended the call at the bound (a DeadlineExceeded
// status: the bound travels with the call), or whose connection failed at
// the bound (its own deadline timer), did not answer; the caller's
// context ending is the caller's.
func TestAnswer(t *testing.T) {
	const within = 20 * time.Millisecond
	refused := errors.New("refused")
	for _, c := range []struct {
		name string
		ctx  func() context.Context
		ask  func(context.Context) error
		want error
	}{
		{"answers", context.Background, func(context.Context) error { return nil }, nil},
		{"refuses", context.Background, func(context.Context) error { return refused }, refused},
		{"hangs", context.Background, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, errNoAnswer},
		{"server ended the call at the bound", context.Background,
			func(context.Context) error {
				return status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM with error code: CANCEL")
			}, errNoAnswer},
		{"its connection's deadline fired first", context.Background, func(ctx context.Context) error {
			d, _ := ctx.Deadline()
			time.Sleep(time.Until(d))
			return status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: context deadline exceeded"`)
		}, errNoAnswer},
		{"caller gave up", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := answerBy(c.ctx(), within, c.ask); !errors.Is(err, c.want) && err != c.want {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
