package chaincode

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// writeStore is what Append needs of the peer beyond reads and writes.
type writeStore interface {
	store
	rangeStore
	CreateCompositeKey(objectType string, attributes []string) (string, error)
	SetEvent(name string, payload []byte) error
	GetTxID() string
}

// entry is a record as stored under keyRecord: its batch and canonical bytes.
type entry struct {
	Batch  string          `json:"b"`
	Record json.RawMessage `json:"r"`
}

// appendBatches checks and commits each batch in order; see the package doc.
// Any refusal fails the whole transaction with a *wire.BatchError.
func appendBatches(st writeStore, g ledger.Genesis, local *LocalPolicy, batches []*ledger.Batch) ([]ledger.Receipt, error) {
	ws := newWorldState(st, g)
	keys := []string{keyHead, keyIndexBuilt}
	for _, b := range batches {
		keys = append(keys, prefetchKeys(b)...)
	}
	if err := ws.prefetch(keys); err != nil {
		return nil, err
	}
	if err := ensureKeyIndex(st, ws); err != nil {
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
	visit := storeNode(st, &nodeErr)
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
		canon, leaves, err := b.Encode(g.CryptoSuite())
		if err != nil { // ApplyBatch encoded them already
			return nil, err
		}
		tx.Put(ov.Changes()...)
		sb := wire.StoredBatch{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Root: b.Root, Signature: b.Signature,
			FirstIndex: head.Size, TreeSize: head.Size + uint64(len(b.Records)), TxID: st.GetTxID()}
		ix := newBatchIndex(head.Size)
		for k := range b.Records {
			index := head.Size + uint64(k)
			if err := writeRecord(st, index, b.Root, &b.Records[k], canon[k]); err != nil {
				return nil, err
			}
			ix.add(k, &b.Records[k])
			if err := rng.Append(leaves[k], visit); err != nil {
				return nil, err
			}
			sb.RecordIDs = append(sb.RecordIDs, b.Records[k].ID)
		}
		if nodeErr != nil {
			return nil, fmt.Errorf("chaincode: write tree node: %w", nodeErr)
		}
		if err := ix.write(st); err != nil {
			return nil, err
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
	if err := st.PutState(keyHeadAt(head.Size), head.Root); err != nil {
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
	return &wire.Head{Root: ws.g.CryptoSuite().Merkle().EmptyRoot()}, nil
}

func writeRecord(st writeStore, index uint64, batchRoot string, r *ledger.Record, canon []byte) error {
	v, err := json.Marshal(entry{Batch: batchRoot, Record: canon})
	if err != nil {
		return err
	}
	if err := st.PutState(keyRecord(index), v); err != nil {
		return err
	}
	return st.PutState(keyID(r.ID), []byte(indexPosition(index)))
}

// batchIndex gathers a batch's index entries: one composite key per
// (index, value) and batch, holding the offsets of the batch's records
// listed under it. A batch's records mostly share their parties, agreement
// and kind, so this writes a few keys per batch instead of seven per record.
type batchIndex struct {
	first   uint64
	offsets map[[2]string][]int
}

func newBatchIndex(first uint64) *batchIndex {
	return &batchIndex{first: first, offsets: map[[2]string][]int{}}
}

func (x *batchIndex) add(offset int, r *ledger.Record) {
	for _, e := range indexEntries(r) {
		x.offsets[e] = append(x.offsets[e], offset)
	}
}

func (x *batchIndex) write(st writeStore) error {
	keys := make([][2]string, 0, len(x.offsets))
	for k := range x.offsets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	pos := indexPosition(x.first)
	for _, k := range keys {
		ck, err := st.CreateCompositeKey(k[0], []string{k[1], pos})
		if err != nil {
			return fmt.Errorf("chaincode: index %s %q: %w", k[0], k[1], err)
		}
		v, err := json.Marshal(x.offsets[k])
		if err != nil {
			return err
		}
		if err := st.PutState(ck, v); err != nil {
			return err
		}
	}
	return nil
}

// indexEntries are the (index, value) pairs a record is listed under; the
// time index lists records by the UTC minute of their time.
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
const timeIndexLayout = "2006-01-02T15:04Z"

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
