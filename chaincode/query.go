package chaincode

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/transparency-dev/merkle/proof"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// readStore is what the queries need of the peer.
type readStore interface {
	store
	GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error)
	CreateCompositeKey(objectType string, attributes []string) (string, error)
	SplitCompositeKey(compositeKey string) (string, []string, error)
	GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error)
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ledger.ErrNotFound, fmt.Sprintf(format, args...))
}

// record returns a record with its inclusion proof in the current tree.
func record(st store, g ledger.Genesis, id string) (*wire.Proven, error) {
	ws := newWorldState(st, g)
	if err := ws.prefetch([]string{keyID(id), keyHead}); err != nil {
		return nil, err
	}
	pos := ws.cache[keyID(id)]
	if pos == nil {
		return nil, notFound("record %s", id)
	}
	index, err := parsePosition(string(pos))
	if err != nil {
		return nil, fmt.Errorf("chaincode: index of record %s: %w", id, err)
	}
	head, err := readHead(ws)
	if err != nil {
		return nil, err
	}
	e, err := entryAt(ws, index)
	if err != nil {
		return nil, err
	}
	pf, err := inclusion(ws, index, head.Size)
	if err != nil {
		return nil, err
	}
	return &wire.Proven{Entry: e, Proof: pf, Head: *head}, nil
}

func entryAt(ws *worldState, index uint64) (ledger.Entry, error) {
	v, err := ws.get(keyRecord(index))
	if err != nil {
		return ledger.Entry{}, err
	}
	if v == nil {
		return ledger.Entry{}, notFound("record at index %d", index)
	}
	return decodeEntry(index, v)
}

func decodeEntry(index uint64, v []byte) (ledger.Entry, error) {
	var se entry
	if err := json.Unmarshal(v, &se); err != nil {
		return ledger.Entry{}, fmt.Errorf("chaincode: record at index %d does not decode: %w", index, err)
	}
	e := ledger.Entry{Index: index, BatchRoot: se.Batch}
	if err := json.Unmarshal(se.Record, &e.Record); err != nil {
		return ledger.Entry{}, fmt.Errorf("chaincode: record at index %d does not decode: %w", index, err)
	}
	return e, nil
}

func inclusion(ws *worldState, index, size uint64) ([][]byte, error) {
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, notFound("%v", err)
	}
	return fetch(ws, ns)
}

// consistency proves the tree of size from is a prefix of the tree of size to.
func consistency(st store, g ledger.Genesis, from, to uint64) ([][]byte, error) {
	ws := newWorldState(st, g)
	head, err := readHead(ws)
	if err != nil {
		return nil, err
	}
	if to > head.Size || from > to {
		return nil, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "from,to",
			Reason: fmt.Sprintf("need 0 <= from <= to <= %d, got %d, %d", head.Size, from, to)}
	}
	ns, err := proof.Consistency(from, to)
	if err != nil {
		return nil, err
	}
	return fetch(ws, ns)
}

// query returns one page of records matching q in ledger order. The cursor
// is the index of the next record to look at.
func query(st readStore, g ledger.Genesis, q ledger.Query) (*ledger.Page, error) {
	if err := q.Normalize(); err != nil {
		return nil, err
	}
	var from uint64
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil {
			return nil, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "cursor", Reason: "not a cursor this ledger returned"}
		}
		from = n
	}
	ws := newWorldState(st, g)
	page := &ledger.Page{Records: []ledger.Entry{}}
	// take adds e if it matches; it reports false once the page is full,
	// setting the cursor to e's index.
	take := func(e ledger.Entry) bool {
		if len(page.Records) == q.Limit {
			page.Next = strconv.FormatUint(e.Index, 10)
			return false
		}
		if q.Matches(&e.Record) {
			page.Records = append(page.Records, e)
		}
		return true
	}
	ix, value, ok := indexFor(&q)
	if !ok {
		return page, scanLog(st, from, take)
	}
	return page, scanIndex(st, ws, ix, value, from, q.Limit, take)
}

// scanLog walks the records from index from in ledger order.
func scanLog(st readStore, from uint64, take func(ledger.Entry) bool) error {
	it, err := st.GetStateByRange(keyRecord(from), "r0")
	if err != nil {
		return err
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return err
		}
		index, err := parsePosition(kv.Key[2:])
		if err != nil {
			return fmt.Errorf("chaincode: record key %q: %w", kv.Key, err)
		}
		e, err := decodeEntry(index, kv.Value)
		if err != nil {
			return err
		}
		if !take(e) {
			return nil
		}
	}
	return nil
}

