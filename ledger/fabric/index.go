package fabric

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// Head is a tree head: the tree's size and root.
type Head struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// index is a space's ledger as the channel's blocks order it. The chaincode
// commits each batch in its transaction's event (wire.EventBatches), marked
// under its own key; the order of the valid transactions in the blocks, and
// of the batches in a transaction's event, assigns the records their indexes. From that order the index builds the
// Merkle tree (every node kept, for proofs), one tree head per transaction,
// and the lookups the ledger's reads need. The ledger's follower and the
// audit (ReadChain) build it the same way, from the same blocks, so both get
// the same roots and proofs.
type index struct {
	hasher  merkle.LogHasher
	genesis []byte // as Init wrote it; nil until then

	batches []*ledger.StoredBatch
	tx      []txRef        // per batch: the transaction that wrote it
	byRoot  map[string]int // batch root -> position in batches
	byID    map[string]uint64
	records []slot              // by index
	post    map[string][]uint64 // postingKey -> record indexes, ascending
	levels  [][][]byte          // levels[l][i]: the hash of node (l, i)
	rng     *compact.Range
	heads   []Head  // after each transaction that added batches
	events  []Event // the same transactions with their receipts
}

// txRef is where a batch was committed.
type txRef struct {
	TxID  string
	Block uint64
}

// newIndex makes an empty index hashing with h (nil: RFC 6962 with SHA-256).
func newIndex(h merkle.LogHasher) *index {
	if h == nil {
		h = rfc6962.DefaultHasher
	}
	rf := &compact.RangeFactory{Hash: h.HashChildren}
	return &index{hasher: h, byRoot: map[string]int{}, byID: map[string]uint64{}, post: map[string][]uint64{}, rng: rf.NewEmptyRange(0)}
}

// slot is a record's place: its id and batch (whose Records hold its bytes).
type slot struct {
	id    string
	batch int
}

// keyFields are the fields of a record the lookups need, decoded when the
// block is read; the whole record is decoded when it is read.
type keyFields struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Actor        string `json:"actor"`
	Counterparty string `json:"counterparty"`
	Dataset      string `json:"dataset"`
	Agreement    string `json:"agreement"`
	Transfer     string `json:"transfer"`
}

func (x *index) size() uint64 { return uint64(len(x.records)) }

// entry decodes the record at index i.
func (x *index) entry(i uint64) (ledger.Entry, error) {
	s := x.records[i]
	b := x.batches[s.batch]
	e := ledger.Entry{Index: i, BatchRoot: b.Root}
	if err := json.Unmarshal(b.Records[i-b.FirstIndex], &e.Record); err != nil {
		return ledger.Entry{}, fmt.Errorf("fabric: record at index %d does not decode: %w", i, err)
	}
	return e, nil
}

// head is the current tree head.
func (x *index) head() Head {
	if len(x.heads) == 0 {
		return Head{Root: x.hasher.EmptyRoot()}
	}
	return x.heads[len(x.heads)-1]
}

