package embedded

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// ErrClosed reports an Append on a closed store. Reopen the store.
var ErrClosed = errors.New("embedded: store is closed")

type request struct {
	b      *ledger.Batch
	canon  [][]byte
	leaves [][]byte
	done   chan result
}

type result struct {
	r   ledger.Receipt
	err error
}

// Append commits b whole or not at all and returns its receipt once it is on
// disk. Appending a committed batch again returns the same receipt. Errors:
// ledger.ErrMalformed, ErrUnknownWriter, ErrBadSignature, ErrRefused (a
// *ledger.RuleError), or an I/O error (nothing committed; retry).
func (s *Store) Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error) {
	if err := b.Validate(); err != nil {
		return ledger.Receipt{}, err
	}
	canon, leaves, err := b.Encode(s.cs) // hashing runs on the caller's goroutine
	if err != nil {
		return ledger.Receipt{}, err
	}
	if got := hex.EncodeToString(ledger.MerkleRoot(s.cs, leaves)); got != b.Root {
		return ledger.Receipt{}, &ledger.FieldError{Err: ledger.ErrBadSignature, Rule: ledger.RuleBatchRoot, Field: "root", Reason: fmt.Sprintf("records hash to %s, batch says %s", got, b.Root)}
	}
	req := &request{b: b, canon: canon, leaves: leaves, done: make(chan result, 1)}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ledger.Receipt{}, ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-s.stop:
		return ledger.Receipt{}, ErrClosed
	case <-ctx.Done():
		return ledger.Receipt{}, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.r, res.err
	case <-s.stopped:
		// Closed: the committer answered every request it took before stopping.
		select {
		case res := <-req.done:
			return res.r, res.err
		default:
			return ledger.Receipt{}, ErrClosed
		}
	case <-ctx.Done():
		// The batch may still commit; appending it again is idempotent.
		return ledger.Receipt{}, ctx.Err()
	}
}

func (s *Store) committer() {
	defer close(s.stopped)
	for {
		var group []*request
		select {
		case r := <-s.reqs:
			group = append(group, r)
		case <-s.stop:
			s.drain()
			return
		}
		var timer <-chan time.Time
		if s.opts.MaxWait > 0 {
			timer = time.After(s.opts.MaxWait)
		}
	gather:
		for len(group) < s.opts.MaxGroup {
			if timer == nil {
				select {
				case r := <-s.reqs:
					group = append(group, r)
				default:
					break gather
				}
			} else {
				select {
				case r := <-s.reqs:
					group = append(group, r)
				case <-timer:
					break gather
				}
			}
		}
		s.commit(group)
	}
}

// drain commits what was queued before Close.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			s.commit([]*request{r})
		default:
			return
		}
	}
}

