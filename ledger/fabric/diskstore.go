package fabric

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
)

// diskFormat names the layout of an index file; a file of another layout is
// refused, not misread. Layout 2 added the postings mark (metaPosted): an
// older build would miss the postings above it, so it refuses the file. A
// file of layout 1 holds every posting (its mark is its size) and is taken
// as it is, and rewritten as layout 2 when opened to write.
const (
	diskFormat   = "tdsc fabric index 2"
	diskFormatV1 = "tdsc fabric index 1"
)

// metaPosted is the meta key of the postings mark: the first record index
// whose postings the file does not hold yet. Those above it are held in
// memory (diskStore.above) and put once postingsEvery records have
// gathered, in one update: each update puts a posting list for every key
// its records name (about one for every two records: each transfer has its
// own), under hashes all over the bucket, and one bbolt transaction a
// block dirtied pages all over it. A store that opens a file rebuilds the
// postings above the mark from the records the file holds.
var metaPosted = []byte("posted")

// initialMmapSize is the address space bbolt maps a file in at first. A
// file that outgrows its map is mapped again, and every page the update in
// progress holds is copied out of the old map first (bbolt's dereference):
// from bbolt's default (the file's size, doubled as it grows) an index
// growing from empty was mapped again at every doubling, about a tenth of
// its updates' CPU (BenchmarkIndexAdd/file). Address space only: pages
// are read in as they are touched. 1 GiB holds about 1.7 million records.
var initialMmapSize = func() int {
	if strconv.IntSize == 32 {
		return 0
	}
	return 1 << 30
}()

// postingsEvery is how many records' postings gather above the mark before
// they are put (a variable for tests).
var postingsEvery = 8192

var (
	dMeta      = []byte("meta")
	dBatches   = []byte("batches")   // position -> storedBatch without records, leaves, ids (JSON)
	dBatchRoot = []byte("batchRoot") // position -> batch root
	dRoots     = []byte("roots")     // batch root -> position
	dIDs       = []byte("ids")       // record id -> index
	dRecords   = []byte("records")   // index -> id, batch position, stored bytes
	dTree      = []byte("tree")      // level (1 and up), index -> hash; a leaf is its record's hash
	dPost      = []byte("post")      // posting hash, first index -> the indexes from it in that update
	dHeads     = []byte("heads")     // tree size -> root
	dEvents    = []byte("events")    // n -> diskEvent (JSON)
	dBuckets   = [][]byte{dMeta, dBatches, dBatchRoot, dRoots, dIDs, dRecords, dTree, dPost, dHeads, dEvents}
	// dAppended are the buckets written only at their end: their pages are
	// filled, not split in half.
	dAppended = [][]byte{dBatches, dBatchRoot, dRecords, dTree, dHeads, dEvents}
)

// diskEvent is an Event as the file keeps it: its receipts are those of
// Count batches from position First.
type diskEvent struct {
	Block    uint64 `json:"block"`
	TxID     string `json:"txId"`
	First    int    `json:"first"`
	Count    int    `json:"count"`
	TreeSize uint64 `json:"treeSize"`
	Root     []byte `json:"root"`
}

// diskStore is an indexStore in a bbolt file. Each update (the blocks the
// follower takes at once) is one bbolt transaction, with the position after
// it, so the file always holds whole blocks and says which it holds.
//
// An update's puts are held (staged) and written when it ends. update does
// both in one bbolt transaction; a follower keeping a file stages the next
// blocks (stage) while the update before is written on another goroutine
// (writeAsync), so that bbolt's writes and syncs overlap the next blocks'
// hashing and tree, and the receipts given while staging (see given) do
// not wait for them.
type diskStore struct {
	db   *bolt.DB
	path string
	wtx  *bolt.Tx // the update in progress, nil outside update
	// cur is what the update in progress (update or stage) has put.
	cur *staged
	// writing is what the write in flight (writeAsync) puts; it is only
	// read until the write has ended.
	writing *staged
	// view is the read transaction of a stage, nil outside one.
	view *bolt.Tx
	// leaf hashes a record's bytes into its leaf (the index's hasher):
	// leaves are not stored, the records give them.
	leaf func([]byte) []byte
	// The postings of the records from posted on (committed updates),
	// not yet in the file: above[key] their indexes in order (keys are
	// hashed once, when put: see hashedPostings).
	above        map[string][]uint64
	aboveRecords int
	posted       uint64
	readOnly     bool
}

