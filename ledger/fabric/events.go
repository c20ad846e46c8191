package fabric

import (
	"context"

	"github.com/tdsc/tdsc/ledger"
)

// Event is one committed Append transaction that wrote batches: its block,
// the receipts of its batches (their indexes assigned by the block order)
// and the tree head after it.
type Event struct {
	Block    uint64           `json:"block"`
	TxID     string           `json:"txId"`
	Batches  []ledger.Receipt `json:"batches"`
	TreeSize uint64           `json:"treeSize"`
	Root     []byte           `json:"root"`
}

// Events streams the space's committed Append transactions from block
// fromBlock on, in commit order, as the follower reads them from the
// channel's block events, until ctx ends or the ledger closes; then the
// channel closes.
func (l *Ledger) Events(ctx context.Context, fromBlock uint64) (<-chan Event, error) {
	out := make(chan Event)
	l.ixMu.RLock()
	sent, err := l.ix.firstEvent(fromBlock)
	l.ixMu.RUnlock()
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(out)
		for {
			l.ixMu.RLock()
			evs, err := l.ix.st.events(sent, eventPage)
			changed := l.changed
			l.ixMu.RUnlock()
			if err != nil {
				l.cfg.Log.Error("fabric: reading events from the index", "from", sent, "err", err)
				return
			}
			if len(evs) == eventPage {
				changed = nil // more to read now
			}
			for _, ev := range evs {
				sent++
				if ev.Block < fromBlock {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				case <-l.stop:
					return
				}
			}
			if changed == nil {
				continue
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-l.stop:
				return
			}
		}
	}()
	return out, nil
}

// eventPage is how many events Events reads from the index at a time.
const eventPage = 256
