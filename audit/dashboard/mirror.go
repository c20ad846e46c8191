package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/verify"
)

// noTime marks a record whose time does not parse (the rulebook refuses such
// records, so it shows only on a damaged ledger).
const noTime = math.MinInt64

// checkpointInfo is the latest checkpoint as the mirror verified it.
type checkpointInfo struct {
	Origin    string
	Size      uint64
	Root      []byte
	Note      []byte
	FirstSeen time.Time // when this handler first saw this size
}

// sample is one observation of the tree size, for the append rate.
type sample struct {
	At   time.Time
	Size uint64
}

// snapshot is a consistent view of the mirror: a prefix of the ledger's
// records. Its slices and maps are never written after it is taken.
type snapshot struct {
	recs    []ledger.Record
	times   []int64 // unix milliseconds of recs[i].Time, or noTime
	batches int
	// batchStarts are the first ledger index of every batch, ascending.
	batchStarts  []uint64
	cp           checkpointInfo
	participants map[string]identity.Participant
	samples      []sample
}

// mirror keeps the ledger's records in memory, read incrementally from the
// backend's batches whenever the signed checkpoint grows.
type mirror struct {
	b   Backend
	v   note.Verifier
	now func() time.Time

	mu   sync.Mutex // serialises refresh and guards cur
	cur  snapshot
	last time.Time // last time refresh asked the backend
}

func newMirror(b Backend, v note.Verifier, now func() time.Time) *mirror {
	return &mirror{b: b, v: v, now: now, cur: snapshot{participants: map[string]identity.Participant{}}}
}

// minRefresh is how often at most the mirror asks the backend for a new checkpoint.
const minRefresh = 250 * time.Millisecond

// maxSamples bounds the tree-size observations kept for the append rate.
const maxSamples = 240

var errStop = errors.New("stop")

// batchStart is the first index of the batch holding index i, if the snapshot covers i.
func (s *snapshot) batchStart(i uint64) (uint64, bool) {
	if i >= uint64(len(s.recs)) || len(s.batchStarts) == 0 {
		return 0, false
	}
	j := sort.Search(len(s.batchStarts), func(k int) bool { return s.batchStarts[k] > i })
	if j == 0 {
		return 0, false
	}
	return s.batchStarts[j-1], true
}

// openCheckpoint verifies a signed checkpoint note and parses its body.
func openCheckpoint(signed []byte, v note.Verifier) (log.Checkpoint, error) {
	return verify.Checkpoint(signed, v)
}

// snapshot brings the mirror up to the backend's latest checkpoint and returns it.
func (m *mirror) snapshot(ctx context.Context) (snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !m.last.IsZero() && now.Sub(m.last) < minRefresh && now.After(m.last) {
		return m.cur, nil
	}
	signed, err := m.b.Checkpoint(ctx)
	if errors.Is(err, ledger.ErrNotFound) {
		m.last = now
		return m.cur, nil // an empty ledger
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("dashboard: read checkpoint: %w", err)
	}
	c, err := openCheckpoint(signed, m.v)
	if err != nil {
		return snapshot{}, fmt.Errorf("dashboard: %w", err)
	}
	m.last = now
	next := m.cur
	if c.Size < next.cp.Size {
		return snapshot{}, fmt.Errorf("dashboard: checkpoint size went back from %d to %d: the ledger is not append-only; run tdsc audit verify", next.cp.Size, c.Size)
	}
	if c.Size > next.cp.Size {
		if err := m.load(ctx, &next, c.Size); err != nil {
			return snapshot{}, err
		}
		next.cp = checkpointInfo{Origin: c.Origin, Size: c.Size, Root: c.Hash, Note: signed, FirstSeen: now}
	} else if next.cp.Note == nil {
		next.cp = checkpointInfo{Origin: c.Origin, Size: c.Size, Root: c.Hash, Note: signed, FirstSeen: now}
	}
	if n := len(next.samples); n == 0 || next.samples[n-1].Size != c.Size {
		s := append(next.samples[max(0, n+1-maxSamples):n:n], sample{At: now, Size: c.Size})
		next.samples = s
	}
	m.cur = next
	return next, nil
}

// load appends the records [len(s.recs), size) to s. Appending never writes
// into the part of a slice an earlier snapshot holds.
func (m *mirror) load(ctx context.Context, s *snapshot, size uint64) error {
	from := uint64(len(s.recs))
	var added map[string]identity.Participant
	err := m.b.Batches(ctx, from, func(sb *ledger.StoredBatch) error {
		if sb.FirstIndex >= size {
			return errStop
		}
		if sb.FirstIndex >= from {
			s.batches++
			s.batchStarts = append(s.batchStarts, sb.FirstIndex)
		}
		for i, raw := range sb.Records {
			idx := sb.FirstIndex + uint64(i)
			if idx < from {
				continue
			}
			if idx >= size {
				return errStop
			}
			if idx != uint64(len(s.recs)) {
				return fmt.Errorf("dashboard: batch %s: record index %d, expected %d: the ledger skipped records; run tdsc audit verify", sb.Root, idx, len(s.recs))
			}
			var r ledger.Record
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("dashboard: record %d of batch %s does not decode: %w", idx, sb.Root, err)
			}
			t := int64(noTime)
			if tt, err := ledger.ParseTime(r.Time); err == nil {
				t = tt.UnixMilli()
			}
			s.recs = append(s.recs, r)
			s.times = append(s.times, t)
			if r.Participant != nil {
				if added == nil {
					added = make(map[string]identity.Participant, len(s.participants)+1)
					for k, v := range s.participants {
						added[k] = v
					}
				}
				added[r.Participant.ID] = *r.Participant
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("dashboard: read batches from %d: %w", from, err)
	}
	if uint64(len(s.recs)) != size {
		return fmt.Errorf("dashboard: checkpoint covers %d records, the backend returned %d", size, len(s.recs))
	}
	if added != nil {
		s.participants = added
	}
	return nil
}