// staged is what an update has put, written when it ends.
type staged struct {
	// The record ids (id -> index), written in the ids' order: bbolt
	// inserts into a page's node by shifting the keys after the new one,
	// so random ids put as they come cost a node of n keys n/2 moves each
	// while it grows within the update; in order, each goes after the one
	// before.
	ids map[string]uint64
	// The tree nodes, written in their keys' order: an update appends to
	// every level of the tree at once, and a level's end is the middle of
	// the bucket (level, index), where each put as it comes moved the
	// node's later keys.
	nodes []pendingNode
	// The batches (with their records), their roots (root -> position),
	// tree heads and events, the genesis and the position.
	batches    []pendingBatch
	roots      map[string]int
	heads      []Head
	evs        []pendingEvent
	genesis    []byte
	next       uint64
	prevHash   []byte
	positioned bool
	// The update's postings (posting key -> indexes): above the mark
	// once it commits, or put with those when it takes the mark past
	// postingsEvery records, one value per posting key.
	postings map[string][]uint64
	// The update's records: how many, and the index after the last.
	records int
	end     uint64
}

func newStaged() *staged {
	st := &staged{postings: map[string][]uint64{}}
	st.clearWritten()
	return st
}

// clearWritten forgets what flush has written (all but the postings and
// the counts, which the update's end takes).
func (st *staged) clearWritten() {
	st.ids, st.roots, st.nodes, st.batches, st.heads, st.evs = map[string]uint64{}, map[string]int{}, nil, nil, nil, nil
	st.genesis, st.positioned = nil, false
}

type pendingBatch struct {
	pos int
	b   *storedBatch
}

type pendingEvent struct {
	n  int
	ev Event
}

// pendingNode is a tree node put in the update in progress.
type pendingNode struct {
	key, hash []byte
}

// openDiskStore opens (creating it if absent) the index file at path for
// the chaincode on the channel; a file of another channel or chaincode, or
// of another layout, is refused.
func openDiskStore(path, channel, chaincode string) (*diskStore, error) {
	return openIndexDB(path, channel, chaincode, false)
}

// openDiskStoreReadOnly opens an existing index file without writing to
// it (a shared lock: a ledger service holding it is "in use").
func openDiskStoreReadOnly(path, channel, chaincode string) (*diskStore, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("fabric: index file: %w", err)
	}
	return openIndexDB(path, channel, chaincode, true)
}

// openIndexDB opens the bbolt file of an index for channel and chaincode:
// read-only, it must hold every bucket and name them; else the buckets and
// names missing are written.
func openIndexDB(path, channel, chaincode string, readOnly bool) (*diskStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: time.Second, InitialMmapSize: initialMmapSize})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) && readOnly {
			return nil, fmt.Errorf("fabric: index file %s: in use by another process (stop the ledger service first)", path)
		}
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("fabric: index file %s: in use by another process", path)
		}
		return nil, fmt.Errorf("fabric: index file %s: %w", path, err)
	}
	want := map[string]string{"format": diskFormat, "channel": channel, "chaincode": chaincode}
	check := func(tx *bolt.Tx) error {
		for _, b := range dBuckets {
			if readOnly && tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %s missing: not an index file", b)
			}
			if !readOnly {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
		}
		m := tx.Bucket(dMeta)
		for _, k := range []string{"format", "channel", "chaincode"} {
			got := m.Get([]byte(k))
			if k == "format" && string(got) == diskFormatV1 {
				// Layout 1 holds every posting: read as layout 2, and
				// rewritten as it when opened to write.
				got = []byte(diskFormat)
				if !readOnly {
					got = nil
				}
			}
			if got == nil && !readOnly {
				if err := m.Put([]byte(k), []byte(want[k])); err != nil {
					return err
				}
			} else if string(got) != want[k] {
				return fmt.Errorf("field %s: the file is for %q, not %q", k, got, want[k])
			}
		}
		if m.Get(metaPosted) == nil && !readOnly {
			// A new file, or one of layout 1: every posting is in it.
			n, err := recordCount(tx)
			if err != nil {
				return err
			}
			return m.Put(metaPosted, boltkey.Uint64(n))
		}
		return nil
	}
	if readOnly {
		err = db.View(check)
	} else {
		err = db.Update(check)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("fabric: index file %s: %w", path, err)
	}
	s := &diskStore{db: db, path: path, readOnly: readOnly, above: map[string][]uint64{}}
	if err := db.View(s.loadAbove); err != nil {
		db.Close()
		return nil, fmt.Errorf("fabric: index file %s: %w", path, err)
	}
	return s, nil
}

