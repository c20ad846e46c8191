package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// CheckDerived checks everything the store keeps beside the proven records
// against what the records make it: the ids index, the query index (idx),
// the batch roots, every tree node, the batch headers, the meta keys and the
// kept rulebook state (state.* buckets and the rules), rebuilt by replaying
// the records. Queries and the rulebook read these buckets, so a ledger whose
// records verify but whose index hides a record must not be called whole.
//
// Run it after verify.Ledger has passed over the same Raw: it trusts that the
// records, batch signatures and checkpoints are what they claim. It also runs
// bbolt's own consistency check (every page reachable once or free), so a
// damaged freelist that would hand out a live page on the next write is found
// too. A difference is a *verify.Problem naming the bucket and key.
func (r *Raw) CheckDerived(ctx context.Context) error {
	if err := r.checkMeta(); err != nil {
		return err
	}
	if err := r.checkState(ctx, nil, nil); err != nil {
		return err
	}
	return r.checkPages()
}

// Verify is verify.Ledger over the directory, then CheckDerived, in less
// time: the derived state is checked in a read transaction of its own
// beside the verifier (on a core its decoders leave), and the kept rulebook
// state is compared with the state the verifier's replay built, not
// replayed a second time. bbolt's page check starts once the guarded walk
// has read every key (so that a damaged page faults there, where it can be
// reported, and not on the checker's goroutine), on a handle of the file of
// its own: it loads a read-only file's freelist lazily, which bbolt does not
// guard against the transactions of the same handle closing at the same
// time. The problems are reported in the order the two calls would report
// them: the verifier's first.
func (r *Raw) Verify(ctx context.Context, vkey string) (verify.Report, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replayed := make(chan *rulebook.Mem, 1)
	state, pages := make(chan error, 1), make(chan error, 1)
	pagesChecked := false // set before state is sent, read after
	go func() {
		state <- r.checkState(sctx, replayed, func() {
			pagesChecked = true
			go func() { pages <- r.checkPagesApart() }()
		})
	}()
	// finish waits for the checks still running and returns the first
	// problem: err (the verifier's or the meta pages'), the state's, the
	// pages'.
	finish := func(err error) error {
		stateErr := <-state
		var pagesErr error
		if pagesChecked {
			pagesErr = <-pages
		}
		return cmp.Or(err, stateErr, pagesErr)
	}
	rep, mem, err := verify.LedgerState(ctx, r, vkey)
	if err != nil {
		cancel()
		return rep, finish(err)
	}
	replayed <- mem
	return rep, finish(r.checkMeta())
}

// checkState checks the buckets against the records and seeks every key,
// then calls seeked (if not nil). The kept rulebook state is compared with
// the state replayed sends (the verifier's, once it has verified every
// record) or, with replayed nil, with a replay of its own.
func (r *Raw) checkState(ctx context.Context, replayed <-chan *rulebook.Mem, seeked func()) error {
	return r.guard(func() error {
		return r.db.View(func(tx *bolt.Tx) error {
			// Every bucket first, on a guarded goroutine: bbolt's page
			// check (checkPages, after this) runs on a goroutine of its
			// own, where a fault on a damaged page could not be recovered.
			size, err := checkDerived(ctx, tx, r.g)
			if err != nil {
				return err
			}
			if err := seekAll(tx); err != nil {
				return err
			}
			if seeked != nil {
				seeked()
			}
			var mem *rulebook.Mem
			if replayed == nil {
				mem = rulebook.NewMem(r.g)
				if err := replay(ctx, tx, r.g, mem); err != nil {
					return &verify.Problem{What: "rulebook replay: " + err.Error()}
				}
			} else {
				select {
				case mem = <-replayed:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return checkKept(tx, r.g, mem, size)
		})
	})
}

// checkPagesApart is checkPages on a read-only handle of the file of its own.
func (r *Raw) checkPagesApart() error {
	db, err := openReadOnly(r.db.Path())
	if err != nil {
		return fmt.Errorf("embedded: open %s again for the page check: %w", r.db.Path(), err)
	}
	defer db.Close()
	return r.guard(func() error { return db.View(checkPages) })
}

// checkPages runs bbolt's consistency check of the file's pages.
func (r *Raw) checkPages() error {
	return r.guard(func() error {
		return r.db.View(checkPages)
	})
}

// guard turns a panic or memory fault while reading damaged pages into an
// error: bbolt panics on a page it cannot make sense of.
func (r *Raw) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &verify.Problem{What: fmt.Sprintf("the store file's page structure is damaged: %v", p)}
		}
	}()
	return fn()
}

