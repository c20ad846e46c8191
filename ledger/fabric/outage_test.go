package fabric

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// TestOutage stops the whole network mid-run and starts it again on its
// ledger: an append during the outage fails with ErrUnavailable, the same
// batch appended after the restart commits once, and nothing is lost or
// doubled. It stops the network, so it runs only with TDSC_FABRIC_OUTAGE=1
// (scripts/fabric-test.sh runs it last).
func TestOutage(t *testing.T) {
	p := changingNetwork(t, "TDSC_FABRIC_OUTAGE", "stops the network")
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, func(c *Config) { c.Timeout = 3 * time.Second })
	p1, _ := s.Participant("p1", "CN-BJ")
	before := mustBatch(t, s, s.Authority(), p1)
	if _, err := l.Append(ctx, before); err != nil {
		t.Fatal(err)
	}
	during := mustBatch(t, s, "p1", s.Dataset("p1", "ds-1", policy.General, "traffic"), s.Dataset("p1", "ds-2", policy.General, "traffic"))

	script(t, p, "down")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			script(t, p, "restart")
		}
	})
	start := time.Now()
	_, err = l.Append(ctx, during)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with the network down: got %v, want ErrUnavailable", err)
	}
	t.Logf("append failed after %v: %v", time.Since(start).Round(time.Millisecond), err)

	script(t, p, "restart")
	restarted = true
	var r1 ledger.Receipt
	deadline := time.Now().Add(60 * time.Second)
	for {
		r1, err = l.Append(ctx, during)
		// Unavailable in any form a caller resubmits on (see TestCARotation).
		if err == nil || !errors.Is(err, ledger.ErrUnavailable) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("append after the restart: %v", err)
	}
	r2, err := l.Append(ctx, during)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r1, r2); diff != "" {
		t.Fatalf("the batch appended twice after the restart: receipts differ:\n%s", diff)
	}
	page, err := l.Query(ctx, ledger.Query{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{before.Records[0].ID, during.Records[0].ID, during.Records[1].ID}
	if diff := cmp.Diff(want, ids(page)); diff != "" {
		t.Fatalf("records after the outage (-want +got):\n%s", diff)
	}
}

// scriptOutput runs the profile's network script with args and returns
// what it printed (script, for one whose output does not matter).
func scriptOutput(p *Profile, args ...string) ([]byte, error) {
	cmd := exec.Command(p.Deploy, args...)
	cmd.Env = append(os.Environ(), "TDSC_FABRIC_DIR="+p.Dir)
	return cmd.Output()
}

func script(t *testing.T, p *Profile, args ...string) {
	t.Helper()
	if err := p.Script(context.Background(), args...); err != nil {
		t.Fatal(err)
	}
}

func ids(p ledger.Page) []string {
	var out []string
	for _, e := range p.Records {
		out = append(out, e.Record.ID)
	}
	return out
}