// recordCount is how many records the file holds.
func recordCount(tx *bolt.Tx) (uint64, error) {
	k, _ := tx.Bucket(dRecords).Cursor().Last()
	if k == nil {
		return 0, nil
	}
	return boltkey.ToUint64(k) + 1, nil
}

// loadAbove reads the postings mark and rebuilds the postings above it from
// the records the file holds (a file of layout 1, read-only, has no mark:
// all its postings are in it).
func (s *diskStore) loadAbove(tx *bolt.Tx) error {
	n, err := recordCount(tx)
	if err != nil {
		return err
	}
	s.posted = n
	if v := tx.Bucket(dMeta).Get(metaPosted); v != nil {
		s.posted = boltkey.ToUint64(v)
	}
	if s.posted > n {
		return fmt.Errorf("postings mark %d past the %d records held", s.posted, n)
	}
	for i := s.posted; i < n; i++ {
		_, _, raw, err := s.recordIn(tx, i)
		if err != nil {
			return err
		}
		var kf keyFields
		if err := jsondec.Unmarshal(raw, &kf); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		addPostings(s.above, i, postingKeys(&kf))
	}
	s.aboveRecords = int(n - s.posted)
	return nil
}

// addPostings lists record i under each of its posting keys.
func addPostings(lists map[string][]uint64, i uint64, keys []string) {
	for _, pk := range keys {
		lists[pk] = append(lists[pk], i)
	}
}

// hashedPostings are the lists of postings (by key) as the file keeps
// them: under each key's hash (hash: postingHash), one hash per distinct
// key, the lists of keys of one hash merged in index order.
func hashedPostings(postings map[string][]uint64, hash func(string) []byte) map[string][]uint64 {
	byHash := make(map[string][]uint64, len(postings))
	for key, list := range postings {
		h := string(hash(key))
		if l, ok := byHash[h]; ok {
			merged := append(slices.Clone(l), list...)
			slices.Sort(merged)
			byHash[h] = merged
			continue
		}
		byHash[h] = list
	}
	return byHash
}

// read runs fn in the update in progress, with what it has put so far
// written, or else in a read transaction. A stage reads only through look.
func (s *diskStore) read(fn func(tx *bolt.Tx) error) error {
	if s.wtx != nil {
		if err := flush(s.wtx, s.cur); err != nil {
			return err
		}
		s.cur.clearWritten()
		return fn(s.wtx)
	}
	if s.cur != nil {
		return errors.New("fabric: index file read while an update is staged")
	}
	return s.db.View(fn)
}

// look runs fn in the update in progress, or the stage's read transaction,
// without writing what it has put (the caller looks there, and in the
// write in flight, first), or else in a read transaction.
func (s *diskStore) look(fn func(tx *bolt.Tx) error) error {
	switch {
	case s.wtx != nil:
		return fn(s.wtx)
	case s.view != nil:
		return fn(s.view)
	}
	return s.db.View(fn)
}

// write runs fn, which puts into s.cur, in an update or a stage; a write
// outside one is a bug.
func (s *diskStore) write(fn func() error) error {
	if s.cur == nil {
		return errors.New("fabric: index file written outside an update")
	}
	return fn()
}

