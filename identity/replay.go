package identity

import (
	"container/heap"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// replayCache remembers token ids until they expire. Memory is bounded twice:
// an id is forgotten once the token it came from can no longer verify (its
// expiry plus leeway), and the cache holds at most max ids; when it is full of
// unexpired ids it refuses new ones (ErrReplayCacheFull) rather than forget
// one that could still be replayed. Each id costs about 60 bytes: it is kept
// as a 16-byte digest of issuer and jti.
type replayCache struct {
	max int

	mu   sync.Mutex
	seen map[[16]byte]int64
	exp  expHeap
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: map[[16]byte]int64{}}
}

// add records id (scoped by issuer) as used until expires, or reports it as a replay.
func (c *replayCache) add(issuer, id string, expires, now time.Time) error {
	h := sha256.New()
	h.Write([]byte(issuer))
	h.Write([]byte{0})
	h.Write([]byte(id))
	var sum [32]byte
	var key [16]byte
	copy(key[:], h.Sum(sum[:0]))

	nowU := now.Unix()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.seen[key]; ok && e >= nowU {
		return fmt.Errorf("%w: claim jti %q from %q was already used", ErrReplay, id, issuer)
	}
	for len(c.exp) > 0 && c.exp[0].exp < nowU {
		old := heap.Pop(&c.exp).(expItem)
		if c.seen[old.key] == old.exp {
			delete(c.seen, old.key)
		}
	}
	if len(c.seen) >= c.max {
		return fmt.Errorf("%w: %d unexpired ids held", ErrReplayCacheFull, len(c.seen))
	}
	c.seen[key] = expires.Unix()
	heap.Push(&c.exp, expItem{key: key, exp: expires.Unix()})
	return nil
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type expItem struct {
	key [16]byte
	exp int64
}

type expHeap []expItem

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(expItem)) }
func (h *expHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ReplayCache remembers token ids (jti, scoped by issuer) until they expire, so
// that a token can be used once. Verifiers of other token schemes (DCP
// self-issued ID tokens in identity/dcp) share this implementation. Add
// reports ErrReplay for an id already seen, ErrReplayCacheFull when max
// unexpired ids are held (fail closed). Safe for concurrent use.
type ReplayCache struct{ c *replayCache }

// NewReplayCache makes a cache holding at most max unexpired ids.
func NewReplayCache(max int) *ReplayCache { return &ReplayCache{c: newReplayCache(max)} }

// Add records id from issuer as used until expires, or reports a replay.
func (r *ReplayCache) Add(issuer, id string, expires, now time.Time) error {
	return r.c.add(issuer, id, expires, now)
}
