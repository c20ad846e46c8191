package rulebook

import (
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// idMap is a map keyed by record or transfer id. An id that holds a UUID
// in canonical form (lower-case hex, 8-4-4-4-12) — the ids tdsc makes: a
// transfer's "urn:uuid:…", a record's "transfer.authorized/urn:uuid:…" or
// "transfer.completed/urn:uuid:…/did:web:…" — is held as the UUID's 16
// bytes with the text before and after it interned (a handful of kinds and
// participants), where its string took a 64- to 112-byte allocation and a
// 16-byte header; any other id as a string. An id is held one way only:
// the first canonical UUID in it splits it, and the three parts give it
// back exactly. A UUID URN alone (a transfer's id) is keyed by the UUID
// alone, in a map of its own (its key 16 bytes, not 24). An overlay's map,
// which lives for a batch, holds every id as a string (compact false):
// splitting would cost more than it saved.
type idMap[V any] struct {
	compact bool
	urns    map[uuid.UUID]V // "urn:uuid:" and the UUID
	uuids   map[idKey]V     // any other id holding a canonical UUID
	other   map[string]V
	affixes names // the text before and after the UUIDs of uuids' ids
}

const urnPrefix = "urn:uuid:"

// idKey is an id that holds a canonical UUID: the text before it and after
// it, as indexes into the map's affixes, and the UUID.
type idKey struct {
	prefix, suffix uint32
	u              uuid.UUID
}

func newIDMap[V any](compact bool) idMap[V] {
	m := idMap[V]{compact: compact, other: map[string]V{}}
	if compact {
		m.urns, m.uuids, m.affixes = map[uuid.UUID]V{}, map[idKey]V{}, names{index: map[string]uint32{}}
	}
	return m
}

// splitUUID splits id at the first UUID in it in canonical form. A UUID's
// first dash is its ninth byte, so only the bytes eight before a dash are
// tried, in order.
func splitUUID(id string) (prefix string, u uuid.UUID, suffix string, ok bool) {
	for d := 8; d+28 <= len(id); d++ {
		j := strings.IndexByte(id[d:len(id)-27], '-')
		if j < 0 {
			break
		}
		d += j
		if u, ok := canonicalUUID(id[d-8 : d+28]); ok {
			return id[:d-8], u, id[d+28:], true
		}
	}
	return "", uuid.UUID{}, "", false
}

// canonicalUUID decodes s (36 bytes) if it is a UUID as uuid.UUID.String
// writes it: lower-case hex, dashes after 8, 12, 16 and 20 digits.
func canonicalUUID(s string) (u uuid.UUID, ok bool) {
	if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	for k, i := range uuidHexAt {
		hi, lo := lowerHex(s[i]), lowerHex(s[i+1])
		if hi > 15 || lo > 15 {
			return u, false
		}
		u[k] = hi<<4 | lo
	}
	return u, true
}

// uuidHexAt is where each byte's two hex digits start in a canonical UUID.
var uuidHexAt = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// lowerHex is c's value as a lower-case hex digit, or 255.
func lowerHex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

func (m *idMap[V]) get(id string) (V, bool) {
	if m.compact {
		if prefix, u, suffix, ok := splitUUID(id); ok {
			if prefix == urnPrefix && suffix == "" {
				v, ok := m.urns[u]
				return v, ok
			}
			// Not interned: no id with that prefix or suffix was put.
			p, okp := m.affixes.index[prefix]
			s, oks := m.affixes.index[suffix]
			if v, ok := m.uuids[idKey{p, s, u}]; ok && okp && oks {
				return v, true
			}
			var zero V
			return zero, false
		}
	}
	v, ok := m.other[id]
	return v, ok
}

func (m *idMap[V]) put(id string, v V) {
	if m.compact {
		if prefix, u, suffix, ok := splitUUID(id); ok {
			if prefix == urnPrefix && suffix == "" {
				m.urns[u] = v
				return
			}
			m.uuids[idKey{m.affixes.of(prefix), m.affixes.of(suffix), u}] = v
			return
		}
	}
	m.other[id] = v
}

func (m *idMap[V]) len() int { return len(m.urns) + len(m.uuids) + len(m.other) }

// sorted is every id held, in order.
func (m *idMap[V]) sorted() []string {
	ids := slices.AppendSeq(make([]string, 0, m.len()), maps.Keys(m.other))
	for u := range m.urns {
		ids = append(ids, u.URN())
	}
	for k := range m.uuids {
		ids = append(ids, m.affixes.list[k.prefix]+k.u.String()+m.affixes.list[k.suffix])
	}
	slices.Sort(ids)
	return ids
}
