package chaincode

import (
	"encoding/json"
	"fmt"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// keyIndexBuilt marks world state whose key index (keyHolder) holds every
// registered participant's keys. World state written by a chaincode from
// before the index (participant.key-unique) lacks it: the first Append after
// the upgrade builds it, in its own transaction, before any rule runs, so no
// key registered then can be registered again to another participant.
const keyIndexBuilt = "m/key-index"

// rangeStore is the range read the index build needs; the shim's stub has it.
type rangeStore interface {
	GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error)
}

// ensureKeyIndex builds the key index once (see keyIndexBuilt). Entries it
// writes are put in ws's read cache too, so the rules of this transaction see
// them. Participants are visited in key order, so every endorser writes the
// same entries; a key two old participants share (possible before the rule)
// stays with the first in that order.
func ensureKeyIndex(st writeStore, ws *worldState) error {
	done, err := ws.get(keyIndexBuilt)
	if err != nil || done != nil {
		return err
	}
	it, err := st.GetStateByRange(keyParticipant(""), keyParticipant("")[:1]+"0")
	if err != nil {
		return fmt.Errorf("chaincode: key index: list participants: %w", err)
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return fmt.Errorf("chaincode: key index: list participants: %w", err)
		}
		var p identity.Participant
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return fmt.Errorf("chaincode: key index: participant %s: %w", kv.Key, err)
		}
		for _, k := range p.Keys {
			tp, err := rulebook.KeyThumbprint(k)
			if err != nil {
				continue // a key that never verifies anything holds no place
			}
			holder, err := ws.KeyHolder(tp)
			if err != nil {
				return err
			}
			if holder != "" {
				continue
			}
			if err := st.PutState(keyHolder(tp), []byte(p.ID)); err != nil {
				return fmt.Errorf("chaincode: key index: %w", err)
			}
			ws.cache[keyHolder(tp)] = []byte(p.ID)
		}
	}
	if err := st.PutState(keyIndexBuilt, []byte("1")); err != nil {
		return fmt.Errorf("chaincode: key index: %w", err)
	}
	ws.cache[keyIndexBuilt] = []byte("1")
	return nil
}