func (s *diskStore) update(fn func() error) error {
	st, put := newStaged(), false
	err := s.db.Update(func(tx *bolt.Tx) error {
		s.wtx, s.cur = tx, st
		defer func() { s.wtx, s.cur = nil, nil }()
		if err := fn(); err != nil {
			return err
		}
		var err error
		put, err = s.apply(tx, st)
		return err
	})
	if err == nil {
		s.landed(st, put)
	}
	return err
}

// stage runs fn, which adds blocks, holding what it puts in memory, with
// the file's lookups read in one read transaction: the staged update is
// written by writeAsync. The write before it, if one is in flight, must
// be the last: its record ids and batch roots are looked up too.
func (s *diskStore) stage(fn func() error) (*staged, error) {
	view, err := s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	st := newStaged()
	s.cur, s.view = st, view
	defer func() {
		s.cur, s.view = nil, nil
		_ = view.Rollback()
	}()
	return st, fn()
}

// fileWrite is a write of a staged update in flight: done is closed when
// it has ended, with err.
type fileWrite struct {
	done chan struct{}
	err  error
	put  bool // it put the postings above the mark
}

// writeAsync writes st, which stage returned, on a goroutine of its own.
// The caller lands it (landWrite) before staging the update after the
// next, or reading.
func (s *diskStore) writeAsync(st *staged) *fileWrite {
	s.writing = st
	w := &fileWrite{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = s.db.Update(func(tx *bolt.Tx) error {
			var err error
			w.put, err = s.apply(tx, st)
			return err
		})
	}()
	return w
}

// landWrite waits for w to end and takes its postings (in the caller's
// goroutine: the write only reads the store's state).
func (s *diskStore) landWrite(w *fileWrite) error {
	<-w.done
	if w.err == nil {
		s.landed(s.writing, w.put)
	}
	s.writing = nil
	return w.err
}

// apply writes st in tx, with the postings above the mark if st takes them
// past postingsEvery records (put).
func (s *diskStore) apply(tx *bolt.Tx, st *staged) (put bool, err error) {
	for _, b := range dAppended {
		tx.Bucket(b).FillPercent = 1
	}
	if err := flush(tx, st); err != nil {
		return false, err
	}
	if st.records == 0 || s.aboveRecords+st.records < postingsEvery {
		return false, nil // the update's postings join those above the mark
	}
	return true, s.putAbove(tx, st.end, st.postings)
}

// landed takes the postings of st, whose update has committed: put with
// those above the mark, or now above it.
func (s *diskStore) landed(st *staged, put bool) {
	if put {
		s.above, s.aboveRecords, s.posted = map[string][]uint64{}, 0, st.end
		return
	}
	for key, list := range st.postings {
		s.above[key] = append(s.above[key], list...)
	}
	s.aboveRecords += st.records
}

// putAbove puts the postings above the mark with pending's, and moves the
// mark to end (the index after the last record); the caller clears them
// once tx commits.
func (s *diskStore) putAbove(tx *bolt.Tx, end uint64, pending map[string][]uint64) error {
	all := maps.Clone(s.above)
	for key, list := range pending {
		all[key] = append(slices.Clip(all[key]), list...)
	}
	if err := flushPostings(tx, hashedPostings(all, postingHash)); err != nil {
		return err
	}
	return tx.Bucket(dMeta).Put(metaPosted, boltkey.Uint64(end))
}

// flushAbove puts the postings above the mark (a store closing, the index
// check's own file before it compares).
func (s *diskStore) flushAbove() error {
	if s.readOnly || s.aboveRecords == 0 {
		return nil
	}
	var end uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if end, err = recordCount(tx); err != nil {
			return err
		}
		return s.putAbove(tx, end, nil)
	})
	if err == nil {
		s.above, s.aboveRecords, s.posted = map[string][]uint64{}, 0, end
	}
	return err
}

