package fabric

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/transparency-dev/merkle/compact"
)

// TestIndexFileResumes: an index kept in a file, closed and opened again,
// answers as the same index built in memory (head, heads, proofs, records,
// queries, batches, events) and holds the position of the last block it
// took; a block refused half way leaves the file, and the index read back,
// as they were before it; a file is refused for another chaincode, another
// layout, or while another ledger has it open.
func TestIndexFileResumes(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 300, 7, 3)
	txs := [][]*ledger.Batch{w.Setup}
	for _, st := range w.Streams {
		for i := 0; i < len(st); i += 4 {
			txs = append(txs, st[i:min(len(st), i+4)])
		}
	}
	path := filepath.Join(t.TempDir(), "index.db")
	mem := genesisIndex(t, s.Genesis, false)
	st, err := openDiskStore(path, "ch", "cc")
	if err != nil {
		t.Fatal(err)
	}
	disk := newIndex(nil)
	disk.st = st
	raw, err := json.Marshal(&s.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	if err := disk.update(func() error { return disk.setGenesis(raw) }); err != nil {
		t.Fatal(err)
	}
	// Two transactions a block, as the follower adds them.
	for n := 0; n < len(txs); n += 2 {
		block := uint64(n/2 + 2)
		err := disk.update(func() error {
			for k := n; k < min(len(txs), n+2); k++ {
				if err := disk.addTx(block, fmt.Sprintf("tx-%d", k), committed(t, txs[k])); err != nil {
					return err
				}
			}
			return st.setPosition(block+1, []byte(fmt.Sprintf("hash of %d", block)))
		})
		if err != nil {
			t.Fatal(err)
		}
		for k := n; k < min(len(txs), n+2); k++ {
			if err := addTx(mem, block, fmt.Sprintf("tx-%d", k), committed(t, txs[k])); err != nil {
				t.Fatal(err)
			}
		}
	}
	lastBlock := uint64((len(txs)-1)/2 + 2)

	// A block whose second transaction is refused: nothing of it stays.
	more, err := ledgertest.NewWorkload(s, 10, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	before := disk.head()
	err = disk.update(func() error {
		if err := disk.addTx(lastBlock+1, "tx-good", committed(t, more.Setup)); err != nil {
			return err
		}
		return disk.addTx(lastBlock+1, "tx-again", committed(t, txs[1]))
	})
	if err == nil || !strings.Contains(err.Error(), "written twice") {
		t.Fatalf("a block with a batch written again: %v", err)
	}
	if h := disk.head(); h.Size != before.Size || !slices.Equal(h.Root, before.Root) || disk.heads != mem.heads || disk.batches != mem.batches {
		t.Fatalf("after the refused block: head %d, %d heads, %d batches; want %d, %d, %d", h.Size, disk.heads, disk.batches, before.Size, mem.heads, mem.batches)
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}

	x := fileIndex(t, path)
	if next, prev := x.st.(*diskStore).position(); next != lastBlock+1 || string(prev) != fmt.Sprintf("hash of %d", lastBlock) {
		t.Fatalf("position %d %q, want %d and the hash of block %d", next, prev, lastBlock+1, lastBlock)
	}
	sameIndex(t, mem, x)
	// It goes on from there: the block refused before is taken now.
	for _, y := range []*index{mem, x} {
		if err := addTx(y, lastBlock+1, "tx-good", committed(t, more.Setup)); err != nil {
			t.Fatal(err)
		}
	}
	sameIndex(t, mem, x)

	if _, err := openDiskStore(path, "ch", "cc"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a file open elsewhere: %v", err)
	}
	x.st.close()
	for _, c := range []struct{ channel, chaincode, field string }{{"ch", "other", "chaincode"}, {"other", "cc", "channel"}} {
		if _, err := openDiskStore(path, c.channel, c.chaincode); err == nil || !strings.Contains(err.Error(), "field "+c.field) {
			t.Errorf("a file of another %s: %v", c.field, err)
		}
	}
}

// sameIndex fails unless the two indexes answer alike.
func sameIndex(t *testing.T, a, b *index) {
	t.Helper()
	if a.size() != b.size() || a.batches != b.batches || a.heads != b.heads || !reflect.DeepEqual(a.head(), b.head()) || string(a.genesis) != string(b.genesis) {
		t.Fatalf("size %d/%d, batches %d/%d, heads %d/%d, head %x/%x", a.size(), b.size(), a.batches, b.batches, a.heads, b.heads, a.head().Root, b.head().Root)
	}
	if !reflect.DeepEqual(allHeads(t, a), allHeads(t, b)) {
		t.Fatal("the tree heads differ")
	}
	ea, err := a.st.events(0, a.heads)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.st.events(0, b.heads)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ea, eb) {
		for k := range min(len(ea), len(eb)) {
			if !reflect.DeepEqual(ea[k], eb[k]) {
				t.Logf("event %d: %+v / %+v", k, ea[k], eb[k])
				break
			}
		}
		t.Fatalf("the events differ (%d/%d)", len(ea), len(eb))
	}
	for _, blk := range []uint64{0, 3, 4, 1 << 40} {
		fa, err := a.firstEvent(blk)
		if err != nil {
			t.Fatal(err)
		}
		if fb, err := b.firstEvent(blk); err != nil || fa != fb {
			t.Fatalf("first event of block %d: %d, %d (%v)", blk, fa, fb, err)
		}
		if fa < len(ea) && ea[fa].Block < blk || fa > 0 && ea[fa-1].Block >= blk {
			t.Fatalf("first event of block %d: %d", blk, fa)
		}
	}
	ba, _, err := a.batchesFrom(0, a.batches)
	if err != nil {
		t.Fatal(err)
	}
	for from := uint64(0); ; {
		bb, next, err := b.batchesFrom(from, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range bb {
			if !reflect.DeepEqual(sb, ba[0]) {
				t.Fatalf("batch at %d differs", sb.FirstIndex)
			}
			ba = ba[1:]
		}
		if next == 0 {
			break
		}
		from = next + 3 // inside the next batch: it starts at that batch
	}
	if len(ba) != 0 {
		t.Fatalf("%d batches not read back", len(ba))
	}
	h := a.head()
	for i := uint64(0); i < h.Size; i += 5 {
		pa, err := a.inclusion(i, h.Size)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := b.inclusion(i, h.Size)
		if err != nil {
			t.Fatal(err)
		}
		ra, err := a.entry(i)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.entry(i)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pa, pb) || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("record %d: proofs or entries differ", i)
		}
		ia, _, _ := a.st.recordIndex(ra.Record.ID)
		ib, ok, err := b.st.recordIndex(ra.Record.ID)
		if err != nil || !ok || ia != ib {
			t.Fatalf("record %s: index %d, %d (%v, %v)", ra.Record.ID, ia, ib, ok, err)
		}
	}
	ca, err := a.consistency(h.Size/3, h.Size)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.consistency(h.Size/3, h.Size)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ca, cb) {
		t.Fatal("consistency proofs differ")
	}
	for _, q := range []ledger.Query{{Agreement: "ag-1", Limit: 3}, {Kind: ledger.KindTransferCompleted, Limit: 4}, {Limit: 50}} {
		for {
			pa, err := a.query(q)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := b.query(q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pa, pb) {
				t.Fatalf("query %+v: pages differ", q)
			}
			if pa.Next == "" {
				break
			}
			q.Cursor = pa.Next
		}
	}
}

