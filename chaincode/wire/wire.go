// Package wire is the contract between the tdsc chaincode and its clients:
// the transaction names, the JSON shapes of their arguments and results, and
// the encoding of the ledger's typed errors in a chaincode error message, so
// a client gets back the same *ledger.RuleError the rulebook returned on the
// peer.
package wire

import (
	"encoding/json"
	"strings"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
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
type BatchError = api.BatchError

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
