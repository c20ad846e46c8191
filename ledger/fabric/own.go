package fabric

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/tdsc/tdsc/chaincode/wire"
)

// ownTxs are the Append transactions this client has in flight, each with
// its batches decoded while it is endorsed and ordered: the follower, when
// it reads such a transaction's block, takes them instead of inflating and
// decoding the event itself, which otherwise sits between the commit and
// the receipt (about a tenth of a transaction's time on a loaded machine).
//
// Only an event whose payload is byte for byte the compressed payload this
// client sent is taken so: the chaincode emits exactly those bytes when
// every batch is new (see chaincode's appendBatches), and they inflate to
// exactly the JSON decoded here. Any other event (a batch already
// committed, another client's transaction) is decoded from the block.
// Ledgers sharing a follower (Config.Follower) share its ownTxs.
type ownTxs struct {
	mu    sync.Mutex
	m     map[string]*ownTx
	taken atomic.Int64 // transactions decoded returned
}

type ownTx struct {
	z    []byte        // the compressed payload sent
	done chan struct{} // closed once decoded
	d    *decodedBatches
}

// add registers transaction txID, which sends z, the compression of plain,
// and starts decoding plain. It is forgotten (forget) once its receipts
// are given or it failed.
func (o *ownTxs) add(txID string, z, plain []byte) {
	t := &ownTx{z: z, done: make(chan struct{})}
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]*ownTx{}
	}
	o.m[txID] = t
	o.mu.Unlock()
	go func() {
		defer close(t.done)
		// An error leaves d nil: the follower decodes the event itself and
		// reports what it finds.
		t.d, _ = decodeBatches(wire.EventBatchesDeflate, plain, false)
	}()
}

func (o *ownTxs) forget(txID string) {
	o.mu.Lock()
	delete(o.m, txID)
	o.mu.Unlock()
}

// decoded returns the decoded batches of w if it is a transaction this
// client sent whose event is the payload it sent, else nil.
func (o *ownTxs) decoded(w *endorsedWrites) *decodedBatches {
	if o == nil || w.event != wire.EventBatchesDeflate {
		return nil
	}
	o.mu.Lock()
	t := o.m[w.txID]
	o.mu.Unlock()
	if t == nil || !bytes.Equal(t.z, w.payload) {
		return nil
	}
	<-t.done
	if t.d != nil {
		o.taken.Add(1)
	}
	return t.d
}
