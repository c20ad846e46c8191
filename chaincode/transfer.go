package chaincode

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tdsc/tdsc/ledger/rulebook"
)

// A transfer's state (t/<id>) is written in a compact binary form, not JSON.
// Nearly every record of a data space is a transfer's authorisation or
// completion, and each writes its transfer's state: in JSON the field
// names were two thirds of the bytes, and the write sets are most of every
// block, which each peer copies once per level of protobuf nesting in each
// validation pass. World state is read by the chaincode alone (readers of
// the ledger read the blocks' events), so its encoding is the chaincode's
// own. States written as JSON by earlier chaincodes are still read.
//
// Form: the byte transferV1, a byte of flags, then the agreement, provider
// and consumer, each as a uvarint length and its bytes. The id is the key's.
const transferV1 = 0x01

const (
	flagCompleted = 1 << iota
	flagByProvider
	flagByConsumer
	flagsKnown = flagCompleted | flagByProvider | flagByConsumer
)

// encodeTransfer is t's value in world state.
func encodeTransfer(t *rulebook.Transfer) []byte {
	var flags byte
	if t.Completed {
		flags |= flagCompleted
	}
	if t.CompletedByProvider {
		flags |= flagByProvider
	}
	if t.CompletedByConsumer {
		flags |= flagByConsumer
	}
	out := make([]byte, 0, 2+3*binary.MaxVarintLen16+len(t.Agreement)+len(t.Provider)+len(t.Consumer))
	out = append(out, transferV1, flags)
	for _, s := range []string{t.Agreement, t.Provider, t.Consumer} {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// decodeTransfer reads the value of transfer id's key: the binary form, or
// the JSON of earlier chaincodes.
func decodeTransfer(id string, v []byte) (*rulebook.Transfer, error) {
	if len(v) > 0 && v[0] == '{' {
		t := new(rulebook.Transfer)
		if err := json.Unmarshal(v, t); err != nil {
			return nil, err
		}
		if t.ID != id {
			return nil, fmt.Errorf("holds transfer %q", t.ID)
		}
		return t, nil
	}
	if len(v) < 2 || v[0] != transferV1 {
		return nil, errors.New("neither JSON nor the binary form of a transfer")
	}
	flags := v[1]
	if flags&^flagsKnown != 0 {
		return nil, fmt.Errorf("unknown flags %#x", flags)
	}
	t := &rulebook.Transfer{ID: id, Completed: flags&flagCompleted != 0,
		CompletedByProvider: flags&flagByProvider != 0, CompletedByConsumer: flags&flagByConsumer != 0}
	rest := v[2:]
	for _, f := range []*string{&t.Agreement, &t.Provider, &t.Consumer} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errors.New("truncated")
		}
		if k != len(binary.AppendUvarint(nil, n)) {
			return nil, errors.New("a length not in its shortest form")
		}
		*f, rest = string(rest[k:k+int(n)]), rest[k+int(n):]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the transfer", len(rest))
	}
	return t, nil
}
