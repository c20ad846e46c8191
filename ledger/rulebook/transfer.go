package rulebook

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Transfers are the one state object per record of a transfer-heavy ledger:
// each is written at authorisation and read and rewritten at completion, so
// backends keep them in a small binary form, not JSON (in JSON the field
// names were most of the bytes): the byte transferV1, a byte of flags
// (completed, by provider, by consumer), then the strings, each a uvarint
// length in its shortest form and its bytes. EncodeTransfer's strings are
// the id, agreement, provider and consumer (the embedded store);
// EncodeKeyedTransfer's leave out the id, which the state's key names
// (the chaincode's world state, t/<id>).
const (
	transferV1         = 0x01
	transferCompleted  = 1 << 0
	transferByProvider = 1 << 1
	transferByConsumer = 1 << 2
	transferKnownFlags = transferCompleted | transferByProvider | transferByConsumer
)

// EncodeTransfer is t's binary state form, its id included.
func EncodeTransfer(t *Transfer) []byte { return encodeTransfer(t, true) }

// DecodeTransfer reads EncodeTransfer's form.
func DecodeTransfer(v []byte) (*Transfer, error) { return decodeTransfer(v, nil) }

// EncodeKeyedTransfer is t's binary state form without its id, for a state
// whose key names the transfer.
func EncodeKeyedTransfer(t *Transfer) []byte { return encodeTransfer(t, false) }

// DecodeKeyedTransfer reads EncodeKeyedTransfer's form of transfer id.
func DecodeKeyedTransfer(id string, v []byte) (*Transfer, error) { return decodeTransfer(v, &id) }

func encodeTransfer(t *Transfer, withID bool) []byte {
	flags := transferFlags(t)
	fields := []string{t.Agreement, t.Provider, t.Consumer}
	if withID {
		fields = []string{t.ID, t.Agreement, t.Provider, t.Consumer}
	}
	out := make([]byte, 0, 2+4*binary.MaxVarintLen16+len(t.ID)+len(t.Agreement)+len(t.Provider)+len(t.Consumer))
	out = append(out, transferV1, flags)
	for _, s := range fields {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// transferFlags are t's completion flags in a byte.
func transferFlags(t *Transfer) byte {
	var flags byte
	if t.Completed {
		flags |= transferCompleted
	}
	if t.CompletedByProvider {
		flags |= transferByProvider
	}
	if t.CompletedByConsumer {
		flags |= transferByConsumer
	}
	return flags
}

// setTransferFlags sets t's completion flags from transferFlags' byte.
func setTransferFlags(t *Transfer, flags byte) {
	t.Completed = flags&transferCompleted != 0
	t.CompletedByProvider = flags&transferByProvider != 0
	t.CompletedByConsumer = flags&transferByConsumer != 0
}

// decodeTransfer reads the form with the id in v (id nil) or without it.
func decodeTransfer(v []byte, id *string) (*Transfer, error) {
	if len(v) < 2 || v[0] != transferV1 {
		return nil, fmt.Errorf("not a version %d transfer", transferV1)
	}
	flags := v[1]
	if flags&^transferKnownFlags != 0 {
		return nil, fmt.Errorf("unknown flags %#x", flags)
	}
	t := &Transfer{}
	setTransferFlags(t, flags)
	fields := []*string{&t.ID, &t.Agreement, &t.Provider, &t.Consumer}
	if id != nil {
		t.ID, fields = *id, fields[1:]
	}
	rest := v[2:]
	for i, f := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, fmt.Errorf("transfer field %d is truncated", i)
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
