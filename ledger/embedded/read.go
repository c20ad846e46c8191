package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
)

// Checkpoint returns the latest signed checkpoint (a C2SP signed note), or
// ErrNotFound while the ledger is empty.
func (s *Store) Checkpoint(ctx context.Context) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.checkpoint == nil {
		return nil, fmt.Errorf("%w: no checkpoint yet: the ledger is empty", ledger.ErrNotFound)
	}
	return s.checkpoint, nil
}

func (s *Store) current() (uint64, []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size, s.checkpoint
}

// Record returns a record with its inclusion proof against the latest checkpoint.
func (s *Store) Record(ctx context.Context, id string) (ledger.Proven, error) {
	size, cp := s.current()
	var p ledger.Proven
	err := s.db.View(func(tx *bolt.Tx) error {
		k := tx.Bucket(bIDs).Get([]byte(id))
		if k == nil || boltkey.ToUint64(k) >= size {
			return fmt.Errorf("%w: record %s", ledger.ErrNotFound, id)
		}
		e, err := entryAt(tx, boltkey.ToUint64(k))
		if err != nil {
			return err
		}
		p.Entry = e
		p.Proof, err = s.inclusion(tx, e.Index, size)
		return err
	})
	p.TreeSize, p.Checkpoint = size, cp
	return p, err
}

// InclusionProof is the proof of leaf index in the tree of the given size.
func (s *Store) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if cur, _ := s.current(); size > cur {
		return nil, fmt.Errorf("%w: tree size %d is beyond the ledger's %d", ledger.ErrNotFound, size, cur)
	}
	var pr [][]byte
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		pr, err = s.inclusion(tx, index, size)
		return err
	})
	return pr, err
}

// ConsistencyProof proves the tree of size from is a prefix of the tree of size to.
func (s *Store) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	if cur, _ := s.current(); to > cur || from > to {
		return nil, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "from,to", Reason: fmt.Sprintf("need 0 <= from <= to <= %d, got %d, %d", cur, from, to)}
	}
	var pr [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		nodes, err := proof.Consistency(from, to)
		if err != nil {
			return err
		}
		pr, err = s.fetch(tx, nodes)
		return err
	})
	return pr, err
}

func (s *Store) inclusion(tx *bolt.Tx, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ledger.ErrNotFound, err)
	}
	return s.fetch(tx, nodes)
}

func (s *Store) fetch(tx *bolt.Tx, nodes proof.Nodes) ([][]byte, error) {
	tree := tx.Bucket(bTree)
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h := tree.Get(boltkey.Node(id))
		if h == nil {
			return nil, fmt.Errorf("embedded: tree node (%d,%d) missing", id.Level, id.Index)
		}
		hashes[i] = append([]byte(nil), h...)
	}
	return nodes.Rehash(hashes, s.cs.Merkle().HashChildren)
}

func entryAt(tx *bolt.Tx, index uint64) (ledger.Entry, error) {
	raw := tx.Bucket(bRecords).Get(boltkey.Uint64(index))
	if raw == nil {
		return ledger.Entry{}, fmt.Errorf("%w: record at index %d", ledger.ErrNotFound, index)
	}
	e := ledger.Entry{Index: index}
	if err := jsondec.Unmarshal(raw, &e.Record); err != nil {
		return ledger.Entry{}, fmt.Errorf("embedded: record at index %d does not decode: %w (run tdsc audit verify)", index, err)
	}
	c := tx.Bucket(bBatches).Cursor()
	k, v := c.Seek(boltkey.Uint64(index))
	if k == nil || boltkey.ToUint64(k) > index {
		_, v = c.Prev()
	}
	var h header
	if err := jsondec.Unmarshal(v, &h); err != nil {
		return ledger.Entry{}, fmt.Errorf("embedded: batch of record %d: %w", index, err)
	}
	e.BatchRoot = h.Root
	return e, nil
}

// Query returns one page of records matching q, in ledger order.
func (s *Store) Query(ctx context.Context, q ledger.Query) (ledger.Page, error) {
	if err := q.Normalize(); err != nil {
		return ledger.Page{}, err
	}
	var start uint64
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil {
			return ledger.Page{}, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "cursor", Reason: "not a cursor this ledger returned"}
		}
		start = n
	}
	size, _ := s.current()
	page := ledger.Page{Records: []ledger.Entry{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		// next yields candidate indexes from start on, in order.
		var next func() (uint64, bool)
		if field, value, ok := indexFor(&q); ok {
			next = postings(tx.Bucket(bIndex).Cursor(), indexPrefix(field, value), start)
		} else {
			i := start
			next = func() (uint64, bool) { i++; return i - 1, i-1 < size }
		}
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			i, ok := next()
			if !ok || i >= size {
				return nil
			}
			if len(page.Records) == q.Limit {
				page.Next = strconv.FormatUint(i, 10)
				return nil
			}
			e, err := entryAt(tx, i)
			if err != nil {
				return err
			}
			if q.Matches(&e.Record) {
				page.Records = append(page.Records, e)
			}
		}
	})
	return page, err
}

