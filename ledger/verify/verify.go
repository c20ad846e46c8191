package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/suite"
)

// Source is a ledger's stored bytes: the embedded store's directory
// (embedded.OpenRaw) or a ledger service (ledger/client).
type Source interface {
	Genesis(ctx context.Context) (ledger.Genesis, error)
	// Batches calls fn for every committed batch in order, from the batch holding index from.
	Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error
	// Checkpoints calls fn for every stored signed checkpoint in order of size.
	Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error
}

// Report sums up a whole ledger.
type Report struct {
	Batches     int    `json:"batches"`
	Records     uint64 `json:"records"`
	Checkpoints int    `json:"checkpoints"`
	Root        string `json:"root"`
}

// ErrCorrupt reports a ledger that is not whole: a *Problem says where. The
// ledger's bytes were altered or lost; do not trust records from that point.
var ErrCorrupt = errors.New("verify: ledger is not whole")

// Problem is the first thing found wrong.
type Problem struct {
	Batch    string // batch root, as stored
	Index    uint64 // the record's index, or the batch's first index
	RecordID string
	// Checkpoint is the tree size of a bad checkpoint, 0 otherwise.
	Checkpoint uint64
	What       string
}

func (p *Problem) Error() string {
	switch {
	case p.Checkpoint != 0:
		return fmt.Sprintf("verify: checkpoint at tree size %d: %s", p.Checkpoint, p.What)
	case p.RecordID != "":
		return fmt.Sprintf("verify: batch %s, record %q at index %d: %s", p.Batch, p.RecordID, p.Index, p.What)
	default:
		return fmt.Sprintf("verify: batch %s at index %d: %s", p.Batch, p.Index, p.What)
	}
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (p *Problem) Unwrap() error { return ErrCorrupt }

// Ledger verifies the whole ledger in src against the checkpoint key vkey.
func Ledger(ctx context.Context, src Source, vkey string) (Report, error) {
	rep, _, err := LedgerState(ctx, src, vkey)
	return rep, err
}

// LedgerState is Ledger that also returns the rulebook's state the replay
// built from the verified records (nil with an error): a reader that keeps
// such a state of its own (the embedded store) compares it with this one
// instead of replaying the records again.
func LedgerState(ctx context.Context, src Source, vkey string) (Report, *rulebook.Mem, error) {
	g, err := src.Genesis(ctx)
	if err != nil {
		return Report{}, nil, err
	}
	v, err := New(ctx, g, vkey)
	if err != nil {
		return Report{}, nil, err
	}
	// The checkpoints first: each is checked when the tree reaches its size.
	if err := src.Checkpoints(ctx, func(size uint64, n []byte) error {
		return v.Checkpoint(size, append([]byte(nil), n...))
	}); err != nil {
		v.Close()
		return Report{}, nil, err
	}
	if err := src.Batches(ctx, 0, func(sb *ledger.StoredBatch) error { return v.Batch(copyBatch(sb)) }); err != nil {
		// The first problem in what was read, if the walk stopped for it.
		if perr := v.Abort(); perr != nil {
			return Report{}, nil, perr
		}
		return Report{}, nil, err
	}
	rep, err := v.Close()
	if err != nil {
		return rep, nil, err
	}
	return rep, v.mem, nil
}

// Verifier checks a ledger given to it in order, as it is read: each batch
// (strict decoding, leaves, root, signature under the writer's key as
// registered at that point, the rulebook replayed) and the tree rebuilt from
// the records, against checkpoints (signed notes) or tree heads (a root a
// reader computed itself, such as ledger/fabric's from the blocks). It holds
// the rulebook's state and the tree's right edge, not the records: for a
// reader that streams its batches, memory grows with the rulebook's state
// (ids seen, agreements, transfers), not with the records' bytes.
// Decoding and hashing run in parallel workers; the rulebook and the tree in
// order.
//
// A checkpoint or head is checked when the rebuilt tree reaches its size:
// at once if the batches given so far end at that size, or when a later
// batch ends there. Give each before the batches that pass its size.
type Verifier struct {
	ctx    context.Context
	cancel context.CancelFunc
	g      ledger.Genesis
	nv     note.Verifier // nil: only heads are taken
	origin string
	mem    *rulebook.Mem
	rng    *compact.Range
	jobs   chan *job // to the decoding workers
	queue  chan *job // in order, to the checker
	done   chan struct{}

	// Set by the checker; read after done, or through failed.
	rep     Report
	size    uint64
	pending map[uint64]*job // checkpoints and heads past the tree's size
	err     error
	errMu   sync.Mutex
	closing sync.Once
}

type job struct {
	sb     *ledger.StoredBatch
	b      *ledger.Batch
	leaves [][]byte
	prob   *Problem
	done   chan struct{}
	// A checkpoint (note) or a head (root) instead of a batch.
	cp   bool
	at   uint64
	note []byte
	root []byte
}

// New starts verifying the ledger of genesis g against the checkpoint key
// vkey ("" if only heads will be given). Close it.
func New(ctx context.Context, g ledger.Genesis, vkey string) (*Verifier, error) {
	if err := g.CheckSuite(); err != nil {
		return nil, fmt.Errorf("verify: genesis: %w", err)
	}
	cs := g.CryptoSuite()
	var nv note.Verifier
	if vkey != "" {
		var err error
		if nv, err = suite.NewNoteVerifier(vkey); err != nil {
			return nil, fmt.Errorf("verify: checkpoint verifier key: %w", err)
		}
		if ks := suite.OfNoteVerifier(nv); ks != cs {
			return nil, fmt.Errorf("verify: checkpoint verifier key is of the %s suite, the space's genesis says %s", ks, cs)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	v := &Verifier{g: g, nv: nv, origin: "tdsc/ledger/" + g.Space, mem: rulebook.NewMem(g),
		rng:  (&compact.RangeFactory{Hash: cs.Merkle().HashChildren}).NewEmptyRange(0),
		jobs: make(chan *job, 4*workers), queue: make(chan *job, 4*workers), done: make(chan struct{}), pending: map[uint64]*job{}}
	v.ctx, v.cancel = context.WithCancel(ctx)
	for w := 0; w < workers; w++ {
		go func() {
			for j := range v.jobs {
				j.b, j.leaves, j.prob = decode(cs, j.sb)
				close(j.done)
			}
		}()
	}
	go v.check()
	return v, nil
}

// Batch gives the next batch in ledger order; v keeps sb until it is
// checked (do not change it). It returns the first problem found so far
// (stop reading then), or the context's error.
func (v *Verifier) Batch(sb *ledger.StoredBatch) error {
	return v.give(&job{sb: sb, done: make(chan struct{})}, true)
}

// Checkpoint gives a signed checkpoint note of the tree at size.
func (v *Verifier) Checkpoint(size uint64, signed []byte) error {
	if v.nv == nil {
		return errors.New("verify: a checkpoint given, but no checkpoint key")
	}
	return v.give(&job{cp: true, at: size, note: signed}, false)
}

// Head gives the root of the tree at size, as a reader computed it.
func (v *Verifier) Head(size uint64, root []byte) error {
	return v.give(&job{cp: true, at: size, root: root}, false)
}

func (v *Verifier) give(j *job, decode bool) error {
	if decode {
		select {
		case v.jobs <- j:
		case <-v.ctx.Done():
			return v.failed()
		}
	}
	select {
	case v.queue <- j:
		return nil
	case <-v.ctx.Done():
		return v.failed()
	}
}

// failed is the first problem, or the context's error.
func (v *Verifier) failed() error {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	if v.err != nil {
		return v.err
	}
	return v.ctx.Err()
}

// Close says the whole ledger was given: it waits until everything is
// checked and returns the report, or the first problem (a checkpoint at a
// size no batch ended at is one). Give nothing after Close or Abort.
func (v *Verifier) Close() (Report, error) {
	if err := v.Abort(); err != nil {
		return v.rep, err
	}
	for _, s := range slices.Sorted(maps.Keys(v.pending)) {
		return v.rep, &Problem{Checkpoint: s, What: fmt.Sprintf("no batch ends at this size (the ledger holds %d records)", v.size)}
	}
	v.rep.Records = v.size
	if root, _ := v.rng.GetRootHash(nil); root != nil {
		v.rep.Root = hex.EncodeToString(root)
	}
	return v.rep, nil
}

// Abort says the reading stopped short (the reader's own error): it waits
// until what was given is checked and returns the first problem in it, or
// nil.
func (v *Verifier) Abort() error {
	v.wait()
	v.errMu.Lock()
	defer v.errMu.Unlock()
	return v.err
}

func (v *Verifier) wait() {
	v.closing.Do(func() {
		close(v.jobs)
		close(v.queue)
	})
	<-v.done
	v.cancel()
}

// check takes the queue in order; after the first problem it only drains it.
func (v *Verifier) check() {
	defer close(v.done)
	for j := range v.queue {
		if err := v.ctx.Err(); err != nil {
			v.fail(err) // cancelled by the caller: the report is not whole
			continue
		}
		var err error
		if j.cp {
			err = v.checkpoint(j)
		} else {
			<-j.done
			err = v.batch(j)
		}
		if err != nil {
			v.fail(err)
			v.cancel()
		}
	}
}

// fail keeps the first error.
func (v *Verifier) fail(err error) {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	if v.err == nil {
		v.err = err
	}
}

// checkpoint checks j now if the tree is at its size, later if it is past.
func (v *Verifier) checkpoint(j *job) error {
	switch {
	case j.at == 0 || j.at > v.size:
		v.pending[j.at] = j
		return nil
	case j.at < v.size:
		return &Problem{Checkpoint: j.at, What: fmt.Sprintf("given after batches that took the tree past it, to %d records", v.size)}
	}
	root, _ := v.rng.GetRootHash(nil)
	if p := v.checkRoot(j, root); p != nil {
		return p
	}
	v.rep.Checkpoints++
	return nil
}

func (v *Verifier) checkRoot(j *job, root []byte) *Problem {
	if j.note != nil {
		return checkCheckpoint(j.note, v.nv, v.origin, j.at, root)
	}
	if !bytes.Equal(j.root, root) {
		return &Problem{Checkpoint: j.at, What: fmt.Sprintf("the head's root is %x; the rebuilt tree has %x", j.root, root)}
	}
	return nil
}

func (v *Verifier) batch(j *job) error {
	sb, b := j.sb, j.b
	if j.prob != nil {
		return j.prob
	}
	if sb.FirstIndex != v.size {
		return &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("starts at index %d, the previous batch ended at %d: records lost or reordered", sb.FirstIndex, v.size)}
	}
	key, err := rulebook.WriterKey(v.mem, b.Writer, b.KeyID)
	if err != nil {
		return &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("writer %s key %s: %v", b.Writer, b.KeyID, err)}
	}
	if err := b.VerifySignature(key); err != nil {
		return &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: err.Error()}
	}
	ov := rulebook.NewOverlay(v.mem)
	for i := range b.Records {
		ch, err := rulebook.Apply(ov, v.g, b.Writer, &b.Records[i])
		if err != nil {
			return &Problem{Batch: sb.Root, Index: sb.FirstIndex + uint64(i), RecordID: b.Records[i].ID, What: "rulebook replay: " + err.Error()}
		}
		ov.Put(ch...)
	}
	v.mem.Put(ov.Changes()...)
	for _, l := range j.leaves {
		if err := v.rng.Append(l, nil); err != nil {
			return err
		}
	}
	v.size += uint64(len(j.leaves))
	if sb.TreeSize != v.size {
		return &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("header says tree size %d after the batch, records make it %d", sb.TreeSize, v.size)}
	}
	v.rep.Batches++
	if c, ok := v.pending[v.size]; ok {
		delete(v.pending, v.size)
		return v.checkpoint(c)
	}
	return nil
}

