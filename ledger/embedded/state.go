package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// The rulebook state lives in bbolt beside the records: every group commit
// writes its state changes in the transaction that writes its records, so the
// state always reflects exactly the committed records, also after a crash,
// and Open reads none of them. Seen record ids are answered from the ids
// index (bIDs) the records already keep.
var (
	bParticipants = []byte("state.participants") // id -> identity.Participant JSON
	bDatasets     = []byte("state.datasets")     // id -> rulebook.Dataset JSON
	bAgreements   = []byte("state.agreements")   // id -> rulebook.Agreement JSON
	bTransfers    = []byte("state.transfers")    // id -> rulebook.EncodeTransfer
	bObjections   = []byte("state.objections")   // id -> rulebook.Objection JSON
	bKeys         = []byte("state.keys")         // key thumbprint -> participant id
	stateBuckets  = [][]byte{bParticipants, bDatasets, bAgreements, bTransfers, bObjections, bKeys}

	kRules = []byte("rules") // meta: the space rules (JSON), absent before any rules.updated
	// kState (meta) is the tree size the state buckets reflect. It equals
	// "size" except in a ledger written before the state was kept here, or
	// appended to by such a version since: Open then rebuilds the state.
	kState = []byte("state")
	// kDIDIndex (meta) marks state whose key index holds every
	// participant's DID: absent in state kept by a version from before
	// participant.did-unique, whose participants' DIDs Open then indexes
	// once (indexDIDs).
	kDIDIndex = []byte("did-index")
)

// txState is the rulebook.State of a bbolt transaction: the records below
// size are applied. Reads go through the store's cache of decoded objects;
// only the committer fills it (fill), with values it read from the last
// committed state.
type txState struct {
	tx    *bolt.Tx
	size  uint64
	cache *stateCache
	fill  bool
}

func (st *txState) Participant(id string) (*identity.Participant, error) {
	return load(st, bParticipants, id, st.cache.participants())
}

func (st *txState) Dataset(id string) (*rulebook.Dataset, error) {
	return load(st, bDatasets, id, st.cache.datasets())
}

func (st *txState) Agreement(id string) (*rulebook.Agreement, error) {
	return load(st, bAgreements, id, st.cache.agreements())
}

// Transfer and Objection are read about once each: not cached.
func (st *txState) Transfer(id string) (*rulebook.Transfer, error) {
	raw := st.tx.Bucket(bTransfers).Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	t, err := rulebook.DecodeTransfer(raw)
	if err != nil {
		return nil, fmt.Errorf("embedded: state %s/%s: %w (reopen with Options.RebuildState to rebuild the state from the records)", bTransfers, id, err)
	}
	return t, nil
}

func (st *txState) Objection(id string) (*rulebook.Objection, error) {
	return load[rulebook.Objection](st, bObjections, id, nil)
}

func (st *txState) Rules() (*policy.SpaceRules, error) {
	if r, ok := st.cache.getRules(); ok {
		return r, nil
	}
	var r *policy.SpaceRules
	if raw := st.tx.Bucket(bMeta).Get(kRules); raw != nil {
		r = new(policy.SpaceRules)
		if err := jsondec.Unmarshal(raw, r); err != nil {
			return nil, fmt.Errorf("embedded: state: rules: %w (reopen with Options.RebuildState to rebuild the state from the records)", err)
		}
	}
	if st.fill {
		st.cache.setRules(r)
	}
	return r, nil
}

// Seen answers from the ids index: a record id is seen when a record below
// size holds it (ids of a group being written lie at or above size; the
// group's overlay answers for them).
func (st *txState) Seen(recordID string) (bool, error) {
	k := st.tx.Bucket(bIDs).Get([]byte(recordID))
	return k != nil && boltkey.ToUint64(k) < st.size, nil
}

func (st *txState) KeyHolder(thumbprint string) (string, error) {
	return string(st.tx.Bucket(bKeys).Get([]byte(thumbprint))), nil
}

