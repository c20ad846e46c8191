package fabric

import (
	"reflect"
	"testing"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// TestOwnTxs: a transaction this client sent is decoded from what it sent
// only when its event is byte for byte the payload sent, and then to
// exactly what decoding the event gives; another transaction, another
// payload, a plain event or a forgotten transaction is decoded from the
// block.
func TestOwnTxs(t *testing.T) {
	_, w := ledgertest.MustWorkload(t, 60, 10, 2)
	tx := committed(t, w.Streams[0])
	tx.txID = "tx-own"
	plain := plainPayload(t, tx)
	want, err := decodeTx(tx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var own ownTxs
	own.add("tx-own", tx.payload, plain)
	got, err := decodeTx(tx, false, &own)
	if err != nil {
		t.Fatal(err)
	}
	if got.decodedBatches == want.decodedBatches || own.decoded(tx) != got.decodedBatches {
		t.Fatal("the sent transaction was decoded from the block, not from what was sent")
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("decoded from what was sent: not what decoding the event gives")
	}

	other := *tx
	other.txID = "tx-other"
	if own.decoded(&other) != nil {
		t.Fatal("another transaction's event taken as this client's")
	}
	changed := *tx
	changed.payload = committed(t, w.Streams[1]).payload
	if own.decoded(&changed) != nil {
		t.Fatal("an event other than the payload sent taken as sent")
	}
	if d, err := decodeTx(&changed, false, &own); err != nil || reflect.DeepEqual(d.decodedBatches, want.decodedBatches) {
		t.Fatalf("the changed event decoded as the sent one (%v)", err)
	}
	unzipped := *tx
	unzipped.event, unzipped.payload = wire.EventBatches, plain
	if own.decoded(&unzipped) != nil {
		t.Fatal("a plain event taken as the compressed payload sent")
	}
	if n := own.taken.Load(); n != 2 {
		t.Fatalf("%d transactions counted as taken, want 2", n)
	}
	own.forget("tx-own")
	if own.decoded(tx) != nil {
		t.Fatal("a forgotten transaction still taken")
	}

	// What was sent does not decode: the block's event is decoded, and its
	// error reported.
	var bad ownTxs
	bad.add("tx-own", tx.payload, []byte("[]"))
	if d, err := decodeTx(tx, false, &bad); err != nil || !reflect.DeepEqual(d, want) {
		t.Fatalf("sent payload that does not decode: %v", err)
	}
}
