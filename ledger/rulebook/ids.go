package rulebook

import (
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// idMap is a map keyed by record or transfer id. The ids tdsc makes,
// "urn:uuid:" and a UUID in its canonical lowercase form, are held as the
// UUID's 16 bytes (as a string, 45 bytes took a 48-byte allocation and a
// 16-byte header); any other id as a string. An id is held one way only:
// the 16 bytes are taken only from the canonical form, which they give
// back exactly. An overlay's map, which lives for a batch, holds every id
// as a string (compact false): parsing would cost more than it saved.
type idMap[V any] struct {
	compact bool
	uuids   map[uuid.UUID]V
	other   map[string]V
}

func newIDMap[V any](compact bool) idMap[V] {
	return idMap[V]{compact: compact, uuids: map[uuid.UUID]V{}, other: map[string]V{}}
}

// urnUUID is id's UUID when id is a UUID URN in canonical form.
func urnUUID(id string) (uuid.UUID, bool) {
	if len(id) != len("urn:uuid:")+36 || !strings.HasPrefix(id, "urn:uuid:") {
		return uuid.UUID{}, false
	}
	// uuid.Parse takes upper-case hex too, whose URN is another string.
	if strings.ContainsAny(id, "ABCDEF") {
		return uuid.UUID{}, false
	}
	u, err := uuid.Parse(id)
	return u, err == nil
}

func (m *idMap[V]) get(id string) (V, bool) {
	if u, ok := m.compactKey(id); ok {
		v, ok := m.uuids[u]
		return v, ok
	}
	v, ok := m.other[id]
	return v, ok
}

func (m *idMap[V]) put(id string, v V) {
	if u, ok := m.compactKey(id); ok {
		m.uuids[u] = v
		return
	}
	m.other[id] = v
}

// compactKey is the key id is held under in m.uuids, if it is.
func (m *idMap[V]) compactKey(id string) (uuid.UUID, bool) {
	if !m.compact {
		return uuid.UUID{}, false
	}
	return urnUUID(id)
}

func (m *idMap[V]) len() int { return len(m.uuids) + len(m.other) }

// sorted is every id held, in order.
func (m *idMap[V]) sorted() []string {
	ids := slices.AppendSeq(make([]string, 0, m.len()), maps.Keys(m.other))
	for u := range m.uuids {
		ids = append(ids, u.URN())
	}
	slices.Sort(ids)
	return ids
}