// checkMeta checks both of bbolt's meta pages. bbolt itself quietly falls
// back to the other meta page when one fails its checksum: that one names the
// transaction before, so a damaged newest meta page would roll the ledger
// back by a commit without a word.
func (r *Raw) checkMeta() error {
	f, err := os.Open(r.db.Path())
	if err != nil {
		return err
	}
	defer f.Close()
	ps := r.db.Info().PageSize
	buf := make([]byte, 2*ps)
	if _, err := io.ReadFull(f, buf); err != nil {
		return &verify.Problem{What: "the store file is shorter than its two meta pages: " + err.Error()}
	}
	for i := 0; i < 2; i++ {
		m := buf[i*ps+pageHeader : i*ps+pageHeader+metaChecksumAt+8]
		h := fnv.New64a()
		h.Write(m[:metaChecksumAt])
		if binary.LittleEndian.Uint32(m) != boltMagic || binary.LittleEndian.Uint64(m[metaChecksumAt:]) != h.Sum64() {
			return &verify.Problem{What: fmt.Sprintf("meta page %d (file offset %d) fails its checksum: bbolt falls back to the other meta page, which may name an older transaction", i, i*ps)}
		}
	}
	return nil
}

// bbolt's on-disk meta page: a 16-byte page header, then magic, version,
// page size, flags (4 bytes each), the root bucket (16), freelist, high-water
// page id and transaction id (8 each), and an FNV-64a checksum of all before it.
const (
	pageHeader     = 16
	metaChecksumAt = 4*4 + 16 + 3*8
	boltMagic      = 0xED0CDAED
)

// seekAll looks every key of every bucket up again by its key: a search
// reads the branch pages' keys, which a walk does not, so a damaged branch
// page faults here, on the guarded goroutine, rather than in bbolt's page
// check, and a key that cannot be found again is reported.
func seekAll(tx *bolt.Tx) error {
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if got := b.Get(k); !bytes.Equal(got, v) {
				return derivedProblem(name, k, 0, "a walk finds this key, a search by it does not: a branch page is damaged")
			}
			return nil
		})
	})
}

func checkPages(tx *bolt.Tx) error {
	var errs []error
	for err := range tx.Check() {
		// Read to the end: bbolt's checker sends on an unbuffered channel
		// and would block for ever on the sixth error.
		if len(errs) < 5 {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &verify.Problem{What: "the store file's page structure is inconsistent: " + errors.Join(errs...).Error()}
	}
	return nil
}

// derivedProblem is a difference between a bucket and what the records make it.
func derivedProblem(bucket []byte, key []byte, index uint64, what string) error {
	return &verify.Problem{Index: index, What: fmt.Sprintf("%s bucket, key %s: %s (the records are intact: reopen the ledger with Options.RebuildState or rebuild the store from the records)", bucket, printable(key), what)}
}

func printable(k []byte) string {
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			return hex.EncodeToString(k)
		}
	}
	return fmt.Sprintf("%q", k)
}

// indexedFields is the part of a record the derived check reads: its id and
// the fields the query index holds (indexEntries), with ledger.Record's
// names and tags (TestIndexedFields). Decoding only these skips the rest
// of each record (terms, participants, hashes); the verifier decodes every
// record whole and strictly.
type indexedFields struct {
	ID             string                `json:"id"`
	Kind           ledger.Kind           `json:"kind"`
	Actor          string                `json:"actor"`
	Counterparty   string                `json:"counterparty,omitempty"`
	Dataset        string                `json:"dataset,omitempty"`
	Classification policy.Classification `json:"classification,omitempty"`
	Agreement      string                `json:"agreement,omitempty"`
	Transfer       string                `json:"transfer,omitempty"`
	FromRegion     string                `json:"fromRegion,omitempty"`
	ToRegion       string                `json:"toRegion,omitempty"`
}

