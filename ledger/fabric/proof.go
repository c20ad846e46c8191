package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/transparency-dev/merkle/proof"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/suite"
)

// BatchProof proves a record is in its batch: an RFC 6962 inclusion proof of
// the record's leaf in the tree over the batch's records, whose root is the
// batch root the writer signed; and where the batch's transaction sits in
// the block chain.
type BatchProof struct {
	Entry  ledger.Entry `json:"entry"`
	Offset uint64       `json:"offset"` // the record's position in its batch
	Count  uint64       `json:"count"`  // records in the batch
	Proof  [][]byte     `json:"proof"`
	TxID   string       `json:"txId"`
	Block  uint64       `json:"block"`
}

// Verify checks the proof against the record and the batch root, hashed
// with the space's suite cs.
func (p *BatchProof) Verify(cs *suite.Suite) error {
	leaf, err := ledger.LeafHash(cs, &p.Entry.Record)
	if err != nil {
		return err
	}
	root, err := hex.DecodeString(p.Entry.BatchRoot)
	if err != nil {
		return fmt.Errorf("batch root: %w", err)
	}
	return proof.VerifyInclusion(cs.Merkle(), p.Offset, p.Count, leaf, p.Proof, root)
}

// BatchProof returns the proof that record id is in its signed batch, with
// the transaction and block that committed the batch.
func (l *Ledger) BatchProof(ctx context.Context, id string) (BatchProof, error) {
	rec, err := l.Record(ctx, id)
	if err != nil {
		return BatchProof{}, err
	}
	hdr, err := l.Batch(ctx, rec.BatchRoot)
	if err != nil {
		return BatchProof{}, err
	}
	var leaves [][]byte
	found := false
	err = l.Batches(ctx, hdr.FirstIndex, func(b *ledger.StoredBatch) error {
		if b.Root != hdr.Root {
			return fmt.Errorf("fabric: batch at index %d is %s, its header says %s", hdr.FirstIndex, b.Root, hdr.Root)
		}
		leaves, found = b.Leaves, true
		return errStop
	})
	if err != nil && err != errStop {
		return BatchProof{}, err
	}
	if !found {
		return BatchProof{}, fmt.Errorf("%w: batch %s", ledger.ErrNotFound, hdr.Root)
	}
	cs := l.Genesis().CryptoSuite()
	p := BatchProof{Entry: rec.Entry, Offset: rec.Index - hdr.FirstIndex, Count: uint64(len(leaves)), TxID: hdr.TxID}
	ns, err := proof.Inclusion(p.Offset, p.Count)
	if err != nil {
		return BatchProof{}, err
	}
	hashes := make([][]byte, len(ns.IDs))
	for i, id := range ns.IDs {
		hashes[i] = ledger.MerkleRoot(cs, leaves[id.Index<<id.Level:min((id.Index+1)<<id.Level, uint64(len(leaves)))])
	}
	if p.Proof, err = ns.Rehash(hashes, cs.Merkle().HashChildren); err != nil {
		return BatchProof{}, err
	}
	if p.Block, err = l.blockOf(ctx, hdr.TxID); err != nil {
		return BatchProof{}, err
	}
	return p, nil
}

var errStop = errors.New("stop")

// blockOf is the number of the block holding transaction txID (qscc).
func (l *Ledger) blockOf(ctx context.Context, txID string) (uint64, error) {
	res, err := l.network.GetContract("qscc").EvaluateWithContext(ctx, "GetBlockByTxID", clientArgs(l.cfg.Profile.Channel, txID))
	if err != nil {
		se, _ := classify(StageEvaluate, err)
		return 0, se
	}
	var b common.Block
	if err := proto.Unmarshal(res, &b); err != nil || b.Header == nil {
		return 0, fmt.Errorf("fabric: block of transaction %s does not decode: %v", txID, err)
	}
	return b.Header.Number, nil
}
