package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

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
	var rep Report
	v, err := suite.NewNoteVerifier(vkey)
	if err != nil {
		return rep, fmt.Errorf("verify: checkpoint verifier key: %w", err)
	}
	g, err := src.Genesis(ctx)
	if err != nil {
		return rep, err
	}
	if err := g.CheckSuite(); err != nil {
		return rep, fmt.Errorf("verify: genesis: %w", err)
	}
	cs := g.CryptoSuite()
	if ks := suite.OfNoteVerifier(v); ks != cs {
		return rep, fmt.Errorf("verify: checkpoint verifier key is of the %s suite, the space's genesis says %s", ks, cs)
	}
	cps := map[uint64][]byte{}
	if err := src.Checkpoints(ctx, func(size uint64, n []byte) error {
		cps[size] = append([]byte(nil), n...)
		return nil
	}); err != nil {
		return rep, err
	}
	mem := rulebook.NewMem(g)
	rng := (&compact.RangeFactory{Hash: cs.Merkle().HashChildren}).NewEmptyRange(0)
	origin := "tdsc/ledger/" + g.Space

	// Decoding and hashing run in parallel workers; the rulebook and tree in order.
	type job struct {
		sb     *ledger.StoredBatch
		b      *ledger.Batch
		leaves [][]byte
		prob   *Problem
		done   chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *job, 4*workers)
	queue := make(chan *job, 4*workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		go func() {
			for j := range jobs {
				j.b, j.leaves, j.prob = decode(cs, j.sb)
				close(j.done)
			}
		}()
	}
	walkErr := make(chan error, 1)
	go func() {
		err := src.Batches(ctx, 0, func(sb *ledger.StoredBatch) error {
			cp := copyBatch(sb)
			j := &job{sb: cp, done: make(chan struct{})}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case queue <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
		close(jobs)
		close(queue)
		walkErr <- err
	}()

	var size uint64
	for j := range queue {
		<-j.done
		sb := j.sb
		if j.prob != nil {
			return rep, j.prob
		}
		if sb.FirstIndex != size {
			return rep, &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("starts at index %d, the previous batch ended at %d: records lost or reordered", sb.FirstIndex, size)}
		}
		b := j.b
		key, err := rulebook.WriterKey(mem, b.Writer, b.KeyID)
		if err != nil {
			return rep, &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("writer %s key %s: %v", b.Writer, b.KeyID, err)}
		}
		if err := b.VerifySignature(key); err != nil {
			return rep, &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: err.Error()}
		}
		ov := rulebook.NewOverlay(mem)
		for i := range b.Records {
			ch, err := rulebook.Apply(ov, g, b.Writer, &b.Records[i])
			if err != nil {
				return rep, &Problem{Batch: sb.Root, Index: sb.FirstIndex + uint64(i), RecordID: b.Records[i].ID, What: "rulebook replay: " + err.Error()}
			}
			ov.Put(ch...)
		}
		mem.Put(ov.Changes()...)
		for _, l := range j.leaves {
			if err := rng.Append(l, nil); err != nil {
				return rep, err
			}
		}
		size += uint64(len(j.leaves))
		if sb.TreeSize != size {
			return rep, &Problem{Batch: sb.Root, Index: sb.FirstIndex, What: fmt.Sprintf("header says tree size %d after the batch, records make it %d", sb.TreeSize, size)}
		}
		rep.Batches++
		if n, ok := cps[size]; ok {
			root, _ := rng.GetRootHash(nil)
			if p := checkCheckpoint(n, v, origin, size, root); p != nil {
				return rep, p
			}
			delete(cps, size)
			rep.Checkpoints++
		}
	}
	if err := <-walkErr; err != nil {
		return rep, err
	}
	for s := range cps {
		return rep, &Problem{Checkpoint: s, What: fmt.Sprintf("no batch ends at this size (the ledger holds %d records)", size)}
	}
	rep.Records = size
	if root, _ := rng.GetRootHash(nil); root != nil {
		rep.Root = hex.EncodeToString(root)
	}
	return rep, nil
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
