package fabric

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/suite"
)

// committed is what an Append transaction of bs commits: the batch markers
// and record ids in its writes (listed by key, as Fabric does) and the
// batches in its event.
func committed(t testing.TB, bs []*ledger.Batch) *endorsedWrites {
	t.Helper()
	var ws []*kvrwset.KVWrite
	var ev []*wire.Written
	for _, b := range bs {
		canon, err := b.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		ev = append(ev, wire.NewWritten(b, canon))
		ws = append(ws, &kvrwset.KVWrite{Key: wire.KeyBatch + b.Root, Value: []byte{1}})
		for _, r := range b.Records {
			ws = append(ws, &kvrwset.KVWrite{Key: "i/" + r.ID, Value: []byte{1}})
		}
	}
	slices.SortFunc(ws, func(a, b *kvrwset.KVWrite) int { return strings.Compare(a.Key, b.Key) })
	p, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	z, err := wire.Deflate(p)
	if err != nil {
		t.Fatal(err)
	}
	return &endorsedWrites{writes: ws, event: wire.EventBatchesDeflate, payload: z}
}

// plainPayload is the uncompressed EventBatches payload of a transaction
// committed writes (the form of blocks written before the compression).
func plainPayload(t testing.TB, tx *endorsedWrites) []byte {
	t.Helper()
	p, err := wire.Inflate("event "+wire.EventBatchesDeflate, tx.payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// genesisIndex is an index (in memory, or in a file if disk) holding
// only the genesis transaction of g.
func genesisIndex(t *testing.T, g ledger.Genesis, disk bool) *index {
	t.Helper()
	x := emptyIndex(t, disk)
	if err := addTx(x, 1, "tx-init", genesisTx(t, g)); err != nil {
		t.Fatal(err)
	}
	return x
}

// genesisTx is the transaction that initialises the chaincode with g.
func genesisTx(t *testing.T, g ledger.Genesis) *endorsedWrites {
	t.Helper()
	raw, err := json.Marshal(&g)
	if err != nil {
		t.Fatal(err)
	}
	return &endorsedWrites{writes: []*kvrwset.KVWrite{{Key: wire.KeyGenesis, Value: raw}}}
}

// emptyIndex is an empty index in memory, or in a new file if disk.
func emptyIndex(t testing.TB, disk bool) *index {
	t.Helper()
	if !disk {
		return newIndex(nil)
	}
	return fileIndex(t, filepath.Join(t.TempDir(), "index.db"))
}

// fileIndex opens the index in the file at path (closed when t ends).
func fileIndex(t testing.TB, path string) *index {
	t.Helper()
	x, st, err := openIndexFile(path, "ch", "cc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	return x
}

// addTx adds one transaction in one update of x's store, as the follower
// adds a block.
func addTx(x *index, block uint64, txID string, w *endorsedWrites) error {
	return x.update(func() error { return x.addTx(block, txID, w) })
}

// stores runs fn as a subtest with an index of each store.
func stores(t *testing.T, fn func(t *testing.T, disk bool)) {
	for _, disk := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "file"}[disk], func(t *testing.T) { fn(t, disk) })
	}
}

