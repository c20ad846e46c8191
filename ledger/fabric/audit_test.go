package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// TestAuditChain reads a space's ledger back from the channel's blocks
// (qscc), checks the hash chain, and re-verifies every batch with
// ledger/verify; an altered block is found and named.
func TestAuditChain(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, nil)
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	batches := []*ledger.Batch{
		mustBatch(t, s, s.Authority(), p1, p2, s.Rules(policy.SpaceRules{})),
		mustBatch(t, s, "p1", s.Dataset("p1", "ds-1", policy.General, "traffic")),
	}
	ag, err := s.Agreement("p1", "p2", "ds-1", "ag-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	batches = append(batches, mustBatch(t, s, "p1", ag, s.Transfer("p1", "p2", "ag-1", "ds-1", "t-1")),
		mustBatch(t, s, "p2", s.Completed("p2", "t-1", 4096)))
	var records uint64
	for _, b := range batches {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		records += uint64(len(b.Records))
	}

	chain, err := ReadChain(ctx, l, l.cfg.Chaincode)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Ledger(ctx, chain, chain.VerifierKey())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Records != records || rep.Batches != len(batches) || rep.Checkpoints == 0 {
		t.Fatalf("report %+v, want %d records in %d batches", rep, records, len(batches))
	}
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Root != hex.EncodeToString(h.Root) {
		t.Fatalf("rebuilt root %s, chaincode head %x", rep.Root, h.Root)
	}

	height, err := l.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ReadChain(ctx, alteredBlock{l, height - 1}, l.cfg.Chaincode)
	var cp *ChainProblem
	if !errors.Is(err, ErrChain) || !errors.As(err, &cp) || cp.Block != height-1 {
		t.Fatalf("altered block %d: got %v, want a chain problem at that block", height-1, err)
	}
}

// alteredBlock serves the chain with one byte of one block's data flipped.
type alteredBlock struct {
	*Ledger
	n uint64
}

func (a alteredBlock) Block(ctx context.Context, n uint64) (*common.Block, error) {
	b, err := a.Ledger.Block(ctx, n)
	if err != nil || n != a.n {
		return b, err
	}
	b = proto.Clone(b).(*common.Block)
	d := b.Data.Data[0]
	d[len(d)/2] ^= 1
	return b, nil
}
