package fabric

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// TestOrdererLeaderAway: the ordering service is a cluster — Raft of
// three orderers, or BFT of four — and its leader goes away while eight
// writers keep a ledger's transactions in flight. The cluster elects
// another leader (of BFT: changes its view) and the writes go on: no
// batch is refused or lost, and none waits out the commit-status timeout
// — a transaction the old leader took but never cut into a block is
// submitted again (awaitCommit) and committed once. The ledger holds
// every batch once, and an auditor reading the blocks gets its root and
// proofs. It stops an orderer, so it runs only with
// TDSC_FABRIC_PEER_AWAY=1 on a cluster (TDSC_FABRIC_ORDERERS=3, CI's
// three-organisation network; TDSC_FABRIC_CONSENSUS=bft, CI's BFT
// network).
func TestOrdererLeaderAway(t *testing.T) {
	p, _ := ordererCluster(t, "stops the ordering cluster's leader")
	ctx := context.Background()
	s, l := readyToWrite(t, p)
	leader := clusterLeader(t, p)
	h0, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	w := keepWriting(s, l, 8, "away")

	time.Sleep(2 * time.Second)
	before := w.count()
	script(t, p, "stop-orderer", leader)
	back := false
	t.Cleanup(func() {
		if !back {
			script(t, p, "start-orderer", leader)
		}
	})
	stopped := time.Now()
	time.Sleep(10 * time.Second)
	during := w.count() - before
	next := clusterLeader(t, p)
	werr := l.WritesReady(ctx)
	written, slowest := w.done(t)
	st := l.Stats()
	t.Logf("orderer %s (the leader) stopped: %d batches written before, %d in the 10 s after (orderer %s leads now); slowest batch %v; %d resent, %d retries, %d conflicts",
		leader, before, during, next, slowest.Round(time.Millisecond), st.Resent, st.Retries, st.Conflicts)
	if next == leader || during == 0 {
		t.Fatalf("orderer %s stopped at %s: leader now %s, %d batches written in the 10 s after", leader, stopped.Format(time.TimeOnly), next, during)
	}
	if werr != nil {
		t.Fatalf("all orderers but one run: WritesReady %v", werr)
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
	t.Logf("audit: blocks signed under %s by %d orderer identities", chain.BlockValidation, chain.BlockSigners)
	// Every orderer still running ordered the chain the audit read, and
	// its own copy of the last block carries signatures the audited
	// BlockValidation takes: each orderer signs the blocks it writes (of
	// Raft its own copy; of BFT a quorum's), so the orderers that did not
	// serve the peer's blocks are checked too — of orderers of an
	// organisation each, two organisations' identities at least. (Which
	// orderer's copies the peers hold depends on the orderer they pull
	// from, so the walk's own count of signers can be one.)
	rep, err := VerifyChain(ctx, l, l.cfg.Chaincode, nil)
	if err != nil {
		t.Fatal(err)
	}
	heads, err := CompareOrderers(ctx, l.ch, rep)
	if err != nil {
		t.Fatalf("the orderers against the audited chain: %v", err)
	}
	signers := map[string]bool{}
	for _, hd := range heads {
		switch {
		case hd.Address == ordererAddress(t, p, leader):
			if hd.Error == "" {
				t.Fatalf("orderer %s (stopped) answered: %+v", leader, hd)
			}
		case !hd.Agrees:
			t.Fatalf("orderer %s: %+v", hd.Address, hd)
		}
		for _, sg := range hd.Signers {
			signers[sg] = true
		}
	}
	if len(signers) < 2 {
		t.Fatalf("the orderers' copies of the last block are signed by %v; want two orderer identities at least", slices.Sorted(maps.Keys(signers)))
	}
	t.Logf("the orderers' copies of block %d signed by %v", rep.Blocks-1, slices.Sorted(maps.Keys(signers)))

	script(t, p, "start-orderer", leader)
	back = true
}

// TestOrdererQuorumAway: two of the cluster's orderers away (its leader
// among them). Of a Raft cluster of three, the third answers a Deliver
// request SERVICE_UNAVAILABLE — it runs but knows no leader and orders
// nothing; of a BFT cluster of four, the two left serve blocks as ever
// but are fewer than its quorum of three. Either way an idle ledger's
// WritesReady says writes wait, naming why, while reads stay ready; a
// batch submitted meanwhile waits and is written once one more orderer is
// back (a majority, or a quorum, again). It stops orderers, so it runs
// only with TDSC_FABRIC_PEER_AWAY=1 on a cluster (TDSC_FABRIC_ORDERERS=3,
// or TDSC_FABRIC_CONSENSUS=bft).
func TestOrdererQuorumAway(t *testing.T) {
	p, cluster := ordererCluster(t, "stops two of the ordering cluster's orderers")
	ctx := context.Background()
	s, l := readyToWrite(t, p)
	leader := clusterLeader(t, p)
	var others []string
	for k := range len(cluster.Answers) {
		if n := strconv.Itoa(k + 1); n != leader {
			others = append(others, n)
		}
	}
	away, remain := []string{leader, others[0]}, others[1:]
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
	why := ordererAddress(t, p, remain[0]) + ": it answered SERVICE_UNAVAILABLE"
	if cluster.Consensus == "BFT" {
		why = fmt.Sprintf("too few orderers of the channel answer: %d of the BFT cluster's %d, its quorum is %d (", len(remain), len(cluster.Answers), cluster.Need)
	}

	err := writesWait(l)
	if !errors.Is(err, ErrWritesWait) || !errors.Is(err, ErrNoOrderer) || !strings.Contains(err.Error(), why) {
		t.Fatalf("orderers %v away: WritesReady %v; want ErrWritesWait, ErrNoOrderer naming %q", away, err, why)
	}
	for _, n := range away {
		if a := ordererAddress(t, p, n) + ": "; cluster.Consensus == "BFT" && !strings.Contains(err.Error(), a) {
			t.Fatalf("orderers %v away: WritesReady %v does not name %s", away, err, a)
		}
	}
	t.Logf("WritesReady: %v", err)
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("reads while the cluster has no majority or quorum: Ready %v", err)
	}
	answers, err := AskOrderers(ctx, mustChannel(t, p, 0))
	if err != nil || answers.Err() == nil || !strings.Contains(answers.Err().Error(), why) {
		t.Fatalf("AskOrderers, orderers %v away: %+v, %v", away, answers, err)
	}

	waitsUntilBack(t, s, l, func() {
		script(t, p, "start-orderer", away[1])
		back = append(back, away[1])
	}, fmt.Sprintf("two of %d orderers away", len(cluster.Answers)))
	script(t, p, "start-orderer", away[0])
	back = append(back, away[0])
}

