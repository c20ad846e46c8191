package dashboard

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/transparency-dev/merkle/proof"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/suite"
)

// BatchView is the batch a record was written in and who signed it.
type BatchView struct {
	Root       string `json:"root"`
	Writer     string `json:"writer"`
	KeyID      string `json:"keyId"`
	Signature  string `json:"signature"`
	FirstIndex uint64 `json:"firstIndex"`
	Records    int    `json:"records"`
}

// Check is one verification step with its outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// RecordView is the Record page's data: the record, its batch, its inclusion
// proof and the checkpoint, with the server's verdict. Canonical (base64) is
// the stored bytes hashed into the tree, so the browser can recompute the leaf
// hash and the root itself.
type RecordView struct {
	Record     ledger.Record `json:"record"`
	Index      uint64        `json:"index"`
	Canonical  string        `json:"canonical"`
	LeafHash   string        `json:"leafHash"`
	Proof      []string      `json:"proof"` // hex
	TreeSize   uint64        `json:"treeSize"`
	Checkpoint struct {
		Origin string `json:"origin"`
		Size   uint64 `json:"size"`
		Root   string `json:"root"` // hex
		Note   string `json:"note"`
		// VerifierKey is the ledger's note verifier key (name+hash+Ed25519 key),
		// for the browser's own signature check; compare it with the one the
		// space publishes.
		VerifierKey string `json:"verifierKey"`
	} `json:"checkpoint"`
	Batch   BatchView `json:"batch"`
	Checks  []Check   `json:"checks"`
	Verdict string    `json:"verdict"` // "verified" or "failed"
}

