package fabric

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/ledger/internal/boltkey"
)

// IndexCheck is what CheckIndexFile found: the blocks the file holds, the
// records and batches in them, and where the file differs from the index
// the blocks make (none: the file is whole).
type IndexCheck struct {
	Blocks      uint64   `json:"blocks"`
	Records     uint64   `json:"records"`
	Batches     int      `json:"batches"`
	Differences []string `json:"differences,omitempty"`
	// More counts the differences past the first maxDifferences.
	More int `json:"more,omitempty"`
}

// ErrIndexDiffers reports an index file that is not what the channel's
// blocks make: stop the ledger service, remove the file and start it again
// (it reads the channel from block 0 into a new file).
var ErrIndexDiffers = errors.New("fabric: index file differs from the blocks")

const maxDifferences = 20

// CheckIndexFile checks the index file at path (a stopped ledger
// service's, Config.IndexFile) against the channel's blocks: it reads the
// blocks the file holds from src (with the audit's checks: hash chain, data
// hashes, endorsements), builds the index they make into a file of its own,
// and compares the two entry by entry — records, batches, tree nodes,
// heads, events, lookups, the position and its block hash; the postings by
// their lists, which do not depend on how blocks were grouped into
// updates. A file that differs gives an error wrapping ErrIndexDiffers;
// the report lists the differences.
func CheckIndexFile(ctx context.Context, src BlockSource, path, channel, chaincode string) (IndexCheck, error) {
	var rep IndexCheck
	got, err := openDiskStoreReadOnly(path, channel, chaincode)
	if err != nil {
		return rep, err
	}
	defer got.close()
	next, _ := got.position()
	dir, err := os.MkdirTemp("", "tdsc-index-check")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	x, want, err := openIndexFile(filepath.Join(dir, "index"), channel, chaincode)
	if err != nil {
		return rep, err
	}
	defer want.close()
	var c ChainCounts
	if err := walkChain(ctx, src, chaincode, x, &c, next, nil); err != nil {
		return rep, err
	}
	if c.Blocks < next {
		return rep, fmt.Errorf("%w: the file holds blocks 0 to %d, the channel has %d", ErrIndexDiffers, next-1, c.Blocks)
	}
	rep.Blocks, rep.Records, rep.Batches = next, x.size(), x.batches
	// The postings above each file's mark: the built file's all put, the
	// checked file's (rebuilt from its records) merged with its own.
	if err := want.flushAbove(); err != nil {
		return rep, err
	}
	d := &differ{rep: &rep}
	if err := compareFiles(want.db, got, d); err != nil {
		return rep, err
	}
	if len(rep.Differences) > 0 {
		return rep, fmt.Errorf("%w: %d differences, the first: %s", ErrIndexDiffers, len(rep.Differences)+rep.More, rep.Differences[0])
	}
	return rep, nil
}

// differ collects differences, the first maxDifferences in full.
type differ struct{ rep *IndexCheck }

func (d *differ) add(format string, args ...any) {
	if len(d.rep.Differences) < maxDifferences {
		d.rep.Differences = append(d.rep.Differences, fmt.Sprintf(format, args...))
	} else {
		d.rep.More++
	}
}

// compareFiles compares every bucket of got with want's: key by key, but
// the postings by the lists they make with those above got's mark, and the
// meta bucket without the layout and the mark (checked at open; the two
// files put their postings at other records).
func compareFiles(want *bolt.DB, got *diskStore, d *differ) error {
	return want.View(func(wtx *bolt.Tx) error {
		return got.db.View(func(gtx *bolt.Tx) error {
			for _, b := range dBuckets {
				wb, gb := wtx.Bucket(b), gtx.Bucket(b)
				switch {
				case bytes.Equal(b, dPost):
					if err := comparePostings(postingLists(wb.Cursor(), nil), postingLists(gb.Cursor(), hashedPostings(got.above, postingHash)), d); err != nil {
						return err
					}
				case bytes.Equal(b, dMeta):
					skip := func(k []byte) bool { return string(k) == "format" || bytes.Equal(k, metaPosted) }
					compareBucket(string(b), skipping(wb.Cursor(), skip), skipping(gb.Cursor(), skip), d)
				default:
					compareBucket(string(b), wb.Cursor(), gb.Cursor(), d)
				}
			}
			return nil
		})
	})
}

// kvCursor is what compareBucket reads of a bucket's cursor.
type kvCursor interface {
	First() (key, value []byte)
	Next() (key, value []byte)
}

// skipCursor is a cursor that passes over the keys skip says.
type skipCursor struct {
	c    kvCursor
	skip func([]byte) bool
}

func skipping(c kvCursor, skip func([]byte) bool) kvCursor { return &skipCursor{c, skip} }

