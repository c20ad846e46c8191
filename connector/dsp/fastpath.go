package dsp

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The fast path reads a message as plain JSON when that reaches what a
// JSON-LD processor would. In the DSP 2025-1 context nearly every term is
// type-scoped: endpointURL is a term only in an object whose @type is
// DataService, format only in a Distribution (or a TransferRequestMessage),
// and the ODRL terms only below a Dataset or a contract message, whose
// scopes propagate to the objects inside them. A key outside the scope that
// defines it is dropped by a processor, so the fast path must know, for
// every object, which scopes are active there. The tables below are built
// from the embedded context documents themselves, never written by hand.

// termSet is a set of term ids (see ldTables.term).
type termSet [2]uint64

func (s *termSet) add(id int)             { s[id>>6] |= 1 << (id & 63) }
func (s termSet) or(t termSet) termSet    { return termSet{s[0] | t[0], s[1] | t[1]} }
func (s termSet) minus(t termSet) termSet { return termSet{s[0] &^ t[0], s[1] &^ t[1]} }
func (s termSet) empty() bool             { return s[0]|s[1] == 0 }

// ldTables is what the fast path knows of the contexts.
type ldTables struct {
	term      map[string]int  // every key a context defines somewhere → id
	typ       map[string]int  // every type with a type-scoped context → id (≥ 1)
	scope     []termSet       // by type id: the terms its scoped context defines
	propagate []bool          // by type id: its scoped context has @propagate true
	conflict  []uint64        // by propagating type id: the types whose scope redefines one of its protected terms differently
	property  map[int]termSet // term id → the terms of its property-scoped context
	global    termSet         // defined everywhere: @id and the dct: compact IRIs the structs read
	tdsc      termSet         // the tdsc context's top-level terms
}

var ld11 = mustTables()

func mustTables() *ldTables {
	t, err := buildTables()
	if err != nil {
		panic(err) // the contexts are embedded at build time
	}
	return t
}

