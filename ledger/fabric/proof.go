package fabric

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/transparency-dev/merkle/proof"

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

// Verify checks the proof against the record and the batch root, hashing
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
	bi, err := l.Batch(ctx, rec.BatchRoot)
	if err != nil {
		return BatchProof{}, err
	}
	leaves := bi.Leaves
	cs := l.Genesis().CryptoSuite()
	p := BatchProof{Entry: rec.Entry, Offset: rec.Index - bi.FirstIndex, Count: uint64(len(leaves)), TxID: bi.TxID, Block: bi.Block}
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
	return p, nil
}