func (f *indexedFields) record() *ledger.Record {
	return &ledger.Record{ID: f.ID, Kind: f.Kind, Actor: f.Actor, Counterparty: f.Counterparty, Dataset: f.Dataset,
		Classification: f.Classification, Agreement: f.Agreement, Transfer: f.Transfer, FromRegion: f.FromRegion, ToRegion: f.ToRegion}
}

// checkDerived checks the buckets derived from the records, the meta keys
// but the state's, and returns the ledger's size.
func checkDerived(ctx context.Context, tx *bolt.Tx, g ledger.Genesis) (uint64, error) {
	ids, idx, roots, tree, batches := tx.Bucket(bIDs), tx.Bucket(bIndex), tx.Bucket(bRoots), tx.Bucket(bTree), tx.Bucket(bBatches)
	for _, b := range [][]byte{bIDs, bIndex, bRoots, bTree, bBatches, bRecords} {
		if tx.Bucket(b) == nil {
			return 0, &verify.Problem{What: fmt.Sprintf("%s bucket missing", b)}
		}
	}
	var nIDs, nIdx, nNodes, nBatches, size uint64
	rf := &compact.RangeFactory{Hash: g.CryptoSuite().Merkle().HashChildren}
	rng := rf.NewEmptyRange(0)
	var nodeErr error
	node := func(id compact.NodeID, hash []byte) {
		nNodes++
		if nodeErr != nil {
			return
		}
		k := boltkey.Node(id)
		if got := tree.Get(k); !bytes.Equal(got, hash) {
			nodeErr = derivedProblem(bTree, k, id.Index, fmt.Sprintf("node (level %d, index %d) is %x, the records make it %x", id.Level, id.Index, got, hash))
		}
	}
	err := walkBatches(tx, 0, func(sb *ledger.StoredBatch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		first := sb.FirstIndex
		h := header{Space: sb.Space, Writer: sb.Writer, KeyID: sb.KeyID, Root: sb.Root, Signature: sb.Signature,
			First: first, Count: len(sb.Records), TreeSize: sb.TreeSize}
		want, _ := json.Marshal(h)
		if got := batches.Get(boltkey.Uint64(first)); !bytes.Equal(got, want) {
			return derivedProblem(bBatches, boltkey.Uint64(first), first, fmt.Sprintf("header bytes %q differ from the header of the proven batch %q", got, want))
		}
		nBatches++
		rk := mustHex(sb.Root)
		if got := roots.Get(rk); !bytes.Equal(got, boltkey.Uint64(first)) {
			return derivedProblem(bRoots, rk, first, fmt.Sprintf("maps the batch root to index %d, the batch starts at %d", boltkey.ToUint64(got), first))
		}
		postings := map[indexEntry][]uint64{}
		var order []indexEntry
		for i, raw := range sb.Records {
			index := first + uint64(i)
			var f indexedFields
			if err := jsondec.Unmarshal(raw, &f); err != nil {
				return &verify.Problem{Index: index, What: "record does not decode: " + err.Error()}
			}
			rec := f.record()
			nIDs++
			if got := ids.Get([]byte(rec.ID)); !bytes.Equal(got, boltkey.Uint64(index)) {
				return derivedProblem(bIDs, []byte(rec.ID), index, fmt.Sprintf("maps record %s to index %d (%x), it is at %d", rec.ID, boltkey.ToUint64(got), got, index))
			}
			for _, e := range indexEntries(rec) {
				if _, ok := postings[e]; !ok {
					order = append(order, e)
				}
				postings[e] = append(postings[e], index)
			}
			if err := rng.Append(sb.Leaves[i], node); err != nil {
				return err
			}
			if nodeErr != nil {
				return nodeErr
			}
		}
		for _, e := range order {
			want := make([]byte, 8*len(postings[e]))
			for i, n := range postings[e] {
				binary.BigEndian.PutUint64(want[8*i:], n)
			}
			k := indexKey(e.field, e.value, first)
			if got := idx.Get(k); !bytes.Equal(got, want) {
				return derivedProblem(bIndex, k, first, fmt.Sprintf("lists records %v for %c=%q in the batch at %d; the records make it %v", postingList(got), e.field, e.value, first, postings[e]))
			}
			nIdx++
		}
		size = first + uint64(len(sb.Records))
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Every expected key is present with the right value; equal counts mean
	// no key is there that the records do not make (a flipped key byte makes
	// one key missing and another one extra).
	for _, c := range []struct {
		b    *bolt.Bucket
		name []byte
		n    uint64
	}{{ids, bIDs, nIDs}, {idx, bIndex, nIdx}, {tree, bTree, nNodes}, {batches, bBatches, nBatches}, {roots, bRoots, nBatches}, {tx.Bucket(bRecords), bRecords, size}} {
		if err := extraKeys(c.b, c.name, c.n, nil); err != nil {
			return 0, err
		}
	}

	// The meta keys: genesis as stored, size, the size the state reflects
	// (and, with the state below, the DID index's marker).
	meta := tx.Bucket(bMeta)
	gj, _ := json.Marshal(g)
	if got := meta.Get([]byte("genesis")); !bytes.Equal(got, gj) {
		return 0, derivedProblem(bMeta, []byte("genesis"), 0, "stored genesis bytes differ from the genesis they decode to")
	}
	for _, k := range [][]byte{[]byte("size"), kState} {
		if got := meta.Get(k); !bytes.Equal(got, boltkey.Uint64(size)) {
			return 0, derivedProblem(bMeta, k, size, fmt.Sprintf("says %d (%x), the ledger holds %d records", boltkey.ToUint64(got), got, size))
		}
	}
	return size, nil
}

// checkKept checks the kept rulebook state (the state.* buckets and the
// meta keys) against mem, the state the records of a ledger of size
// records make, and that no bucket is there that the store does not make.
func checkKept(tx *bolt.Tx, g ledger.Genesis, mem *rulebook.Mem, size uint64) error {
	gj, _ := json.Marshal(g)
	want := map[string]map[string][]byte{}
	for _, b := range stateBuckets {
		want[string(b)] = map[string][]byte{}
	}
	want[string(bMeta)] = map[string][]byte{"genesis": gj, "size": boltkey.Uint64(size), string(kState): boltkey.Uint64(size), string(kDIDIndex): {1}}
	for _, c := range mem.Contents() {
		b, k := stateSlot(&c)
		if b == nil {
			continue
		}
		v, err := stateValue(&c)
		if err != nil {
			return err
		}
		if v != nil {
			want[string(b)][k] = v
		}
	}
	for name, kv := range want {
		bk := tx.Bucket([]byte(name))
		if bk == nil {
			return &verify.Problem{What: fmt.Sprintf("%s bucket missing", name)}
		}
		for k, v := range kv {
			if got := bk.Get([]byte(k)); !bytes.Equal(got, v) {
				return derivedProblem([]byte(name), []byte(k), 0, fmt.Sprintf("holds %q, the records make it %q", got, v))
			}
		}
		if err := extraKeys(bk, []byte(name), uint64(len(kv)), kv); err != nil {
			return err
		}
	}
	// No bucket the store does not make.
	known := map[string]bool{string(bCheckpoints): true}
	for _, b := range allBuckets {
		known[string(b)] = true
	}
	for _, b := range stateBuckets {
		known[string(b)] = true
	}
	return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if !known[string(name)] {
			return &verify.Problem{What: fmt.Sprintf("bucket %s is not one the store makes", printable(name))}
		}
		return nil
	})
}

// extraKeys fails when b holds other than n keys, naming the first key that
// is not in want (when want is given) or just the count.
func extraKeys(b *bolt.Bucket, name []byte, n uint64, want map[string][]byte) error {
	var got uint64
	var extra []byte
	_ = b.ForEach(func(k, _ []byte) error {
		got++
		if want != nil && extra == nil {
			if _, ok := want[string(k)]; !ok {
				extra = append([]byte(nil), k...)
			}
		}
		return nil
	})
	if extra != nil {
		return derivedProblem(name, extra, 0, "is a key the records do not make")
	}
	if got != n {
		return derivedProblem(name, nil, 0, fmt.Sprintf("holds %d keys, the records make %d", got, n))
	}
	return nil
}

func postingList(v []byte) []uint64 {
	var l []uint64
	for len(v) >= 8 {
		l = append(l, binary.BigEndian.Uint64(v))
		v = v[8:]
	}
	return l
}