// scanIndex walks one index value's records from index from, a page of
// index entries (one per batch) at a time.
func scanIndex(st readStore, ws *worldState, ix, value string, from uint64, limit int, take func(ledger.Entry) bool) error {
	start, err := batchStart(ws, from)
	if err != nil {
		return err
	}
	bookmark, err := st.CreateCompositeKey(ix, []string{value, indexPosition(start)})
	if err != nil {
		return err
	}
	const pageSize = 64
	for {
		it, meta, err := st.GetStateByPartialCompositeKeyWithPagination(ix, []string{value}, pageSize, bookmark)
		if err != nil {
			return err
		}
		var indexes []uint64
		entries := 0
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				it.Close()
				return err
			}
			entries++
			first, offsets, err := decodeIndexEntry(st, kv.Key, kv.Value)
			if err != nil {
				it.Close()
				return err
			}
			for _, o := range offsets {
				if n := first + uint64(o); n >= from {
					indexes = append(indexes, n)
				}
			}
		}
		it.Close()
		// Read the page's records in round trips of at most limit+1.
		for len(indexes) > 0 {
			chunk := indexes[:min(len(indexes), limit+1)]
			indexes = indexes[len(chunk):]
			keys := make([]string, len(chunk))
			for i, n := range chunk {
				keys[i] = keyRecord(n)
			}
			if err := ws.prefetch(keys); err != nil {
				return err
			}
			for _, n := range chunk {
				e, err := entryAt(ws, n)
				if err != nil {
					return err
				}
				if !take(e) {
					return nil
				}
			}
		}
		if meta == nil || meta.Bookmark == "" || entries < pageSize {
			return nil
		}
		bookmark = meta.Bookmark
	}
}

func decodeIndexEntry(st readStore, key string, value []byte) (uint64, []int, error) {
	_, attrs, err := st.SplitCompositeKey(key)
	if err != nil || len(attrs) != 2 {
		return 0, nil, fmt.Errorf("chaincode: index key %q: %v", key, err)
	}
	first, err := parsePosition(attrs[1])
	if err != nil {
		return 0, nil, fmt.Errorf("chaincode: index key %q: %w", key, err)
	}
	var offsets []int
	if err := json.Unmarshal(value, &offsets); err != nil {
		return 0, nil, fmt.Errorf("chaincode: index entry %q: %w", key, err)
	}
	return first, offsets, nil
}

// batchStart is the index of the first record of the batch holding index
// from (from itself if there is no such record).
func batchStart(ws *worldState, from uint64) (uint64, error) {
	if from == 0 {
		return 0, nil
	}
	v, err := ws.get(keyRecord(from))
	if err != nil || v == nil {
		return from, err
	}
	e, err := decodeEntry(from, v)
	if err != nil {
		return 0, err
	}
	b, err := getJSON[wire.StoredBatch](ws, keyBatch(e.BatchRoot))
	if err != nil || b == nil {
		return from, err
	}
	return b.FirstIndex, nil
}

// indexFor picks the most selective index the query can use.
func indexFor(q *ledger.Query) (ix, value string, ok bool) {
	switch {
	case q.Transfer != "":
		return ixTransfer, q.Transfer, true
	case q.Agreement != "":
		return ixAgreement, q.Agreement, true
	case q.Dataset != "":
		return ixDataset, q.Dataset, true
	case q.Participant != "":
		return ixParticipant, q.Participant, true
	case q.Kind != "":
		return ixKind, string(q.Kind), true
	}
	return "", "", false
}

// storedBatches returns the committed batches from the one holding index
// from, with their records' stored bytes and leaf hashes, stopping after
// about maxRecords records (always whole batches).
func storedBatches(st readStore, g ledger.Genesis, from uint64, maxRecords int) ([]*ledger.StoredBatch, error) {
	ws := newWorldState(st, g)
	start, err := batchStart(ws, from)
	if err != nil {
		return nil, err
	}
	it, err := st.GetStateByRange(keyRecord(start), "r0")
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*ledger.StoredBatch
	n := 0
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		var e entry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("chaincode: record %s does not decode: %w", kv.Key, err)
		}
		if len(out) == 0 || out[len(out)-1].Root != e.Batch {
			if n >= maxRecords {
				break
			}
			h, err := getJSON[wire.StoredBatch](ws, keyBatch(e.Batch))
			if err != nil {
				return nil, err
			}
			if h == nil {
				return nil, fmt.Errorf("chaincode: batch %s of record %s missing", e.Batch, kv.Key)
			}
			out = append(out, &ledger.StoredBatch{Space: h.Space, Writer: h.Writer, KeyID: h.KeyID, Root: h.Root,
				Signature: h.Signature, FirstIndex: h.FirstIndex, TreeSize: h.TreeSize})
		}
		b := out[len(out)-1]
		b.Records = append(b.Records, e.Record)
		b.Leaves = append(b.Leaves, g.CryptoSuite().Merkle().HashLeaf(e.Record))
		n++
	}
	return out, nil
}

// heads returns the tree heads after each Append, from tree size from.
func heads(st readStore, from uint64, limit int) ([]wire.Head, error) {
	it, err := st.GetStateByRange(keyHeadAt(from), "hh0")
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []wire.Head
	for it.HasNext() && len(out) < limit {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		size, err := parsePosition(kv.Key[3:])
		if err != nil {
			return nil, fmt.Errorf("chaincode: head key %q: %w", kv.Key, err)
		}
		out = append(out, wire.Head{Size: size, Root: kv.Value})
	}
	return out, nil
}
