package embedded_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// open makes a store in a temp dir, closed at cleanup.
func open(t *testing.T, dir string, g ledger.Genesis) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(context.Background(), dir, g, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T, g ledger.Genesis) (ledgertest.Backend, string) {
		s := open(t, t.TempDir(), g)
		return s, s.VerifierKey()
	})
}

// TestReopen checks state is rebuilt from the records on reopen, and that a
// directory refuses another genesis.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := embedded.Open(ctx, dir, sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := sp.Participant("p1", "CN-BJ")
	p2, _ := sp.Participant("p2", "CN-SH")
	ag, _ := sp.Agreement("p1", "p2", "ds-1", "ag-1", &ledger.Terms{MaxUses: 1})
	t1 := sp.Transfer("p1", "p2", "ag-1", "ds-1", "t-1")
	for _, bt := range []struct {
		w    string
		recs []ledger.Record
	}{{sp.Authority(), []ledger.Record{p1, p2}}, {"p1", []ledger.Record{sp.Dataset("p1", "ds-1", policy.General, "traffic"), ag, t1}}} {
		b, _ := sp.Batch(bt.w, bt.recs...)
		if _, err := s.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	cp1, _ := s.Checkpoint(ctx)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	other, _ := ledgertest.NewSpace()
	if _, err := embedded.Open(ctx, dir, other.Genesis, embedded.Options{}); !errors.Is(err, ledger.ErrGenesisMismatch) {
		t.Fatalf("other genesis: got %v, want ErrGenesisMismatch", err)
	}
	s = open(t, dir, sp.Genesis)
	if cp2, _ := s.Checkpoint(ctx); string(cp1) != string(cp2) {
		t.Fatal("checkpoint changed across reopen")
	}
	b, _ := sp.Batch("p1", sp.Transfer("p1", "p2", "ag-1", "ds-1", "t-2"))
	var re *ledger.RuleError
	if _, err := s.Append(ctx, b); !errors.As(err, &re) || re.Rule != "transfer.agreement-max-uses" {
		t.Fatalf("second use after reopen: got %v, want transfer.agreement-max-uses", err)
	}
	b, _ = sp.Batch("p2", sp.Completed("p2", "t-1", 10))
	if rc, err := s.Append(ctx, b); err != nil || rc.FirstIndex != 5 {
		t.Fatalf("completion after reopen: %+v %v", rc, err)
	}
}

// TestCloseWhileAppending closes the store under concurrent appends: every
// Append returns (a receipt or ErrClosed), none hangs.
func TestCloseWhileAppending(t *testing.T) {
	ctx := context.Background()
	sp, _ := ledgertest.NewSpace()
	w, err := ledgertest.NewWorkload(sp, 4000, 100, 4)
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Open(ctx, t.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range w.Setup {
		if _, err := s.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, len(w.Streams))
	for _, stream := range w.Streams {
		go func(bs []*ledger.Batch) {
			for _, b := range bs {
				if _, err := s.Append(ctx, b); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(stream)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range w.Streams {
		if err := <-done; err != nil && !errors.Is(err, embedded.ErrClosed) {
			t.Fatalf("append during close: %v", err)
		}
	}
}
