package fabric

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// TestOnePeerAway: under a policy that needs only some of the
// organisations (OutOf(2, ...) of three), the space writes on while one
// organisation's peer is down: its block stream breaks, the ledger marks
// it away and asks the others, and no receipt waits for it; once the peer
// is back and has a block, it endorses its share again. A space created
// while the peer is away is defined by the others and writes; the peer
// back approves its chaincode and endorses there too. It stops a peer,
// so it runs only with TDSC_FABRIC_PEER_AWAY=1 (CI runs it on the
// three-organisation majority network).
func TestOnePeerAway(t *testing.T) {
	p := someOfThree(t, "stops one organisation's peer")
	ctx := context.Background()
	l, ch, appendOne := spaceWritten(t, p)

	gone, bringBack := takeAway(t, p, "stop-peer", "start-peer")
	// The peer's stream breaks when it stops; the first batches may still
	// be tried on it and retried on another.
	deadline := time.Now().Add(10 * time.Second)
	for !l.heights.isAway(gone) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's peer stopped 10 s ago and is not marked away", gone)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Enough others endorse: ready to write, one fewer able.
	if err := l.WritesReady(ctx); err != nil || l.Stats().EndorsersAble != len(p.Endorsers)-1 {
		t.Fatalf("with %s's peer away: WritesReady %v, %d able; want ready, %d able", gone, err, l.Stats().EndorsersAble, len(p.Endorsers)-1)
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

	// A space created while the peer is away: a majority of the
	// organisations defines its chaincode (the one away approves when
	// back), its Init does not wait for the peer, and it writes.
	s2, l2 := registered(t, p)
	appendNew := appender(t, s2, l2, ch)
	for range len(p.Endorsers) {
		if orgs := appendNew(); slices.Contains(orgs, gone) {
			t.Fatalf("a space created with %s's peer away: endorsed by %v", gone, orgs)
		}
	}

	bringBack()
	endorsesAgain(t, l, ch, gone, appendOne, appendNew)
}

// TestOnePeerFrozen: under a policy that needs only some of the
// organisations, the space writes on while one organisation's peer hangs
// (SIGSTOP: its connections stay open, its block stream goes quiet, it
// answers nothing). Without a watch, every proposal whose turn names it
// would wait for the endorse timeout (a minute); the endorsement that
// waits past slowEndorsement has the peers probed, the silent one is
// marked unable ("did not answer"), the endorsement is given up and
// retried with the others, and the next batches do not ask it. WritesReady
// says ready (enough can) and AskEndorsers names it; once it runs again it
// is found back and endorses its share. It freezes a peer, so it runs
// only with TDSC_FABRIC_PEER_AWAY=1 (CI's three-organisation majority
// network).
func TestOnePeerFrozen(t *testing.T) {
	p := someOfThree(t, "freezes one organisation's peer")
	ctx := context.Background()
	l, ch, appendOne := spaceWritten(t, p)

	gone, thaw := takeAway(t, p, "freeze-peer", "thaw-peer")
	start := time.Now()
	n := 2 * len(p.Endorsers)
	for range n {
		if orgs := appendOne(); len(orgs) != p.EndorsersAsked() || slices.Contains(orgs, gone) {
			t.Fatalf("with %s's peer frozen: endorsed by %v, want %d others", gone, orgs, p.EndorsersAsked())
		}
	}
	// One endorsement waits for the watch (slowEndorsement, then a probe
	// of answerWithin), one receipt for the frozen peer's block
	// (MaxEndorserLag); the rest go at the others' pace.
	if took, most := time.Since(start), slowEndorsement+answerWithin+MaxEndorserLag+time.Duration(n)*time.Second; took > most {
		t.Fatalf("%d batches with %s's peer frozen took %v, more than %v: proposals waited for it", n, gone, took, most)
	}
	// Marked by the watch's probe (or by a proposal the gateway gave up on
	// it, if that came first).
	if why, ok := l.unable.why(gone); !ok {
		t.Fatalf("%s's frozen peer is not marked unable", gone)
	} else {
		t.Logf("%s marked unable: %s", gone, firstLine(why))
	}
	if err := l.WritesReady(ctx); err != nil || l.Stats().EndorsersAble != len(p.Endorsers)-1 {
		t.Fatalf("with %s's peer frozen: WritesReady %v, %d able; want ready, %d able", gone, err, l.Stats().EndorsersAble, len(p.Endorsers)-1)
	}
	cannot := AskEndorsers(ctx, ch, p, l.cfg.Chaincode)
	if want := map[string]string{gone: "its peer cannot endorse: " + errNoAnswer.Error()}; !maps.Equal(cannot, want) {
		t.Fatalf("AskEndorsers with %s's peer frozen: %v, want %v", gone, cannot, want)
	}

	thaw()
	endorsesAgain(t, l, ch, gone, appendOne)
	if l.unable.is(gone) {
		t.Fatalf("%s endorsed and is still marked unable", gone)
	}
}

// spaceWritten opens a fresh space on p and writes a batch: its ledger, a
// channel, and its appender.
func spaceWritten(t *testing.T, p *Profile) (*Ledger, *Channel, func() []string) {
	t.Helper()
	s, l := registered(t, p)
	ch := mustChannel(t, p, 0)
	appendOne := appender(t, s, l, ch)
	appendOne()
	return l, ch, appendOne
}

// endorsesAgain waits, for each appender, until gone (back) endorses a
// batch it writes, for 60 s at most; then until gone's peer holds every
// block (it caught up from the orderer), so the next tests find the
// network whole.
func endorsesAgain(t *testing.T, l *Ledger, ch *Channel, gone string, appenders ...func() []string) {
	t.Helper()
	for _, appendOne := range appenders {
		deadline := time.Now().Add(60 * time.Second)
		for !slices.Contains(appendOne(), gone) {
			if time.Now().After(deadline) {
				t.Fatalf("%s back for 60 s and endorsed nothing", gone)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ctx := context.Background()
	h, err := ch.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !l.heights.wait(ctx, h-1, 30*time.Second) || l.heights.isAway(gone) {
		t.Fatalf("%s's peer does not hold block %d 30 s after it endorsed again", gone, h-1)
	}
}

// someOfThree is the network of a test that stops part of it
// (TDSC_FABRIC_PEER_AWAY=1) under a policy that needs only some of three or
// more organisations; the test skips on any other.
func someOfThree(t *testing.T, does string) *Profile {
	p := changingNetwork(t, "TDSC_FABRIC_PEER_AWAY", does)
	if len(p.Orgs) < 3 || p.EndorsersAsked() == len(p.Endorsers) {
		t.Skip("needs a policy that needs only some of three or more organisations (TDSC_FABRIC_ORGS=3 TDSC_FABRIC_POLICY=majority)")
	}
	return p
}

// takeAway stops (or freezes) the last organisation's peer or chaincode
// service (scripts/fabric.sh stop, as "stop-peer" or "freeze-peer") and
// returns its MSP ID and a function that starts it again (start, as
// "start-peer" or "thaw-peer"); if the test does not call it, its cleanup
// does.
func takeAway(t *testing.T, p *Profile, stop, start string) (gone string, bringBack func()) {
	org := fmt.Sprint(len(p.Orgs))
	script(t, p, stop, org)
	back := false
	t.Cleanup(func() {
		if !back {
			script(t, p, start, org)
		}
	})
	return p.Orgs[len(p.Orgs)-1].MSPID, func() {
		script(t, p, start, org)
		back = true
	}
}

// appender returns a function that appends a batch of one dataset to l
// and returns the organisations that endorsed its transaction.
func appender(t *testing.T, s *ledgertest.Space, l *Ledger, ch *Channel) func() []string {
	n := 0
	return func() []string {
		t.Helper()
		n++
		start := time.Now()
		r, err := l.Submit(context.Background(), mustBatch(t, s, "p1", s.Dataset("p1", fmt.Sprintf("ds-%d", n), policy.General, "traffic")))
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		orgs := endorsedBy(t, ch, l.cfg.Chaincode, r)
		t.Logf("batch %d: endorsed by %v in %v", n, orgs, time.Since(start).Round(time.Millisecond))
		return orgs
	}
}

// TestOneChaincodeAway: under a policy that needs only some of the
// organisations, the space writes on while one organisation's chaincode
// service is down — its peer runs and streams blocks, but fails every
// proposal on its own ("could not launch chaincode"). A ledger that meets
// the failure marks the organisation unable and asks the others, counting
// no conflict; a space created meanwhile (Init) does not wait for it; a
// probe finds it back once the service runs, and it endorses its share
// again. It stops a chaincode service, so it runs only with
// TDSC_FABRIC_PEER_AWAY=1.
func TestOneChaincodeAway(t *testing.T) {
	p := someOfThree(t, "stops one organisation's chaincode service")
	before, ch, appendBefore := spaceWritten(t, p) // a space written before the service stops

	gone, bringBack := takeAway(t, p, "stop-chaincode", "start-chaincode")
	was := before.Stats()
	for range 2 * len(p.Endorsers) {
		if orgs := appendBefore(); len(orgs) != p.EndorsersAsked() || slices.Contains(orgs, gone) {
			t.Fatalf("with %s's chaincode service down: endorsed by %v, want %d others", gone, orgs, p.EndorsersAsked())
		}
	}
	st := before.Stats()
	t.Logf("with %s's chaincode service down: %d marks, %d retries, %d conflicts", gone, st.UnableMarks, st.Retries-was.Retries, st.Conflicts-was.Conflicts)
	if st.UnableMarks != 1 || !slices.Equal(st.Unable, []string{gone}) {
		t.Fatalf("marks %d, unable %v: want %s marked once", st.UnableMarks, st.Unable, gone)
	}
	if st.Conflicts != was.Conflicts || st.Retries-was.Retries > 1 {
		t.Fatalf("%d conflicts, %d retries: a peer that cannot endorse is no conflict, and is asked once", st.Conflicts-was.Conflicts, st.Retries-was.Retries)
	}
	if err := before.WritesReady(context.Background()); err != nil || st.EndorsersAble != len(p.Endorsers)-1 {
		t.Fatalf("with %s's chaincode service down: WritesReady %v, %d able; want ready, %d able", gone, err, st.EndorsersAble, len(p.Endorsers)-1)
	}

	// A space created while the service is down: Init marks the
	// organisation instead of waiting for its peer, and no transaction
	// asks it.
	s2, during := registered(t, p)
	appendDuring := appender(t, s2, during, ch)
	for range len(p.Endorsers) {
		if orgs := appendDuring(); slices.Contains(orgs, gone) {
			t.Fatalf("a space created with %s's chaincode service down: endorsed by %v", gone, orgs)
		}
	}
	if st := during.Stats(); !slices.Equal(st.Unable, []string{gone}) || st.Retries != 0 || st.Conflicts != 0 {
		t.Fatalf("a space created with %s's chaincode service down: unable %v, %d retries, %d conflicts; want %s marked at Init, none",
			gone, st.Unable, st.Retries, st.Conflicts, gone)
	}

	bringBack()
	deadline := time.Now().Add(30 * time.Second)
	for before.unable.is(gone) || during.unable.is(gone) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's chaincode service back for 30 s and its peer still marked unable", gone)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, appendOne := range []func() []string{appendBefore, appendDuring} {
		endorsed := false
		for range len(p.Endorsers) { // its turn comes within as many transactions
			endorsed = endorsed || slices.Contains(appendOne(), gone)
		}
		if !endorsed {
			t.Fatalf("%s's chaincode service back and its peer endorsed none of %d batches", gone, len(p.Endorsers))
		}
	}
}

// TestWritesWaitForEndorser: under a policy that needs every endorser
// (AND), one organisation's chaincode service down, or its peer hanging
// (frozen: it answers nothing), stops the writes: an idle ledger's
// WritesReady finds it (its probe marks the peer unable: failed, or no
// answer within answerWithin) and says so naming the organisation, while
// reads stay ready; a batch submitted meanwhile is not refused but waits,
// and is written once the service is back or the peer runs again, when
// WritesReady is ready again. It stops a chaincode service and freezes a
// peer, so it runs only with TDSC_FABRIC_PEER_AWAY=1 (CI runs it on the
// two-organisation network).
func TestWritesWaitForEndorser(t *testing.T) {
	p := changingNetwork(t, "TDSC_FABRIC_PEER_AWAY", "stops one organisation's chaincode service and freezes its peer")
	if len(p.Endorsers) < 2 || p.EndorsersAsked() != len(p.Endorsers) {
		t.Skip("needs a policy that needs every one of two or more organisations (the default AND)")
	}
	for _, c := range []struct {
		name, stop, start, why string
	}{
		{"chaincode service down", "stop-chaincode", "start-chaincode", "its peer cannot endorse: "},
		{"peer frozen", "freeze-peer", "thaw-peer", "its peer cannot endorse: " + errNoAnswer.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, l := readyToWrite(t, p)

			gone, bringBack := takeAway(t, p, c.stop, c.start)
			err := writesWait(l)
			if !errors.Is(err, ErrWritesWait) || !strings.Contains(err.Error(), gone+": "+c.why) {
				t.Fatalf("%s, no write since: WritesReady %v; want ErrWritesWait naming %s: %s", c.name, err, gone, c.why)
			}
			t.Logf("WritesReady: %v", err)
			if st := l.Stats(); st.EndorsersAble != len(p.Endorsers)-1 || !slices.Equal(st.Unable, []string{gone}) {
				t.Fatalf("%d able, unable %v; want %d, %s", st.EndorsersAble, st.Unable, len(p.Endorsers)-1, gone)
			}
			if err := l.Ready(ctx); err != nil {
				t.Fatalf("reads while writes wait: Ready %v", err)
			}
			// What tdsc fabric endorsers asks: the same answer from the channel.
			unable := AskEndorsers(ctx, mustChannel(t, p, 0), p, l.cfg.Chaincode)
			if len(unable) != 1 || !strings.Contains(unable[gone], c.why) {
				t.Fatalf("AskEndorsers, %s: %v", c.name, unable)
			}
			if err := WritesWait(p.Endorsers, p.EndorsersAsked(), unable); !errors.Is(err, ErrWritesWait) || !strings.Contains(err.Error(), gone+": "+c.why) {
				t.Fatalf("WritesWait of AskEndorsers' answer: %v", err)
			}

			waitsUntilBack(t, s, l, bringBack, "an endorser every transaction needs cannot endorse")
			if able := l.Stats().EndorsersAble; able != len(p.Endorsers) {
				t.Fatalf("%s back: %d able", gone, able)
			}
			if unable := AskEndorsers(ctx, mustChannel(t, p, 0), p, l.cfg.Chaincode); len(unable) != 0 {
				t.Fatalf("AskEndorsers with %s back: %v", gone, unable)
			}
		})
	}
}

// TestWritesWaitForOrderer: with the orderer down, or hanging (frozen) —
// every orderer, of a Raft cluster of three —, an idle ledger's
// WritesReady says writes wait, naming the orderers the channel's
// configuration gives and why (refused, or no answer within
// answerWithin), while reads stay ready; a batch submitted meanwhile
// waits and is written once the orderers are back, when WritesReady is
// ready again. It stops the orderers, so it runs only with
// TDSC_FABRIC_PEER_AWAY=1 (CI runs it on the two-organisation network).
func TestWritesWaitForOrderer(t *testing.T) {
	p := changingNetwork(t, "TDSC_FABRIC_PEER_AWAY", "stops and freezes the orderer")
	for _, c := range []struct {
		name, stop, start, why string
	}{
		{"orderer down", "stop-orderer", "start-orderer", p.Orderer.Address + ": "},
		{"orderer frozen", "freeze-orderer", "thaw-orderer", p.Orderer.Address + ": " + errNoAnswer.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, l := readyToWrite(t, p)
			script(t, p, c.stop)
			back := false
			bringBack := func() {
				if !back {
					script(t, p, c.start)
					back = true
				}
			}
			t.Cleanup(bringBack)

			err := writesWait(l)
			if !errors.Is(err, ErrWritesWait) || !errors.Is(err, ErrNoOrderer) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("%s: WritesReady %v; want ErrWritesWait, ErrNoOrderer naming %q", c.name, err, c.why)
			}
			t.Logf("WritesReady: %v", err)
			if err := l.Ready(ctx); err != nil {
				t.Fatalf("reads while writes wait for the orderer: Ready %v", err)
			}
			// What tdsc fabric orderers asks: the same answer from the channel.
			// (The profile's orderer's answer: of orderers of an
			// organisation each, the answers come by organisation.)
			answers, err := AskOrderers(ctx, mustChannel(t, p, 0))
			first := slices.IndexFunc(answers.Answers, func(a OrdererAnswer) bool { return a.Address == p.Orderer.Address })
			if err != nil || first < 0 || !strings.Contains(answers.Answers[first].Address+": "+answers.Answers[first].Error, c.why) || !errors.Is(answers.Err(), ErrNoOrderer) {
				t.Fatalf("AskOrderers, %s: %+v, %v", c.name, answers, err)
			}

			waitsUntilBack(t, s, l, bringBack, "no orderer answers")
			if answers, err := AskOrderers(ctx, mustChannel(t, p, 0)); err != nil || answers.Err() != nil || answers.Answers[first].Height == 0 {
				t.Fatalf("AskOrderers, the orderer back: %+v, %v", answers, err)
			}
		})
	}
}

