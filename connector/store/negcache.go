package store

// The negotiation and agreement caches: every step of a negotiation reads
// the negotiation (and most its agreement) through a view, and a view's SQLite read transaction starts on a cold page
// cache (the writer committed since), so those reads were a tenth of a loaded
// node's CPU. Only the committer writes the cache, after the transaction
// commits and before the updates return, replaying each update's writes in
// order; an update that failed, or a commit that failed, drops the rows it
// touched instead (the database is then the only truth for them).

// maxCachedNegotiations bounds the cache; past it new rows are not added.
// Final negotiations leave it, so it holds the ones in flight.
const maxCachedNegotiations = 8192

// maxCachedAgreements bounds the agreement cache; when full it is emptied
// (agreements stay live after their negotiation, for transfers).
const maxCachedAgreements = 8192

type negWriteKind int

const (
	negPut     negWriteKind = iota // a new row: n is all of it
	negUpdate                      // UpdateNegotiation: n's mutable fields
	negPeer                        // SetNegotiationPeer: peer is set if empty
	agrFull                        // PutAgreement, the whole row read back
	agrOverlay                     // PutAgreement: the columns it updates, onto the cached row
	agrDrop                        // PutAgreement whose row could not be read back
)

type negWrite struct {
	kind negWriteKind
	id   string
	n    Negotiation
	peer string
	a    *Agreement
}

// finalNegotiation: the DSP end states, after which no step reads the row.
func finalNegotiation(state string) bool { return state == "FINALIZED" || state == "TERMINATED" }

func (t *Tx) noteNeg(w negWrite) {
	if t.tx != nil {
		w.n.History = nil
		t.negWrites = append(t.negWrites, w)
	}
}

func (s *Store) agreementCached(id string) bool {
	s.negMu.RLock()
	defer s.negMu.RUnlock()
	_, ok := s.agrs[id]
	return ok
}

// cachedAgreement returns a copy of the cached row, for views only.
func (t *Tx) cachedAgreement(id string) *Agreement {
	if t.tx != nil || t.read != nil {
		return nil
	}
	t.s.negMu.RLock()
	a, ok := t.s.agrs[id]
	busy := t.s.agrBusy[id]
	t.s.negMu.RUnlock()
	if !ok || busy {
		return nil
	}
	return a.clone()
}

// applyAgreement replays one agreement write of a committed update.
func (s *Store) applyAgreement(w negWrite) {
	switch w.kind {
	case agrFull:
		if len(s.agrs) >= maxCachedAgreements {
			clear(s.agrs)
		}
		s.agrs[w.id] = w.a
	case agrOverlay:
		cur, ok := s.agrs[w.id]
		if !ok {
			return
		}
		c := *cur
		c.Policy, c.PolicyHash, c.Terms, c.State, c.Uses = w.a.Policy, w.a.PolicyHash, w.a.Terms, w.a.State, w.a.Uses
		c.RecordID, c.Reason, c.SignedAt, c.UpdatedAt = w.a.RecordID, w.a.Reason, w.a.SignedAt, w.a.UpdatedAt
		s.agrs[w.id] = &c
	default:
		delete(s.agrs, w.id)
	}
}

// cachedNegotiation returns a copy of the cached row, for views only.
func (t *Tx) cachedNegotiation(id string) *Negotiation {
	if t.tx != nil || t.read != nil {
		// An update reads its own uncommitted writes from the database; a
		// snapshot reads what its snapshot holds.
		return nil
	}
	t.s.negMu.RLock()
	n, ok := t.s.negs[id]
	busy := t.s.negBusy[id]
	t.s.negMu.RUnlock()
	if !ok || busy {
		return nil
	}
	c := *n
	c.Offer = append([]byte(nil), n.Offer...)
	return &c
}

// markCommitting marks the rows the group's updates that succeeded wrote as
// committing, before the commit: until applyNegWrites, views read them from
// the database, which is ahead of the cache once the commit is done.
func (s *Store) markCommitting(group []*updateReq, results []error) {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	for i, r := range group {
		if r.tx == nil || results[i] != nil {
			continue
		}
		for _, w := range r.tx.negWrites {
			if w.isAgreement() {
				s.agrBusy[w.id] = true
			} else {
				s.negBusy[w.id] = true
			}
		}
	}
}

func (w negWrite) isAgreement() bool {
	return w.kind == agrFull || w.kind == agrOverlay || w.kind == agrDrop
}

// applyNegWrites replays the committed updates' negotiation writes; results
// are the updates' outcomes (nil: all failed), failed that the transaction
// did not commit. The rows marked committing are unmarked.
func (s *Store) applyNegWrites(group []*updateReq, results []error, failed bool) {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	clear(s.negBusy)
	clear(s.agrBusy)
	for i, r := range group {
		if r.tx == nil {
			continue
		}
		for _, w := range r.tx.negWrites {
			isAgr := w.isAgreement()
			if failed || results == nil || results[i] != nil {
				if isAgr {
					delete(s.agrs, w.id)
				} else {
					delete(s.negs, w.id)
				}
				continue
			}
			if isAgr {
				s.applyAgreement(w)
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