// TestRecordIDAgainInOneUpdate: a record id that a transaction of the same
// update (one bbolt transaction for a file, the ids not yet put) already
// wrote, in a batch of its own, is refused as in separate updates, and the
// refused update leaves nothing in the file; the ids it put are found after
// it ends. A batch written again in the same update is refused too.
func TestRecordIDAgainInOneUpdate(t *testing.T) {
	stores(t, func(t *testing.T, disk bool) {
		s, w := ledgertest.MustWorkload(t, 40, 5, 1)
		x := indexWithGenesis(t, s, disk)
		if err := addTx(x, 2, "tx-setup", committed(t, w.Setup)); err != nil {
			t.Fatal(err)
		}
		before := x.head()
		first := w.Streams[0][0]
		err := addTwiceInOneUpdate(t, x, s, first, 3)
		if err == nil || !strings.Contains(err.Error(), "record id "+first.Records[0].ID+" written twice") {
			t.Fatalf("record %s again in the same update: %v", first.Records[0].ID, err)
		}
		if disk {
			if h := x.head(); h.Size != before.Size {
				t.Fatalf("the refused update left a head of %d records, want %d", h.Size, before.Size)
			}
			if _, ok, err := x.st.recordIndex(first.Records[0].ID); err != nil || ok {
				t.Fatalf("record %s of the refused update is in the file: %v %v", first.Records[0].ID, ok, err)
			}
		}
		if err := addTx(x, 4, "tx-first", committed(t, []*ledger.Batch{first})); !disk && err == nil || disk && err != nil {
			t.Fatalf("the first batch in an update of its own, after the refusal: %v", err)
		}
		if i, ok, err := x.st.recordIndex(first.Records[0].ID); err != nil || !ok || i != before.Size {
			t.Fatalf("record %s: index %d %v %v, want %d", first.Records[0].ID, i, ok, err, before.Size)
		}
		// A batch a transaction of the same update wrote (its root not
		// yet put), in a second transaction: refused.
		next := w.Streams[0][1]
		err = x.update(func() error {
			if err := x.addTx(5, "tx-next", committed(t, []*ledger.Batch{next})); err != nil {
				return err
			}
			return x.addTx(5, "tx-next-again", committed(t, []*ledger.Batch{next}))
		})
		if err == nil || !strings.Contains(err.Error(), "batch "+next.Root+" written twice") {
			t.Fatalf("batch %s again in the same update: %v", next.Root, err)
		}
	})
}

