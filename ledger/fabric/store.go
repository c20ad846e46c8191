package fabric

import (
	"fmt"
	"slices"
	"sort"

	"github.com/transparency-dev/merkle/compact"

	"github.com/tdsc/tdsc/ledger"
)

// indexStore holds what an index grows by: its batches, records, tree
// nodes, postings, tree heads and events. memStore keeps them in memory (the
// audit's walk, and a ledger without Config.IndexFile); diskStore keeps them
// in a bbolt file, with the block the index has read up to, so that a
// restarted ledger resumes there and its memory does not grow with the
// ledger. The index calls the writes only inside update; the follower's lock
// keeps reads and updates apart.
type indexStore interface {
	// update runs fn, whose writes (and the position set) land together or,
	// if fn fails, not at all on disk.
	update(fn func() error) error
	// setPosition records, with the block's writes, the next block to read
	// and the header hash of the one before (diskStore.position reads them
	// back; in memory they are the follower's own).
	setPosition(next uint64, prevHash []byte) error
	// hashLeaves says how a record's bytes hash into its leaf (a store may
	// keep the records and not the leaves).
	hashLeaves(leaf func([]byte) []byte)

	recordIndex(id string) (uint64, bool, error)
	batchPos(root string) (int, bool, error)
	// record returns the stored bytes of record i, its id, and its batch's root.
	record(i uint64) (raw []byte, id, root string, err error)
	// batch returns the batch at pos, with its records' bytes and leaves if full.
	batch(pos int, full bool) (*storedBatch, error)
	node(id compact.NodeID) ([]byte, error)
	// postings calls fn with the indexes listed under key from index from
	// on, ascending, until fn returns false.
	postings(key string, from uint64, fn func(i uint64) (bool, error)) error
	headsFrom(from uint64, limit int) ([]Head, error)
	events(from, limit int) ([]Event, error)

	putGenesis(raw []byte) error
	putBatch(pos int, b *storedBatch, keys [][]string) error
	putNode(id compact.NodeID, hash []byte) error
	putHead(h Head) error
	putEvent(n int, ev Event) error
	close() error
}

// storedBatch is a batch as the index keeps it: the batch, the transaction
// that committed it and its records' ids.
type storedBatch struct {
	*ledger.StoredBatch
	Ref txRef    `json:"ref"`
	IDs []string `json:"ids,omitempty"`
}

// memStore is an indexStore in memory.
type memStore struct {
	batches []*storedBatch
	byRoot  map[string]int
	byID    map[string]uint64
	records []int               // by index: the batch's position
	post    map[string][]uint64 // postingKey -> record indexes, ascending
	levels  [][][]byte          // levels[l][i]: the hash of node (l, i)
	heads   []Head
	evs     []Event
}

func newMemStore() *memStore {
	return &memStore{byRoot: map[string]int{}, byID: map[string]uint64{}, post: map[string][]uint64{}}
}

func (m *memStore) update(fn func() error) error { return fn() }

func (m *memStore) setPosition(uint64, []byte) error { return nil }

func (m *memStore) hashLeaves(func([]byte) []byte) {} // it keeps the leaves

func (m *memStore) recordIndex(id string) (uint64, bool, error) {
	i, ok := m.byID[id]
	return i, ok, nil
}

func (m *memStore) batchPos(root string) (int, bool, error) {
	p, ok := m.byRoot[root]
	return p, ok, nil
}

func (m *memStore) record(i uint64) ([]byte, string, string, error) {
	if i >= uint64(len(m.records)) {
		return nil, "", "", fmt.Errorf("fabric: no record at index %d", i)
	}
	b := m.batches[m.records[i]]
	k := i - b.FirstIndex
	return b.Records[k], b.IDs[k], b.Root, nil
}

func (m *memStore) batch(pos int, _ bool) (*storedBatch, error) {
	if pos < 0 || pos >= len(m.batches) {
		return nil, fmt.Errorf("fabric: no batch at position %d", pos)
	}
	return m.batches[pos], nil
}

func (m *memStore) node(id compact.NodeID) ([]byte, error) {
	if id.Level >= uint(len(m.levels)) || id.Index >= uint64(len(m.levels[id.Level])) {
		return nil, fmt.Errorf("fabric: tree node (%d,%d) not built", id.Level, id.Index)
	}
	return m.levels[id.Level][id.Index], nil
}

func (m *memStore) postings(key string, from uint64, fn func(uint64) (bool, error)) error {
	list := m.post[key]
	start, _ := slices.BinarySearch(list, from)
	for _, i := range list[start:] {
		if more, err := fn(i); !more || err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) headsFrom(from uint64, limit int) ([]Head, error) {
	i := sort.Search(len(m.heads), func(i int) bool { return m.heads[i].Size >= from })
	return m.heads[i:min(len(m.heads), i+limit)], nil
}

func (m *memStore) events(from, limit int) ([]Event, error) {
	from = min(from, len(m.evs))
	return m.evs[from:min(len(m.evs), from+limit)], nil
}

func (m *memStore) putGenesis([]byte) error { return nil }

func (m *memStore) putBatch(pos int, b *storedBatch, keys [][]string) error {
	for k, id := range b.IDs {
		i := b.FirstIndex + uint64(k)
		m.byID[id] = i
		for _, pk := range keys[k] {
			m.post[pk] = append(m.post[pk], i)
		}
		m.records = append(m.records, pos)
	}
	m.byRoot[b.Root] = pos
	m.batches = append(m.batches, b)
	return nil
}

func (m *memStore) putNode(id compact.NodeID, hash []byte) error {
	for uint(len(m.levels)) <= id.Level {
		m.levels = append(m.levels, nil)
	}
	l := m.levels[id.Level]
	if uint64(len(l)) != id.Index { // nodes of a level arrive in order
		return fmt.Errorf("fabric: tree node (%d,%d) out of order", id.Level, id.Index)
	}
	m.levels[id.Level] = append(l, hash)
	return nil
}

func (m *memStore) putHead(h Head) error { m.heads = append(m.heads, h); return nil }

func (m *memStore) putEvent(_ int, ev Event) error { m.evs = append(m.evs, ev); return nil }

func (m *memStore) close() error { return nil }
