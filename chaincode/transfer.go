package chaincode

import (
	"encoding/json"
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
// own: rulebook.EncodeKeyedTransfer (the id is the key's). States written as
// JSON by earlier chaincodes are still read.
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
	t, err := rulebook.DecodeKeyedTransfer(id, v)
	if err != nil {
		return nil, fmt.Errorf("neither JSON nor the binary form of a transfer: %w", err)
	}
	return t, nil
}
