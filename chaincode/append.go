package chaincode

import (
	"encoding/json"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// writeStore is what Append needs of the peer beyond reads and writes.
type writeStore interface {
	store
	CreateCompositeKey(objectType string, attributes []string) (string, error)
	SetEvent(name string, payload []byte) error
	GetTxID() string
}

var rf = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// entry is a record as stored under keyRecord: its batch and canonical bytes.
type entry struct {
	Batch  string          `json:"b"`
	Record json.RawMessage `json:"r"`
}

// appendBatches checks and commits each batch in order; see the package doc.
// Any refusal fails the whole transaction with a *wire.BatchError.
func appendBatches(st writeStore, g ledger.Genesis, local *LocalPolicy, batches []*ledger.Batch) ([]ledger.Receipt, error) {
	ws := newWorldState(st, g)
	keys := []string{keyHead}
	for _, b := range batches {
		keys = append(keys, prefetchKeys(b)...)
	}
	if err := ws.prefetch(keys); err != nil {
		return nil, err
	}
	head, err := readHead(ws)
	if err != nil {
		return nil, err
	}
	rng, err := loadRange(ws, head.Size)
	if err != nil {
		return nil, err
	}
	tx := rulebook.NewOverlay(ws)
	var nodeErr error
	visit := func(id compact.NodeID, hash []byte) {
		if nodeErr == nil {
			nodeErr = st.PutState(keyNode(id), hash)
		}
	}
	out := make([]ledger.Receipt, len(batches))
	done := map[string]*ledger.Receipt{} // batches of this transaction, by root
	var ev wire.Event
	for i, b := range batches {
		if r, ok := done[b.Root]; ok {
			out[i] = *r
			continue
		}
		if old, err := getJSON[wire.StoredBatch](ws, keyBatch(b.Root)); err != nil {
			return nil, err
		} else if old != nil {
			out[i] = old.Receipt()
			continue
		}
		ov := rulebook.NewOverlay(tx)
		if err := rulebook.ApplyBatch(ov, g, b); err != nil {
			return nil, &wire.BatchError{Index: i, Err: err}
		}
		if err := local.check(b); err != nil {
			return nil, &wire.BatchError{Index: i, Err: err}
		}
		canon, leaves, err := b.Encode()
		if err != nil { // ApplyBatch encoded them already
			return nil, err
		}
		tx.Put(ov.Changes()...)
		sb := wire.StoredBatch{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Root: b.Root, Signature: b.Signature,
			FirstIndex: head.Size, TreeSize: head.Size + uint64(len(b.Records)), TxID: st.GetTxID()}
		for k := range b.Records {
			index := head.Size + uint64(k)
			if err := writeRecord(st, index, b.Root, &b.Records[k], canon[k]); err != nil {
				return nil, err
			}
			if err := rng.Append(leaves[k], visit); err != nil {
				return nil, err
			}
			sb.RecordIDs = append(sb.RecordIDs, b.Records[k].ID)
		}
		if nodeErr != nil {
			return nil, fmt.Errorf("chaincode: write tree node: %w", nodeErr)
		}
		head.Size = sb.TreeSize
		if err := putJSON(st, keyBatch(b.Root), &sb); err != nil {
			return nil, err
		}
		out[i] = sb.Receipt()
		done[b.Root] = &out[i]
		ev.Batches = append(ev.Batches, out[i])
	}
	if len(ev.Batches) == 0 {
		return out, nil
	}
	if err := ws.put(tx.Changes()); err != nil {
		return nil, err
	}
	if head.Root, err = rng.GetRootHash(nil); err != nil {
		return nil, err
	}
	if err := putJSON(st, keyHead, head); err != nil {
		return nil, err
	}
	ev.TreeSize, ev.Root = head.Size, head.Root
	p, err := json.Marshal(&ev)
	if err != nil {
		return nil, err
	}
	return out, st.SetEvent(wire.EventBatches, p)
}

func readHead(ws *worldState) (*wire.Head, error) {
	h, err := getJSON[wire.Head](ws, keyHead)
	if err != nil || h != nil {
		return h, err
	}
	return &wire.Head{Root: rfc6962.DefaultHasher.EmptyRoot()}, nil
}

// loadRange rebuilds the compact range of the tree of the given size from
// the stored nodes on its right border.
func loadRange(ws *worldState, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = keyNode(id)
	}
	hashes, err := nodes(ws, keys)
	if err != nil {
		return nil, err
	}
	return rf.NewRange(0, size, hashes)
}

// nodes reads tree nodes, all of which must exist.
func nodes(ws *worldState, keys []string) ([][]byte, error) {
	if err := ws.prefetch(keys); err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(keys))
	for i, k := range keys {
		if hashes[i] = ws.cache[k]; hashes[i] == nil {
			return nil, fmt.Errorf("chaincode: tree node %s missing", k)
		}
	}
	return hashes, nil
}

func writeRecord(st writeStore, index uint64, batchRoot string, r *ledger.Record, canon []byte) error {
	v, err := json.Marshal(entry{Batch: batchRoot, Record: canon})
	if err != nil {
		return err
	}
	if err := st.PutState(keyRecord(index), v); err != nil {
		return err
	}
	if err := st.PutState(keyID(r.ID), []byte(indexPosition(index))); err != nil {
		return err
	}
	pos := indexPosition(index)
	for _, ix := range indexEntries(r) {
		k, err := st.CreateCompositeKey(ix[0], []string{ix[1], pos})
		if err != nil {
			return fmt.Errorf("chaincode: index %s of record %s: %w", ix[0], r.ID, err)
		}
		if err := st.PutState(k, present); err != nil {
			return err
		}
	}
	return nil
}

// indexEntries are the (index, value) pairs a record is listed under.
func indexEntries(r *ledger.Record) [][2]string {
	ix := [][2]string{{ixParticipant, r.Actor}, {ixKind, string(r.Kind)}}
	if r.Counterparty != "" && r.Counterparty != r.Actor {
		ix = append(ix, [2]string{ixParticipant, r.Counterparty})
	}
	for _, f := range [][2]string{{ixDataset, r.Dataset}, {ixAgreement, r.Agreement}, {ixTransfer, r.Transfer}} {
		if f[1] != "" {
			ix = append(ix, f)
		}
	}
	if t, err := ledger.ParseTime(r.Time); err == nil {
		ix = append(ix, [2]string{ixTime, t.UTC().Format(timeIndexLayout)})
	}
	return ix
}

// timeIndexLayout sorts as text in time order.
const timeIndexLayout = "2006-01-02T15:04:05.000000000Z"

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
