package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// auditIndex is VerifyChain's index.
func auditIndex(pin func(ledger.Genesis) error) (*index, *auditStore) {
	return newAuditIndex(context.Background(), pin)
}

// TestAuditStore: the one-reading audit's index, fed the transactions a
// walk reads, gives the report that the index in memory then verify.Ledger
// give (records, batches, one tree head per transaction, root); a record id
// written again, in a later transaction or in two batches of one, is
// refused by the verifier's rulebook replay (the audit's index reads no
// ids), a batch before the
// genesis is refused, and the pin's error ends the audit.
func TestAuditStore(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 300, 7, 3)
	txs := streamTxs(w)
	mem := genesisIndex(t, s.Genesis, false)
	var pinned ledger.Genesis
	x, st := auditIndex(func(g ledger.Genesis) error { pinned = g; return nil })
	gtx := genesisTx(t, s.Genesis)
	if err := addTx(x, 1, "tx-init", gtx); err != nil {
		t.Fatal(err)
	}
	if pinned.Space != s.Genesis.Space || st.v == nil {
		t.Fatalf("the pin saw space %q, want %q", pinned.Space, s.Genesis.Space)
	}
	for n, bs := range txs {
		for _, ix := range []*index{mem, x} {
			if err := addTx(ix, uint64(n+2), fmt.Sprintf("tx-%d", n), committed(t, bs)); err != nil {
				t.Fatalf("transaction %d: %v", n, err)
			}
		}
	}
	c := &Chain{ix: mem}
	if err := c.seal(); err != nil {
		t.Fatal(err)
	}
	want, err := verify.Ledger(context.Background(), c, c.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.v.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got.Checkpoints != len(txs) || got.Root != hex.EncodeToString(mem.head().Root) {
		t.Fatalf("one reading: %+v; in memory then verify: %+v (%d transactions)", got, want, len(txs))
	}

	// A record id written again, in a new batch of a later transaction.
	x, st = auditIndex(nil)
	if err := addTx(x, 1, "tx-init", gtx); err != nil {
		t.Fatal(err)
	}
	for n, bs := range txs[:2] {
		if err := addTx(x, uint64(n+2), fmt.Sprintf("tx-%d", n), committed(t, bs)); err != nil {
			t.Fatal(err)
		}
	}
	again := w.Setup[0].Records[0]
	b, err := s.Batch(s.Authority(), again, s.Rules(policy.SpaceRules{}))
	if err != nil {
		t.Fatal(err)
	}
	err = addTx(x, 9, "tx-again", committed(t, []*ledger.Batch{b}))
	if err == nil {
		_, err = st.v.Close()
	} else {
		st.v.Abort()
	}
	var p *verify.Problem
	if !errors.As(err, &p) || p.RecordID != again.ID || !strings.Contains(p.What, "rulebook replay") {
		t.Fatalf("record %s written again: %v, want the rulebook's refusal", again.ID, err)
	}

	// A record id twice in one transaction (two batches): the audit's
	// index reads no ids, the rulebook replay refuses the second.
	x, st = auditIndex(nil)
	if err := addTx(x, 1, "tx-init", gtx); err != nil {
		t.Fatal(err)
	}
	first := w.Setup[0].Records[0]
	b1, err := s.Batch(s.Authority(), first)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := s.Batch(s.Authority(), first, w.Setup[0].Records[1])
	if err != nil {
		t.Fatal(err)
	}
	err = addTx(x, 2, "tx-twice", committed(t, []*ledger.Batch{b1, b2}))
	if err == nil {
		_, err = st.v.Close()
	} else {
		st.v.Abort()
	}
	if !errors.As(err, &p) || p.RecordID != first.ID || !strings.Contains(p.What, "rulebook replay") {
		t.Fatalf("record %s twice in one transaction: %v, want the rulebook's refusal", first.ID, err)
	}

	// Batches before the genesis; the pin's error.
	x, _ = auditIndex(nil)
	if err := addTx(x, 1, "tx-0", committed(t, w.Setup)); err == nil || !strings.Contains(err.Error(), "before the genesis") {
		t.Fatalf("batches before the genesis: %v", err)
	}
	errPin := errors.New("not the pinned genesis")
	x, _ = auditIndex(func(ledger.Genesis) error { return errPin })
	if err := addTx(x, 1, "tx-init", gtx); !errors.Is(err, errPin) {
		t.Fatalf("pin: %v", err)
	}
}

// slowBlocks serves numbered empty blocks, each after a delay that varies
// by number (so requests in flight finish out of order), failing at fail.
type slowBlocks struct {
	h, fail  uint64
	inFlight atomic.Int32
	most     atomic.Int32
}

var errFetch = errors.New("fetch failed")

func (s *slowBlocks) Height(context.Context) (uint64, error) { return s.h, nil }
func (s *slowBlocks) Block(ctx context.Context, n uint64) (*common.Block, error) {
	k := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.most.Load(); k > m && !s.most.CompareAndSwap(m, k); m = s.most.Load() {
	}
	time.Sleep(time.Duration((n*7)%5) * time.Millisecond)
	if n == s.fail {
		return nil, errFetch
	}
	return &common.Block{Header: &common.BlockHeader{Number: n}}, nil
}

// TestFetchBlocks: blocks fetched ahead come in order, with at most
// fetchAhead+1 requests in flight; an error comes at its block.
func TestFetchBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &slowBlocks{h: 40, fail: 1 << 62}
	next := fetchBlocks(ctx, src, src.h)
	for n := uint64(0); n < src.h; n++ {
		b, err := next()
		if err != nil || b.Header.Number != n {
			t.Fatalf("block %d: got %v %v", n, b, err)
		}
	}
	if m := src.most.Load(); m < 2 || m > fetchAhead+1 {
		t.Fatalf("%d requests in flight at most, want 2 to %d", m, fetchAhead+1)
	}
	src = &slowBlocks{h: 40, fail: 9}
	next = fetchBlocks(ctx, src, src.h)
	for n := uint64(0); ; n++ {
		_, err := next()
		if err != nil {
			if n != 9 || !errors.Is(err, errFetch) {
				t.Fatalf("error at block %d: %v, want %v at 9", n, err, errFetch)
			}
			break
		}
	}
}