// TestTreeNodesInOneUpdate: the tree nodes an update puts (a file writes
// them when the update ends, in their keys' order) are read within it as
// after it — a proof taken inside the update equals the one taken after —
// and a refused update leaves none of its nodes in the file.
func TestTreeNodesInOneUpdate(t *testing.T) {
	stores(t, func(t *testing.T, disk bool) {
		s, w := ledgertest.MustWorkload(t, 60, 5, 2)
		x := indexWithGenesis(t, s, disk)
		var inside [][][]byte
		err := x.update(func() error {
			if err := x.addTx(2, "tx-setup", committed(t, w.Setup)); err != nil {
				return err
			}
			if err := x.addTx(3, "tx-stream", committed(t, w.Streams[0])); err != nil {
				return err
			}
			for i := range x.size() {
				p, err := x.inclusion(i, x.size())
				if err != nil {
					return fmt.Errorf("inclusion of %d inside the update: %w", i, err)
				}
				inside = append(inside, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		size := x.size()
		for i := range size {
			p, err := x.inclusion(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(p, inside[i], bytes.Equal) {
				t.Fatalf("record %d: the proof inside the update differs from the one after it", i)
			}
		}
		if !disk {
			return
		}
		// A refused update: a new batch, then one of its record ids again.
		if err := addTwiceInOneUpdate(t, x, s, w.Streams[1][0], 4); err == nil {
			t.Fatal("a record id written twice in one update was taken")
		}
		// The first node over the refused batch's leaves: built only by it.
		id := compact.NewNodeID(1, size/2)
		if h, err := x.st.node(id); err == nil {
			t.Fatalf("node (1,%d) of the refused update is in the file: %x", size/2, h)
		}
		if got := x.size(); got != size {
			t.Fatalf("after the refused update the tree holds %d records, want %d", got, size)
		}
	})
}

// indexWithGenesis is an empty index (emptyIndex) holding s's genesis.
func indexWithGenesis(t *testing.T, s *ledgertest.Space, disk bool) *index {
	t.Helper()
	return withGenesis(t, emptyIndex(t, disk), s)
}

// withGenesis adds s's genesis to the empty index x, and returns x.
func withGenesis(t *testing.T, x *index, s *ledgertest.Space) *index {
	t.Helper()
	raw, err := json.Marshal(&s.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.update(func() error { return x.setGenesis(raw) }); err != nil {
		t.Fatal(err)
	}
	return x
}

// addTwiceInOneUpdate adds, in one update of x in block, first and then a
// batch of the same writer repeating first's first record id: the update's
// error.
func addTwiceInOneUpdate(t *testing.T, x *index, s *ledgertest.Space, first *ledger.Batch, block uint64) error {
	t.Helper()
	again, err := s.Batch(first.Writer, first.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	return x.update(func() error {
		if err := x.addTx(block, "tx-first", committed(t, []*ledger.Batch{first})); err != nil {
			return err
		}
		return x.addTx(block, "tx-again", committed(t, []*ledger.Batch{again}))
	})
}

// TestPostingsMark: a file's postings gather above its mark (in memory)
// and are put every postingsEvery records; at every update a posting key
// lists the same records, from any start, as the index in memory; a copy
// of the file taken with postings above the mark (a crash) rebuilds them
// from its records when opened; closing puts them; a file of layout 1 is
// read as it is and rewritten as layout 2 when opened to write; a mark
// past the records is refused.
func TestPostingsMark(t *testing.T) {
	defer func(n int) { postingsEvery = n }(postingsEvery)
	postingsEvery = 40
	s, w := ledgertest.MustWorkload(t, 300, 9, 3)
	txs := streamTxs(w)
	mem := newIndex(nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "index")
	file, st, err := openIndexFile(path, "ch", "cc")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, tx := range txs {
		d, err := decodeTx(committed(t, tx), false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range d.keys {
			for k := range batch {
				for _, pk := range postingKeys(&batch[k]) {
					keys[pk] = true
				}
			}
		}
	}
	same := func(t *testing.T, what string, a, b indexStore, size uint64) {
		t.Helper()
		for k := range keys {
			for _, from := range []uint64{0, size / 3, size - 1} {
				var la, lb []uint64
				collect := func(l *[]uint64) func(uint64) (bool, error) {
					return func(i uint64) (bool, error) { *l = append(*l, i); return true, nil }
				}
				if err := a.postings(k, from, collect(&la)); err != nil {
					t.Fatal(err)
				}
				if err := b.postings(k, from, collect(&lb)); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(la, lb) {
					t.Fatalf("%s: posting %q from %d: %v, in memory %v", what, k, from, lb, la)
				}
			}
		}
	}
	var flushed, crashed bool
	for n, tx := range append([][]*ledger.Batch{nil}, txs...) {
		ew := genesisTx(t, s.Genesis)
		if tx != nil {
			ew = committed(t, tx)
		}
		for _, x := range []*index{mem, file} {
			if err := addTx(x, uint64(n+1), "tx", ew); err != nil {
				t.Fatal(err)
			}
		}
		same(t, fmt.Sprintf("after update %d", n), mem.st, st, mem.size())
		flushed = flushed || st.posted > 0
		if st.aboveRecords > 0 && st.posted > 0 && !crashed {
			crashed = true
			copyPath := filepath.Join(dir, "crash")
			if err := st.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(copyPath, 0o600) }); err != nil {
				t.Fatal(err)
			}
			_, cst, err := openIndexFile(copyPath, "ch", "cc")
			if err != nil {
				t.Fatal(err)
			}
			if cst.posted != st.posted || cst.aboveRecords != st.aboveRecords {
				t.Fatalf("the copy's mark %d and %d records above, the file's %d and %d", cst.posted, cst.aboveRecords, st.posted, st.aboveRecords)
			}
			same(t, "the copy opened", mem.st, cst, mem.size())
			cst.close()
		}
	}
	if !flushed || !crashed {
		t.Fatalf("the test did not reach a put (%v) or a copy with postings above the mark (%v)", flushed, crashed)
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	_, st, err = openIndexFile(path, "ch", "cc")
	if err != nil {
		t.Fatal(err)
	}
	if st.aboveRecords != 0 || st.posted != mem.size() {
		t.Fatalf("reopened after close: mark %d, %d records above it, want %d and 0", st.posted, st.aboveRecords, mem.size())
	}
	same(t, "reopened", mem.st, st, mem.size())
	st.close()

	// Layout 1: no mark, every posting in the file.
	setMeta := func(fn func(m *bolt.Bucket) error) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(dMeta)) }); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	setMeta(func(m *bolt.Bucket) error {
		if err := m.Put([]byte("format"), []byte(diskFormatV1)); err != nil {
			return err
		}
		return m.Delete(metaPosted)
	})
	ro, err := openDiskStoreReadOnly(path, "ch", "cc")
	if err != nil {
		t.Fatalf("a file of layout 1, read-only: %v", err)
	}
	same(t, "layout 1, read-only", mem.st, ro, mem.size())
	ro.close()
	if _, st, err = openIndexFile(path, "ch", "cc"); err != nil {
		t.Fatalf("a file of layout 1: %v", err)
	}
	same(t, "layout 1", mem.st, st, mem.size())
	st.close()
	setMeta(func(m *bolt.Bucket) error {
		if f, p := string(m.Get([]byte("format"))), boltkey.ToUint64(m.Get(metaPosted)); f != diskFormat || p != mem.size() {
			t.Errorf("layout 1 opened to write: format %q, mark %d; want %q, %d", f, p, diskFormat, mem.size())
		}
		return m.Put(metaPosted, boltkey.Uint64(mem.size()+1))
	})
	if _, _, err := openIndexFile(path, "ch", "cc"); err == nil || !strings.Contains(err.Error(), "postings mark") {
		t.Fatalf("a mark past the records: %v", err)
	}
}

// TestHashedPostings: postings gathered by key are put one list per hash;
// keys whose hashes collide share a list, merged in index order (a record
// under both is listed twice, as when lists were gathered by hash), and
// the lists given are not changed.
func TestHashedPostings(t *testing.T) {
	byKey := map[string][]uint64{"kind:a": {1, 4, 9}, "kind:b": {2, 4, 7}, "other": {3}}
	hash := func(key string) []byte { return []byte(key[:4]) } // "kind" collides
	got := hashedPostings(byKey, hash)
	want := map[string][]uint64{"kind": {1, 2, 4, 4, 7, 9}, "othe": {3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hashed %v, want %v", got, want)
	}
	if !reflect.DeepEqual(byKey["kind:a"], []uint64{1, 4, 9}) || !reflect.DeepEqual(byKey["kind:b"], []uint64{2, 4, 7}) {
		t.Fatalf("the lists given changed: %v", byKey)
	}
	if got := hashedPostings(byKey, postingHash); len(got) != 3 {
		t.Fatalf("three keys of distinct hashes: %d lists", len(got))
	}
}