// commit writes a group of batches in one transaction.
func (s *Store) commit(group []*request) {
	results := make([]result, len(group))
	s.mu.RLock()
	size := s.size
	rng, err := s.rf.NewRange(0, size, append([][]byte(nil), s.rng.Hashes()...))
	s.mu.RUnlock()
	if err != nil {
		s.fail(group, err)
		return
	}
	var gov *rulebook.Overlay
	var checkpoint []byte
	inGroup := map[string]int{}
	err = s.db.Update(func(tx *bolt.Tx) error {
		// The state buckets are written only at the end: until then every
		// read sees the last committed state, and the group's overlay the
		// changes of its accepted batches.
		gov = rulebook.NewOverlay(&txState{tx: tx, size: size, cache: s.cache, fill: true})
		w := newWriter(tx)
		for i, req := range group {
			b := req.b
			if first := tx.Bucket(bRoots).Get(mustHex(b.Root)); first != nil {
				results[i] = s.receiptAt(tx, boltkey.ToUint64(first))
				continue
			}
			if j, ok := inGroup[b.Root]; ok {
				results[i] = results[j]
				continue
			}
			ov := rulebook.NewOverlay(gov)
			if err := s.check(ov, b); err != nil {
				results[i].err = err
				continue
			}
			gov.Put(ov.Changes()...)
			first := size
			for k := range b.Records {
				if err := w.record(size, &b.Records[k], req.canon[k]); err != nil {
					return err
				}
				if err := rng.Append(req.leaves[k], w.node); err != nil {
					return err
				}
				if w.err != nil {
					return w.err
				}
				size++
			}
			if err := w.flushIndex(first); err != nil {
				return err
			}
			h := header{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Root: b.Root, Signature: b.Signature,
				First: first, Count: len(b.Records), TreeSize: size}
			if err := w.batch(h); err != nil {
				return err
			}
			ids := make([]string, len(b.Records))
			for k := range b.Records {
				ids[k] = b.Records[k].ID
			}
			results[i].r = ledger.Receipt{BatchRoot: b.Root, FirstIndex: first, TreeSize: size, RecordIDs: ids}
			inGroup[b.Root] = i
		}
		if len(inGroup) == 0 {
			return nil
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return err
		}
		body := log.Checkpoint{Origin: s.origin, Size: size, Hash: root}.Marshal()
		checkpoint, err = note.Sign(&note.Note{Text: string(body)}, s.signer)
		if err != nil {
			return fmt.Errorf("embedded: sign checkpoint: %w", err)
		}
		if err := tx.Bucket(bCheckpoints).Put(boltkey.Uint64(size), checkpoint); err != nil {
			return err
		}
		if err := writeState(tx, gov.Changes(), size); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("size"), boltkey.Uint64(size))
	})
	if err != nil {
		s.opts.Logger.Error("ledger commit failed", "batches", len(group), "err", err)
		s.fail(group, fmt.Errorf("embedded: commit: %w", err))
		return
	}
	if len(inGroup) > 0 {
		s.cache.apply(gov.Changes())
		s.mu.Lock()
		s.rng, s.size, s.checkpoint = rng, size, checkpoint
		s.mu.Unlock()
	}
	for i, req := range group {
		req.done <- results[i]
	}
}

func (s *Store) fail(group []*request, err error) {
	for _, req := range group {
		req.done <- result{err: err}
	}
}

// check runs the writer, signature and rulebook checks of one batch into ov.
func (s *Store) check(ov *rulebook.Overlay, b *ledger.Batch) error {
	if b.Space != s.g.Space {
		return &ledger.RuleError{Rule: rulebook.RuleWriterSpace, Field: "space", Reason: fmt.Sprintf("batch is for space %q, this ledger is %q", b.Space, s.g.Space)}
	}
	key, err := rulebook.WriterKey(ov, b.Writer, b.KeyID)
	if err != nil {
		return err
	}
	if err := b.VerifySignature(key); err != nil {
		return err
	}
	return rulebook.ApplyRecords(ov, s.g, b)
}