func (s *skipCursor) First() ([]byte, []byte) { return s.past(s.c.First()) }
func (s *skipCursor) Next() ([]byte, []byte)  { return s.past(s.c.Next()) }

func (s *skipCursor) past(k, v []byte) ([]byte, []byte) {
	for k != nil && s.skip(k) {
		k, v = s.c.Next()
	}
	return k, v
}

// compareBucket walks two cursors over sorted keys side by side.
func compareBucket(name string, w, g kvCursor, d *differ) {
	wk, wv := w.First()
	gk, gv := g.First()
	for wk != nil || gk != nil {
		switch c := compareKeys(wk, gk); {
		case c < 0:
			d.add("%s %s: missing from the file", name, showKey(wk))
			wk, wv = w.Next()
		case c > 0:
			d.add("%s %s: in the file, not in the blocks", name, showKey(gk))
			gk, gv = g.Next()
		default:
			if !bytes.Equal(wv, gv) {
				d.add("%s %s: differs", name, showKey(wk))
			}
			wk, wv = w.Next()
			gk, gv = g.Next()
		}
	}
}

// compareKeys orders keys as bbolt does, a nil key (a cursor at its end)
// last.
func compareKeys(a, b []byte) int {
	switch {
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

// comparePostings compares, posting hash by posting hash, the whole list of
// indexes each file holds under it (however its updates split it), as wn
// and gn give them (postingLists).
func comparePostings(wn, gn func() ([]byte, []uint64, error), d *differ) error {
	wh, wl, err := wn()
	if err != nil {
		return err
	}
	gh, gl, err := gn()
	if err != nil {
		return err
	}
	for wh != nil || gh != nil {
		switch c := compareKeys(wh, gh); {
		case c < 0:
			d.add("post %x: missing from the file", wh)
			if wh, wl, err = wn(); err != nil {
				return err
			}
		case c > 0:
			d.add("post %x: in the file, not in the blocks", gh)
			if gh, gl, err = gn(); err != nil {
				return err
			}
		default:
			if len(wl) != len(gl) {
				d.add("post %x: lists %d indexes, the blocks make %d", wh, len(gl), len(wl))
			} else if !slices.Equal(wl, gl) {
				d.add("post %x: lists other indexes than the blocks make", wh)
			}
			if wh, wl, err = wn(); err != nil {
				return err
			}
			if gh, gl, err = gn(); err != nil {
				return err
			}
		}
	}
	return nil
}

// postingLists returns a function giving each posting hash of the bucket
// in order with all its indexes (nil hash at the end), and those above the
// file's mark (all after the bucket's).
func postingLists(c *bolt.Cursor, above map[string][]uint64) func() ([]byte, []uint64, error) {
	file := bucketPostingLists(c)
	hashes := slices.Sorted(maps.Keys(above))
	fh, fl, err := file()
	return func() ([]byte, []uint64, error) {
		if err != nil {
			return nil, nil, err
		}
		var h []byte
		var list []uint64
		switch {
		case fh == nil && len(hashes) == 0:
			return nil, nil, nil
		case len(hashes) > 0 && (fh == nil || hashes[0] < string(fh)):
			h, list, hashes = []byte(hashes[0]), above[hashes[0]], hashes[1:]
		default:
			h, list = fh, fl
			if len(hashes) > 0 && hashes[0] == string(fh) {
				list, hashes = append(slices.Clip(fl), above[hashes[0]]...), hashes[1:]
			}
			fh, fl, err = file()
		}
		return h, list, nil
	}
}

// bucketPostingLists is postingLists of the bucket alone.
func bucketPostingLists(c *bolt.Cursor) func() ([]byte, []uint64, error) {
	k, v := c.First()
	return func() ([]byte, []uint64, error) {
		if k == nil {
			return nil, nil, nil
		}
		if len(k) <= 8 {
			return nil, nil, fmt.Errorf("fabric: index file: posting key %x is too short", k)
		}
		h := bytes.Clone(k[:len(k)-8])
		var list []uint64
		for ; len(k) > 8 && bytes.Equal(k[:len(k)-8], h); k, v = c.Next() {
			i := boltkey.ToUint64(k[len(k)-8:])
			for len(v) > 0 {
				delta, n := binary.Uvarint(v)
				if n <= 0 {
					return nil, nil, fmt.Errorf("fabric: index file: posting list %x does not decode", h)
				}
				i, v = i+delta, v[n:]
				list = append(list, i)
			}
		}
		return h, list, nil
	}
}

// showKey prints a key: a number if it is one, text if it reads as text.
func showKey(k []byte) string {
	if len(k) == 8 {
		return strconv.FormatUint(boltkey.ToUint64(k), 10)
	}
	if utf8.Valid(k) && !bytes.ContainsFunc(k, func(r rune) bool { return r < ' ' }) {
		return strconv.Quote(string(k))
	}
	return hex.EncodeToString(k)
}