func contextDoc(iri string) (map[string]any, error) {
	b, err := contextFS.ReadFile(contextFiles[iri])
	if err != nil {
		return nil, err
	}
	var doc struct {
		Context map[string]any `json:"@context"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", iri, err)
	}
	return doc.Context, nil
}

func buildTables() (*ldTables, error) {
	dsp, err := contextDoc(Context)
	if err != nil {
		return nil, err
	}
	odrl, err := contextDoc(ODRLProfileContext)
	if err != nil {
		return nil, err
	}
	tdsc, err := contextDoc(TDSCContext)
	if err != nil {
		return nil, err
	}
	t := &ldTables{
		term: map[string]int{}, typ: map[string]int{}, property: map[int]termSet{},
		scope: []termSet{{}}, propagate: []bool{false},
	}
	defs := []map[string]string{nil} // by type id: term → its definition as JSON
	id := func(name string) (int, error) {
		if n, ok := t.term[name]; ok {
			return n, nil
		}
		n := len(t.term)
		if n >= 128 {
			return 0, fmt.Errorf("dsp: the contexts define more than 128 terms; widen termSet")
		}
		t.term[name] = n
		return n, nil
	}
	terms := func(ctx map[string]any) (termSet, error) {
		var s termSet
		for _, k := range slices.Sorted(maps.Keys(ctx)) {
			if strings.HasPrefix(k, "@") {
				continue
			}
			n, err := id(k)
			if err != nil {
				return s, err
			}
			s.add(n)
		}
		return s, nil
	}
	for _, name := range []string{"@id", "dct:title", "dct:description"} {
		n, _ := id(name)
		t.global.add(n)
	}
	for _, name := range slices.Sorted(maps.Keys(dsp)) {
		def, ok := dsp[name].(map[string]any)
		if !ok {
			continue
		}
		local, ok := def["@context"].(map[string]any)
		if !ok {
			continue
		}
		merged := map[string]any{}
		if local["@import"] == ODRLProfileContext {
			maps.Copy(merged, odrl)
		} else if local["@import"] != nil {
			return nil, fmt.Errorf("dsp: %s imports %v, which is not embedded", name, local["@import"])
		}
		maps.Copy(merged, local) // a local definition overrides the imported one
		s, err := terms(merged)
		if err != nil {
			return nil, err
		}
		byTerm := map[string]string{}
		for k, v := range merged {
			if !strings.HasPrefix(k, "@") {
				b, _ := json.Marshal(v) // maps marshal with sorted keys
				byTerm[k] = string(b)
			}
		}
		t.typ[name] = len(t.scope)
		t.scope = append(t.scope, s)
		t.propagate = append(t.propagate, merged["@propagate"] == true)
		defs = append(defs, byTerm)
	}
	if len(t.scope) > 64 {
		return nil, fmt.Errorf("dsp: more than 63 scoped types; widen the type sets")
	}
	t.conflict = make([]uint64, len(t.scope))
	for p := 1; p < len(t.scope); p++ {
		if !t.propagate[p] {
			continue
		}
		for q := 1; q < len(t.scope); q++ {
			for k, def := range defs[p] {
				if other, ok := defs[q][k]; ok && other != def {
					t.conflict[p] |= 1 << q
				}
			}
		}
	}
	// tdsc's context: top-level terms, and property-scoped contexts at any depth.
	var walk func(ctx map[string]any) (termSet, error)
	walk = func(ctx map[string]any) (termSet, error) {
		s, err := terms(ctx)
		if err != nil {
			return s, err
		}
		for k, v := range ctx {
			def, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if local, ok := def["@context"].(map[string]any); ok {
				inner, err := walk(local)
				if err != nil {
					return s, err
				}
				t.property[t.term[k]] = inner
			}
		}
		return s, nil
	}
	if _, err := walk(tdsc); err != nil {
		return nil, err
	}
	for k := range tdsc {
		if strings.HasPrefix(k, "tdsc:") {
			t.tdsc.add(t.term[k])
		}
	}
	return t, nil
}

// maxDepth bounds the nesting the fast path follows; deeper bodies go to
// the processor.
const maxDepth = 64

// frame is one open object or array of the scan.
type frame struct {
	object bool
	typ    int     // the object's scoped @type, 0 if none (yet)
	keys   termSet // the keys of the object
	prop   termSet // terms of the property-scoped contexts active here
	needs  termSet // keys inside it that only an enclosing scope can define
	types  uint64  // scoped @types inside it, to check against enclosing scopes
}

// fastPath reports whether data is already in the compacted form the structs
// read, so that decoding it as plain JSON reaches what a JSON-LD processor
// would: its only @context is the DSP one (and tdsc's, for tdsc: keys), no
// nested @context, every @type a plain string, and every key a term spelt
// exactly as the context active at its object defines it — the object's own
// type-scoped context, a propagating one of an enclosing object, or a
// property-scoped one. Anything else goes through the JSON-LD processor. It
// is a byte scan with no allocation: it runs on every message.
func fastPath(data []byte) bool {
	t := ld11
	var stack [maxDepth + 1]frame
	depth, tdsc, key := 0, false, -1
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case '{', '[':
			if depth == maxDepth {
				return false
			}
			prop := stack[depth].prop
			if key >= 0 {
				prop = prop.or(t.property[key])
			}
			depth++
			stack[depth] = frame{object: c == '{', prop: prop}
			key = -1
			i++
		case '}', ']':
			if depth == 0 || stack[depth].object != (c == '}') {
				return false
			}
			f, up := &stack[depth], &stack[depth-1]
			if f.object {
				local := t.global.or(f.prop).or(t.scope[f.typ])
				needs := f.keys.minus(local).or(f.needs)
				if t.propagate[f.typ] {
					if t.conflict[f.typ]&f.types != 0 {
						return false // a processor refuses the redefinition of a protected term
					}
					needs = needs.minus(t.scope[f.typ])
				}
				up.needs = up.needs.or(needs)
				up.types |= f.types
				if f.typ != 0 {
					up.types |= 1 << f.typ
				}
			} else {
				up.needs = up.needs.or(f.needs)
				up.types |= f.types
			}
			depth--
			key = -1
			i++
		case ',':
			key = -1
			i++
		case '"':
			s, next, escaped := scanString(data, i)
			if next < 0 {
				return false
			}
			k := skipSpace(data, next)
			if k >= len(data) || data[k] != ':' {
				key = -1
				i = next // a string value
				continue
			}
			if escaped || !stack[depth].object {
				return false
			}
			switch string(s) {
			case "@context":
				if depth != 1 {
					return false
				}
				var ok bool
				if tdsc, i, ok = scanContext(data, k+1); !ok {
					return false
				}
				continue
			case "@type":
				v := skipSpace(data, k+1)
				if v >= len(data) || data[v] != '"' {
					return false
				}
				name, next, escaped := scanString(data, v)
				if next < 0 || escaped {
					return false
				}
				stack[depth].typ = t.typ[string(name)]
				key, i = -1, next
				continue
			}
			n, ok := t.term[string(s)]
			if !ok {
				return false
			}
			stack[depth].keys.add(n)
			key, i = n, k+1
		default:
			i++
		}
	}
	if depth != 0 {
		return false
	}
	rest := stack[0].needs
	if tdsc {
		rest = rest.minus(t.tdsc)
	}
	return rest.empty()
}