// addTx adds what one valid transaction of the chaincode committed: the
// genesis (its writes), or new batches (its EventBatches payload), which
// take the next indexes in the order the chaincode checked them. It checks
// everything before it changes anything: a transaction it refuses leaves
// the index as it was.
func (x *index) addTx(block uint64, txID string, w *endorsedWrites) error {
	var genesis []byte
	for _, kv := range w.writes {
		if kv.Key == wire.KeyGenesis {
			genesis = kv.Value
		}
	}
	payload := w.payload
	switch w.event {
	case wire.EventBatches:
	case wire.EventBatchesDeflate:
		var err error
		if payload, err = wire.Inflate("event "+wire.EventBatchesDeflate, payload); err != nil {
			return err
		}
	default:
		if genesis != nil {
			return x.setGenesis(genesis)
		}
		return nil
	}
	var ws []*wire.Written
	if err := json.Unmarshal(payload, &ws); err != nil {
		return fmt.Errorf("event %s: %w", w.event, err)
	}
	marked := map[string]bool{}
	for _, kv := range w.writes {
		if strings.HasPrefix(kv.Key, wire.KeyBatch) && !kv.IsDelete {
			marked[kv.Key[len(wire.KeyBatch):]] = true
		}
	}
	if len(ws) == 0 {
		return fmt.Errorf("event %s names no batch", w.event)
	}
	roots, ids := map[string]bool{}, map[string]bool{}
	keys := make([][]keyFields, len(ws))
	for n, b := range ws {
		if b == nil || len(b.Records) == 0 {
			return fmt.Errorf("event %s: batch %d has no records", w.event, n)
		}
		if _, dup := x.byRoot[b.Root]; dup || roots[b.Root] {
			return fmt.Errorf("batch %s written twice", b.Root)
		}
		if !marked[b.Root] {
			return fmt.Errorf("batch %s in the event is not marked in the writes", b.Root)
		}
		roots[b.Root] = true
		keys[n] = make([]keyFields, len(b.Records))
		for k, raw := range b.Records {
			f := &keys[n][k]
			if err := json.Unmarshal(raw, f); err != nil || f.ID == "" {
				return fmt.Errorf("batch %s: record %d does not decode (%v)", b.Root, k, err)
			}
			if _, dup := x.byID[f.ID]; dup || ids[f.ID] {
				return fmt.Errorf("batch %s: record id %s written twice", b.Root, f.ID)
			}
			ids[f.ID] = true
		}
	}
	if genesis != nil {
		return fmt.Errorf("the genesis written with batches")
	}
	ev := Event{Block: block, TxID: txID}
	for n, b := range ws {
		x.addBatch(b, keys[n], txRef{TxID: txID, Block: block})
		ev.Batches = append(ev.Batches, x.receipt(len(x.batches)-1))
	}
	root, _ := x.rng.GetRootHash(nil) // a range from 0 always has a root
	x.heads = append(x.heads, Head{Size: x.size(), Root: root})
	ev.TreeSize, ev.Root = x.size(), root
	x.events = append(x.events, ev)
	return nil
}

// setGenesis takes the space's genesis: its crypto suite's hash builds the
// tree (the hash is a parameter of the index, fixed by the genesis).
func (x *index) setGenesis(raw []byte) error {
	var g ledger.Genesis
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if err := g.CheckSuite(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if x.genesis != nil || x.size() > 0 {
		return fmt.Errorf("genesis written again")
	}
	x.genesis = raw
	x.hasher = g.CryptoSuite().Merkle()
	x.rng = (&compact.RangeFactory{Hash: x.hasher.HashChildren}).NewEmptyRange(0)
	return nil
}

// addBatch appends a checked batch.
func (x *index) addBatch(w *wire.Written, keys []keyFields, ref txRef) {
	first := x.size()
	sb := &ledger.StoredBatch{Space: w.Space, Writer: w.Writer, KeyID: w.KeyID, Root: w.Root, Signature: w.Signature,
		FirstIndex: first, TreeSize: first + uint64(len(w.Records)), Records: w.Records, Leaves: make([][]byte, len(w.Records))}
	for k, raw := range w.Records {
		i := first + uint64(k)
		sb.Leaves[k] = x.hasher.HashLeaf(raw)
		// Appending at the range's end cannot fail.
		_ = x.rng.Append(sb.Leaves[k], x.keep)
		x.byID[keys[k].ID] = i
		for _, pk := range postingKeys(&keys[k]) {
			x.post[pk] = append(x.post[pk], i)
		}
		x.records = append(x.records, slot{id: keys[k].ID, batch: len(x.batches)})
	}
	x.byRoot[w.Root] = len(x.batches)
	x.batches = append(x.batches, sb)
	x.tx = append(x.tx, ref)
}

// keep stores a node of the tree (a compact.VisitFn).
func (x *index) keep(id compact.NodeID, hash []byte) {
	for uint(len(x.levels)) <= id.Level {
		x.levels = append(x.levels, nil)
	}
	l := x.levels[id.Level]
	if uint64(len(l)) != id.Index { // nodes of a level arrive in order
		panic(fmt.Sprintf("fabric: tree node (%d,%d) out of order", id.Level, id.Index))
	}
	x.levels[id.Level] = append(l, hash)
}

// receipt is the receipt of the batch at position i.
func (x *index) receipt(i int) ledger.Receipt {
	b := x.batches[i]
	ids := make([]string, len(b.Records))
	for k := range ids {
		ids[k] = x.records[b.FirstIndex+uint64(k)].id
	}
	return ledger.Receipt{BatchRoot: b.Root, FirstIndex: b.FirstIndex, TreeSize: b.TreeSize, RecordIDs: ids}
}

// proof returns the hashes of a proof's nodes.
func (x *index) proof(ns proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(ns.IDs))
	for i, id := range ns.IDs {
		if id.Level >= uint(len(x.levels)) || id.Index >= uint64(len(x.levels[id.Level])) {
			return nil, fmt.Errorf("fabric: tree node (%d,%d) not built", id.Level, id.Index)
		}
		hashes[i] = x.levels[id.Level][id.Index]
	}
	return ns.Rehash(hashes, x.hasher.HashChildren)
}

