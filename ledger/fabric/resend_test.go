package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAwaitCommit: a status that comes in time sends nothing again; one
// that does not has the transaction sent again each period until it
// comes (as the copy sent again is ordered), one submission at a time
// (a hanging one is not doubled, nor waited for once the status comes,
// and given up after a period); the status call's error ends the wait.
func TestAwaitCommit(t *testing.T) {
	const every = 20 * time.Millisecond
	ok := &client.Status{Successful: true, BlockNumber: 7}
	never := func(n int, err error) { t.Errorf("sent again (%d, %v) though the status came at once", n, err) }

	t.Run("in time", func(t *testing.T) {
		st, err := awaitCommit(context.Background(), resendPace{Every: every, Again: every},
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
		st, err := awaitCommit(context.Background(), resendPace{Every: every, Again: every},
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
		st, err := awaitCommit(context.Background(), resendPace{Every: every, Again: every},
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

	// A submission again that hangs (an orderer that took the first copy
	// and cannot forward it) is given up after Every and made again.
	t.Run("a hanging submission given up", func(t *testing.T) {
		var sends atomic.Int32
		ordered := make(chan struct{})
		var errs []error
		st, err := awaitCommit(context.Background(), resendPace{Every: every, Again: every},
			func(ctx context.Context) (*client.Status, error) { <-ordered; return ok, nil },
			func(ctx context.Context) error {
				if sends.Add(1) == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				close(ordered)
				return nil
			},
			func(n int, err error) { errs = append(errs, err) })
		if err != nil || st != ok {
			t.Fatalf("got %v, %v", st, err)
		}
		if n := sends.Load(); n != 2 {
			t.Fatalf("sent again %d times, want 2: the first given up", n)
		}
		if len(errs) < 1 || !errors.Is(errs[0], context.DeadlineExceeded) {
			t.Fatalf("told of %v, want the first given up", errs)
		}
	})

	// The first submission refused (a BFT cluster short of its quorum):
	// sent again at the quicker pace while refused, at the slower once
	// taken, until the status comes.
	t.Run("refused, then taken", func(t *testing.T) {
		const again, slow = 5 * time.Millisecond, time.Hour
		var sends atomic.Int32
		ordered := make(chan struct{})
		start := time.Now()
		st, err := awaitCommit(context.Background(), resendPace{Every: slow, Again: again, Refused: true},
			func(ctx context.Context) (*client.Status, error) { <-ordered; return ok, nil },
			func(context.Context) error {
				if sends.Add(1) < 4 {
					return errors.New("insufficient number of orderers")
				}
				time.AfterFunc(20*again, func() { close(ordered) })
				return nil
			},
			func(int, error) {})
		if err != nil || st != ok {
			t.Fatalf("got %v, %v", st, err)
		}
		if n := sends.Load(); n != 4 {
			t.Fatalf("sent %d times, want 4: three refused, then taken and waited for", n)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v: the refused submissions waited the slow pace", d)
		}
	})

	// A submission again refused as ordered already (a BFT orderer's
	// answer once the block was decided) is taken: the next is Every
	// after it, not Again.
	t.Run("ordered already", func(t *testing.T) {
		const again, slow = time.Millisecond, time.Hour
		var sends atomic.Int32
		ordered := make(chan struct{})
		var errs []error
		st, err := awaitCommit(context.Background(), resendPace{Every: slow, Again: again, Refused: true},
			func(ctx context.Context) (*client.Status, error) { <-ordered; return ok, nil },
			func(context.Context) error {
				if sends.Add(1) == 1 {
					time.AfterFunc(50*again, func() { close(ordered) })
				}
				return errOrdered
			},
			func(n int, err error) { errs = append(errs, err) })
		if err != nil || st != ok {
			t.Fatalf("got %v, %v", st, err)
		}
		if n := sends.Load(); n != 1 || len(errs) != 1 {
			t.Fatalf("sent %d times, told of %d: want once, then the slow pace", n, len(errs))
		}
		if !errors.Is(errs[0], errOrdered) {
			t.Fatalf("told of %v, want errOrdered", errs[0])
		}
	})

	t.Run("the status call fails", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*every)
		defer cancel()
		_, err := awaitCommit(ctx, resendPace{Every: every, Again: every},
			func(ctx context.Context) (*client.Status, error) { <-ctx.Done(); return nil, ctx.Err() },
			func(context.Context) error { return nil }, func(int, error) {})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the status call's error", err)
		}
	})
}

// TestSentAgainCommittedOnce: a transaction submitted again while its
// first copy was only slow — here every transaction, sent again each 5 ms
// until its status comes — is ordered more than once and committed once:
// the peers mark the later copies DUPLICATE_TXID, the receipts are the
// first copy's, the ledger holds each batch once, and an auditor reading
// the blocks gets the ledger's root and proofs. (BFT orderers refuse a
// copy while they hold the first: a copy is ordered only if sent after
// its block was cut.) Any network (TDSC_FABRIC=1).
func TestSentAgainCommittedOnce(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, func(c *Config) { c.resendAfter = 5 * time.Millisecond })
	from, err := l.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head0, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	batches := []*ledger.Batch{mustBatch(t, s, s.Authority(), p1, p2)}
	for i := range 6 {
		batches = append(batches, mustBatch(t, s, "p1", s.Dataset("p1", fmt.Sprintf("ds-%d", i), policy.General, "traffic")))
	}
	var records uint64
	for _, b := range batches {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		records += uint64(len(b.Records))
	}
	// A copy sent just as the status came is ordered after it: let the
	// channel settle.
	h := from
	for {
		time.Sleep(500 * time.Millisecond)
		now, err := l.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if now == h {
			break
		}
		h = now
	}
	dups := 0
	for n := from; n < h; n++ {
		b, err := l.Block(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range txFilter(b) {
			if peer.TxValidationCode(c) == peer.TxValidationCode_DUPLICATE_TXID {
				dups++
			}
		}
	}
	st := l.Stats()
	t.Logf("%d transactions, %d sent again, %d copies marked DUPLICATE_TXID in blocks %d to %d", st.Transactions, st.Resent, dups, from, h-1)
	if st.Resent == 0 {
		t.Fatal("nothing sent again: the test sent no copy")
	}
	head, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chain, rep := audited(t, l)
	// A Raft cluster orders every copy it is sent. Fabric's BFT orderers
	// keep a transaction id in their request pool until it is ordered and
	// refuse a copy meanwhile ("request already exists"): only a copy sent
	// after its block was cut is ordered, so there may be none.
	if dups == 0 && !strings.HasPrefix(chain.Ordering, "BFT") {
		t.Fatalf("%d sent again, no duplicate ordered by %s: the test sent no copy", st.Resent, chain.Ordering)
	}
	if head.Size != head0.Size+records || rep.Records != head.Size {
		t.Fatalf("the ledger holds %d records, the audit found %d; %d and %d written", head.Size, rep.Records, head0.Size, records)
	}
	if chain.InvalidTxs < dups {
		t.Fatalf("the audit counted %d invalid transactions, the blocks hold %d duplicates", chain.InvalidTxs, dups)
	}
	sameAsService(t, l, chain, batches)
}

// TestCommitWaitsBound: the bound a transaction waits for its status
// before it is sent again is the most until it is learned (no batch
// timeout known, fewer than minWaits waits), then waitFactor times the
// waits' 90th percentile, never under minResend past the batch timeout nor
// over the most; a few long waits (a lost transaction's) do not move it.
func TestCommitWaitsBound(t *testing.T) {
	const most = 5 * time.Second
	const batch = 10 * time.Millisecond
	var w commitWaits
	for range minWaits - 1 {
		w.add(100 * time.Millisecond)
	}
	if got := w.bound(batch, most); got != most {
		t.Fatalf("with %d waits: %v, want %v", minWaits-1, got, most)
	}
	w.add(100 * time.Millisecond)
	if got := w.bound(batch, most); got != batch+minResend {
		t.Fatalf("waits of 100 ms: %v, want the floor %v", got, batch+minResend)
	}
	if got := w.bound(0, most); got != most {
		t.Fatalf("no batch timeout known: %v, want %v", got, most)
	}
	if got := w.bound(2*time.Second, most); got != 3*time.Second {
		t.Fatalf("batch timeout 2 s: %v, want 3s", got)
	}
	for range 64 {
		w.add(400 * time.Millisecond)
	}
	if got := w.bound(batch, most); got != 1600*time.Millisecond {
		t.Fatalf("waits of 400 ms: %v, want 1.6s", got)
	}
	for range 6 {
		w.add(30 * time.Second) // lost, and the leader's election
	}
	if got := w.bound(batch, most); got != 1600*time.Millisecond {
		t.Fatalf("after six long waits in 64: %v, want 1.6s still", got)
	}
	for range 2 {
		w.add(30 * time.Second)
	}
	if got := w.bound(batch, most); got != most {
		t.Fatalf("after eight long waits in 64 (the 90th percentile one): %v, want %v", got, most)
	}
	if got := w.bound(batch, 5*time.Millisecond); got != 5*time.Millisecond {
		t.Fatalf("most 5 ms: %v", got)
	}
}

// TestOrderedAlready: a submission an orderer refused as ordered already
// (SmartBFT's answer for a request its pool removed at a decision, in the
// gateway's details) is found; other refusals, and errors without
// details, are not.
func TestOrderedAlready(t *testing.T) {
	detail := func(info string) *gateway.ErrorDetail {
		return &gateway.ErrorDetail{Address: "127.0.0.1:37050", MspId: "OrdererOrg",
			Message: "received unsuccessful response from orderer: status=SERVICE_UNAVAILABLE, info=" + info}
	}
	refusal := func(ds ...*gateway.ErrorDetail) error {
		st := status.New(codes.Unavailable, "insufficient number of orderers could successfully process transaction to satisfy quorum requirement")
		for _, d := range ds {
			var err error
			if st, err = st.WithDetails(d); err != nil {
				t.Fatal(err)
			}
		}
		return fmt.Errorf("submit error: %w", st.Err())
	}
	processed := detail("failed to submit request: request already processed")
	down := &gateway.ErrorDetail{Address: "127.0.0.1:37053", MspId: "Orderer2Org", Message: "rpc error: code = Unavailable desc = connection refused"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{refusal(processed, down), true},
		{refusal(down, processed), true},
		{refusal(down, detail("failed to submit request: request already exists")), false},
		{refusal(down), false},
		{refusal(), false},
		{errors.New("request already processed"), false}, // not the gateway's
	} {
		if got := orderedAlready(c.err); got != c.want {
			t.Errorf("orderedAlready(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