func copyBatch(sb *ledger.StoredBatch) *ledger.StoredBatch {
	cp := *sb
	cp.Records = make([]json.RawMessage, len(sb.Records))
	cp.Leaves = make([][]byte, len(sb.Leaves))
	for i := range sb.Records {
		cp.Records[i] = append([]byte(nil), sb.Records[i]...)
		cp.Leaves[i] = append([]byte(nil), sb.Leaves[i]...)
	}
	return &cp
}

// decode checks one batch's stored bytes on their own: strict decoding,
// canonical form, leaf hashes against the tree, and the batch root.
func decode(cs *suite.Suite, sb *ledger.StoredBatch) (*ledger.Batch, [][]byte, *Problem) {
	h := cs.Merkle()
	b := &ledger.Batch{Space: sb.Space, Writer: sb.Writer, KeyID: sb.KeyID, Root: sb.Root, Signature: sb.Signature,
		Records: make([]ledger.Record, len(sb.Records))}
	leaves := make([][]byte, len(sb.Records))
	for i, raw := range sb.Records {
		idx := sb.FirstIndex + uint64(i)
		prob := func(id, what string) *Problem { return &Problem{Batch: sb.Root, Index: idx, RecordID: id, What: what} }
		if raw == nil {
			return nil, nil, prob("", "record missing")
		}
		leaf := h.HashLeaf(raw)
		r, err := ledger.DecodeCanonical(raw)
		if err != nil {
			return nil, nil, prob(idOf(raw), "record does not decode: "+err.Error())
		}
		if i >= len(sb.Leaves) || !bytes.Equal(sb.Leaves[i], leaf) {
			return nil, nil, prob(r.ID, fmt.Sprintf("record hashes to %x but the tree holds %x: record or tree altered", leaf, sb.Leaves[i]))
		}
		b.Records[i], leaves[i] = *r, leaf
	}
	if got := hex.EncodeToString(ledger.MerkleRoot(cs, leaves)); got != sb.Root {
		return nil, nil, &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("records hash to root %s, the signed batch root is %s", got, sb.Root)}
	}
	return b, leaves, nil
}

func idOf(raw []byte) string {
	// best effort, for the message only
	i := bytes.Index(raw, []byte(`"id":"`))
	if i < 0 {
		return ""
	}
	rest := raw[i+6:]
	if j := bytes.IndexByte(rest, '"'); j >= 0 && j < 256 {
		return string(rest[:j])
	}
	return ""
}

func checkCheckpoint(signed []byte, v note.Verifier, origin string, size uint64, root []byte) *Problem {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return &Problem{Checkpoint: size, What: "signature does not verify: " + err.Error()}
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		return &Problem{Checkpoint: size, What: "body does not parse: " + err.Error()}
	}
	if c.Origin != origin || c.Size != size || !bytes.Equal(c.Hash, root) {
		return &Problem{Checkpoint: size, What: fmt.Sprintf("signs origin %q size %d root %x; the rebuilt tree has %q %d %x", c.Origin, c.Size, c.Hash, origin, size, root)}
	}
	return nil
}
