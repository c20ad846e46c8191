package chaincode

import (
	"encoding/json"
	"fmt"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// keyIndexBuilt marks world state whose key index (keyHolder) holds every
// registered participant's keys and DIDs; its value says how far it was
// built. World state written by a chaincode from before the index
// (participant.key-unique) lacks the marker, and one from before DIDs were
// indexed (participant.did-unique) holds keyIndexKeys: the first Append
// after the upgrade builds what is missing, in its own transaction, before
// any rule runs, so no key or DID registered then can be registered again
// to another participant, and the index answers for every DID.
const keyIndexBuilt = "m/key-index"

// The marker's values: keys indexed; keys and DIDs indexed.
const (
	keyIndexKeys = "1"
	keyIndexDIDs = "2"
)

// rangeStore is the range read the index build needs; the shim's stub has it.
type rangeStore interface {
	GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error)
}

// ensureKeyIndex builds what the key index lacks, once (see keyIndexBuilt).
// Entries it writes are put in ws's read cache too, so the rules of this
// transaction (or the query it serves) see them. Participants are visited
// in key order, so every endorser writes the same entries; a key or DID two
// old participants share (possible before the rules) stays with the first
// in that order.
func ensureKeyIndex(st writeStore, ws *worldState) error {
	built, err := ws.get(keyIndexBuilt)
	if err != nil || string(built) == keyIndexDIDs {
		return err
	}
	keys := built == nil
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
		var entries []*rulebook.KeyEntry
		if keys {
			if entries, err = rulebook.UnindexedKeys(ws, &p); err != nil {
				return err
			}
		}
		e, err := rulebook.UnindexedDID(ws, &p)
		if err != nil {
			return err
		}
		if e != nil {
			entries = append(entries, e)
		}
		for _, e := range entries {
			if err := ws.putKey(e); err != nil {
				return err
			}
			ws.cache[keyHolder(e.Thumbprint)] = []byte(e.Participant)
		}
	}
	if err := st.PutState(keyIndexBuilt, []byte(keyIndexDIDs)); err != nil {
		return fmt.Errorf("chaincode: key index: %w", err)
	}
	ws.cache[keyIndexBuilt] = []byte(keyIndexDIDs)
	return nil
}