// inclusion proves the record at index is in the tree of the given size.
func (x *index) inclusion(index, size uint64) ([][]byte, error) {
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return x.proof(ns)
}

// consistency proves the tree of size from is a prefix of the tree of size to.
func (x *index) consistency(from, to uint64) ([][]byte, error) {
	if to > x.size() || from > to {
		return nil, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "from,to",
			Reason: fmt.Sprintf("need 0 <= from <= to <= %d, got %d, %d", x.size(), from, to)}
	}
	ns, err := proof.Consistency(from, to)
	if err != nil {
		return nil, err
	}
	return x.proof(ns)
}

// query returns one page of records matching q in ledger order. The cursor
// is the index of the next record to look at.
func (x *index) query(q ledger.Query) (ledger.Page, error) {
	if err := q.Normalize(); err != nil {
		return ledger.Page{}, err
	}
	var from uint64
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil {
			return ledger.Page{}, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "cursor", Reason: "not a cursor this ledger returned"}
		}
		from = n
	}
	page := ledger.Page{Records: []ledger.Entry{}}
	take := func(i uint64) (bool, error) {
		if len(page.Records) == q.Limit {
			page.Next = strconv.FormatUint(i, 10)
			return false, nil
		}
		e, err := x.entry(i)
		if err != nil {
			return false, err
		}
		if q.Matches(&e.Record) {
			page.Records = append(page.Records, e)
		}
		return true, nil
	}
	if pk, ok := postingFor(&q); ok {
		list := x.post[pk]
		start, _ := slices.BinarySearch(list, from)
		for _, i := range list[start:] {
			if more, err := take(i); !more || err != nil {
				return page, err
			}
		}
		return page, nil
	}
	for i := from; i < x.size(); i++ {
		if more, err := take(i); !more || err != nil {
			return page, err
		}
	}
	return page, nil
}

// postingKeys are the lookups a record is listed under.
func postingKeys(r *keyFields) []string {
	ks := []string{"p\x00" + r.Actor, "k\x00" + r.Kind}
	if r.Counterparty != "" && r.Counterparty != r.Actor {
		ks = append(ks, "p\x00"+r.Counterparty)
	}
	for _, f := range [][2]string{{"d", r.Dataset}, {"a", r.Agreement}, {"t", r.Transfer}} {
		if f[1] != "" {
			ks = append(ks, f[0]+"\x00"+f[1])
		}
	}
	return ks
}

// postingFor picks the most selective lookup the query can use.
func postingFor(q *ledger.Query) (string, bool) {
	switch {
	case q.Transfer != "":
		return "t\x00" + q.Transfer, true
	case q.Agreement != "":
		return "a\x00" + q.Agreement, true
	case q.Dataset != "":
		return "d\x00" + q.Dataset, true
	case q.Participant != "":
		return "p\x00" + q.Participant, true
	case q.Kind != "":
		return "k\x00" + string(q.Kind), true
	}
	return "", false
}

// headsFrom returns the tree heads of size from or more, at most limit.
func (x *index) headsFrom(from uint64, limit int) []Head {
	i := sort.Search(len(x.heads), func(i int) bool { return x.heads[i].Size >= from })
	return x.heads[i:min(len(x.heads), i+limit)]
}

// batchesFrom returns the batches from the one holding index from.
func (x *index) batchesFrom(from uint64) []*ledger.StoredBatch {
	i := sort.Search(len(x.batches), func(i int) bool { return x.batches[i].TreeSize > from })
	return x.batches[i:]
}
