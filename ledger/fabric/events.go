package fabric

import (
	"context"
	"encoding/json"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// Event is one committed Append transaction, from its chaincode event.
type Event struct {
	Block    uint64           `json:"block"`
	TxID     string           `json:"txId"`
	Batches  []ledger.Receipt `json:"batches"`
	TreeSize uint64           `json:"treeSize"`
	Root     []byte           `json:"root"`
}

// Events streams the space's committed Append transactions from block
// fromBlock on, in commit order, until ctx ends. The channel closes when the
// stream ends; a gap (the peer went away) ends it: call Events again from
// the last block seen.
func (l *Ledger) Events(ctx context.Context, fromBlock uint64) (<-chan Event, error) {
	in, err := l.network.ChaincodeEvents(ctx, l.cfg.Chaincode, client.WithStartBlock(fromBlock))
	if err != nil {
		se, _ := classify(StageEvaluate, err)
		return nil, se
	}
	out := make(chan Event)
	go func() {
		defer close(out)
		for ce := range in {
			if ce.EventName != wire.EventBatches {
				continue
			}
			var we wire.Event
			if err := json.Unmarshal(ce.Payload, &we); err != nil {
				l.cfg.Log.Warn("fabric: chaincode event does not decode", "tx", ce.TransactionID, "err", err)
				continue
			}
			select {
			case out <- Event{Block: ce.BlockNumber, TxID: ce.TransactionID, Batches: we.Batches, TreeSize: we.TreeSize, Root: we.Root}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