func (s *Store) receiptAt(tx *bolt.Tx, first uint64) result {
	var h header
	if err := jsondec.Unmarshal(tx.Bucket(bBatches).Get(boltkey.Uint64(first)), &h); err != nil {
		return result{err: fmt.Errorf("embedded: batch header at %d: %w", first, err)}
	}
	r := ledger.Receipt{BatchRoot: h.Root, FirstIndex: h.First, TreeSize: h.TreeSize}
	recs := tx.Bucket(bRecords)
	for i := uint64(0); i < uint64(h.Count); i++ {
		var rec struct {
			ID string `json:"id"`
		}
		_ = jsondec.Unmarshal(recs.Get(boltkey.Uint64(first+i)), &rec)
		r.RecordIDs = append(r.RecordIDs, rec.ID)
	}
	return result{r: r}
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// writer puts one group's records, indexes and tree nodes into a transaction.
type writer struct {
	recs, ids, tree, idx, batches, roots *bolt.Bucket
	err                                  error
	// postings of the batch being written, flushed by flushIndex
	postings map[indexEntry][]uint64
	order    []indexEntry
}

func newWriter(tx *bolt.Tx) *writer {
	w := &writer{recs: tx.Bucket(bRecords), ids: tx.Bucket(bIDs), tree: tx.Bucket(bTree), idx: tx.Bucket(bIndex),
		batches: tx.Bucket(bBatches), roots: tx.Bucket(bRoots)}
	// Append-only buckets: fill pages fully.
	w.recs.FillPercent, w.tree.FillPercent, w.batches.FillPercent = 1, 0.9, 1
	tx.Bucket(bCheckpoints).FillPercent = 1
	return w
}

func (w *writer) node(id compact.NodeID, hash []byte) {
	if w.err == nil {
		w.err = w.tree.Put(boltkey.Node(id), hash)
	}
}

func (w *writer) record(index uint64, r *ledger.Record, canon []byte) error {
	k := boltkey.Uint64(index)
	if err := w.recs.Put(k, canon); err != nil {
		return err
	}
	if err := w.ids.Put([]byte(r.ID), k); err != nil {
		return err
	}
	for _, e := range indexEntries(r) {
		if w.postings == nil {
			w.postings = map[indexEntry][]uint64{}
		}
		if _, ok := w.postings[e]; !ok {
			w.order = append(w.order, e)
		}
		w.postings[e] = append(w.postings[e], index)
	}
	return nil
}

// flushIndex writes one index key per (field, value) for the batch that
// starts at first, holding the indexes of its records with that value: a
// batch of a thousand transfers under one agreement is one key, not a thousand.
func (w *writer) flushIndex(first uint64) error {
	for _, e := range w.order {
		list := w.postings[e]
		v := make([]byte, 8*len(list))
		for i, idx := range list {
			binary.BigEndian.PutUint64(v[8*i:], idx)
		}
		if err := w.idx.Put(indexKey(e.field, e.value, first), v); err != nil {
			return err
		}
	}
	clear(w.postings)
	w.order = w.order[:0]
	return nil
}

func (w *writer) batch(h header) error {
	v, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := w.batches.Put(boltkey.Uint64(h.First), v); err != nil {
		return err
	}
	return w.roots.Put(mustHex(h.Root), boltkey.Uint64(h.First))
}

// Index fields.
const (
	fParticipant = 'p'
	fDataset     = 'd'
	fAgreement   = 'a'
	fTransfer    = 't'
	fKind        = 'k'
	// fClassification and fRegion help regulators' queries.
	fClassification = 'c'
	fRegion         = 'r'
)

type indexEntry struct {
	field byte
	value string
}

func indexEntries(r *ledger.Record) []indexEntry {
	es := make([]indexEntry, 0, 6)
	es = append(es, indexEntry{fParticipant, r.Actor}, indexEntry{fKind, string(r.Kind)})
	if r.Counterparty != "" && r.Counterparty != r.Actor {
		es = append(es, indexEntry{fParticipant, r.Counterparty})
	}
	if r.Dataset != "" {
		es = append(es, indexEntry{fDataset, r.Dataset})
	}
	if r.Agreement != "" {
		es = append(es, indexEntry{fAgreement, r.Agreement})
	}
	if r.Transfer != "" {
		es = append(es, indexEntry{fTransfer, r.Transfer})
	}
	if r.Classification != "" {
		es = append(es, indexEntry{fClassification, string(r.Classification)})
	}
	// A region is indexed under itself and every area it lies in ("CN-BJ"
	// under "CN-BJ" and "CN"), as policy.IsPartOf matches, once per record.
	var areas []string
	for _, region := range []string{r.FromRegion, r.ToRegion} {
		region = strings.ToUpper(region)
		for region != "" {
			if !slices.Contains(areas, region) {
				areas = append(areas, region)
				es = append(es, indexEntry{fRegion, region})
			}
			i := strings.LastIndexByte(region, '-')
			if i < 0 {
				break
			}
			region = region[:i]
		}
	}
	return es
}

func indexPrefix(field byte, value string) []byte {
	k := make([]byte, 0, 2+len(value)+8)
	k = append(k, field)
	k = append(k, value...)
	return append(k, 0)
}

func indexKey(field byte, value string, index uint64) []byte {
	return append(indexPrefix(field, value), boltkey.Uint64(index)...)
}
