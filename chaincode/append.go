package chaincode

import (
	"bytes"
	"fmt"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// writeStore is what Append needs of the peer beyond reads and writes.
type writeStore interface {
	store
	rangeStore
	SetEvent(name string, payload []byte) error
}

// appendBatches checks and writes each batch in order; see the package doc.
// Any refusal fails the whole transaction with a *wire.BatchError. in is the
// payload as sent (zero in tests that pass batches directly): when the event
// payload is that payload byte for byte, its compressed form is the event.
func appendBatches(st writeStore, g ledger.Genesis, local *LocalPolicy, batches []*ledger.Batch, in sent) ([]wire.Accepted, error) {
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
	var written []*wire.Written
	for i, b := range batches {
		out[i] = wire.Accepted{Root: b.Root}
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
		canon, err := rulebook.ApplyBatch(ov, g, b)
		if err != nil {
			return nil, &wire.BatchError{Index: i, Err: err}
		}
		if err := local.check(b); err != nil {
			return nil, &wire.BatchError{Index: i, Err: err}
		}
		tx.Put(ov.Changes()...)
		for k := range b.Records {
			if err := st.PutState(keyID(b.Records[k].ID), present); err != nil {
				return nil, fmt.Errorf("chaincode: write %s: %w", keyID(b.Records[k].ID), err)
			}
		}
		if err := st.PutState(keyBatch(b.Root), present); err != nil {
			return nil, fmt.Errorf("chaincode: write %s: %w", keyBatch(b.Root), err)
		}
		written = append(written, wire.NewWritten(b, canon))
		done[b.Root] = true
		out[i].New = true
	}
	if len(written) == 0 {
		return out, nil
	}
	if err := ws.put(tx.Changes()); err != nil {
		return nil, err
	}
	p, err := wire.EncodeWritten(written)
	if err != nil {
		return nil, err
	}
	// A client that sends its batches as wire.EncodeWritten writes them
	// (the ledger/fabric backend does) has compressed this payload already
	// when every batch is new: the event is then its bytes, which both
	// endorsers received alike and which inflate to exactly p (appendArg
	// inflated them, refusing trailing bytes).
	z := in.deflated
	if z == nil || !bytes.Equal(p, in.plain) {
		if z, err = wire.Deflate(p); err != nil {
			return nil, err
		}
	}
	return out, st.SetEvent(wire.EventBatchesDeflate, z)
}

// present is the value of a marker key (a record id, a batch root): Fabric
// treats an empty value as a delete.
var present = []byte{1}