// postings iterates the record indexes >= start under an index prefix. Keys
// are prefix + the first index of a batch; values list that batch's matching
// record indexes in order.
func postings(c *bolt.Cursor, prefix []byte, start uint64) func() (uint64, bool) {
	valid := func(k []byte) bool { return k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 }
	seek := append(append([]byte(nil), prefix...), boltkey.Uint64(start)...)
	k, v := c.Seek(seek)
	if !valid(k) || boltkey.ToUint64(k[len(prefix):]) > start {
		// The batch holding start may begin before it.
		if pk, pv := c.Prev(); valid(pk) {
			k, v = pk, pv
		} else {
			k, v = c.Seek(seek) // back where we were (Prev past the first key leaves the cursor undefined)
		}
	}
	var list []byte
	if valid(k) {
		list = v
	}
	return func() (uint64, bool) {
		for {
			for len(list) >= 8 {
				i := binary.BigEndian.Uint64(list)
				list = list[8:]
				if i >= start {
					return i, true
				}
			}
			if !valid(k) {
				return 0, false
			}
			k, v = c.Next()
			if !valid(k) {
				return 0, false
			}
			list = v
		}
	}
}

// indexFor picks the most selective index the query can use.
func indexFor(q *ledger.Query) (byte, string, bool) {
	switch {
	case q.Transfer != "":
		return fTransfer, q.Transfer, true
	case q.Agreement != "":
		return fAgreement, q.Agreement, true
	case q.Dataset != "":
		return fDataset, q.Dataset, true
	case q.Participant != "":
		return fParticipant, q.Participant, true
	case q.Region != "":
		return fRegion, strings.ToUpper(q.Region), true
	case q.Classification != "":
		return fClassification, string(q.Classification), true
	case q.Kind != "":
		return fKind, string(q.Kind), true
	}
	return 0, "", false
}

// Batches calls fn for every committed batch in order, from the batch holding
// index from. The StoredBatch's byte slices are valid only during fn.
func (s *Store) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return walkBatches(tx, from, func(sb *ledger.StoredBatch) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(sb)
		})
	})
}

// Checkpoints calls fn for every stored checkpoint in order of tree size.
func (s *Store) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return walkCheckpoints(tx, fn) })
}

func walkCheckpoints(tx *bolt.Tx, fn func(uint64, []byte) error) error {
	return tx.Bucket(bCheckpoints).ForEach(func(k, v []byte) error { return fn(boltkey.ToUint64(k), v) })
}

// CheckpointPage returns the stored checkpoints of tree size q.From or more,
// at most q.Limit of them, in order of size. It seeks to q.From, so a page
// costs the same wherever it starts.
func (s *Store) CheckpointPage(ctx context.Context, q ledger.CheckpointQuery) (ledger.CheckpointPage, error) {
	if err := q.Normalize(); err != nil {
		return ledger.CheckpointPage{}, err
	}
	page := ledger.CheckpointPage{Checkpoints: []ledger.StoredCheckpoint{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bCheckpoints).Cursor()
		for k, v := c.Seek(boltkey.Uint64(q.From)); k != nil; k, v = c.Next() {
			if len(page.Checkpoints) == q.Limit {
				page.Next = boltkey.ToUint64(k)
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			page.Checkpoints = append(page.Checkpoints, ledger.StoredCheckpoint{Size: boltkey.ToUint64(k), Note: append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return ledger.CheckpointPage{}, err
	}
	return page, nil
}

// RegisteredDataset is the dataset.registered record of dataset id
// (ledger.RegisteredDataset over this store).
func (s *Store) RegisteredDataset(ctx context.Context, id string) (ledger.Entry, error) {
	return ledger.RegisteredDataset(ctx, s, id)
}

// DirectoryChanges returns the participants whose directory entries changed
// at record index since or later (ledger.ReadDirectoryChanges).
func (s *Store) DirectoryChanges(ctx context.Context, since uint64, limit int) (ledger.DirectoryChanges, error) {
	return ledger.ReadDirectoryChanges(ctx, s, since, limit)
}
