package chaincode

import (
	"encoding/json"
	"fmt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// store is what the contract needs of the peer's world state; the shim's
// ChaincodeStubInterface provides it.
type store interface {
	GetState(key string) ([]byte, error)
	GetMultipleStates(keys ...string) ([][]byte, error)
	PutState(key string, value []byte) error
	DelState(key string) error
}

// worldState is a rulebook.State over world state. Reads are cached for the
// transaction: the rulebook reads the same participant or agreement for
// every record of a batch, and each read is a round trip to the peer.
type worldState struct {
	st    store
	g     ledger.Genesis
	cache map[string][]byte // nil value: read, absent
	// objs holds decoded objects by key: the rulebook reads the same
	// participant and rules for every record and never modifies them.
	objs map[string]any
}

func newWorldState(st store, g ledger.Genesis) *worldState {
	return &worldState{st: st, g: g, cache: map[string][]byte{}, objs: map[string]any{}}
}

// prefetch reads the keys not yet cached in one round trip.
func (w *worldState) prefetch(keys []string) error {
	var miss []string
	seen := map[string]bool{}
	for _, k := range keys {
		if _, ok := w.cache[k]; !ok && !seen[k] {
			miss, seen[k] = append(miss, k), true
		}
	}
	if len(miss) == 0 {
		return nil
	}
	vals, err := w.st.GetMultipleStates(miss...)
	if err != nil {
		return fmt.Errorf("chaincode: read %d keys: %w", len(miss), err)
	}
	for i, k := range miss {
		w.cache[k] = vals[i]
	}
	return nil
}

func (w *worldState) get(key string) ([]byte, error) {
	if v, ok := w.cache[key]; ok {
		return v, nil
	}
	v, err := w.st.GetState(key)
	if err != nil {
		return nil, fmt.Errorf("chaincode: read %s: %w", key, err)
	}
	w.cache[key] = v
	return v, nil
}

// getObj decodes the object under key with decode, or returns nil if absent.
func getObj[T any](w *worldState, key string, decode func([]byte) (*T, error)) (*T, error) {
	if o, ok := w.objs[key].(*T); ok {
		return o, nil
	}
	v, err := w.get(key)
	if err != nil || v == nil {
		return nil, err
	}
	t, err := decode(v)
	if err != nil {
		return nil, fmt.Errorf("chaincode: state %s does not decode: %w", key, err)
	}
	w.objs[key] = t
	return t, nil
}

// getJSON decodes the JSON object under key into a new T, or returns nil if absent.
func getJSON[T any](w *worldState, key string) (*T, error) {
	return getObj(w, key, func(v []byte) (*T, error) {
		t := new(T)
		return t, json.Unmarshal(v, t)
	})
}

func (w *worldState) Participant(id string) (*identity.Participant, error) {
	p, err := getJSON[identity.Participant](w, keyParticipant(id))
	if p == nil && err == nil && id == w.g.Authority.ID {
		a := w.g.Authority
		return &a, nil
	}
	return p, err
}

func (w *worldState) Rules() (*policy.SpaceRules, error) {
	return getJSON[policy.SpaceRules](w, keyRules)
}

func (w *worldState) Dataset(id string) (*rulebook.Dataset, error) {
	return getJSON[rulebook.Dataset](w, keyDataset(id))
}

func (w *worldState) Agreement(id string) (*rulebook.Agreement, error) {
	return getJSON[rulebook.Agreement](w, keyAgreement(id))
}

// Transfer reads a transfer's state, which is not JSON (see transfer.go).
func (w *worldState) Transfer(id string) (*rulebook.Transfer, error) {
	return getObj(w, keyTransfer(id), func(v []byte) (*rulebook.Transfer, error) { return decodeTransfer(id, v) })
}

func (w *worldState) Objection(id string) (*rulebook.Objection, error) {
	return getJSON[rulebook.Objection](w, keyObjection(id))
}

func (w *worldState) Seen(id string) (bool, error) {
	v, err := w.get(keyID(id))
	return v != nil, err
}

// KeyHolder reads the key index: keyHolder(thumbprint) holds the id of the
// participant registered with the key.
func (w *worldState) KeyHolder(thumbprint string) (string, error) {
	v, err := w.get(keyHolder(thumbprint))
	return string(v), err
}

// put writes the changes of committed batches to world state.
func (w *worldState) put(changes []rulebook.Change) error {
	for _, c := range changes {
		var key string
		var obj any
		var v []byte // the value, if not obj's JSON
		switch {
		case c.Participant != nil:
			key, obj = keyParticipant(c.Participant.ID), c.Participant
		case c.Rules != nil:
			key, obj = keyRules, c.Rules
		case c.Dataset != nil:
			key, obj = keyDataset(c.Dataset.ID), c.Dataset
		case c.Agreement != nil:
			key, obj = keyAgreement(c.Agreement.ID), c.Agreement
		case c.Transfer != nil:
			key, v = keyTransfer(c.Transfer.ID), rulebook.EncodeKeyedTransfer(c.Transfer)
		case c.Objection != nil:
			key, obj = keyObjection(c.Objection.ID), c.Objection
		case c.Key != nil:
			if err := w.putKey(c.Key); err != nil {
				return err
			}
			continue
		default:
			continue // Seen: the record's id key is written with the record
		}
		if v == nil {
			var err error
			if v, err = json.Marshal(obj); err != nil {
				return err
			}
		}
		if err := w.st.PutState(key, v); err != nil {
			return fmt.Errorf("chaincode: write %s: %w", key, err)
		}
	}
	return nil
}

// putKey writes an entry of the key index, deleting it when the key is freed.
func (w *worldState) putKey(e *rulebook.KeyEntry) error {
	key := keyHolder(e.Thumbprint)
	var err error
	if e.Participant == "" {
		err = w.st.DelState(key)
	} else {
		err = w.st.PutState(key, []byte(e.Participant))
	}
	if err != nil {
		return fmt.Errorf("chaincode: write %s: %w", key, err)
	}
	return nil
}

// prefetchKeys are the keys the rulebook will read for b.
func prefetchKeys(b *ledger.Batch) []string {
	keys := []string{keyParticipant(b.Writer), keyRules, keyBatch(b.Root)}
	for i := range b.Records {
		r := &b.Records[i]
		keys = append(keys, keyID(r.ID))
		if r.Counterparty != "" {
			keys = append(keys, keyParticipant(r.Counterparty))
		}
		if r.Dataset != "" {
			keys = append(keys, keyDataset(r.Dataset))
		}
		if r.Agreement != "" {
			keys = append(keys, keyAgreement(r.Agreement))
		}
		if r.Transfer != "" {
			keys = append(keys, keyTransfer(r.Transfer))
		}
		if r.Participant != nil {
			keys = append(keys, keyParticipant(r.Participant.ID))
			for _, k := range r.Participant.Keys {
				if tp, err := rulebook.KeyThumbprint(k); err == nil {
					keys = append(keys, keyHolder(tp))
				}
			}
		}
		if r.Objection != nil && r.Objection.ID != "" {
			keys = append(keys, keyObjection(r.Objection.ID))
		}
	}
	return keys
}