func load[T any](st *txState, bucket []byte, id string, c *capped[T]) (*T, error) {
	if v, ok := c.get(id); ok {
		return v, nil
	}
	raw := st.tx.Bucket(bucket).Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	v := new(T)
	if err := jsondec.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("embedded: state %s/%s: %w (reopen with Options.RebuildState to rebuild the state from the records)", bucket, id, err)
	}
	if st.fill {
		c.put(id, v)
	}
	return v, nil
}

// writeState writes changes, in order, into the state buckets and records
// that the state now reflects the records below size. An object changed
// several times (an agreement's use count over a batch of transfers) is
// written once, as last changed. Seen changes need no write: the ids index
// holds the record ids.
func writeState(tx *bolt.Tx, changes []rulebook.Change, size uint64) error {
	type slot struct {
		bucket string
		key    string
	}
	last := make(map[slot]int, len(changes))
	for i := range changes {
		if b, k := stateSlot(&changes[i]); b != nil {
			last[slot{string(b), k}] = i
		}
	}
	for i := range changes {
		c := &changes[i]
		b, k := stateSlot(c)
		if b == nil || last[slot{string(b), k}] != i {
			continue
		}
		raw, err := stateValue(c)
		if err != nil {
			return fmt.Errorf("embedded: state %s/%s: %w", b, k, err)
		}
		bk := tx.Bucket(b)
		if raw == nil {
			err = bk.Delete([]byte(k))
		} else {
			err = bk.Put([]byte(k), raw)
		}
		if err != nil {
			return err
		}
	}
	return tx.Bucket(bMeta).Put(kState, boltkey.Uint64(size))
}

// stateSlot is the bucket and key a change is kept under; a nil bucket for
// a change kept nowhere (a seen record id: the ids index answers it).
func stateSlot(c *rulebook.Change) (bucket []byte, key string) {
	switch {
	case c.Participant != nil:
		return bParticipants, c.Participant.ID
	case c.Rules != nil:
		return bMeta, string(kRules)
	case c.Dataset != nil:
		return bDatasets, c.Dataset.ID
	case c.Agreement != nil:
		return bAgreements, c.Agreement.ID
	case c.Transfer != nil:
		return bTransfers, c.Transfer.ID
	case c.Objection != nil:
		return bObjections, c.Objection.ID
	case c.Key != nil:
		return bKeys, c.Key.Thumbprint
	}
	return nil, ""
}

// stateValue is the stored bytes of a change; nil for a deleted key.
func stateValue(c *rulebook.Change) ([]byte, error) {
	switch {
	case c.Participant != nil:
		return json.Marshal(c.Participant)
	case c.Rules != nil:
		return json.Marshal(c.Rules)
	case c.Dataset != nil:
		return json.Marshal(c.Dataset)
	case c.Agreement != nil:
		return json.Marshal(c.Agreement)
	case c.Transfer != nil:
		return rulebook.EncodeTransfer(c.Transfer), nil
	case c.Objection != nil:
		return json.Marshal(c.Objection)
	case c.Key != nil && c.Key.Participant != "":
		return []byte(c.Key.Participant), nil
	}
	return nil, nil
}

