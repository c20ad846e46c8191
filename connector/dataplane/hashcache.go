package dataplane

import (
	"context"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"time"

	"github.com/tdsc/tdsc/ledger/digest"
)

// fileVersion identifies the bytes of a local file without reading them:
// (device, inode) names the file, size and the modification and change
// times (nanoseconds) change with every write to it.
type fileVersion struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// hashCache remembers the SHA-256 of file versions the data plane has read
// in full, so a later send of the same version can go zero-copy (sendfile)
// instead of through a hashing buffer. An entry is only trusted for the exact
// version it was computed over; any write to the file changes the version
// and the next send hashes again.
//
// A write that lands in the same tick of the file system's clock as the
// previous one may leave the times unchanged, so a version is only cached
// when its change time is at least settle older than the moment the hash
// began: a write after that moment gets a later change time.
type hashCache struct {
	mu      sync.Mutex
	max     int
	settle  time.Duration
	entries map[[2]uint64]cachedHash
}

type cachedHash struct {
	v   fileVersion
	sum string // hex SHA-256
}

func newHashCache(max int, settle time.Duration) *hashCache {
	return &hashCache{max: max, settle: settle, entries: make(map[[2]uint64]cachedHash)}
}

// lookup returns the hash of version v if it was hashed in full before.
func (c *hashCache) lookup(v fileVersion) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[[2]uint64{v.dev, v.ino}]
	if !ok || e.v != v {
		return "", false
	}
	return e.sum, true
}

// store keeps sum for version v, read in full from a moment began at which
// (by the wall clock, which the file system's times follow) the version had
// settled; it reports whether it did.
func (c *hashCache) store(v fileVersion, sum string, began time.Time) bool {
	if began.UnixNano()-v.ctime < int64(c.settle) || began.UnixNano()-v.mtime < int64(c.settle) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]uint64{v.dev, v.ino}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // evict one arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cachedHash{v: v, sum: sum}
	return true
}

// forget drops whatever is cached for v's file.
func (c *hashCache) forget(v fileVersion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, [2]uint64{v.dev, v.ino})
}

// HashFile returns the hex SHA-256 of the local file at path, read once
// through the server's buffers; ctx ends the read. It keeps the hash for the
// file's version (if the version settled and did not move during the read),
// so sends of that version go zero-copy from the first one, unless
// HashEverySend. The connector calls it when a dataset is registered.
func (s *Server) HashFile(ctx context.Context, path string) (string, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	began := time.Now()
	h := digest.NewHash(hashAlg(s.cfg.Hash))
	if _, err := hashCopy(ctx, io.Discard, f, -1, h, s.bufs, nil); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if v, ok := versionOf(fi); ok {
		s.keepHash(f, v, sum, began)
	}
	return sum, nil
}

// keepHash keeps sum, read in full from f since began, for version v, if f
// is still at v (nothing wrote to it during the read) and v had settled.
func (s *Server) keepHash(f *os.File, v fileVersion, sum string, began time.Time) {
	after, err := f.Stat()
	if err != nil {
		return
	}
	if w, ok := versionOf(after); ok && w == v {
		s.hashes.store(v, sum, began)
	}
}