// flush writes what st holds of an update in tx: the genesis, its batches
// and records, heads, events, record ids, tree nodes and the position. It
// changes nothing of st (a write in flight is read by the stage after it).
func flush(tx *bolt.Tx, st *staged) error {
	m := tx.Bucket(dMeta)
	if st.genesis != nil {
		if err := m.Put([]byte("genesis"), st.genesis); err != nil {
			return err
		}
	}
	for _, pb := range st.batches {
		if err := putBatchIn(tx, pb.pos, pb.b); err != nil {
			return err
		}
	}
	for _, h := range st.heads {
		if err := tx.Bucket(dHeads).Put(boltkey.Uint64(h.Size), h.Root); err != nil {
			return err
		}
	}
	for _, e := range st.evs {
		if err := putEventIn(tx, e.n, e.ev); err != nil {
			return err
		}
	}
	if err := flushIDs(tx, st.ids); err != nil {
		return err
	}
	if err := flushNodes(tx, st.nodes); err != nil {
		return err
	}
	if !st.positioned {
		return nil
	}
	if err := m.Put([]byte("next"), boltkey.Uint64(st.next)); err != nil {
		return err
	}
	return m.Put([]byte("prevHash"), st.prevHash)
}

// flushNodes writes an update's tree nodes in their keys' order.
func flushNodes(tx *bolt.Tx, nodes []pendingNode) error {
	nodes = slices.SortedFunc(slices.Values(nodes), func(a, b pendingNode) int { return bytes.Compare(a.key, b.key) })
	tree := tx.Bucket(dTree)
	for _, n := range nodes {
		if err := tree.Put(n.key, n.hash); err != nil {
			return err
		}
	}
	return nil
}

// flushIDs writes an update's record ids in order.
func flushIDs(tx *bolt.Tx, ids map[string]uint64) error {
	b := tx.Bucket(dIDs)
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if err := b.Put([]byte(id), boltkey.Uint64(ids[id])); err != nil {
			return err
		}
	}
	return nil
}

// flushPostings writes postings, in the order of their keys: under each
// posting hash, one value of its indexes from the first (key: hash, first
// index), as deltas.
func flushPostings(tx *bolt.Tx, postings map[string][]uint64) error {
	post := tx.Bucket(dPost)
	for _, h := range slices.Sorted(maps.Keys(postings)) {
		list := postings[h]
		var v []byte
		prev := list[0]
		for _, i := range list {
			v = binary.AppendUvarint(v, i-prev)
			prev = i
		}
		if err := post.Put(append([]byte(h), boltkey.Uint64(list[0])...), v); err != nil {
			return err
		}
	}
	return nil
}

func (s *diskStore) close() error {
	err := s.flushAbove()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *diskStore) hashLeaves(leaf func([]byte) []byte) { s.leaf = leaf }

// diskState is what the index keeps in memory, read back from the file:
// the counts are the buckets' last keys, and the tree's size is the last
// head's (an update holds whole transactions, each ending with its head).
type diskState struct {
	genesis        []byte
	batches, heads int
	last           Head
}

func (s *diskStore) state() (st diskState, err error) {
	err = s.read(func(tx *bolt.Tx) error {
		m := tx.Bucket(dMeta)
		if g := m.Get([]byte("genesis")); g != nil {
			st.genesis = bytes.Clone(g)
		}
		count := func(bucket []byte) int {
			if k, _ := tx.Bucket(bucket).Cursor().Last(); k != nil {
				return int(boltkey.ToUint64(k)) + 1
			}
			return 0
		}
		st.batches, st.heads = count(dBatches), count(dEvents)
		if k, v := tx.Bucket(dHeads).Cursor().Last(); k != nil {
			st.last = Head{Size: boltkey.ToUint64(k), Root: bytes.Clone(v)}
		}
		return nil
	})
	return st, err
}

func (s *diskStore) position() (next uint64, prevHash []byte) {
	_ = s.read(func(tx *bolt.Tx) error {
		m := tx.Bucket(dMeta)
		next = boltkey.ToUint64(m.Get([]byte("next")))
		prevHash = bytes.Clone(m.Get([]byte("prevHash")))
		return nil
	})
	return next, prevHash
}