// buildState replays every record into a fresh rulebook.Mem and writes it to
// the state buckets, replacing what they held: the migration of a ledger
// written before the state was kept in bbolt, run once by Open.
func (s *Store) buildState(ctx context.Context, size uint64) error {
	mem := rulebook.NewMem(s.g)
	if err := s.db.View(func(tx *bolt.Tx) error { return replay(ctx, tx, s.g, mem) }); err != nil {
		return err
	}
	contents := mem.Contents()
	return s.db.Update(func(tx *bolt.Tx) error {
		if got := boltkey.ToUint64(tx.Bucket(bMeta).Get([]byte("size"))); got != size {
			return fmt.Errorf("embedded: ledger grew from %d to %d records while its state was rebuilt", size, got)
		}
		ids := tx.Bucket(bIDs)
		for _, c := range contents {
			if c.Seen == "" {
				continue
			}
			// Seen is answered from the ids index: it must hold every record id.
			if k := ids.Get([]byte(c.Seen)); k == nil || boltkey.ToUint64(k) >= size {
				return fmt.Errorf("embedded: the ids index lacks record %q (run tdsc audit verify)", c.Seen)
			}
		}
		for _, b := range stateBuckets {
			if tx.Bucket(b) != nil {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bMeta).Delete(kRules); err != nil {
			return err
		}
		if err := tx.Bucket(bMeta).Delete(kDIDIndex); err != nil {
			return err
		}
		return writeState(tx, contents, size)
	})
}

// indexDIDs writes to the key index the DIDs of participants it lacks (see
// kDIDIndex), once: participants in id order, so a DID two participants
// registered before participant.did-unique share stays with the first, as
// in the chaincode's build.
func (s *Store) indexDIDs() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta.Get(kDIDIndex) != nil {
			return nil
		}
		st, keys, n := &txState{tx: tx}, tx.Bucket(bKeys), 0
		err := tx.Bucket(bParticipants).ForEach(func(id, raw []byte) error {
			var p identity.Participant
			if err := jsondec.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("embedded: state %s/%s: %w (reopen with Options.RebuildState to rebuild the state from the records)", bParticipants, id, err)
			}
			e, err := rulebook.UnindexedDID(st, &p)
			if err != nil || e == nil {
				return err
			}
			n++
			return keys.Put([]byte(e.Thumbprint), []byte(e.Participant))
		})
		if err != nil {
			return err
		}
		if n > 0 {
			s.opts.Logger.Info("indexed the DIDs of participants registered before participant.did-unique", "participants", n)
		}
		return meta.Put(kDIDIndex, []byte{1})
	})
}

// stateAt reads the tree size the state buckets reflect; ok is false when
// the ledger keeps no state (written by an earlier version).
func stateAt(tx *bolt.Tx) (size uint64, ok bool) {
	v := tx.Bucket(bMeta).Get(kState)
	if len(v) != 8 {
		return 0, false
	}
	for _, b := range stateBuckets {
		if tx.Bucket(b) == nil {
			return 0, false
		}
	}
	return boltkey.ToUint64(v), true
}

// stateCache holds decoded participants, datasets, agreements and the rules
// as last committed, so the rules of a batch of transfers under one agreement
// decode nothing. Each kind keeps at most cacheLimit objects.
type stateCache struct {
	p          capped[identity.Participant]
	d          capped[rulebook.Dataset]
	a          capped[rulebook.Agreement]
	mu         sync.Mutex
	rules      *policy.SpaceRules
	rulesKnown bool
}

const cacheLimit = 1 << 16

func newStateCache() *stateCache {
	c := &stateCache{}
	c.p.m, c.d.m, c.a.m = map[string]*identity.Participant{}, map[string]*rulebook.Dataset{}, map[string]*rulebook.Agreement{}
	return c
}

func (c *stateCache) participants() *capped[identity.Participant] {
	if c == nil {
		return nil
	}
	return &c.p
}

func (c *stateCache) datasets() *capped[rulebook.Dataset] {
	if c == nil {
		return nil
	}
	return &c.d
}

func (c *stateCache) agreements() *capped[rulebook.Agreement] {
	if c == nil {
		return nil
	}
	return &c.a
}

func (c *stateCache) getRules() (*policy.SpaceRules, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rules, c.rulesKnown
}

func (c *stateCache) setRules(r *policy.SpaceRules) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.rules, c.rulesKnown = r, true
	c.mu.Unlock()
}

// apply puts a committed group's changes into the cache.
func (c *stateCache) apply(changes []rulebook.Change) {
	for _, ch := range changes {
		switch {
		case ch.Participant != nil:
			c.p.put(ch.Participant.ID, ch.Participant)
		case ch.Rules != nil:
			c.setRules(ch.Rules)
		case ch.Dataset != nil:
			c.d.put(ch.Dataset.ID, ch.Dataset)
		case ch.Agreement != nil:
			c.a.put(ch.Agreement.ID, ch.Agreement)
		}
	}
}

// capped is a map that drops an arbitrary entry when full.
type capped[T any] struct {
	mu sync.Mutex
	m  map[string]*T
}

func (c *capped[T]) get(k string) (*T, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *capped[T]) put(k string, v *T) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= cacheLimit {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}
