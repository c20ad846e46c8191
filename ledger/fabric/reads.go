package fabric

import (
	"context"
	"fmt"

	"github.com/tdsc/tdsc/ledger"
)

// Reads of the ledger are served by the follower's index, built from the
// blocks; each waits until the index holds every block the gateway peer has
// committed.

// Record returns a record with its inclusion proof against a checkpoint of
// the current tree.
func (l *Ledger) Record(ctx context.Context, id string) (ledger.Proven, error) {
	var p ledger.Proven
	var h Head
	err := l.read(ctx, func(x *index) error {
		i, ok, err := x.st.recordIndex(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: record %s", ledger.ErrNotFound, id)
		}
		h = x.head()
		pf, err := x.inclusion(i, h.Size)
		if err != nil {
			return err
		}
		e, err := x.entry(i)
		if err != nil {
			return err
		}
		p = ledger.Proven{Entry: e, Proof: pf, TreeSize: h.Size}
		return nil
	})
	if err != nil {
		return ledger.Proven{}, err
	}
	if p.Checkpoint, err = l.sign(ctx, h); err != nil {
		return ledger.Proven{}, err
	}
	return p, nil
}

// Checkpoint returns a signed checkpoint of the current tree head, or
// ErrNotFound while the ledger is empty.
func (l *Ledger) Checkpoint(ctx context.Context) ([]byte, error) {
	h, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	if h.Size == 0 {
		return nil, fmt.Errorf("%w: no checkpoint yet: the ledger is empty", ledger.ErrNotFound)
	}
	return l.sign(ctx, h)
}

// Head returns the tree head over every block the gateway peer committed.
func (l *Ledger) Head(ctx context.Context) (Head, error) {
	var h Head
	err := l.read(ctx, func(x *index) error { h = x.head(); return nil })
	return h, err
}

// ConsistencyProof proves the tree of size from is a prefix of the tree of size to.
func (l *Ledger) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	var p [][]byte
	err := l.read(ctx, func(x *index) (err error) { p, err = x.consistency(from, to); return err })
	return p, err
}

// Query returns one page of records matching q, in ledger order.
func (l *Ledger) Query(ctx context.Context, q ledger.Query) (ledger.Page, error) {
	var p ledger.Page
	err := l.read(ctx, func(x *index) (err error) { p, err = x.query(q); return err })
	return p, err
}

// Batches calls fn for every committed batch in order, from the batch
// holding index from, with its records' stored bytes (for verifiers).
func (l *Ledger) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	for {
		var bs []*ledger.StoredBatch
		var next uint64
		// A page at a time: fn runs without holding the follower back.
		err := l.read(ctx, func(x *index) (err error) { bs, next, err = x.batchesFrom(from, batchPage); return err })
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := fn(b); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		from = next
	}
}

// batchPage is how many batches Batches reads from the index at a time.
const batchPage = 256

// Checkpoints calls fn with a checkpoint, signed with this backend's key, of
// the tree head after every Append transaction, in order of size.
func (l *Ledger) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	q := ledger.CheckpointQuery{Limit: ledger.MaxCheckpointPageSize}
	for {
		page, err := l.CheckpointPage(ctx, q)
		if err != nil {
			return err
		}
		for _, c := range page.Checkpoints {
			if err := fn(c.Size, c.Note); err != nil {
				return err
			}
		}
		if page.Next == 0 {
			return nil
		}
		q.From = page.Next
	}
}

// CheckpointPage returns checkpoints, signed with this backend's key, of the
// tree heads of size q.From or more (one after each Append transaction), at
// most q.Limit of them, in order of size.
func (l *Ledger) CheckpointPage(ctx context.Context, q ledger.CheckpointQuery) (ledger.CheckpointPage, error) {
	if err := q.Normalize(); err != nil {
		return ledger.CheckpointPage{}, err
	}
	var hs []Head
	if err := l.read(ctx, func(x *index) (err error) { hs, err = x.headsFrom(q.From, q.Limit+1); return err }); err != nil {
		return ledger.CheckpointPage{}, err
	}
	page := ledger.CheckpointPage{Checkpoints: make([]ledger.StoredCheckpoint, 0, min(len(hs), q.Limit))}
	for i, h := range hs {
		if i == q.Limit {
			page.Next = h.Size
			break
		}
		n, err := l.sign(ctx, h)
		if err != nil {
			return ledger.CheckpointPage{}, err
		}
		page.Checkpoints = append(page.Checkpoints, ledger.StoredCheckpoint{Size: h.Size, Note: n})
	}
	return page, nil
}

// BatchInfo is a committed batch's receipt with the transaction and block
// that committed it.
type BatchInfo struct {
	Receipt
	Leaves [][]byte `json:"-"`
}

// Batch returns a committed batch's receipt, transaction and block.
func (l *Ledger) Batch(ctx context.Context, root string) (BatchInfo, error) {
	var bi BatchInfo
	err := l.read(ctx, func(x *index) error {
		i, ok, err := x.st.batchPos(root)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: batch %s", ledger.ErrNotFound, root)
		}
		b, err := x.st.batch(i, true)
		if err != nil {
			return err
		}
		bi = BatchInfo{Receipt: Receipt{Receipt: b.receipt(), TxID: b.Ref.TxID, Block: b.Ref.Block}, Leaves: b.Leaves}
		return nil
	})
	return bi, err
}