func (h *Handler) record(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > 256 {
		h.writeError(w, r, fmt.Errorf("%w: record id: must be 1 to 256 characters", ErrBadRequest))
		return
	}
	pv, err := h.b.Record(r.Context(), id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if p := principalFrom(r.Context()); !ledger.Visible(p.Principal, &pv.Record) {
		h.writeError(w, r, fmt.Errorf("%w: %s", ErrNotVisible, id))
		return
	}
	v, err := h.recordView(r, pv)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) recordView(r *http.Request, pv ledger.Proven) (RecordView, error) {
	v := RecordView{Record: pv.Record, Index: pv.Index, TreeSize: pv.TreeSize, Proof: make([]string, len(pv.Proof)), Checks: []Check{}}
	for i, p := range pv.Proof {
		v.Proof[i] = hex.EncodeToString(p)
	}
	check := func(name string, err error, ok string) {
		c := Check{Name: name, OK: err == nil, Detail: ok}
		if err != nil {
			c.Detail = err.Error()
		}
		v.Checks = append(v.Checks, c)
	}

	// The batch holding the record: its stored bytes, signer and root. The
	// mirror knows where batches start; a backend's Batches may start at the
	// first batch at or after the index it is given.
	from := pv.Index
	if s, err := h.mirror.snapshot(r.Context()); err == nil {
		if first, ok := s.batchStart(pv.Index); ok {
			from = first
		}
	}
	var sb *ledger.StoredBatch
	err := h.b.Batches(r.Context(), from, func(b *ledger.StoredBatch) error {
		cp := *b
		cp.Records = make([]json.RawMessage, len(b.Records))
		for i := range b.Records {
			cp.Records[i] = append(json.RawMessage(nil), b.Records[i]...)
		}
		cp.Leaves = make([][]byte, len(b.Leaves))
		for i := range b.Leaves {
			cp.Leaves[i] = append([]byte(nil), b.Leaves[i]...)
		}
		sb = &cp
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return v, fmt.Errorf("dashboard: read batch of record %s: %w", pv.Record.ID, err)
	}
	if sb == nil || pv.Index < sb.FirstIndex || pv.Index >= sb.FirstIndex+uint64(len(sb.Records)) {
		return v, fmt.Errorf("dashboard: the backend has no batch holding record index %d", pv.Index)
	}
	v.Batch = BatchView{Root: sb.Root, Writer: sb.Writer, KeyID: sb.KeyID, Signature: sb.Signature, FirstIndex: sb.FirstIndex, Records: len(sb.Records)}
	canon := sb.Records[pv.Index-sb.FirstIndex]
	v.Canonical = base64.StdEncoding.EncodeToString(canon)
	leaf := h.cs.Merkle().HashLeaf(canon)
	v.LeafHash = hex.EncodeToString(leaf)

	// 1. The stored bytes are the record shown.
	var err1 error
	if want, err := pv.Record.Canonical(); err != nil || !bytes.Equal(want, canon) {
		err1 = errors.New("the stored bytes are not the canonical encoding of the record served")
	}
	check("record-bytes", err1, "the record shown is the stored bytes, byte for byte")

	// 2. The batch: its root over the records' leaves, its signature by the writer's registered key.
	check("batch-signature", h.checkBatch(r, sb), fmt.Sprintf("batch %s… signed by %s with key %s", short(sb.Root), sb.Writer, sb.KeyID))

	// 3. The checkpoint is signed by the ledger's key.
	c, err := openCheckpoint(pv.Checkpoint, h.verifier)
	if err == nil {
		v.Checkpoint.Origin, v.Checkpoint.Size, v.Checkpoint.Root, v.Checkpoint.Note = c.Origin, c.Size, hex.EncodeToString(c.Hash), string(pv.Checkpoint)
		v.Checkpoint.VerifierKey = h.vkey
		if c.Size != pv.TreeSize {
			err = fmt.Errorf("checkpoint size %d, proof for tree size %d", c.Size, pv.TreeSize)
		}
	}
	check("checkpoint-signature", err, fmt.Sprintf("checkpoint of %d records signed by the ledger (%s)", c.Size, c.Origin))

	// 4. The inclusion proof leads from the leaf to the checkpoint's root.
	if err == nil {
		err = checkInclusion(h.cs, pv, leaf, c.Hash)
	}
	check("inclusion-proof", err, fmt.Sprintf("leaf %d is in the tree of %d records under the signed root", pv.Index, pv.TreeSize))

	v.Verdict = "verified"
	for _, c := range v.Checks {
		if !c.OK {
			v.Verdict = "failed"
		}
	}
	return v, nil
}

// checkBatch recomputes the batch root from its stored records and verifies
// its signature under the writer's registered key of that kid.
func (h *Handler) checkBatch(r *http.Request, sb *ledger.StoredBatch) error {
	b := ledger.Batch{Space: sb.Space, Writer: sb.Writer, KeyID: sb.KeyID, Root: sb.Root, Signature: sb.Signature,
		Records: make([]ledger.Record, len(sb.Records))}
	leaves := make([][]byte, len(sb.Records))
	for i, raw := range sb.Records {
		leaves[i] = h.cs.Merkle().HashLeaf(raw)
	}
	if got := hex.EncodeToString(ledger.MerkleRoot(h.cs, leaves)); got != sb.Root {
		return fmt.Errorf("the batch's records hash to root %s, the batch says %s", short(got), short(sb.Root))
	}
	p, err := h.b.Participant(r.Context(), sb.Writer)
	if err != nil {
		return fmt.Errorf("signer %s: %w", sb.Writer, err)
	}
	for _, k := range p.Keys {
		if tp, _ := k.Thumbprint(); k.Kid == sb.KeyID || tp == sb.KeyID {
			return b.VerifySignature(k)
		}
	}
	return fmt.Errorf("signer %s has no registered key %s", sb.Writer, sb.KeyID)
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// checkInclusion folds the proof from the leaf and compares the root with the
// checkpoint's, saying in hex where they part.
func checkInclusion(cs *suite.Suite, pv ledger.Proven, leaf, root []byte) error {
	got, err := proof.RootFromInclusionProof(cs.Merkle(), pv.Index, pv.TreeSize, leaf, pv.Proof)
	if err != nil {
		return fmt.Errorf("the proof does not fit leaf %d of a tree of %d: %w", pv.Index, pv.TreeSize, err)
	}
	if !bytes.Equal(got, root) {
		return fmt.Errorf("the proof leads to root %s…, the signed checkpoint says %s…", short(hex.EncodeToString(got)), short(hex.EncodeToString(root)))
	}
	return nil
}
