package fabric

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// TestRaftLeaderAway: the ordering service is a Raft cluster of three
// orderers, and its leader goes away while eight writers keep a ledger's
// transactions in flight. The cluster elects another leader and the
// writes go on: no batch is refused or lost, and none waits out the
// commit-status timeout — a transaction the old leader took but never
// cut into a block is submitted again (awaitCommit) and committed once.
// The ledger holds every batch once, and an auditor reading the blocks
// gets its root and proofs. It stops an orderer, so it runs only with
// TDSC_FABRIC_PEER_AWAY=1 on a cluster of three (TDSC_FABRIC_ORDERERS=3;
// CI's three-organisation network).
func TestRaftLeaderAway(t *testing.T) {
	p := raftOfThree(t, "stops the Raft cluster's leader")
	ctx := context.Background()
	s, l := readyToWrite(t, p)
	leader := raftLeader(t, p)
	h0, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const writers = 8
	var (
		mu      sync.Mutex
		written []*ledger.Batch
		slowest time.Duration
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		failed  = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock() // a Space is not safe for concurrent use
				b, err := s.Batch("p1", s.Dataset("p1", fmt.Sprintf("ds-%d-%d", w, i), policy.General, "traffic"))
				mu.Unlock()
				if err != nil {
					failed <- err
					return
				}
				t0 := time.Now()
				if _, err := l.Submit(ctx, b); err != nil {
					failed <- fmt.Errorf("writer %d, batch %d: %w", w, i, err)
					return
				}
				mu.Lock()
				written = append(written, b)
				slowest = max(slowest, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(written) }

	time.Sleep(2 * time.Second)
	before := count()
	script(t, p, "stop-orderer", leader)
	back := false
	t.Cleanup(func() {
		if !back {
			script(t, p, "start-orderer", leader)
		}
	})
	stopped := time.Now()
	time.Sleep(10 * time.Second)
	during := count() - before
	next := raftLeader(t, p)
	werr := l.WritesReady(ctx)
	close(stop)
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	st := l.Stats()
	t.Logf("orderer %s (the leader) stopped: %d batches written before, %d in the 10 s after (orderer %s leads now); slowest batch %v; %d resent, %d retries, %d conflicts",
		leader, before, during, next, slowest.Round(time.Millisecond), st.Resent, st.Retries, st.Conflicts)
	if next == leader || during == 0 {
		t.Fatalf("orderer %s stopped at %s: leader now %s, %d batches written in the 10 s after", leader, stopped.Format(time.TimeOnly), next, during)
	}
	if werr != nil {
		t.Fatalf("two of three orderers run: WritesReady %v", werr)
	}
	if slowest >= l.cfg.Timeout/2 {
		t.Fatalf("a batch took %v: it waited for a commit status that would not come", slowest)
	}

	// Every batch once: the ledger's size, each record, and the audit.
	records := uint64(0)
	for _, b := range written {
		records += uint64(len(b.Records))
		for _, r := range b.Records {
			if _, err := l.Record(ctx, r.ID); err != nil {
				t.Fatalf("record %s of a batch answered: %v", r.ID, err)
			}
		}
	}
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != h0.Size+records {
		t.Fatalf("the ledger holds %d records; %d and %d were written", h.Size, h0.Size, records)
	}
	chain, _ := audited(t, l)
	sameAsService(t, l, chain, written)
	// The blocks before the stop carry the old leader's signature, those
	// after the new one's: the audit counted both (and, of orderers of an
	// organisation each, both organisations) under BlockValidation.
	if chain.BlockSigners < 2 {
		t.Fatalf("the audit counted %d orderer identities signing blocks; the leader changed from %s to %s", chain.BlockSigners, leader, next)
	}
	t.Logf("audit: blocks signed under %s by %d orderer identities", chain.BlockValidation, chain.BlockSigners)

	script(t, p, "start-orderer", leader)
	back = true
}

// TestRaftMajorityAway: two of the Raft cluster's three orderers away
// (its leader among them), the third answers a Deliver request
// SERVICE_UNAVAILABLE — it runs but knows no leader and orders nothing —
// so an idle ledger's WritesReady says writes wait, naming it and why,
// while reads stay ready; a batch submitted meanwhile waits and is
// written once one more orderer is back (a majority again). It stops
// orderers, so it runs only with TDSC_FABRIC_PEER_AWAY=1 on a cluster of
// three (TDSC_FABRIC_ORDERERS=3).
func TestRaftMajorityAway(t *testing.T) {
	p := raftOfThree(t, "stops two of the Raft cluster's three orderers")
	ctx := context.Background()
	s, l := readyToWrite(t, p)
	leader := raftLeader(t, p)
	others := slices.DeleteFunc([]string{"1", "2", "3"}, func(n string) bool { return n == leader })
	away, remains := []string{leader, others[0]}, others[1]
	for _, n := range away {
		script(t, p, "stop-orderer", n)
	}
	var back []string
	t.Cleanup(func() {
		for _, n := range away {
			if !slices.Contains(back, n) {
				script(t, p, "start-orderer", n)
			}
		}
	})
	why := ordererAddress(t, p, remains) + ": it answered SERVICE_UNAVAILABLE"

	err := writesWait(l)
	if !errors.Is(err, ErrWritesWait) || !errors.Is(err, ErrNoOrderer) || !strings.Contains(err.Error(), why) {
		t.Fatalf("orderers %v away: WritesReady %v; want ErrWritesWait, ErrNoOrderer naming %q", away, err, why)
	}
	t.Logf("WritesReady: %v", err)
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("reads while the cluster has no majority: Ready %v", err)
	}
	answers, err := AskOrderers(ctx, mustChannel(t, p, 0))
	if err != nil || NoOrderer(answers) == nil || !slices.ContainsFunc(answers, func(a OrdererAnswer) bool { return strings.Contains(a.Address+": "+a.Error, why) }) {
		t.Fatalf("AskOrderers, orderers %v away: %+v, %v", away, answers, err)
	}

	waitsUntilBack(t, s, l, func() {
		script(t, p, "start-orderer", away[1])
		back = append(back, away[1])
	}, "two of three orderers away")
	script(t, p, "start-orderer", away[0])
	back = append(back, away[0])
}

// raftOfThree is the network of a test that stops orderers
// (TDSC_FABRIC_PEER_AWAY=1) of a Raft cluster of three; the test skips on
// any other.
func raftOfThree(t *testing.T, does string) *Profile {
	p := changingNetwork(t, "TDSC_FABRIC_PEER_AWAY", does)
	answers, err := AskOrderers(context.Background(), mustChannel(t, p, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 3 {
		t.Skipf("needs a Raft cluster of three orderers (TDSC_FABRIC_ORDERERS=3); the channel has %d", len(answers))
	}
	return p
}

// raftLeader asks the network script which orderer (1 to 3) leads the
// Raft cluster, for 15 s at most (an election may be under way).
func raftLeader(t *testing.T, p *Profile) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cmd := exec.Command(p.Deploy, "raft-leader")
		cmd.Env = append(os.Environ(), "TDSC_FABRIC_DIR="+p.Dir)
		out, err := cmd.Output()
		if err == nil {
			return strings.TrimSpace(string(out))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s raft-leader: %v", p.Deploy, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ordererAddress is orderer n's address: the network script gives
// orderer n the port of the first (the profile's) + 3(n-1).
func ordererAddress(t *testing.T, p *Profile, n string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(p.Orderer.Address)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := strconv.Atoi(port)
	k, _ := strconv.Atoi(n)
	return net.JoinHostPort(host, strconv.Itoa(first+3*(k-1)))
}