func (s *diskStore) setPosition(next uint64, prevHash []byte) error {
	return s.write(func() error {
		s.cur.next, s.cur.prevHash, s.cur.positioned = next, prevHash, true
		return nil
	})
}

func (s *diskStore) recordIndex(id string) (i uint64, ok bool, err error) {
	for _, st := range []*staged{s.cur, s.writing} {
		if i, ok := st.id(id); ok {
			return i, true, nil // put in the update in progress, or the write in flight
		}
	}
	err = s.look(func(tx *bolt.Tx) error {
		v := tx.Bucket(dIDs).Get([]byte(id))
		i, ok = boltkey.ToUint64(v), v != nil
		return nil
	})
	return i, ok, err
}

func (s *diskStore) batchPos(root string) (pos int, ok bool, err error) {
	for _, st := range []*staged{s.cur, s.writing} {
		if pos, ok := st.root(root); ok {
			return pos, true, nil // put in the update in progress, or the write in flight
		}
	}
	err = s.look(func(tx *bolt.Tx) error {
		v := tx.Bucket(dRoots).Get([]byte(root))
		pos, ok = int(boltkey.ToUint64(v)), v != nil
		return nil
	})
	return pos, ok, err
}

func (s *diskStore) record(i uint64) (raw []byte, id, root string, err error) {
	err = s.read(func(tx *bolt.Tx) error {
		rid, pos, r, err := s.recordIn(tx, i)
		if err != nil {
			return err
		}
		id, root, raw = rid, string(tx.Bucket(dBatchRoot).Get(boltkey.Uint64(pos))), bytes.Clone(r)
		return nil
	})
	return raw, id, root, err
}

// recordIn reads record i in tx: its id, batch position and bytes (valid
// only during tx).
func (s *diskStore) recordIn(tx *bolt.Tx, i uint64) (id string, pos uint64, raw []byte, err error) {
	v := tx.Bucket(dRecords).Get(boltkey.Uint64(i))
	if v == nil {
		return "", 0, nil, fmt.Errorf("fabric: no record at index %d", i)
	}
	f, err := splitFields(v, 2)
	if err != nil || len(f[1]) != 8 {
		return "", 0, nil, fmt.Errorf("fabric: index file %s: record %d: stored value cut short", s.path, i)
	}
	return string(f[0]), boltkey.ToUint64(f[1]), f[2], nil
}

func (s *diskStore) batch(pos int, full bool) (b *storedBatch, err error) {
	err = s.read(func(tx *bolt.Tx) error { b, err = s.batchIn(tx, pos, full); return err })
	return b, err
}

// batchIn reads the batch at pos in tx, with its records' ids, and bytes
// and leaves if full.
func (s *diskStore) batchIn(tx *bolt.Tx, pos int, full bool) (*storedBatch, error) {
	v := tx.Bucket(dBatches).Get(boltkey.Uint64(uint64(pos)))
	if v == nil {
		return nil, fmt.Errorf("fabric: no batch at position %d", pos)
	}
	b := &storedBatch{StoredBatch: &ledger.StoredBatch{}}
	if err := json.Unmarshal(v, b); err != nil {
		return nil, fmt.Errorf("fabric: index file %s: batch %d: %w", s.path, pos, err)
	}
	n := b.TreeSize - b.FirstIndex
	b.IDs = make([]string, 0, n)
	if full {
		b.Records, b.Leaves = make([]json.RawMessage, 0, n), make([][]byte, 0, n)
	}
	for i := b.FirstIndex; i < b.TreeSize; i++ {
		id, _, raw, err := s.recordIn(tx, i)
		if err != nil {
			return nil, err
		}
		b.IDs = append(b.IDs, id)
		if !full {
			continue
		}
		b.Records, b.Leaves = append(b.Records, bytes.Clone(raw)), append(b.Leaves, s.leaf(raw))
	}
	return b, nil
}

