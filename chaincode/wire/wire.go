// Package wire is the contract between the tdsc chaincode and its clients:
// the transaction names, the JSON shapes of their arguments and results, and
// the encoding of the ledger's typed errors in a chaincode error message, so
// a client gets back the same *ledger.RuleError the rulebook returned on the
// peer.
package wire

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
)

// Transaction names of the tdsc contract. The chaincode keeps no log order
// and no tree: records, receipts, proofs and checkpoints are read from the
// blocks (ledger/fabric), so its queries are the world state the rulebook
// needs (participants, rules, the genesis).
const (
	TxInit        = "Init"
	TxAppend      = "Append"
	TxParticipant = "Participant"
	// TxParticipantByDID reads the participant registered with a DID (the
	// rulebook's DID index).
	TxParticipantByDID = "ParticipantByDID"
	TxRules            = "Rules"
	TxGenesis          = "Genesis"
)

// TransientBatches is the transient field an Append may carry its batches
// in, with an empty argument. Transient data is not part of the transaction
// written to the block, so the records travel once (as the writes) instead
// of twice; the batch headers and signatures are in the writes too.
const TransientBatches = "batches"

// TransientBatchesDeflate carries the same JSON array compressed with
// Deflate; a client sends it instead of TransientBatches, so each endorser
// (the gateway's peer forwards the proposal to the other organisation's)
// and its chaincode service move a fraction of the bytes.
const TransientBatchesDeflate = "batches.deflate"

// Key prefixes: an Append marks each new batch under KeyBatch + its root
// (so a batch is written once, and two transactions writing it conflict);
// Init writes the genesis under KeyGenesis.
const (
	KeyBatch   = "b/"
	KeyGenesis = "g"
)

// EventBatches is the chaincode event an Append that wrote batches emits:
// its payload is the JSON array of the batches (Written) in the order the
// rulebook checked them. The event is part of what every endorser signed and
// of the block, but not of world state: the records live in the blocks only,
// and readers index them in block order.
const EventBatches = "tdsc.batches"

// EventBatchesDeflate is EventBatches with its payload compressed (raw
// DEFLATE, RFC 1951), which an Append emits since 2026-12-04: the records
// are the bulk of every block, and each peer copies a transaction's bytes
// once for every level of protobuf nesting in every validation pass, so
// fewer bytes are less work at every peer, the orderer and every reader.
// Both endorsers must compute the same payload byte for byte, so both
// organisations run the same chaincode build (as they must anyway: any
// difference in the rulebook would split their results). Readers take both
// events: blocks written before keep EventBatches.
const EventBatchesDeflate = "tdsc.batches.deflate"

// MaxBatchesPayload bounds an inflated EventBatchesDeflate payload: more
// than a transaction of the largest batches the ledger takes could carry.
const MaxBatchesPayload = 256 << 20

// Deflate compresses an EventBatches payload for EventBatchesDeflate. Its
// output is a function of p alone (one compressor, one level).
func Deflate(p []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(p) / 4)
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(p); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Inflate reverses Deflate, refusing a payload that inflates past
// MaxBatchesPayload or is not a whole DEFLATE stream. what names the
// payload in the error (the event, the transient field).
func Inflate(what string, p []byte) ([]byte, error) {
	in := bytes.NewReader(p) // an io.ByteReader: flate reads no byte past its stream's end
	r := flate.NewReader(in)
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, MaxBatchesPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%s: not a DEFLATE stream: %w", what, err)
	}
	if len(out) > MaxBatchesPayload {
		return nil, fmt.Errorf("%s: inflates past %d bytes", what, MaxBatchesPayload)
	}
	if in.Len() > 0 {
		return nil, fmt.Errorf("%s: %d bytes after the end of the DEFLATE stream", what, in.Len())
	}
	return out, nil
}

// BatchError says which batch of an Append transaction failed. An Append
// fails whole if any of its batches is refused, so nothing is endorsed that
// some endorser refused; the client drops that batch and resends the others.
type BatchError = api.BatchError

// Written is a batch as an Append commits it, in its EventBatches payload:
// the signed header and the records' canonical bytes.
type Written struct {
	Space     string            `json:"space"`
	Writer    string            `json:"writer"`
	KeyID     string            `json:"keyId"`
	Root      string            `json:"root"`
	Signature string            `json:"signature"`
	Records   []json.RawMessage `json:"records"`
}

// NewWritten is b as an Append writes it, with its records' canonical
// encodings canon (ledger.Batch.Canonical).
func NewWritten(b *ledger.Batch, canon [][]byte) *Written {
	w := &Written{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Root: b.Root, Signature: b.Signature,
		Records: make([]json.RawMessage, len(canon))}
	for i, c := range canon {
		w.Records[i] = c
	}
	return w
}

// EncodeWritten is the EventBatches payload of ws: the bytes json.Marshal
// gives for ws when every record is compact JSON with HTML characters
// escaped, as canonical encodings are (ledger.Record.Canonical is
// json.Marshal). The records are copied as they are, not re-scanned. A
// client builds its Append payload the same way (AppendWritten), so that an
// Append writing every batch it was sent can emit the client's compressed
// bytes as its event instead of compressing its own (see the chaincode).
func EncodeWritten(ws []*Written) ([]byte, error) {
	n := 2
	for _, w := range ws {
		n += w.size() + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, w := range ws {
		if i > 0 {
			out = append(out, ',')
		}
		var err error
		if out, err = AppendWritten(out, w); err != nil {
			return nil, err
		}
	}
	return append(out, ']'), nil
}

// size is about the length of w's encoding.
func (w *Written) size() int {
	n := 128 + len(w.Space) + len(w.Writer) + len(w.KeyID) + len(w.Root) + len(w.Signature)
	for _, r := range w.Records {
		n += len(r) + 1
	}
	return n
}

// AppendWritten appends the JSON of one element of an EncodeWritten payload.
func AppendWritten(dst []byte, w *Written) ([]byte, error) {
	dst = slices.Grow(dst, w.size())
	head, err := json.Marshal(struct {
		Space     string `json:"space"`
		Writer    string `json:"writer"`
		KeyID     string `json:"keyId"`
		Root      string `json:"root"`
		Signature string `json:"signature"`
	}{w.Space, w.Writer, w.KeyID, w.Root, w.Signature})
	if err != nil {
		return nil, err
	}
	dst = append(dst, head[:len(head)-1]...) // without its closing brace
	dst = append(dst, `,"records":`...)
	if w.Records == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for k, r := range w.Records {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, r...)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// Accepted is an Append's result for one batch: its root, and whether this
// transaction writes it (New) or an earlier one did. Its index in the ledger
// is known only once the block order is: readers assign it.
type Accepted struct {
	Root string `json:"root"`
	New  bool   `json:"new"`
}

// Error is a ledger error as it crosses the chaincode boundary: the ledger's
// one wire form of errors, decoded by its Err method.
type Error = api.Error

// prefix marks a chaincode error message that carries an encoded Error.
const prefix = "tdsc-error:"

// Message is the chaincode error message carrying err.
func Message(err error) string {
	b, _ := json.Marshal(api.FromError(err))
	return prefix + string(b)
}

// ParseMessage finds an encoded Error in a message from the peer (which may
// wrap the chaincode's message in its own text). ok is false if there is none.
func ParseMessage(msg string) (e *Error, ok bool) {
	i := strings.Index(msg, prefix)
	if i < 0 {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(msg[i+len(prefix):]))
	e = new(Error)
	if err := dec.Decode(e); err != nil || e.Kind == "" {
		return nil, false
	}
	return e, true
}