// writing is a ledger written by several writers at once, each submitting
// one batch after another (keepWriting) until done.
type writing struct {
	mu      sync.Mutex
	written []*ledger.Batch
	slowest time.Duration
	stop    chan struct{}
	wg      sync.WaitGroup
	failed  chan error
}

// keepWriting starts writers, each writing a dataset a batch to l (the
// datasets named after tag) until done.
func keepWriting(s *ledgertest.Space, l *Ledger, writers int, tag string) *writing {
	w := &writing{stop: make(chan struct{}), failed: make(chan error, writers)}
	for k := range writers {
		w.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				w.mu.Lock() // a Space is not safe for concurrent use
				b, err := s.Batch("p1", s.Dataset("p1", fmt.Sprintf("ds-%s-%d-%d", tag, k, i), policy.General, "traffic"))
				w.mu.Unlock()
				if err != nil {
					w.failed <- err
					return
				}
				t0 := time.Now()
				if _, err := l.Submit(context.Background(), b); err != nil {
					w.failed <- fmt.Errorf("writer %d, batch %d: %w", k, i, err)
					return
				}
				w.mu.Lock()
				w.written = append(w.written, b)
				w.slowest = max(w.slowest, time.Since(t0))
				w.mu.Unlock()
			}
		})
	}
	return w
}

// count is how many batches the writers have written.
func (w *writing) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.written)
}

// done stops the writers and returns the batches written and the slowest
// one's time; a writer's error fails the test.
func (w *writing) done(t *testing.T) ([]*ledger.Batch, time.Duration) {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	close(w.failed)
	for err := range w.failed {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return w.written, w.slowest
}

// ordererCluster is the network of a test that stops orderers
// (TDSC_FABRIC_PEER_AWAY=1) of a Raft cluster of three or a BFT cluster
// of four, and its orderers' answers (every one running); the test skips
// on any other.
func ordererCluster(t *testing.T, does string) (*Profile, OrdererAnswers) {
	p := changingNetwork(t, "TDSC_FABRIC_PEER_AWAY", does)
	ch := mustChannel(t, p, 0)
	answers, err := AskOrderers(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	switch n := len(answers.Answers); {
	case answers.Consensus == "etcdraft" && n == 3, answers.Consensus == "BFT" && n == 4:
	default:
		t.Skipf("needs a Raft cluster of three orderers (TDSC_FABRIC_ORDERERS=3) or a BFT cluster of four (TDSC_FABRIC_CONSENSUS=bft); the channel has %s of %d", answers.Consensus, n)
	}
	// Every orderer answering (one started again by the test before may
	// still be learning the leader).
	for deadline := time.Now().Add(30 * time.Second); ; {
		i := slices.IndexFunc(answers.Answers, func(a OrdererAnswer) bool { return a.Error != "" })
		if i < 0 && answers.Consensus == "BFT" {
			// And every one level (bftLevel): one started again (a test
			// before stopped or froze it) may trail until SmartBFT
			// synchronises it, and the quorum left will need it.
			bftLevel(t, p, ch, len(answers.Answers))
		}
		if i < 0 {
			return p, answers
		}
		if time.Now().After(deadline) {
			t.Fatalf("orderer %s before the test, for 30 s: %s", answers.Answers[i].Address, answers.Answers[i].Error)
		}
		time.Sleep(200 * time.Millisecond)
		if answers, err = AskOrderers(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
}

// clusterLeader asks the network script which orderer (1 to 3) leads the
// cluster (of Raft, its leader; of BFT, its view's), for 15 s at most (an
// election or a view change may be under way).
func clusterLeader(t *testing.T, p *Profile) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := scriptOutput(p, "raft-leader")
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
	if k > 3 { // scripts/fabric.sh: orderers 4 to 7 from PORT+50
		return net.JoinHostPort(host, strconv.Itoa(first+50+3*(k-4)))
	}
	return net.JoinHostPort(host, strconv.Itoa(first+3*(k-1)))
}
