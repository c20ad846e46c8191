package fabric

import (
	"cmp"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/internal/jsondec"
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
// of the batches in a transaction's event, assigns the records their
// indexes. From that order the index builds the Merkle tree (every node
// kept, for proofs), one tree head per transaction, and the lookups the
// ledger's reads need, all kept in its store (memory or disk). The ledger's
// follower and the audit (ReadChain) build it the same way, from the same
// blocks, so both get the same roots and proofs.
type index struct {
	hasher  merkle.LogHasher
	genesis []byte // as Init wrote it; nil until then
	st      indexStore

	rng     *compact.Range // the tree's right edge
	batches int
	heads   int // tree heads, one per transaction that added batches
	last    Head
	putErr  error // the first error of a putNode during addBatch
	// noKeys: the records' ids and lookup fields are not read (the audit's
	// walk, whose store keeps neither: the verifier decodes every record
	// and its rulebook replay refuses an id seen before).
	noKeys bool
}

// txRef is where a batch was committed.
type txRef struct {
	TxID  string `json:"txId"`
	Block uint64 `json:"block"`
}

// newIndex makes an empty index in memory hashing with h (nil: RFC 6962
// with SHA-256).
func newIndex(h merkle.LogHasher) *index {
	if h == nil {
		h = rfc6962.DefaultHasher
	}
	rf := &compact.RangeFactory{Hash: h.HashChildren}
	return &index{hasher: h, st: newMemStore(), rng: rf.NewEmptyRange(0)}
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

func (x *index) size() uint64 { return x.rng.End() }

// entry decodes the record at index i.
func (x *index) entry(i uint64) (ledger.Entry, error) {
	raw, _, root, err := x.st.record(i)
	if err != nil {
		return ledger.Entry{}, err
	}
	e := ledger.Entry{Index: i, BatchRoot: root}
	if err := jsondec.Unmarshal(raw, &e.Record); err != nil {
		return ledger.Entry{}, fmt.Errorf("fabric: record at index %d does not decode: %w", i, err)
	}
	return e, nil
}

// head is the current tree head.
func (x *index) head() Head {
	if x.heads == 0 {
		return Head{Root: x.hasher.EmptyRoot()}
	}
	return x.last
}

// addTx adds what one valid transaction of the chaincode committed: the
// genesis (its writes), or new batches (its EventBatches payload), which
// take the next indexes in the order the chaincode checked them. It checks
// everything before it changes anything: a transaction it refuses leaves
// the index as it was.
func (x *index) addTx(block uint64, txID string, w *endorsedWrites) error {
	d, err := decodeTx(w, x.noKeys, nil)
	if err != nil {
		return err
	}
	_, err = x.addDecoded(block, txID, d)
	return err
}

// decodedTx is a transaction of the chaincode as decodeTx reads it, before
// the index checks it against what it holds.
type decodedTx struct {
	event   string
	genesis []byte // the genesis, if written
	*decodedBatches
	marked map[string]bool // the batch roots its writes mark
}

// decodedBatches is the payload of an EventBatches event decoded: its
// batches, and each batch's records' key fields (nil with noKeys).
type decodedBatches struct {
	ws   []*wire.Written
	keys [][]keyFields
}

// decodeTx reads what the index needs of a transaction of the chaincode:
// its event's batches (inflated and decoded) and, unless noKeys, each
// record's key fields. It reads nothing of the index, so a follower
// decodes blocks ahead of the one it adds (prepareAhead). own, if not nil,
// gives the batches of a payload this client sent, decoded while the
// transaction was endorsed (see ownTxs).
func decodeTx(w *endorsedWrites, noKeys bool, own *ownTxs) (*decodedTx, error) {
	d := &decodedTx{event: w.event}
	for _, kv := range w.writes {
		if kv.Key == wire.KeyGenesis {
			d.genesis = kv.Value
		}
	}
	if w.event != wire.EventBatches && w.event != wire.EventBatchesDeflate {
		return d, nil
	}
	if d.decodedBatches = own.decoded(w); d.decodedBatches == nil {
		payload := w.payload
		if w.event == wire.EventBatchesDeflate {
			var err error
			if payload, err = wire.Inflate("event "+wire.EventBatchesDeflate, payload); err != nil {
				return nil, err
			}
		}
		var err error
		if d.decodedBatches, err = decodeBatches(w.event, payload, noKeys); err != nil {
			return nil, err
		}
	}
	d.marked = map[string]bool{}
	for _, kv := range w.writes {
		if strings.HasPrefix(kv.Key, wire.KeyBatch) && !kv.IsDelete {
			d.marked[kv.Key[len(wire.KeyBatch):]] = true
		}
	}
	return d, nil
}

// decodeBatches decodes the (inflated) payload p of an event: its batches,
// each with records, and unless noKeys each record's key fields.
func decodeBatches(event string, p []byte, noKeys bool) (*decodedBatches, error) {
	d := &decodedBatches{}
	if err := jsondec.Unmarshal(p, &d.ws); err != nil {
		return nil, fmt.Errorf("event %s: %w", event, err)
	}
	if len(d.ws) == 0 {
		return nil, fmt.Errorf("event %s names no batch", event)
	}
	d.keys = make([][]keyFields, len(d.ws))
	for n, b := range d.ws {
		if b == nil || len(b.Records) == 0 {
			return nil, fmt.Errorf("event %s: batch %d has no records", event, n)
		}
		if noKeys {
			continue
		}
		d.keys[n] = make([]keyFields, len(b.Records))
		for k, raw := range b.Records {
			f := &d.keys[n][k]
			if err := jsondec.Unmarshal(raw, f); err != nil || f.ID == "" {
				return nil, fmt.Errorf("batch %s: record %d does not decode (%v)", b.Root, k, err)
			}
		}
	}
	return d, nil
}

// addDecoded adds a decoded transaction (see addTx) and returns its event
// (nil for one that added no batches).
func (x *index) addDecoded(block uint64, txID string, d *decodedTx) (*Event, error) {
	if d.decodedBatches == nil {
		if d.genesis != nil {
			return nil, x.setGenesis(d.genesis)
		}
		return nil, nil
	}
	ws, keys, genesis := d.ws, d.keys, d.genesis
	roots, ids := map[string]bool{}, map[string]bool{}
	for n, b := range ws {
		if _, dup, err := x.st.batchPos(b.Root); err != nil {
			return nil, err
		} else if dup || roots[b.Root] {
			return nil, fmt.Errorf("batch %s written twice", b.Root)
		}
		if !d.marked[b.Root] {
			return nil, fmt.Errorf("batch %s in the event is not marked in the writes", b.Root)
		}
		roots[b.Root] = true
		for _, f := range keys[n] {
			if _, dup, err := x.st.recordIndex(f.ID); err != nil {
				return nil, err
			} else if dup || ids[f.ID] {
				return nil, fmt.Errorf("batch %s: record id %s written twice", b.Root, f.ID)
			}
			ids[f.ID] = true
		}
	}
	if genesis != nil {
		return nil, fmt.Errorf("the genesis written with batches")
	}
	ev := Event{Block: block, TxID: txID}
	for n, b := range ws {
		sb, err := x.addBatch(b, keys[n], txRef{TxID: txID, Block: block})
		if err != nil {
			return nil, err
		}
		ev.Batches = append(ev.Batches, sb.receipt())
	}
	root, _ := x.rng.GetRootHash(nil) // a range from 0 always has a root
	h := Head{Size: x.size(), Root: root}
	ev.TreeSize, ev.Root = h.Size, root
	if err := x.st.putHead(h); err != nil {
		return nil, err
	}
	if err := x.st.putEvent(x.heads, ev); err != nil {
		return nil, err
	}
	x.heads++
	x.last = h
	return &ev, nil
}

// setGenesis takes the space's genesis: its crypto suite's hash builds the
// tree (the hash is a parameter of the index, fixed by the genesis).
func (x *index) setGenesis(raw []byte) error {
	h, err := genesisHasher(raw)
	if err != nil {
		return err
	}
	if x.genesis != nil || x.size() > 0 {
		return fmt.Errorf("genesis written again")
	}
	if err := x.st.putGenesis(raw); err != nil {
		return err
	}
	x.genesis = raw
	x.useHasher(h)
	x.rng = (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	return nil
}

// genesisHasher is the tree hash of the space whose genesis is raw.
func genesisHasher(raw []byte) (merkle.LogHasher, error) {
	var g ledger.Genesis
	if err := jsondec.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if err := g.CheckSuite(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return g.CryptoSuite().Merkle(), nil
}

// useHasher makes h the tree hash of the index and of its store's leaves.
func (x *index) useHasher(h merkle.LogHasher) {
	x.hasher = h
	x.st.hashLeaves(h.HashLeaf)
}

// addBatch appends a checked batch, its records' keys read by addTx (nil
// with noKeys). An error is the store's: the follower stops at the block,
// whose writes the store does not keep.
func (x *index) addBatch(w *wire.Written, keys []keyFields, ref txRef) (*storedBatch, error) {
	first := x.size()
	sb := &storedBatch{StoredBatch: &ledger.StoredBatch{Space: w.Space, Writer: w.Writer, KeyID: w.KeyID, Root: w.Root, Signature: w.Signature,
		FirstIndex: first, TreeSize: first + uint64(len(w.Records)), Records: w.Records, Leaves: make([][]byte, len(w.Records))},
		Ref: ref, IDs: make([]string, len(w.Records))}
	pks := make([][]string, len(w.Records))
	for k, raw := range w.Records {
		sb.Leaves[k] = x.hasher.HashLeaf(raw)
		// Appending at the range's end cannot fail.
		_ = x.rng.Append(sb.Leaves[k], x.keep)
		if keys != nil {
			sb.IDs[k] = keys[k].ID
			pks[k] = postingKeys(&keys[k])
		}
	}
	if x.putErr != nil {
		return nil, x.putErr
	}
	if err := x.st.putBatch(x.batches, sb, pks); err != nil {
		return nil, err
	}
	x.batches++
	return sb, nil
}

// keep stores a node of the tree (a compact.VisitFn).
func (x *index) keep(id compact.NodeID, hash []byte) {
	if err := x.st.putNode(id, hash); err != nil && x.putErr == nil {
		x.putErr = err
	}
}

// receipt is the batch's receipt.
func (b *storedBatch) receipt() ledger.Receipt {
	return ledger.Receipt{BatchRoot: b.Root, FirstIndex: b.FirstIndex, TreeSize: b.TreeSize, RecordIDs: b.IDs}
}

// proof returns the hashes of a proof's nodes.
func (x *index) proof(ns proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(ns.IDs))
	for i, id := range ns.IDs {
		h, err := x.st.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
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
		return page, x.st.postings(pk, from, take)
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
func (x *index) headsFrom(from uint64, limit int) ([]Head, error) {
	return x.st.headsFrom(from, limit)
}

// batchesFrom returns up to limit batches, with their records' bytes and
// leaves, from the one holding index from; next is the index to ask from
// for the batches after them, or 0 when there are none.
func (x *index) batchesFrom(from uint64, limit int) (bs []*ledger.StoredBatch, next uint64, err error) {
	if from >= x.size() {
		return nil, 0, nil
	}
	_, _, root, err := x.st.record(from)
	if err != nil {
		return nil, 0, err
	}
	pos, _, err := x.st.batchPos(root)
	if err != nil {
		return nil, 0, err
	}
	for ; pos < x.batches && len(bs) < limit; pos++ {
		b, err := x.st.batch(pos, true)
		if err != nil {
			return nil, 0, err
		}
		bs = append(bs, b.StoredBatch)
	}
	if pos < x.batches {
		next = bs[len(bs)-1].TreeSize
	}
	return bs, next, nil
}

// firstEvent is the position of the first event in block from or later
// (the count of events if none is yet).
func (x *index) firstEvent(from uint64) (int, error) {
	var err error
	n := sort.Search(x.heads, func(i int) bool {
		evs, e := x.st.events(i, 1)
		if e != nil || len(evs) == 0 {
			err = cmp.Or(err, e, fmt.Errorf("fabric: no event %d in the index", i))
			return true
		}
		return evs[0].Block >= from
	})
	return n, err
}

// batchByRoot returns the batch of that root, nil if the index holds none.
func (x *index) batchByRoot(root string) (*storedBatch, error) {
	pos, ok, err := x.st.batchPos(root)
	if err != nil || !ok {
		return nil, err
	}
	return x.st.batch(pos, false)
}

// update runs fn, which adds a block, in one update of the store. If it
// fails, the store keeps nothing of it, and the index reads its state back
// from the store; in memory, what fn added before it failed stays (the
// follower stops at that block either way).
func (x *index) update(fn func() error) error {
	err := x.st.update(fn)
	if d, ok := x.st.(*diskStore); ok && err != nil {
		return x.readBack(d, err)
	}
	return err
}

// readBack reads the index's state back from its file d after err, which
// stopped an update: the file holds none of it.
func (x *index) readBack(d *diskStore, err error) error {
	if lerr := x.load(d); lerr != nil {
		return fmt.Errorf("%w; reading the index back: %v", err, lerr)
	}
	return err
}

// persistent says whether the index is kept in a file.
func (x *index) persistent() bool {
	_, ok := x.st.(*diskStore)
	return ok
}

// openIndexFile opens the index kept in the file at path for the chaincode
// on the channel (see openDiskStore), read back as load does.
func openIndexFile(path, channel, chaincode string) (*index, *diskStore, error) {
	st, err := openDiskStore(path, channel, chaincode)
	if err != nil {
		return nil, nil, err
	}
	x := newIndex(nil)
	x.st = st
	if err := x.load(st); err != nil {
		st.close()
		return nil, nil, fmt.Errorf("fabric: index file %s: %w", path, err)
	}
	return x, st, nil
}

// load reads the index's state from its file: the genesis (and with it the
// tree hash), the counts, the last head and the tree's right edge.
func (x *index) load(d *diskStore) error {
	st, err := d.state()
	if err != nil {
		return err
	}
	x.genesis, x.batches, x.heads, x.last, x.putErr = st.genesis, st.batches, st.heads, st.last, nil
	h := merkle.LogHasher(rfc6962.DefaultHasher)
	if x.genesis != nil {
		if h, err = genesisHasher(x.genesis); err != nil {
			return err
		}
	}
	x.useHasher(h)
	var hashes [][]byte
	for _, id := range compact.RangeNodes(0, st.last.Size, nil) {
		n, err := x.st.node(id)
		if err != nil {
			return err
		}
		hashes = append(hashes, n)
	}
	x.rng, err = (&compact.RangeFactory{Hash: h.HashChildren}).NewRange(0, st.last.Size, hashes)
	return err
}