// batchAt is the batch at position pos, with its records and leaves.
func batchAt(t testing.TB, x *index, pos int) *storedBatch {
	t.Helper()
	b, err := x.st.batch(pos, true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allHeads is every tree head of x.
func allHeads(t testing.TB, x *index) []Head {
	t.Helper()
	hs, err := x.headsFrom(0, x.heads)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// streamTxs groups a workload into transactions as concurrent writers
// would: the setup, then each stream's i-th batch together.
func streamTxs(w *ledgertest.Workload) [][]*ledger.Batch {
	txs := [][]*ledger.Batch{w.Setup}
	for i := 0; ; i++ {
		var group []*ledger.Batch
		for _, st := range w.Streams {
			if i < len(st) {
				group = append(group, st[i])
			}
		}
		if group == nil {
			return txs
		}
		txs = append(txs, group)
	}
}

// TestIndexFromBlocks builds the index from transactions of several batches
// each and checks that the batches take their indexes in the order the
// chaincode checked them, that
// the tree is the RFC 6962 tree over the records in that order, that its
// proofs verify, and that ledger/verify accepts the ledger read this way
// (the rulebook replayed in that order).
func TestIndexFromBlocks(t *testing.T) { stores(t, testIndexFromBlocks) }

func testIndexFromBlocks(t *testing.T, disk bool) {
	s, w := ledgertest.MustWorkload(t, 400, 9, 3)
	x := genesisIndex(t, s.Genesis, disk)
	txs := streamTxs(w)
	var order []*ledger.Batch
	for n, bs := range txs {
		if err := addTx(x, uint64(n+2), fmt.Sprintf("tx-%d", n), committed(t, bs)); err != nil {
			t.Fatalf("transaction %d: %v", n, err)
		}
		order = append(order, bs...)
	}
	var leaves [][]byte
	for i, b := range order {
		if got := batchAt(t, x, i).Root; got != b.Root {
			t.Fatalf("batch %d is %s, want %s", i, got, b.Root)
		}
		_, ls, _ := b.Encode(suite.Intl)
		leaves = append(leaves, ls...)
	}
	h := x.head()
	if h.Size != uint64(len(leaves)) || hex.EncodeToString(h.Root) != hex.EncodeToString(ledger.MerkleRoot(suite.Intl, leaves)) {
		t.Fatalf("head %d %x, want %d %x", h.Size, h.Root, len(leaves), ledger.MerkleRoot(suite.Intl, leaves))
	}
	heads := allHeads(t, x)
	if x.heads != len(txs) || len(heads) != len(txs) {
		t.Fatalf("%d heads (%d read) for %d transactions", x.heads, len(heads), len(txs))
	}
	for i := uint64(0); i < h.Size; i += 7 {
		pf, err := x.inclusion(i, h.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, h.Size, leaves[i], pf, h.Root); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	old := heads[len(heads)/2]
	pf, err := x.consistency(old.Size, h.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, h.Size, pf, old.Root, h.Root); err != nil {
		t.Fatal(err)
	}
	c := &Chain{ix: x}
	if err := c.seal(); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Ledger(context.Background(), c, c.VerifierKey())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Records != uint64(w.Records) || rep.Root != hex.EncodeToString(h.Root) {
		t.Fatalf("report %+v, want %d records and root %x", rep, w.Records, h.Root)
	}
	// A batch written twice, or not marked in the writes, is a broken chain.
	if err := addTx(x, 99, "tx-again", committed(t, txs[1][:1])); err == nil || !strings.Contains(err.Error(), "written twice") {
		t.Fatalf("a batch written again: %v", err)
	}
	more, err := ledgertest.NewWorkload(s, 10, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	unmarked := committed(t, more.Setup)
	unmarked.writes = nil
	if err := addTx(x, 100, "tx-unmarked", unmarked); err == nil || !strings.Contains(err.Error(), "not marked") {
		t.Fatalf("a batch not marked in the writes: %v", err)
	}
}

// TestIndexReadsBothEvents: a block written before the payload was
// compressed (EventBatches) and one written after (EventBatchesDeflate)
// give the same index; a payload that does not inflate, or inflates to more
// than a transaction may hold, is refused and changes nothing.
func TestIndexReadsBothEvents(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 60, 5, 2)
	build := func(plain bool) *index {
		x := genesisIndex(t, s.Genesis, false)
		for n, bs := range [][]*ledger.Batch{w.Setup, w.Streams[0], w.Streams[1]} {
			tx := committed(t, bs)
			if plain {
				tx.event, tx.payload = wire.EventBatches, plainPayload(t, tx)
			}
			if err := x.addTx(uint64(n+2), fmt.Sprintf("tx-%d", n), tx); err != nil {
				t.Fatalf("transaction %d (plain %v): %v", n, plain, err)
			}
		}
		return x
	}
	a, b := build(true), build(false)
	if a.size() == 0 || a.size() != b.size() || !slices.Equal(a.head().Root, b.head().Root) {
		t.Fatalf("plain events: %d records, root %x; deflated: %d, %x", a.size(), a.head().Root, b.size(), b.head().Root)
	}
	tx := committed(t, w.Setup[:1])
	bomb, err := wire.Deflate(make([]byte, wire.MaxBatchesPayload+1))
	if err != nil {
		t.Fatal(err)
	}
	for name, payload := range map[string][]byte{
		"truncated":               tx.payload[:len(tx.payload)/2],
		"not DEFLATE":             []byte("[{\"root\":\"ab\"}]"),
		"inflates past the bound": bomb,
	} {
		before, n := b.head(), b.size()
		err := b.addTx(99, "tx-bad", &endorsedWrites{writes: tx.writes, event: wire.EventBatchesDeflate, payload: payload})
		if err == nil || !strings.Contains(err.Error(), wire.EventBatchesDeflate) {
			t.Errorf("%s: err = %v, want a refusal naming the event", name, err)
		}
		if b.size() != n || !slices.Equal(b.head().Root, before.Root) {
			t.Errorf("%s: refused but the index changed", name)
		}
	}
}

// TestIndexQuery pages through records by lookup and by scan.
func TestIndexQuery(t *testing.T) { stores(t, testIndexQuery) }

func testIndexQuery(t *testing.T, disk bool) {
	_, w := ledgertest.MustWorkload(t, 120, 10, 2)
	x := emptyIndex(t, disk)
	all := append([]*ledger.Batch{}, w.Setup...)
	for _, st := range w.Streams {
		all = append(all, st...)
	}
	for i, b := range all {
		if err := addTx(x, uint64(i+1), "tx", committed(t, []*ledger.Batch{b})); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []ledger.Query{{Agreement: "ag-1", Limit: 7}, {Kind: ledger.KindTransferCompleted, Limit: 9}, {Limit: 11}} {
		want := 0
		for i := range x.size() {
			e, err := x.entry(i)
			if err != nil {
				t.Fatal(err)
			}
			if q.Matches(&e.Record) {
				want++
			}
		}
		got, pages := 0, 0
		for {
			p, err := x.query(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Records {
				if !q.Matches(&e.Record) {
					t.Fatalf("query %+v: record %s does not match", q, e.Record.ID)
				}
			}
			got, pages = got+len(p.Records), pages+1
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if got != want || want == 0 {
			t.Fatalf("query %+v: %d records in %d pages, want %d", q, got, pages, want)
		}
	}
	if _, err := x.query(ledger.Query{Cursor: "x"}); err == nil {
		t.Fatal("a bad cursor was taken")
	}
}

// FuzzIndexAddTx feeds the index arbitrary event payloads, as a peer or a
// block an auditor reads could carry: it must not panic, a transaction it
// refuses must leave it as it was, and one it takes must leave a tree whose
// root is the RFC 6962 root of every record in order.
func FuzzIndexAddTx(f *testing.F) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		f.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, 40, 4, 2)
	if err != nil {
		f.Fatal(err)
	}
	t := &testing.T{}
	first := committed(t, w.Setup[:1])
	for _, bs := range [][]*ledger.Batch{w.Setup[1:], w.Streams[0][:2], w.Setup[:1]} {
		f.Add(plainPayload(f, committed(t, bs)), true)
	}
	f.Add([]byte(`[{"root":"ab","records":[{"id":"x"},{"id":"x"}]}]`), true)
	f.Add([]byte(`[null]`), false)
	f.Add([]byte(`[]`), true)
	f.Fuzz(func(t *testing.T, payload []byte, mark bool) {
		x := newIndex(nil)
		if err := x.addTx(1, "tx-1", first); err != nil {
			t.Fatal(err)
		}
		var ws []*wire.Written
		var writes []*kvrwset.KVWrite
		if mark && json.Unmarshal(payload, &ws) == nil {
			for _, b := range ws {
				if b != nil {
					writes = append(writes, &kvrwset.KVWrite{Key: wire.KeyBatch + b.Root, Value: []byte{1}})
				}
			}
		}
		before := x.head()
		n, nb, ne := x.size(), x.batches, x.heads
		err := x.addTx(2, "tx-2", &endorsedWrites{writes: writes, event: wire.EventBatches, payload: payload})
		if err != nil {
			m := x.st.(*memStore)
			if x.size() != n || x.batches != nb || x.heads != ne || len(m.evs) != ne || !slices.Equal(x.head().Root, before.Root) || len(m.byID) != int(n) {
				t.Fatalf("refused (%v) but the index changed", err)
			}
			return
		}
		var leaves [][]byte
		for pos := range x.batches {
			leaves = append(leaves, batchAt(t, x, pos).Leaves...)
		}
		if h := x.head(); h.Size != uint64(len(leaves)) || !slices.Equal(h.Root, ledger.MerkleRoot(suite.Intl, leaves)) {
			t.Fatalf("head %d %x, want the root of %d leaves", h.Size, h.Root, len(leaves))
		}
	})
}

// FuzzEventDecodeMatchesEncodingJSON: an event payload decodes, with the
// decoder decodeTx uses (internal/jsondec), to the batches and record key fields
// encoding/json decodes it to, and is refused where encoding/json refuses
// it — so a follower or an audit of this build indexes what one built on
// encoding/json indexed.
func FuzzEventDecodeMatchesEncodingJSON(f *testing.F) {
	_, w := ledgertest.MustWorkload(f, 12, 3, 2)
	f.Add(plainPayload(f, committed(&testing.T{}, w.Setup[:2])))
	f.Add([]byte(`[{"ROOT":"ab","root":"cd","records":[{"Id":"x","kind":"k","ID":"y"}, {"id":"\ud800\u00e9"}]}]`))
	f.Add([]byte("[{\"records\":[\"\xff\", 1e400, null, {\"actor\":1}]}]"))
	f.Add([]byte(`[null, {}] `))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ws, std []*wire.Written
		err, stdErr := jsondec.Unmarshal(payload, &ws), json.Unmarshal(payload, &std)
		if (err == nil) != (stdErr == nil) || err == nil && !cmp.Equal(ws, std) {
			t.Fatalf("batches: decoded %v, encoding/json %v\n%s", err, stdErr, cmp.Diff(std, ws))
		}
		for _, b := range std {
			if b == nil {
				continue
			}
			for _, raw := range b.Records {
				var k, stdK keyFields
				err, stdErr := jsondec.Unmarshal(raw, &k), json.Unmarshal(raw, &stdK)
				if (err == nil) != (stdErr == nil) || err == nil && k != stdK {
					t.Fatalf("record %s: decoded %+v (%v), encoding/json %+v (%v)", raw, k, err, stdK, stdErr)
				}
			}
		}
	})
}
