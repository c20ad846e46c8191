package fabric

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tdsc/tdsc/policy"
)

// TestOnePeerAway: under a policy that needs only some of the
// organisations (OutOf(2, ...) of three), the space writes on while one
// organisation's peer is down: its block stream breaks, the ledger marks
// it away and asks the others, and no receipt waits for it; once the peer
// is back and has a block, it endorses its share again. It stops a peer,
// so it runs only with TDSC_FABRIC_PEER_AWAY=1 (CI runs it on the
// three-organisation majority network).
func TestOnePeerAway(t *testing.T) {
	p := changingNetwork(t, "TDSC_FABRIC_PEER_AWAY", "stops one organisation's peer")
	if len(p.Orgs) < 3 || p.EndorsersAsked() == len(p.Endorsers) {
		t.Skip("needs a policy that needs only some of three or more organisations (TDSC_FABRIC_ORGS=3 TDSC_FABRIC_POLICY=majority)")
	}
	ctx := context.Background()
	s, l := registered(t, p)
	ch := mustChannel(t, p, 0)
	gone := p.Orgs[len(p.Orgs)-1].MSPID
	n := 0
	appendOne := func() []string { // appends a batch, returns its endorsers
		t.Helper()
		n++
		start := time.Now()
		r, err := l.Submit(ctx, mustBatch(t, s, "p1", s.Dataset("p1", fmt.Sprintf("ds-%d", n), policy.General, "traffic")))
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		orgs := endorsedBy(t, ch, l.cfg.Chaincode, r)
		t.Logf("batch %d: endorsed by %v in %v", n, orgs, time.Since(start).Round(time.Millisecond))
		return orgs
	}
	appendOne()

	org := fmt.Sprint(len(p.Orgs))
	script(t, p, "stop-peer", org)
	back := false
	t.Cleanup(func() {
		if !back {
			script(t, p, "start-peer", org)
		}
	})
	// The peer's stream breaks when it stops; the first batches may still
	// be tried on it and retried on another.
	deadline := time.Now().Add(10 * time.Second)
	for !l.heights.isAway(gone) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's peer stopped 10 s ago and is not marked away", gone)
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	for range 2 * len(p.Endorsers) {
		if orgs := appendOne(); len(orgs) != p.EndorsersAsked() || slices.Contains(orgs, gone) {
			t.Fatalf("with %s's peer away: endorsed by %v, want %d others", gone, orgs, p.EndorsersAsked())
		}
	}
	if took := time.Since(start); took > time.Duration(2*len(p.Endorsers))*MaxEndorserLag {
		t.Errorf("%d batches with a peer away took %v: receipts waited for it", 2*len(p.Endorsers), took)
	}

	script(t, p, "start-peer", org)
	back = true
	deadline = time.Now().Add(60 * time.Second)
	for {
		if slices.Contains(appendOne(), gone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's peer back for 60 s and endorsed nothing", gone)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The peer back holds every block (it caught up from the orderer),
	// so the next tests find the network whole.
	h, err := ch.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !l.heights.wait(ctx, h-1, 30*time.Second) || l.heights.isAway(gone) {
		t.Fatalf("%s's peer does not hold block %d 30 s after it endorsed again", gone, h-1)
	}
}
