package verify

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/suite"
)

// ErrProof reports a record whose inclusion proof or checkpoint does not verify:
// the record, its proof or the checkpoint was altered, or signed by another
// ledger. Do not trust the record.
var ErrProof = errors.New("verify: proof does not verify")

// Checkpoint opens a signed checkpoint note under the ledger's verifier key
// (a note verifier string, as `tdsc ledger serve` prints it) and parses its body.
func Checkpoint(signed []byte, v note.Verifier) (log.Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return log.Checkpoint{}, fmt.Errorf("%w: checkpoint signature does not verify under the ledger's key: %v", ErrProof, err)
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		return log.Checkpoint{}, fmt.Errorf("%w: checkpoint body: %v", ErrProof, err)
	}
	return c, nil
}

// Proven checks one record as a ledger serves it: the checkpoint is signed by
// the ledger's key, is for the proof's tree size, and the record's leaf hash is
// included at its index under the checkpoint's root (RFC 6962). It returns the
// checkpoint it verified against. The tree hash is the suite of the
// checkpoint key (SHA-256 for an Ed25519 key, SM3 for an SM2 key).
func Proven(p ledger.Proven, v note.Verifier) (log.Checkpoint, error) {
	cs := suite.OfNoteVerifier(v)
	c, err := Checkpoint(p.Checkpoint, v)
	if err != nil {
		return c, err
	}
	if c.Size != p.TreeSize {
		return c, fmt.Errorf("%w: checkpoint is for tree size %d, the proof for %d", ErrProof, c.Size, p.TreeSize)
	}
	leaf, err := ledger.LeafHash(cs, &p.Record)
	if err != nil {
		return c, fmt.Errorf("%w: record %s does not encode: %v", ErrProof, p.Record.ID, err)
	}
	if err := proof.VerifyInclusion(cs.Merkle(), p.Index, p.TreeSize, leaf, p.Proof, c.Hash); err != nil {
		return c, fmt.Errorf("%w: record %s at index %d: %v", ErrProof, p.Record.ID, p.Index, err)
	}
	return c, nil
}

// NoteVerifier parses a note verifier key string of either suite.
func NoteVerifier(vkey string) (note.Verifier, error) {
	v, err := suite.NewNoteVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verify: ledger key %q: %w", vkey, err)
	}
	return v, nil
}
