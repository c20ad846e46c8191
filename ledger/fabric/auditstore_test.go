package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// auditIndex is an index whose store hands batches and heads to a verifier
// as VerifyChain's walk does.
func auditIndex(pin func(ledger.Genesis) error) (*index, *auditStore) {
	st := &auditStore{ctx: context.Background(), pin: pin, roots: map[string]bool{}}
	x := newIndex(nil)
	x.st = st
	return x, st
}

// TestAuditStore: the one-reading audit's index, fed the transactions a
// walk reads, gives the report that the index in memory then verify.Ledger
// give (records, batches, one tree head per transaction, root); a record id
// written again in a later transaction is refused by the verifier's
// rulebook replay (the audit's index keeps no ids), a batch before the
// genesis is refused, and the pin's error ends the audit.
func TestAuditStore(t *testing.T) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, 300, 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	txs := [][]*ledger.Batch{w.Setup}
	for i := 0; ; i++ {
		var group []*ledger.Batch
		for _, st := range w.Streams {
			if i < len(st) {
				group = append(group, st[i])
			}
		}
		if group == nil {
			break
		}
		txs = append(txs, group)
	}
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
