// Package wire is the contract between the tdsc chaincode and its clients:
// the transaction names, the JSON shapes of their arguments and results, and
// the encoding of the ledger's typed errors in a chaincode error message, so
// a client gets back the same *ledger.RuleError the rulebook returned on the
// peer.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tdsc/tdsc/ledger"
)

// Transaction names of the tdsc contract. The chaincode keeps no log order
// and no tree: records, receipts, proofs and checkpoints are read from the
// blocks (ledger/fabric), so its queries are the world state the rulebook
// needs (participants, rules, the genesis).
const (
	TxInit        = "Init"
	TxAppend      = "Append"
	TxParticipant = "Participant"
	TxRules       = "Rules"
	TxGenesis     = "Genesis"
)

// TransientBatches is the transient field an Append may carry its batches
// in, with an empty argument. Transient data is not part of the transaction
// written to the block, so the records travel once (as the writes) instead
// of twice; the batch headers and signatures are in the writes too.
const TransientBatches = "batches"

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

// BatchError says which batch of an Append transaction failed. An Append
// fails whole if any of its batches is refused, so nothing is endorsed that
// some endorser refused; the client drops that batch and resends the others.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

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

// Accepted is an Append's result for one batch: its root, and whether this
// transaction writes it (New) or an earlier one did. Its index in the ledger
// is known only once the block order is: readers assign it.
type Accepted struct {
	Root string `json:"root"`
	New  bool   `json:"new"`
}

// Error kinds: which ledger sentinel an Error stands for.
const (
	KindMalformed     = "malformed"
	KindUnknownWriter = "unknown-writer"
	KindBadSignature  = "bad-signature"
	KindRefused       = "refused"
	KindNotFound      = "not-found"
	KindGenesis       = "genesis-mismatch"
	KindInternal      = "internal"
)

// Error is a ledger error as it crosses the chaincode boundary.
type Error struct {
	Kind     string `json:"kind"`
	Rule     string `json:"rule,omitempty"`
	Field    string `json:"field,omitempty"`
	Reason   string `json:"reason"`
	RecordID string `json:"recordId,omitempty"`
	// Batch is the index of the failing batch within an Append, if one failed.
	Batch *int `json:"batch,omitempty"`
}

// prefix marks a chaincode error message that carries an encoded Error.
const prefix = "tdsc-error:"

var sentinels = []struct {
	kind string
	err  error
}{
	{KindMalformed, ledger.ErrMalformed},
	{KindUnknownWriter, ledger.ErrUnknownWriter},
	{KindBadSignature, ledger.ErrBadSignature},
	{KindRefused, ledger.ErrRefused},
	{KindNotFound, ledger.ErrNotFound},
	{KindGenesis, ledger.ErrGenesisMismatch},
}

// FromError converts a ledger error into its wire form.
func FromError(err error) *Error {
	e := fromError(err)
	var be *BatchError
	if errors.As(err, &be) {
		i := be.Index
		e.Batch = &i
	}
	return e
}

func fromError(err error) *Error {
	var re *ledger.RuleError
	if errors.As(err, &re) {
		return &Error{Kind: KindRefused, Rule: re.Rule, Field: re.Field, Reason: re.Reason, RecordID: re.RecordID}
	}
	var me *ledger.MalformedError
	if errors.As(err, &me) {
		return &Error{Kind: KindMalformed, Rule: me.Rule, Field: me.Field, Reason: me.Reason, RecordID: me.RecordID}
	}
	var fe *ledger.FieldError
	if errors.As(err, &fe) {
		for _, s := range sentinels {
			if errors.Is(fe.Err, s.err) {
				return &Error{Kind: s.kind, Rule: fe.Rule, Field: fe.Field, Reason: fe.Reason}
			}
		}
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return &Error{Kind: s.kind, Reason: err.Error()}
		}
	}
	return &Error{Kind: KindInternal, Reason: err.Error()}
}

// Err converts the wire form back into the ledger error it stands for:
// *ledger.RuleError, *ledger.MalformedError, *ledger.FieldError, or a
// sentinel wrapped with the reason.
func (e *Error) Err() error {
	switch e.Kind {
	case KindRefused:
		return &ledger.RuleError{Rule: e.Rule, Field: e.Field, Reason: e.Reason, RecordID: e.RecordID}
	case KindMalformed:
		return &ledger.MalformedError{Rule: e.Rule, Field: e.Field, Reason: e.Reason, RecordID: e.RecordID}
	}
	for _, s := range sentinels {
		if s.kind == e.Kind {
			if e.Rule != "" {
				return &ledger.FieldError{Err: s.err, Rule: e.Rule, Field: e.Field, Reason: e.Reason}
			}
			return &sentinelError{sentinel: s.err, reason: e.Reason}
		}
	}
	return fmt.Errorf("tdsc chaincode: %s", e.Reason)
}

// sentinelError keeps the peer's message while matching the sentinel.
type sentinelError struct {
	sentinel error
	reason   string
}

func (e *sentinelError) Error() string { return e.reason }
func (e *sentinelError) Unwrap() error { return e.sentinel }

// Message is the chaincode error message carrying err.
func Message(err error) string {
	b, _ := json.Marshal(FromError(err))
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
