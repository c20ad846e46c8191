package fabric

import (
	"context"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"google.golang.org/grpc"
)

// MaxEndorserLag bounds how long a receipt waits for the endorsers' peers
// to hold its block (see peerHeights): past it the receipt is given anyway,
// and a batch refused by a peer still behind is checked again (commit).
const MaxEndorserLag = 2 * time.Second

// peerHeights follows how many blocks each endorsing organisation's peer
// holds, for the organisations whose peer is not the one the follower reads:
// a filtered block stream per peer (block numbers and validation codes only).
//
// Why: a receipt says the batch is in the ledger, and a writer then writes
// what depends on it (a transfer's completion after its start). The
// endorsers are asked at once (Profile.Endorsers), so one whose peer has not
// yet committed the block refuses the dependent batch; the transaction fails
// whole and is resent after a recheck. A receipt given once every endorser
// holds the block spares that.
type peerHeights struct {
	mu   sync.Mutex
	held map[string]uint64 // by MSP ID: the blocks the peer holds (last number + 1)
	// behind marks the peers a wait gave up on: they are not waited for
	// again until their stream delivers a block, so a peer that stopped
	// streaming (down, unreachable, or refusing this client its blocks)
	// costs one MaxEndorserLag, not one per receipt.
	behind map[string]bool
	// away marks the peers whose block stream broke or could not be
	// opened (down, unreachable), until it delivers a block again: a
	// policy that needs only some organisations asks the others meanwhile
	// (Ledger.endorsers), and receipts do not wait for them.
	away    map[string]bool
	changed chan struct{} // closed and replaced on every change
	conns   []*grpc.ClientConn
	wg      sync.WaitGroup
}

// newPeerHeights returns an empty peerHeights (no peer followed yet).
func newPeerHeights() *peerHeights {
	return &peerHeights{held: map[string]uint64{}, behind: map[string]bool{}, away: map[string]bool{}, changed: make(chan struct{})}
}

// followPeers starts following the peers of the profile's endorsers other
// than follows (the MSP ID of the peer the follower reads). It returns nil
// if there are none.
func (l *Ledger) followPeers(follows string) (*peerHeights, error) {
	h := newPeerHeights()
	own := l.cfg.Profile.Orgs[l.cfg.Org]
	id, sign, err := clientIdentity(own.MSPID, own.UserCert, own.UserKey)
	if err != nil {
		return nil, err
	}
	type peer struct {
		msp string
		gw  *client.Gateway
	}
	var peers []peer
	for _, msp := range l.cfg.Profile.Endorsers {
		org, ok := l.cfg.Profile.org(msp)
		if msp == follows || !ok {
			continue // an endorser the profile gives no peer of is not followed
		}
		conn, err := dial(org)
		if err != nil {
			h.close()
			return nil, err
		}
		h.conns = append(h.conns, conn)
		gw, err := connect(conn, id, sign, l.cfg.Timeout)
		if err != nil {
			h.close()
			return nil, err
		}
		h.held[msp] = 0
		peers = append(peers, peer{msp, gw})
	}
	if len(peers) == 0 {
		return nil, nil
	}
	for _, p := range peers {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer p.gw.Close()
			h.follow(l.stop, p.gw.GetNetwork(l.cfg.Profile.Channel), p.msp)
		}()
	}
	return h, nil
}

// follow reads one peer's filtered blocks until stop, reconnecting after
// an error from where it was.
func (h *peerHeights) follow(stop <-chan struct{}, network *client.Network, msp string) {
	untilStopped(stop, func(ctx context.Context) {
		h.mu.Lock()
		next := h.held[msp]
		h.mu.Unlock()
		blocks, err := network.FilteredBlockEvents(ctx, client.WithStartBlock(next))
		if err == nil {
			for b := range blocks {
				h.set(msp, b.Number+1)
			}
		}
		if ctx.Err() == nil {
			h.setAway(msp)
		}
	})
}

// setAway marks msp's peer away (its stream ended).
func (h *peerHeights) setAway(msp string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.away[msp] {
		return
	}
	h.away[msp] = true
	close(h.changed)
	h.changed = make(chan struct{})
}

// isAway says whether msp's peer is marked away; false for a peer not
// followed (the follower's own, or one the profile gives no address of).
func (h *peerHeights) isAway(msp string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.away[msp]
}

func (h *peerHeights) set(msp string, held uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if held <= h.held[msp] {
		return
	}
	h.held[msp] = held
	delete(h.behind, msp)
	delete(h.away, msp)
	close(h.changed)
	h.changed = make(chan struct{})
}

// wait waits until every followed peer holds block n, for at most max (or
// until ctx is done), not waiting for peers marked behind or away. It says whether
// they do; when it gives up at max, the peers still short of n are marked
// behind.
func (h *peerHeights) wait(ctx context.Context, n uint64, max time.Duration) bool {
	if h == nil {
		return true
	}
	t := time.NewTimer(max)
	defer t.Stop()
	for {
		h.mu.Lock()
		var short []string
		for msp, held := range h.held {
			if held <= n && !h.behind[msp] && !h.away[msp] {
				short = append(short, msp)
			}
		}
		changed := h.changed
		h.mu.Unlock()
		if len(short) == 0 {
			return true
		}
		select {
		case <-changed:
		case <-t.C:
			h.mu.Lock()
			for _, msp := range short {
				if h.held[msp] <= n {
					h.behind[msp] = true
				}
			}
			h.mu.Unlock()
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// close waits for the followers (the ledger's stop ends them) and closes
// the connections.
func (h *peerHeights) close() {
	if h == nil {
		return
	}
	h.wg.Wait()
	for _, c := range h.conns {
		c.Close()
	}
}
