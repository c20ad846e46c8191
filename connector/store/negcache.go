package store

// The negotiation cache: every step of a negotiation reads the negotiation
// through a view, and a view's SQLite read transaction starts on a cold page
// cache (the writer committed since), so those reads were a tenth of a loaded
// node's CPU. Only the committer writes the cache, after the transaction
// commits and before the updates return, replaying each update's writes in
// order; an update that failed, or a commit that failed, drops the rows it
// touched instead (the database is then the only truth for them).

// maxCachedNegotiations bounds the cache; past it new rows are not added.
// Final negotiations leave it, so it holds the ones in flight.
const maxCachedNegotiations = 8192

type negWriteKind int

const (
	negPut    negWriteKind = iota // a new row: n is all of it
	negUpdate                     // UpdateNegotiation: n's mutable fields
	negPeer                       // SetNegotiationPeer: peer is set if empty
)

type negWrite struct {
	kind negWriteKind
	id   string
	n    Negotiation
	peer string
}

// finalNegotiation: the DSP end states, after which no step reads the row.
func finalNegotiation(state string) bool { return state == "FINALIZED" || state == "TERMINATED" }

func (t *Tx) noteNeg(w negWrite) {
	if t.tx != nil {
		w.n.History = nil
		t.negWrites = append(t.negWrites, w)
	}
}

// cachedNegotiation returns a copy of the cached row, for views only.
func (t *Tx) cachedNegotiation(id string) *Negotiation {
	if t.tx != nil {
		return nil // an update reads its own uncommitted writes from SQLite
	}
	t.s.negMu.RLock()
	n, ok := t.s.negs[id]
	t.s.negMu.RUnlock()
	if !ok {
		return nil
	}
	c := *n
	c.Offer = append([]byte(nil), n.Offer...)
	return &c
}

// applyNegWrites replays the committed updates' negotiation writes; results
// are the updates' outcomes (nil: all failed), failed that the transaction
// did not commit.
func (s *Store) applyNegWrites(group []*updateReq, results []error, failed bool) {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	for i, r := range group {
		if r.tx == nil {
			continue
		}
		for _, w := range r.tx.negWrites {
			if failed || results == nil || results[i] != nil {
				delete(s.negs, w.id)
				continue
			}
			cur, ok := s.negs[w.id]
			switch w.kind {
			case negPut:
				n := w.n
				cur, ok = &n, true
			case negUpdate:
				if ok {
					c := *cur
					c.PeerPID, c.PeerURL, c.State, c.Awaiting, c.AgreementID = w.n.PeerPID, w.n.PeerURL, w.n.State, w.n.Awaiting, w.n.AgreementID
					c.Code, c.Rule, c.Reason, c.UpdatedAt, c.Offer = w.n.Code, w.n.Rule, w.n.Reason, w.n.UpdatedAt, w.n.Offer
					cur = &c
				}
			case negPeer:
				if ok && cur.PeerPID == "" {
					c := *cur
					c.PeerPID = w.peer
					cur = &c
				}
			}
			switch {
			case !ok:
			case finalNegotiation(cur.State):
				delete(s.negs, w.id)
			case len(s.negs) < maxCachedNegotiations || s.negs[w.id] != nil:
				s.negs[w.id] = cur
			}
		}
	}
}
