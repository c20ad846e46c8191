package fabric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsc/tdsc/chaincode"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/fabric/fabrictest"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// The Fabric tier runs against a real local network; scripts/fabric-test.sh
// starts one, runs these tests with TDSC_FABRIC=1 and stops it.

var seq atomic.Int64

// network returns the running network's profile, or skips the test
// (fabrictest.Profile).
func network(t testing.TB) *Profile {
	t.Helper()
	return loadNetwork(t, fabrictest.Profile(t))
}

// changingNetwork is network for a test that stops or changes the
// network (fabrictest.Changing): it runs only with the environment
// variable env set to 1, else it skips, saying what the test does.
func changingNetwork(t *testing.T, env, does string) *Profile {
	t.Helper()
	return loadNetwork(t, fabrictest.Changing(t, env, does))
}

func loadNetwork(t testing.TB, path string) *Profile {
	t.Helper()
	p, err := LoadProfile(path)
	if err != nil {
		t.Fatalf("%v (is the network up? scripts/fabric.sh up)", err)
	}
	return p
}

// deploy defines a fresh chaincode (a fresh, empty world state) for one test.
func deploy(t testing.TB, p *Profile) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", time.Now().Unix()%100000, seq.Add(1))
	start := time.Now()
	if err := Deploy(context.Background(), p, name); err != nil {
		t.Fatal(err)
	}
	t.Logf("chaincode %s deployed in %v", name, time.Since(start).Round(time.Millisecond))
	return name
}

// open opens a ledger on a fresh chaincode initialised with g.
func open(t testing.TB, p *Profile, g ledger.Genesis, mod func(*Config)) *Ledger {
	t.Helper()
	cfg := Config{Profile: p, Chaincode: deploy(t, p)}
	if os.Getenv("TDSC_TEST_LOG") != "" { // the ledger's log on stderr, to see a test's retries
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx := context.Background()
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	if err := l.Init(ctx, g); err != nil {
		t.Fatalf("init: %v", err)
	}
	return l
}

func TestConformance(t *testing.T) {
	p := network(t)
	ledgertest.Run(t, func(t *testing.T, g ledger.Genesis) (ledgertest.Backend, string) {
		l := open(t, p, g, nil)
		return l, l.VerifierKey()
	})
}

// TestVerifyFromState re-verifies a space with ledger/verify from what the
// chaincode serves (Batches, Checkpoints), as the ledger service offers it.
func TestVerifyFromState(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, nil)
	w, err := ledgertest.NewWorkload(s, 200, 9, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range w.Setup {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range w.Streams {
		for _, b := range st {
			if _, err := l.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := verify.Ledger(ctx, StateSource{l}, l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != uint64(w.Records) || rep.Checkpoints == 0 {
		t.Fatalf("report %+v, want %d records and checkpoints", rep, w.Records)
	}
}

// TestEvents: every committed batch arrives as a chaincode event with its
// receipt, transaction and block.
func TestEvents(t *testing.T) {
	p := network(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, nil)
	height, err := l.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events, err := l.Events(ctx, height)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := s.Participant("p1", "CN-BJ")
	b1, _ := s.Batch(s.Authority(), p1)
	b2, _ := s.Batch("p1", s.Dataset("p1", "ds-1", policy.General, "traffic"))
	var want []Receipt
	for _, b := range []*ledger.Batch{b1, b2} {
		r, err := l.Submit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	for _, w := range want {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if e.TxID != w.TxID || e.Block != w.Block || len(e.Batches) != 1 || e.Batches[0].BatchRoot != w.BatchRoot || e.TreeSize != w.TreeSize {
				t.Fatalf("event %+v, want receipt %+v", e, w)
			}
		case <-ctx.Done():
			t.Fatal("no event")
		}
	}
}

// TestInitNeedsAdmin: a client identity cannot squat a space's chaincode
// with a genesis of its own; only an org admin may initialise it.
func TestInitNeedsAdmin(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	userOnly := *p
	userOnly.Orgs = append([]Org(nil), p.Orgs...)
	userOnly.Orgs[0].AdminCert, userOnly.Orgs[0].AdminKey = "", ""
	l, err := Open(ctx, Config{Profile: &userOnly, Chaincode: deploy(t, p)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	err = l.Init(ctx, s.Genesis)
	var re *ledger.RuleError
	if !errors.As(err, &re) || re.Rule != chaincode.RuleInitByAdmin {
		t.Fatalf("init by a client identity: got %v, want refusal by %s", err, chaincode.RuleInitByAdmin)
	}
}

// TestBatchProofs: each record proves its place in the batch its writer
// signed, and the proof names the receipt's transaction and block.
func TestBatchProofs(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, nil)
	var recs []ledger.Record
	for i := range 5 {
		r, err := s.Participant(fmt.Sprintf("p%d", i), "CN-BJ")
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	b, err := s.Batch(s.Authority(), recs...)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Submit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		bp, err := l.BatchProof(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bp.Offset != uint64(i) || bp.Count != 5 || bp.TxID != rc.TxID || bp.Block != rc.Block || bp.Entry.BatchRoot != b.Root {
			t.Fatalf("record %s: proof %+v, want offset %d of 5 in tx %s block %d", r.ID, bp, i, rc.TxID, rc.Block)
		}
		if err := bp.Verify(suite.Intl); err != nil {
			t.Fatalf("record %s: %v", r.ID, err)
		}
		bp.Entry.Record.Participant.Region = "CN-SH"
		if bp.Verify(suite.Intl) == nil {
			t.Fatalf("record %s: proof verifies for an altered record", r.ID)
		}
	}
}
