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
	"github.com/tdsc/tdsc/policy"
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
// records, in compact form (rows). Its slices and maps are never written
// after it is taken: later loads append beyond their length only.
type snapshot struct {
	rows []row
	// times are the rows' times in unix milliseconds (noTime when a time
	// does not parse), apart so scans over time read 8 bytes a record.
	times []int64
	// names are the interned strings rows refer to (names[0] is ""), attrs
	// the distinct tuples of a record's less varied fields.
	names []string
	attrs []attrs
	// chunks hold every row's id, time text (when kept) and transfer id, back to back.
	chunks []string
	// full are the records kept decoded: those with a participant, rules,
	// terms, a duty, an objection or a computation (few, and read whole by
	// the pages).
	full    []*ledger.Record
	interns *interner
	batches int
	// batchStarts are the first ledger index of every batch, ascending.
	batchStarts  []uint64
	cp           checkpointInfo
	participants map[string]identity.Participant
	samples      []sample
}

// row is one record as the mirror keeps it: what the pages filter, count,
// list and join on, 48 bytes plus its time in times and its id, transfer id
// and (rarely) time text in a chunk, where the decoded record took over 600. Not kept: schema,
// registrationCode, rights, offer, policyHash, tokenId, contentHash (the
// record page reads the stored record itself).
type row struct {
	bytes int64
	// The id is chunks[chunk][off:off+idLen], then the time text (none when
	// the time formats back to it, see timeText), then the transfer.
	chunk, off uint32
	// subMS is the time's nanoseconds past its millisecond in times.
	subMS                     uint32
	kind, actor, counterparty uint32 // names
	attrs                     uint32 // index in attrs
	full                      uint32 // 1 + index in full, or 0
	idLen                     uint16
	// tz is the time's offset from UTC in minutes, when its text is not kept.
	tz                   int16
	timeLen, transferLen uint8
	flags                uint8
}

// Row flags.
const (
	flagCrossBorder = 1 << iota
	flagDenied      // isDenial
)

// attrs are a record's fields that repeat from record to record (the same
// agreement's transfers share them all), as names.
type attrs struct {
	dataset, category, classification uint32
	fromRegion, toRegion, legalBasis  uint32
	agreement, decision, rule, reason uint32
}

// noName is the id of a string the snapshot has not interned: it matches no row.
const noName = math.MaxUint32

// interner gives every distinct string a small id; ids only grow. Loads
// (serialised by mirror.mu) add under mu, requests look up under mu.RLock.
type interner struct {
	mu    sync.RWMutex
	ids   map[string]uint32
	names []string
}

func newInterner() *interner {
	return &interner{ids: map[string]uint32{"": 0}, names: []string{""}}
}

