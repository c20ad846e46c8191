package connector_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
)

// TestSuspensionSeenWithinThePoll: a provider that holds its consumer's
// directory entry in its cache refuses the consumer's next request once the
// authority suspends it, within the node's directory poll (1 s) rather than
// the registry's TTL (30 s), and serves it again once it is reinstated.
func TestSuspensionSeenWithinThePoll(t *testing.T) {
	s, prov, cons := twoNodes(t)
	provider(t, prov, false)
	ctx := context.Background()
	if _, err := cons.RemoteCatalog(ctx, prov.url(), ""); err != nil {
		t.Fatal(err) // the provider now caches the consumer's entry
	}
	setStatus := func(status string) time.Time {
		t.Helper()
		r := s.sp.Suspend(cons.id)
		r.Participant.Status = status
		b, err := s.sp.Batch(s.sp.Authority(), r)
		if err == nil {
			_, err = s.led.Append(ctx, b)
		}
		if err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	// within waits until the catalogue request gives what ok accepts, for
	// less than the registry's TTL.
	within := func(what string, ok func(error) bool) {
		t.Helper()
		start := time.Now()
		for {
			_, err := cons.RemoteCatalog(ctx, prov.url(), "")
			if ok(err) {
				t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: not within 5 s (the registry's TTL is 30 s): last %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	setStatus(identity.StatusSuspended)
	within("suspension refused", func(err error) bool { return err != nil && strings.Contains(err.Error(), "suspended") })
	setStatus(identity.StatusActive)
	within("reinstatement served", func(err error) bool { return err == nil })
}
