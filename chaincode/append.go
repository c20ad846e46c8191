package chaincode

import (
	"encoding/json"
	"fmt"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// writeStore is what Append needs of the peer beyond reads and writes.
type writeStore interface {
	store
	rangeStore
}

// appendBatches checks and writes each batch in order; see the package doc.
// Any refusal fails the whole transaction with a *wire.BatchError.
func appendBatches(st writeStore, g ledger.Genesis, local *LocalPolicy, batches []*ledger.Batch) ([]wire.Accepted, error) {
	ws := newWorldState(st, g)
	keys := []string{keyIndexBuilt}
	for _, b := range batches {
		keys = append(keys, prefetchKeys(b)...)
	}
	if err := ws.prefetch(keys); err != nil {
		return nil, err
	}
	if err := ensureKeyIndex(st, ws); err != nil {
		return nil, err
	}
	tx := rulebook.NewOverlay(ws)
	out := make([]wire.Accepted, len(batches))
	done := map[string]bool{} // batches of this transaction, by root
	seq := 0
	for i, b := range batches {
		out[i] = wire.Accepted{Root: b.Root, RecordIDs: recordIDs(b)}
		if done[b.Root] {
			continue
		}
		// A batch already committed is not written again: its receipt is
		// the one its first transaction got. Reading its key puts it in
		// the read set, so two transactions writing it conflict.
		if old, err := ws.get(keyBatch(b.Root)); err != nil {
			return nil, err
		} else if old != nil {
			continue
		}
		ov := rulebook.NewOverlay(tx)
		if err := rulebook.ApplyBatch(ov, g, b); err != nil {
			return nil, &wire.BatchError{Index: i, Err: err}
		}
		if err := local.check(b); err != nil {
			return nil, &wire.BatchError{Index: i, Err: err}
		}
		canon, _, err := b.Encode()
		if err != nil { // ApplyBatch encoded them already
			return nil, err
		}
		tx.Put(ov.Changes()...)
		w := wire.Written{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Root: b.Root, Signature: b.Signature, Seq: seq,
			Records: make([]json.RawMessage, len(canon))}
		for k := range canon {
			w.Records[k] = canon[k]
			if err := st.PutState(keyID(b.Records[k].ID), []byte(b.Root)); err != nil {
				return nil, fmt.Errorf("chaincode: write %s: %w", keyID(b.Records[k].ID), err)
			}
		}
		if err := putJSON(st, keyBatch(b.Root), &w); err != nil {
			return nil, err
		}
		seq++
		done[b.Root] = true
		out[i].New = true
	}
	if seq == 0 {
		return out, nil
	}
	return out, ws.put(tx.Changes())
}

func recordIDs(b *ledger.Batch) []string {
	ids := make([]string, len(b.Records))
	for i := range b.Records {
		ids[i] = b.Records[i].ID
	}
	return ids
}

func putJSON(st store, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := st.PutState(key, b); err != nil {
		return fmt.Errorf("chaincode: write %s: %w", key, err)
	}
	return nil
}
