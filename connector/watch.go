package connector

import (
	"context"
	"sync"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
)

// watchers wake goroutines waiting for a negotiation or transfer to change.
type watchers struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

func (w *watchers) add(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch
}

func (w *watchers) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.m[id]
	for i, c := range l {
		if c == ch {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(w.m, id)
	} else {
		w.m[id] = l
	}
}

// changed wakes the waiters of id.
func (w *watchers) changed(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitNegotiation blocks until the negotiation id is FINALIZED or TERMINATED
// (or ctx ends) and returns it with its history.
func (n *Node) WaitNegotiation(ctx context.Context, id string) (*store.Negotiation, error) {
	ch := n.watch.add(id)
	defer n.watch.remove(id, ch)
	for {
		// The state alone on each wake; with the history once, when final.
		neg, err := n.st.View(ctx).Negotiation(id)
		if err != nil {
			return nil, err
		}
		if dsp.NegotiationState(neg.State).Final() {
			return n.Negotiation(ctx, id)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return neg, ctx.Err()
		}
	}
}

// WaitTransfer blocks until the transfer id leaves REQUESTED (or ctx ends).
func (n *Node) WaitTransfer(ctx context.Context, id string) (*store.Transfer, error) {
	return n.waitTransfer(ctx, id, func(s dsp.TransferState) bool { return s != dsp.TransferRequested })
}

// WaitTransferDone waits until transfer id is COMPLETED, TERMINATED or
// SUSPENDED (a push: until the provider has pushed or given up), or ctx ends.
func (n *Node) WaitTransferDone(ctx context.Context, id string) (*store.Transfer, error) {
	return n.waitTransfer(ctx, id, func(s dsp.TransferState) bool {
		return s == dsp.TransferCompleted || s == dsp.TransferTerminated || s == dsp.TransferSuspended
	})
}

// WaitTransferResumed waits until transfer id leaves SUSPENDED (STARTED
// once the provider resumed it, TERMINATED if it refused), or ctx ends.
func (n *Node) WaitTransferResumed(ctx context.Context, id string) (*store.Transfer, error) {
	return n.waitTransfer(ctx, id, func(s dsp.TransferState) bool { return s != dsp.TransferSuspended })
}

func (n *Node) waitTransfer(ctx context.Context, id string, done func(dsp.TransferState) bool) (*store.Transfer, error) {
	ch := n.watch.add(id)
	defer n.watch.remove(id, ch)
	for {
		x, err := n.st.View(ctx).Transfer(id)
		if err != nil {
			return nil, err
		}
		if done(dsp.TransferState(x.State)) {
			// Read again with its history, of one snapshot (the state is
			// the history's last step); if it moved on meanwhile (a
			// suspended transfer resumed) and is no longer done, wait on.
			if x, err = n.st.View(ctx).TransferWithHistory(id); err != nil || done(dsp.TransferState(x.State)) {
				return x, err
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return x, ctx.Err()
		}
	}
}