// readyToWrite opens a fresh space on p, its follower caught up, and
// wants it ready to write.
func readyToWrite(t *testing.T, p *Profile) (*ledgertest.Space, *Ledger) {
	t.Helper()
	s, l := registered(t, p)
	if err := l.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.WritesReady(context.Background()); err != nil {
		t.Fatalf("the network whole: WritesReady %v", err)
	}
	return s, l
}

// writesWait asks l's WritesReady until it says writes wait, for 10 s at
// most, and returns its last answer.
func writesWait(l *Ledger) error {
	deadline := time.Now().Add(10 * time.Second)
	err := l.WritesReady(context.Background())
	for ; err == nil && time.Now().Before(deadline); err = l.WritesReady(context.Background()) {
		time.Sleep(100 * time.Millisecond) // the probe's answer is fresh for HeightFresh
	}
	return err
}

// waitsUntilBack submits a batch to l while writes wait (why) and wants
// it still waiting two seconds later; then brings back what was away and
// wants the batch written within 45 s, and l ready to write within 30.
func waitsUntilBack(t *testing.T, s *ledgertest.Space, l *Ledger, bringBack func(), why string) {
	t.Helper()
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := l.Submit(ctx, mustBatch(t, s, "p1", s.Dataset("p1", "ds-waits", policy.General, "traffic")))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a batch submitted while %s: answered %v, want it to wait", why, err)
	case <-time.After(2 * time.Second):
	}
	bringBack()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the batch that waited: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("back for 45 s and the batch that waited (%s) is not written", why)
	}
	deadline := time.Now().Add(30 * time.Second)
	err := l.WritesReady(ctx)
	for ; err != nil && time.Now().Before(deadline); err = l.WritesReady(ctx) {
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("back for 30 s (%s before): WritesReady %v", why, err)
	}
}