func (in *interner) intern(v string) uint32 {
	in.mu.RLock()
	id, ok := in.ids[v]
	in.mu.RUnlock()
	if ok {
		return id
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if id, ok := in.ids[v]; ok {
		return id
	}
	id = uint32(len(in.names))
	in.ids[v] = id
	in.names = append(in.names, v)
	return id
}

// name is the id of v in this snapshot, noName if none of its rows has it.
func (s *snapshot) name(v string) uint32 {
	if s.interns == nil {
		return noName
	}
	s.interns.mu.RLock()
	id, ok := s.interns.ids[v]
	s.interns.mu.RUnlock()
	if !ok || id >= uint32(len(s.names)) {
		return noName
	}
	return id
}

// Len is the number of records in the snapshot (audit.Source).
func (s *snapshot) Len() int { return len(s.rows) }

// Kind is record i's kind (audit.Source).
func (s *snapshot) Kind(i int) ledger.Kind { return ledger.Kind(s.names[s.rows[i].kind]) }

// Time is record i's time (audit.Source).
func (s *snapshot) Time(i int) (time.Time, bool) {
	w := &s.rows[i]
	if w.full != 0 {
		t, err := ledger.ParseTime(s.full[w.full-1].Time)
		return t, err == nil
	}
	if s.times[i] == noTime {
		return time.Time{}, false
	}
	return time.UnixMilli(s.times[i]).Add(time.Duration(w.subMS)), true
}

// TimeText is record i's time as written (audit.Source).
func (s *snapshot) TimeText(i int) string {
	w := &s.rows[i]
	switch {
	case w.full != 0:
		return s.full[w.full-1].Time
	case w.timeLen > 0 || s.times[i] == noTime:
		t := int(w.off) + int(w.idLen)
		return s.chunks[w.chunk][t : t+int(w.timeLen)]
	default:
		return timeText(s.times[i], w.subMS, time.FixedZone("", int(w.tz)*60))
	}
}

// timeText formats a time from its unix milliseconds, nanoseconds past them
// and zone, as RFC 3339 with the fewest fractional digits. The mirror keeps a
// record's time text only when this does not give it back.
func timeText(ms int64, subMS uint32, loc *time.Location) string {
	return time.UnixMilli(ms).Add(time.Duration(subMS)).In(loc).Format(time.RFC3339Nano)
}

// Read fills *r with record i from its row, the fields listed on row
// empty and Time too when the row keeps no text for it (TimeText formats
// it); a record kept whole is copied (audit.Source).
func (s *snapshot) Read(i int, r *ledger.Record) {
	w := &s.rows[i]
	if w.full != 0 {
		*r = *s.full[w.full-1]
		return
	}
	a := &s.attrs[w.attrs]
	c, o := s.chunks[w.chunk], int(w.off)
	t := o + int(w.idLen)
	tr := t + int(w.timeLen)
	*r = ledger.Record{ID: c[o:t], Time: c[t:tr], Transfer: c[tr : tr+int(w.transferLen)], // Time empty when formatted
		Kind: ledger.Kind(s.names[w.kind]), Actor: s.names[w.actor], Counterparty: s.names[w.counterparty],
		Dataset: s.names[a.dataset], Category: s.names[a.category], Classification: policy.Classification(s.names[a.classification]),
		FromRegion: s.names[a.fromRegion], ToRegion: s.names[a.toRegion], LegalBasis: s.names[a.legalBasis],
		Agreement: s.names[a.agreement], Decision: s.names[a.decision], Rule: s.names[a.rule], Reason: s.names[a.reason],
		Bytes: w.bytes, CrossBorder: w.flags&flagCrossBorder != 0}
}

// mirror keeps the ledger's records in memory, read incrementally from the
// backend's batches whenever the signed checkpoint grows.
type mirror struct {
	b   Backend
	v   note.Verifier
	now func() time.Time

	mu   sync.Mutex // serialises refresh and guards cur, attrIDs, attrList
	cur  snapshot
	last time.Time // last time refresh asked the backend

	interns *interner
	// attrIDs index attrList, the distinct attrs of every load so far (a
	// failed load's too: ids stay valid, snapshots see their prefix).
	attrIDs  map[attrs]uint32
	attrList []attrs
	zones    map[int]*time.Location // by offset in seconds, for formatsBack
}

func newMirror(b Backend, v note.Verifier, now func() time.Time) *mirror {
	in := newInterner()
	return &mirror{b: b, v: v, now: now, interns: in, attrIDs: map[attrs]uint32{}, zones: map[int]*time.Location{},
		cur: snapshot{participants: map[string]identity.Participant{}, interns: in, names: in.names[:1:1]}}
}

// minRefresh is how often at most the mirror asks the backend for a new checkpoint.
const minRefresh = 250 * time.Millisecond

// maxSamples bounds the tree-size observations kept for the append rate.
const maxSamples = 240

var errStop = errors.New("stop")

// batchStart is the first index of the batch holding index i, if the snapshot covers i.
func (s *snapshot) batchStart(i uint64) (uint64, bool) {
	if i >= uint64(len(s.rows)) || len(s.batchStarts) == 0 {
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

// chunkSize is the size a text chunk is cut at (a longer id starts its own).
const chunkSize = 1 << 20

// load appends the records [len(s.rows), size) to s. Appending never writes
// into the part of a slice an earlier snapshot holds.
func (m *mirror) load(ctx context.Context, s *snapshot, size uint64) error {
	from := uint64(len(s.rows))
	var added map[string]identity.Participant
	var text []byte // the chunk being filled, chunks[len(chunks)] once cut
	cut := func() {
		if len(text) > 0 {
			s.chunks = append(s.chunks, string(text))
			text = text[:0]
		}
	}
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
			if idx != uint64(len(s.rows)) {
				return fmt.Errorf("dashboard: batch %s: record index %d, expected %d: the ledger skipped records; run tdsc audit verify", sb.Root, idx, len(s.rows))
			}
			var r ledger.Record
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("dashboard: record %d of batch %s does not decode: %w", idx, sb.Root, err)
			}
			w := m.row(&r)
			ms := int64(noTime)
			t, terr := ledger.ParseTime(r.Time)
			if terr == nil {
				ms, w.subMS = t.UnixMilli(), uint32(t.Nanosecond()%int(time.Millisecond))
			}
			if keepWhole(&r) {
				s.full = append(s.full, &r)
				w.full = uint32(len(s.full))
			} else {
				tt := r.Time
				if terr == nil && m.formatsBack(&w, t, ms, r.Time) {
					tt = ""
				}
				if n := len(r.ID) + len(tt) + len(r.Transfer); len(text)+n > chunkSize {
					cut()
				}
				w.chunk, w.off = uint32(len(s.chunks)), uint32(len(text))
				w.idLen, w.timeLen, w.transferLen = uint16(len(r.ID)), uint8(len(tt)), uint8(len(r.Transfer))
				text = append(append(append(text, r.ID...), tt...), r.Transfer...)
			}
			s.rows = append(s.rows, w)
			s.times = append(s.times, ms)
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
	cut()
	if uint64(len(s.rows)) != size {
		return fmt.Errorf("dashboard: checkpoint covers %d records, the backend returned %d", size, len(s.rows))
	}
	m.interns.mu.RLock()
	s.names = m.interns.names
	m.interns.mu.RUnlock()
	s.attrs = m.attrList
	if added != nil {
		s.participants = added
	}
	return nil
}

// formatsBack reports whether text, parsed as t (ms and w.subMS), is what
// timeText formats in t's zone, and then notes the zone in w.
func (m *mirror) formatsBack(w *row, t time.Time, ms int64, text string) bool {
	_, off := t.Zone()
	if off%60 != 0 || off/60 < math.MinInt16 || off/60 > math.MaxInt16 {
		return false
	}
	loc := m.zones[off]
	if loc == nil {
		loc = time.FixedZone("", off)
		m.zones[off] = loc
	}
	if timeText(ms, w.subMS, loc) != text {
		return false
	}
	w.tz = int16(off / 60)
	return true
}

// keepWhole reports whether a record is kept decoded rather than as a row:
// it has a sub-object, or a string too long for a row's lengths.
func keepWhole(r *ledger.Record) bool {
	return r.Participant != nil || r.Rules != nil || r.Terms != nil || r.Duty != nil || r.Objection != nil || r.Compute != nil ||
		len(r.ID) > math.MaxUint16 || len(r.Time) > math.MaxUint8 || len(r.Transfer) > math.MaxUint8
}

// row is r in compact form, its text (id, time, transfer) not yet placed.
func (m *mirror) row(r *ledger.Record) row {
	in := m.interns
	w := row{bytes: r.Bytes, kind: in.intern(string(r.Kind)), actor: in.intern(r.Actor), counterparty: in.intern(r.Counterparty)}
	if r.CrossBorder {
		w.flags |= flagCrossBorder
	}
	if isDenial(r) {
		w.flags |= flagDenied
	}
	a := attrs{dataset: in.intern(r.Dataset), category: in.intern(r.Category), classification: in.intern(string(r.Classification)),
		fromRegion: in.intern(r.FromRegion), toRegion: in.intern(r.ToRegion), legalBasis: in.intern(r.LegalBasis),
		agreement: in.intern(r.Agreement), decision: in.intern(r.Decision), rule: in.intern(r.Rule), reason: in.intern(r.Reason)}
	id, ok := m.attrIDs[a]
	if !ok {
		id = uint32(len(m.attrList))
		m.attrIDs[a] = id
		m.attrList = append(m.attrList, a)
	}
	w.attrs = id
	return w
}
