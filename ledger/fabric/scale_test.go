package fabric

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
)

// TestTwoGatewaysAtOnce: Org1's and Org2's gateways write a workload's
// streams at once, each with several transactions in flight. Every batch
// commits, both ledgers' followers reach the same tree head, and an auditor
// reading the blocks gets that head and the same index and proofs for every
// record as each ledger.
func TestTwoGatewaysAtOnce(t *testing.T) {
	p := twoOrgs(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	small := func(c *Config) { c.InFlight, c.MaxRecords = 4, 60 }
	l1 := open(t, p, s.Genesis, small)
	cfg := Config{Profile: p, Org: 1, Chaincode: l1.Chaincode()}
	small(&cfg)
	l2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close(ctx)
	w, err := ledgertest.NewWorkload(s, 3000, 30, 8)
	if err != nil {
		t.Fatal(err)
	}
	gw := map[string]*Ledger{}
	all := append([]*ledger.Batch{}, w.Setup...)
	for i, st := range w.Streams {
		for _, b := range st {
			gw[b.Root] = []*Ledger{l1, l2}[i%2]
			all = append(all, b)
		}
	}
	var mu sync.Mutex
	receipts := map[string]ledger.Receipt{}
	_, _, err = w.Run(ctx, func(ctx context.Context, b *ledger.Batch) error {
		l := gw[b.Root]
		if l == nil {
			l = l1
		}
		r, err := l.Append(ctx, b)
		mu.Lock()
		receipts[b.Root] = r
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := l1.Stats(), l2.Stats()
	t.Logf("Org1 %+v, Org2 %+v", s1, s2)
	if s1.Transactions < 2 || s2.Transactions < 2 || s1.MaxInFlight < 2 && s2.MaxInFlight < 2 {
		t.Fatalf("stats Org1 %+v, Org2 %+v: want both writing, several transactions in flight", s1, s2)
	}
	// Each follower took its own ledger's transactions as sent (none of
	// the other's: it did not send them) and decoded the rest from the
	// blocks; the heads and proofs below hold both ways to the audit's.
	if s1.SentDecoded < 1 || s1.SentDecoded > s1.Transactions || s2.SentDecoded < 1 || s2.SentDecoded > s2.Transactions {
		t.Fatalf("transactions taken as sent: Org1 %d of %d, Org2 %d of %d", s1.SentDecoded, s1.Transactions, s2.SentDecoded, s2.Transactions)
	}
	h1, err := l1.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := l2.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h1.Size != uint64(w.Records) || h1.Size != h2.Size || !bytes.Equal(h1.Root, h2.Root) {
		t.Fatalf("heads: Org1 %d %x, Org2 %d %x, want %d records and one root", h1.Size, h1.Root, h2.Size, h2.Root, w.Records)
	}
	// Every receipt holds its batch's place in the block order.
	for _, b := range all {
		p, err := l2.Record(ctx, b.Records[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := receipts[b.Root]; p.Index != r.FirstIndex || p.BatchRoot != b.Root || r.TreeSize != r.FirstIndex+uint64(len(b.Records)) {
			t.Fatalf("batch %s: receipt %+v, its first record at %d", b.Root, r, p.Index)
		}
	}
	chain, err := ReadChain(ctx, l1, l1.Chaincode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Ledger(ctx, chain, chain.VerifierKey()); err != nil {
		t.Fatalf("verify from the blocks: %v", err)
	}
	sameAsService(t, l1, chain, all)
	sameAsService(t, l2, chain, all)
}

// TestReceiptAfterEveryEndorser: a receipt is given once every endorser's
// peer holds the block, so a writer's next batch, which depends on the one
// just receipted (a transfer's completion on its start), is not refused by
// an endorser a block behind: a workload of dependent batches commits with
// no recheck, and Org2's peer holds each receipt's block when it is given.
func TestReceiptAfterEveryEndorser(t *testing.T) {
	p := twoOrgs(t)
	if len(p.Endorsers) < 2 {
		t.Skip("needs a profile whose endorsers are both organisations")
	}
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, func(c *Config) { c.MaxRecords = 100 })
	w, err := ledgertest.NewWorkload(s, 4000, 25, 8)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var behind []string
	_, _, err = w.Run(ctx, func(ctx context.Context, b *ledger.Batch) error {
		r, err := l.Submit(ctx, b)
		if err != nil {
			return err
		}
		held, err := l.heightAt(ctx, p.Orgs[1].MSPID)
		if err != nil {
			return err
		}
		if held <= r.Block {
			mu.Lock()
			behind = append(behind, fmt.Sprintf("block %d (Org2's peer holds %d)", r.Block, held))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("%+v", st)
	if st.Rechecks != 0 || len(behind) != 0 {
		t.Fatalf("%d rechecks; receipts given before Org2's peer held their block: %v", st.Rechecks, behind)
	}
}
