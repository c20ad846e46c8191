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

// Transaction names of the tdsc contract.
const (
	TxInit        = "Init"
	TxAppend      = "Append"
	TxRecord      = "Record"
	TxQuery       = "Query"
	TxParticipant = "Participant"
	TxRules       = "Rules"
	TxHead        = "Head"
	TxConsistency = "Consistency"
	TxBatch       = "Batch"
	TxGenesis     = "Genesis"
	TxBatches     = "Batches"
	TxHeads       = "Heads"
)

// TransientBatches is the transient field an Append may carry its batches
// in, with an empty argument. Transient data is not part of the transaction
// written to the block, so the records travel once (as the writes) instead
// of twice; the batch headers and signatures are in the writes too.
const TransientBatches = "batches"

// EventBatches is the name of the chaincode event an Append transaction emits.
const EventBatches = "tdsc.batches"

// Head is the ledger's tree head as the chaincode holds it.
type Head struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// BatchError says which batch of an Append transaction failed. An Append
// fails whole if any of its batches is refused, so nothing is endorsed that
// some endorser refused; the client drops that batch and resends the others.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// Event is the payload of EventBatches: the batches the transaction committed.
type Event struct {
	Batches  []ledger.Receipt `json:"batches"`
	TreeSize uint64           `json:"treeSize"`
	Root     []byte           `json:"root"`
}

// Proven is a record with its inclusion proof in the tree of Head.
type Proven struct {
	Entry ledger.Entry `json:"entry"`
	Proof [][]byte     `json:"proof"`
	Head  Head         `json:"head"`
}

// StoredBatch is a committed batch's header and where its records sit.
type StoredBatch struct {
	Space      string   `json:"space"`
	Writer     string   `json:"writer"`
	KeyID      string   `json:"keyId"`
	Root       string   `json:"root"`
	Signature  string   `json:"signature"`
	FirstIndex uint64   `json:"firstIndex"`
	TreeSize   uint64   `json:"treeSize"`
	RecordIDs  []string `json:"recordIds"`
	TxID       string   `json:"txId"`
}

// Receipt is the batch's ledger receipt.
func (s *StoredBatch) Receipt() ledger.Receipt {
	return ledger.Receipt{BatchRoot: s.Root, FirstIndex: s.FirstIndex, TreeSize: s.TreeSize, RecordIDs: s.RecordIDs}
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
