package rulebook

import (
	"maps"
	"math"
	"slices"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// Mem is a State held in maps. Backends that derive state by replaying their
// records (the embedded store, the verifier) keep it; an Overlay on top of it
// holds a batch's changes until the batch commits.
type Mem struct {
	participants map[string]*identity.Participant
	rules        *policy.SpaceRules
	datasets     map[string]*Dataset
	agreements   map[string]*Agreement
	// transfers are most of a transfer-heavy ledger's state (one for every
	// two records): each is held as a memTransfer, its strings in names.
	// An overlay, which lives for a batch, holds them as given instead
	// (batchTransfers): compacting would cost more than it saved.
	transfers      idMap[memTransfer]
	names          names
	batchTransfers map[string]*Transfer
	objections     map[string]*Objection
	// seen are the record ids used.
	seen idMap[struct{}]
	// keys is the key index: thumbprint to participant id. In an overlay
	// a freed key stays as "" so that it hides the base's entry.
	keys    map[string]string
	overlay bool
}

func newMem(overlay bool) *Mem {
	m := &Mem{
		participants: map[string]*identity.Participant{},
		datasets:     map[string]*Dataset{},
		agreements:   map[string]*Agreement{},
		objections:   map[string]*Objection{},
		seen:         newIDMap[struct{}](!overlay),
		keys:         map[string]string{},
		overlay:      overlay,
	}
	if overlay {
		m.batchTransfers = map[string]*Transfer{}
	} else {
		m.transfers, m.names = newIDMap[memTransfer](true), names{index: map[string]uint32{}}
	}
	return m
}

// NewMem is the state at genesis: only the authority is registered.
func NewMem(g ledger.Genesis) *Mem {
	m := newMem(false)
	a := g.Authority
	m.participants[a.ID] = &a
	return m
}

func (m *Mem) Participant(id string) (*identity.Participant, error) { return m.participants[id], nil }
func (m *Mem) Rules() (*policy.SpaceRules, error)                   { return m.rules, nil }
func (m *Mem) Dataset(id string) (*Dataset, error)                  { return m.datasets[id], nil }
func (m *Mem) Agreement(id string) (*Agreement, error)              { return m.agreements[id], nil }
func (m *Mem) Transfer(id string) (*Transfer, error)                { return m.transfer(id), nil }
func (m *Mem) Objection(id string) (*Objection, error)              { return m.objections[id], nil }
func (m *Mem) Seen(id string) (bool, error)                         { _, ok := m.seen.get(id); return ok, nil }
func (m *Mem) KeyHolder(thumbprint string) (string, error)          { return m.keys[thumbprint], nil }

// Put applies changes. Objects are stored as given; callers must not mutate them after.
func (m *Mem) Put(changes ...Change) {
	for _, c := range changes {
		switch {
		case c.Participant != nil:
			m.participants[c.Participant.ID] = c.Participant
		case c.Rules != nil:
			m.rules = c.Rules
		case c.Dataset != nil:
			m.datasets[c.Dataset.ID] = c.Dataset
		case c.Agreement != nil:
			m.agreements[c.Agreement.ID] = c.Agreement
		case c.Transfer != nil:
			m.putTransfer(c.Transfer)
		case c.Objection != nil:
			m.objections[c.Objection.ID] = c.Objection
		case c.Seen != "":
			m.seen.put(c.Seen, struct{}{})
		case c.Key != nil:
			if c.Key.Participant == "" && !m.overlay {
				delete(m.keys, c.Key.Thumbprint)
			} else {
				m.keys[c.Key.Thumbprint] = c.Key.Participant
			}
		}
	}
}

// memTransfer is a Transfer in a Mem: its agreement and parties as indexes
// into the Mem's names (a space has few parties, and an agreement covers
// many transfers), its flags as in EncodeTransfer; its id is its key. It
// takes 16 bytes beside the id where a *Transfer took a pointer, 80 bytes
// and an allocation for each string.
type memTransfer struct {
	agreement, provider, consumer uint32
	flags                         byte
}

// names interns the strings of a Mem's transfers.
type names struct {
	index map[string]uint32
	list  []string
}

func (n *names) of(s string) uint32 {
	if i, ok := n.index[s]; ok {
		return i
	}
	if len(n.list) == math.MaxUint32 {
		// 2^32 distinct agreements and parties would take hundreds of
		// gigabytes of agreements before they came here.
		panic("rulebook: more than 2^32 distinct names in a state held in memory")
	}
	i := uint32(len(n.list))
	n.list = append(n.list, s)
	n.index[s] = i
	return i
}

func (m *Mem) putTransfer(t *Transfer) {
	if m.overlay {
		m.batchTransfers[t.ID] = t
		return
	}
	m.transfers.put(t.ID, memTransfer{agreement: m.names.of(t.Agreement), provider: m.names.of(t.Provider),
		consumer: m.names.of(t.Consumer), flags: transferFlags(t)})
}

// transfer is transfer id as stored, or nil.
func (m *Mem) transfer(id string) *Transfer {
	if m.overlay {
		return m.batchTransfers[id]
	}
	mt, ok := m.transfers.get(id)
	if !ok {
		return nil
	}
	t := &Transfer{ID: id, Agreement: m.names.list[mt.agreement], Provider: m.names.list[mt.provider],
		Consumer: m.names.list[mt.consumer]}
	setTransferFlags(t, mt.flags)
	return t
}

// Contents returns the changes that rebuild m over an empty state: every
// object it holds, each kind in id order (participants, rules, datasets,
// agreements, transfers, objections, keys, then seen record ids). A backend
// that keeps state elsewhere writes them to move a replayed state there.
func (m *Mem) Contents() []Change {
	n := len(m.participants) + len(m.datasets) + len(m.agreements) + m.transfers.len() + len(m.batchTransfers) +
		len(m.objections) + len(m.keys) + m.seen.len() + 1
	ch := make([]Change, 0, n)
	for _, id := range slices.Sorted(maps.Keys(m.participants)) {
		ch = append(ch, Change{Participant: m.participants[id]})
	}
	if m.rules != nil {
		ch = append(ch, Change{Rules: m.rules})
	}
	for _, id := range slices.Sorted(maps.Keys(m.datasets)) {
		ch = append(ch, Change{Dataset: m.datasets[id]})
	}
	for _, id := range slices.Sorted(maps.Keys(m.agreements)) {
		ch = append(ch, Change{Agreement: m.agreements[id]})
	}
	tids := m.transfers.sorted()
	if m.overlay {
		tids = slices.Sorted(maps.Keys(m.batchTransfers))
	}
	for _, id := range tids {
		ch = append(ch, Change{Transfer: m.transfer(id)})
	}
	for _, id := range slices.Sorted(maps.Keys(m.objections)) {
		ch = append(ch, Change{Objection: m.objections[id]})
	}
	for _, tp := range slices.Sorted(maps.Keys(m.keys)) {
		ch = append(ch, Change{Key: &KeyEntry{Thumbprint: tp, Participant: m.keys[tp]}})
	}
	for _, id := range m.seen.sorted() {
		ch = append(ch, Change{Seen: id})
	}
	return ch
}

// Overlay is a State that holds uncommitted changes over a base State: the
// records of one batch see each other's effects, and a refused batch is
// dropped by dropping its overlay.
type Overlay struct {
	base    State
	mem     *Mem
	changes []Change
}

// NewOverlay starts an empty overlay over base.
func NewOverlay(base State) *Overlay {
	m := newMem(true)
	return &Overlay{base: base, mem: m}
}

// Put records changes in the overlay.
func (o *Overlay) Put(changes ...Change) {
	o.mem.Put(changes...)
	o.changes = append(o.changes, changes...)
}

// Changes are the overlay's changes in order, to write to the base on commit.
func (o *Overlay) Changes() []Change { return o.changes }

func (o *Overlay) Participant(id string) (*identity.Participant, error) {
	if p := o.mem.participants[id]; p != nil {
		return p, nil
	}
	return o.base.Participant(id)
}
func (o *Overlay) Rules() (*policy.SpaceRules, error) {
	if o.mem.rules != nil {
		return o.mem.rules, nil
	}
	return o.base.Rules()
}
func (o *Overlay) Dataset(id string) (*Dataset, error) {
	if d := o.mem.datasets[id]; d != nil {
		return d, nil
	}
	return o.base.Dataset(id)
}
func (o *Overlay) Agreement(id string) (*Agreement, error) {
	if a := o.mem.agreements[id]; a != nil {
		return a, nil
	}
	return o.base.Agreement(id)
}
func (o *Overlay) Transfer(id string) (*Transfer, error) {
	if t := o.mem.transfer(id); t != nil {
		return t, nil
	}
	return o.base.Transfer(id)
}
func (o *Overlay) Objection(id string) (*Objection, error) {
	if x := o.mem.objections[id]; x != nil {
		return x, nil
	}
	return o.base.Objection(id)
}
func (o *Overlay) Seen(id string) (bool, error) {
	if _, ok := o.mem.seen.get(id); ok {
		return true, nil
	}
	return o.base.Seen(id)
}

func (o *Overlay) KeyHolder(thumbprint string) (string, error) {
	if p, ok := o.mem.keys[thumbprint]; ok {
		return p, nil
	}
	return o.base.KeyHolder(thumbprint)
}