func (s *diskStore) node(id compact.NodeID) (h []byte, err error) {
	err = s.read(func(tx *bolt.Tx) error {
		if id.Level == 0 {
			_, _, raw, err := s.recordIn(tx, id.Index)
			if err != nil {
				return fmt.Errorf("fabric: tree node (0,%d) not built: %w", id.Index, err)
			}
			h = s.leaf(raw)
			return nil
		}
		v := tx.Bucket(dTree).Get(boltkey.Node(id))
		if v == nil {
			return fmt.Errorf("fabric: tree node (%d,%d) not built", id.Level, id.Index)
		}
		h = bytes.Clone(v)
		return nil
	})
	return h, err
}

func (s *diskStore) postings(key string, from uint64, fn func(uint64) (bool, error)) error {
	prefix := postingHash(key)
	// A page of indexes at a time, collected first: fn reads the store,
	// and a read transaction open across its calls would hold bbolt's
	// pages for the whole query.
	var list []uint64
	for {
		list = list[:0]
		err := s.read(func(tx *bolt.Tx) error {
			c := tx.Bucket(dPost).Cursor()
			target := append(bytes.Clone(prefix), boltkey.Uint64(from)...)
			k, v := c.Seek(target)
			if k == nil || !bytes.HasPrefix(k, prefix) || boltkey.ToUint64(k[len(prefix):]) > from {
				// The value holding from starts before it, if any does;
				// else back to where the seek landed.
				if pk, pv := c.Prev(); pk != nil && bytes.HasPrefix(pk, prefix) {
					k, v = pk, pv
				} else {
					k, v = c.Seek(target)
				}
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(list) < 256; k, v = c.Next() {
				i := boltkey.ToUint64(k[len(prefix):])
				for len(v) > 0 {
					d, n := binary.Uvarint(v)
					if n <= 0 {
						return fmt.Errorf("fabric: index file %s: a posting list does not decode", s.path)
					}
					i, v = i+d, v[n:]
					if i >= from {
						list = append(list, i)
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			break
		}
		for _, i := range list {
			if ok, err := fn(i); !ok || err != nil {
				return err
			}
		}
		from = list[len(list)-1] + 1
	}
	// Then those above the mark, all after the file's.
	above := s.above[key]
	k, _ := slices.BinarySearch(above, from)
	for _, i := range above[k:] {
		if ok, err := fn(i); !ok || err != nil {
			return err
		}
	}
	return nil
}

func (s *diskStore) headsFrom(from uint64, limit int) (hs []Head, err error) {
	err = s.read(func(tx *bolt.Tx) error {
		c := tx.Bucket(dHeads).Cursor()
		for k, v := c.Seek(boltkey.Uint64(from)); k != nil && len(hs) < limit; k, v = c.Next() {
			hs = append(hs, Head{Size: boltkey.ToUint64(k), Root: bytes.Clone(v)})
		}
		return nil
	})
	return hs, err
}

func (s *diskStore) events(from, limit int) (evs []Event, err error) {
	err = s.read(func(tx *bolt.Tx) error {
		c := tx.Bucket(dEvents).Cursor()
		for k, v := c.Seek(boltkey.Uint64(uint64(from))); k != nil && len(evs) < limit; k, v = c.Next() {
			var d diskEvent
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("fabric: index file %s: event %d: %w", s.path, boltkey.ToUint64(k), err)
			}
			ev := Event{Block: d.Block, TxID: d.TxID, TreeSize: d.TreeSize, Root: d.Root}
			for pos := d.First; pos < d.First+d.Count; pos++ {
				b, err := s.batchIn(tx, pos, false)
				if err != nil {
					return err
				}
				ev.Batches = append(ev.Batches, b.receipt())
			}
			evs = append(evs, ev)
		}
		return nil
	})
	return evs, err
}

func (s *diskStore) putGenesis(raw []byte) error {
	return s.write(func() error { s.cur.genesis = raw; return nil })
}

func (s *diskStore) putBatch(pos int, b *storedBatch, keys [][]string) error {
	return s.write(func() error {
		st := s.cur
		st.batches = append(st.batches, pendingBatch{pos, b})
		st.roots[b.Root] = pos
		st.records += len(b.IDs)
		st.end = b.TreeSize
		for k, id := range b.IDs {
			i := b.FirstIndex + uint64(k)
			st.ids[id] = i
			addPostings(st.postings, i, keys[k])
		}
		return nil
	})
}

// id is the index of record id if st (which may be nil) holds it.
func (st *staged) id(id string) (uint64, bool) {
	if st == nil {
		return 0, false
	}
	i, ok := st.ids[id]
	return i, ok
}

// root is the position of the batch of root if st (which may be nil)
// holds it.
func (st *staged) root(root string) (int, bool) {
	if st == nil {
		return 0, false
	}
	pos, ok := st.roots[root]
	return pos, ok
}

// putBatchIn writes the batch at pos and its records in tx.
func putBatchIn(tx *bolt.Tx, pos int, b *storedBatch) error {
	head := *b.StoredBatch
	head.Records, head.Leaves = nil, nil // in dRecords and dTree
	v, err := json.Marshal(&storedBatch{StoredBatch: &head, Ref: b.Ref})
	if err != nil {
		return err
	}
	p := boltkey.Uint64(uint64(pos))
	for _, kv := range []struct {
		bucket []byte
		k, v   []byte
	}{{dBatches, p, v}, {dBatchRoot, p, []byte(b.Root)}, {dRoots, []byte(b.Root), p}} {
		if err := tx.Bucket(kv.bucket).Put(kv.k, kv.v); err != nil {
			return err
		}
	}
	recs := tx.Bucket(dRecords)
	for k, id := range b.IDs {
		if err := recs.Put(boltkey.Uint64(b.FirstIndex+uint64(k)), joinFields([]byte(id), p, b.Records[k])); err != nil {
			return err
		}
	}
	return nil
}

// postingHash is the 8 bytes a posting key is listed under: the first of
// its SHA-256. Two keys of one hash share a list, which costs a query only
// records it then does not match (the query checks each record it reads).
func postingHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:8:8]
}

func (s *diskStore) putNode(id compact.NodeID, hash []byte) error {
	if id.Level == 0 {
		return nil // the record gives it
	}
	return s.write(func() error {
		s.cur.nodes = append(s.cur.nodes, pendingNode{boltkey.Node(id), hash})
		return nil
	})
}

func (s *diskStore) putHead(h Head) error {
	return s.write(func() error { s.cur.heads = append(s.cur.heads, h); return nil })
}

func (s *diskStore) putEvent(n int, ev Event) error {
	return s.write(func() error {
		if len(ev.Batches) == 0 {
			return fmt.Errorf("fabric: event %d has no batches", n)
		}
		s.cur.evs = append(s.cur.evs, pendingEvent{n, ev})
		return nil
	})
}

// putEventIn writes event n in tx, after its batches.
func putEventIn(tx *bolt.Tx, n int, ev Event) error {
	first := tx.Bucket(dRoots).Get([]byte(ev.Batches[0].BatchRoot))
	if first == nil {
		return fmt.Errorf("fabric: event %d: batch %s not stored", n, ev.Batches[0].BatchRoot)
	}
	v, err := json.Marshal(&diskEvent{Block: ev.Block, TxID: ev.TxID, First: int(boltkey.ToUint64(first)), Count: len(ev.Batches), TreeSize: ev.TreeSize, Root: ev.Root})
	if err != nil {
		return err
	}
	return tx.Bucket(dEvents).Put(boltkey.Uint64(uint64(n)), v)
}

// joinFields writes each field but the last with its length before it.
func joinFields(fs ...[]byte) []byte {
	var out []byte
	for _, f := range fs[:len(fs)-1] {
		out = binary.AppendUvarint(out, uint64(len(f)))
		out = append(out, f...)
	}
	return append(out, fs[len(fs)-1]...)
}

// splitFields reverses joinFields of n+1 fields.
func splitFields(v []byte, n int) ([][]byte, error) {
	fs := make([][]byte, 0, n+1)
	for range n {
		l, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < l {
			return nil, errors.New("stored value cut short")
		}
		fs = append(fs, v[k:k+int(l)])
		v = v[k+int(l):]
	}
	return append(fs, v), nil
}
