package dsp

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/piprate/json-gold/ld"
)

// The context documents, embedded: see contexts/README.md.
//
//go:embed contexts/*.jsonld
var contextFS embed.FS

// ODRLProfileContext is the DSP 2025-1 ODRL profile the DSP context imports.
const ODRLProfileContext = "https://w3id.org/dspace/2025/1/odrl-profile.jsonld"

// TDSCContext is the IRI of tdsc's own context document, declaring every
// tdsc: term. A message that carries tdsc: terms lists it after Context.
const TDSCContext = "https://w3id.org/tdsc/v1/context.jsonld"

// TDSCNamespace is the IRI every tdsc: term expands to.
const TDSCNamespace = "https://w3id.org/tdsc/v1/"

// TDSCContextPath is where every node serves TDSCContext's document.
const TDSCContextPath = "/.well-known/tdsc/context.jsonld"

var contextFiles = map[string]string{
	Context:            "contexts/dspace-2025-1.jsonld",
	ODRLProfileContext: "contexts/dspace-2025-1-odrl-profile.jsonld",
	TDSCContext:        "contexts/tdsc-v1.jsonld",
}

// ErrRemoteContext marks a message whose @context names a document this node
// does not hold. Remote contexts are never fetched: the sender should use the
// DSP 2025-1 context (and tdsc's), or inline its own.
var ErrRemoteContext = errors.New("dsp: unknown remote JSON-LD context")

// TDSCContextDocument returns tdsc's context document.
func TDSCContextDocument() []byte {
	b, err := contextFS.ReadFile(contextFiles[TDSCContext])
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// ContextHandler serves tdsc's context document (GET TDSCContextPath).
func ContextHandler() http.Handler {
	doc := TDSCContextDocument()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/ld+json")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(doc)
	})
}

// fixedLoader is the only document loader the JSON-LD processor gets: it
// knows the embedded documents and refuses every other IRI. Each load parses
// a fresh copy, because json-gold merges an @import into the imported
// document's map in place.
type fixedLoader struct{}

func (fixedLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	file, ok := contextFiles[u]
	if !ok {
		return nil, fmt.Errorf("%w %q: only %s, %s and %s are known", ErrRemoteContext, u, Context, ODRLProfileContext, TDSCContext)
	}
	b, err := contextFS.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	return &ld.RemoteDocument{DocumentURL: u, Document: doc}, nil
}

var canonicalContext = map[string]any{"@context": []any{Context, TDSCContext}}

func ldOptions() *ld.JsonLdOptions {
	o := ld.NewJsonLdOptions("")
	o.DocumentLoader = fixedLoader{}
	o.ProcessingMode = ld.JsonLd_1_1
	return o
}

// Expand returns the JSON-LD expansion of a message (for tests and tools that
// check what a peer's JSON-LD processor reads).
func Expand(data []byte) ([]any, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if at, ok := emptyKey(doc, ""); ok {
		return nil, fmt.Errorf("%s: %s", at, emptyKeyRule)
	}
	return guarded(func() ([]any, error) { return ld.NewJsonLdProcessor().Expand(doc, ldOptions()) })
}

// emptyKeyRule is why a body with an empty object key is refused.
const emptyKeyRule = "an empty key, which JSON-LD does not take (a term must not be the empty string)"

// emptyKey finds an object key that is the empty string in v (a decoded
// JSON document) and returns where: the path of the object holding it
// (top for the document itself). JSON-LD 1.1 says a term must not be
// empty, and json-gold, finding no @type in an object, reads the value
// under "" as its type (a number there panics it).
func emptyKey(v any, at string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v[""]; ok {
			if at == "" {
				return "the top-level object", true
			}
			return at, true
		}
		for k, e := range v {
			if p, ok := emptyKey(e, joinPath(at, k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range v {
			if p, ok := emptyKey(e, fmt.Sprintf("%s[%d]", at, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

func joinPath(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// guarded runs a call into the JSON-LD processor and turns a panic of the
// library into an error: the documents are a peer's, and json-gold has
// panicked on some that it should have refused.
func guarded[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the JSON-LD processor failed on this document (%v)", r)
		}
	}()
	return fn()
}

// compactForm runs the JSON-LD processor: it expands data with the fixed
// loader and compacts the result with the DSP 2025-1 and tdsc contexts, so
// any JSON-LD form of a message (expanded, a string or array @context, an
// inline context, prefixed terms) becomes the one compacted form the message
// structs read. A key the contexts do not define is dropped here, as any
// JSON-LD peer would drop it.
func compactForm(data []byte, typ string) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, malformed(typ, "", "not valid JSON: %v", err)
	}
	if at, ok := emptyKey(doc, ""); ok {
		return nil, malformed(typ, at, "%s", emptyKeyRule)
	}
	p := ld.NewJsonLdProcessor()
	opts := ldOptions()
	exp, err := guarded(func() ([]any, error) { return p.Expand(doc, opts) })
	if err != nil {
		return nil, ldError(typ, err)
	}
	if len(exp) != 1 {
		return nil, malformed(typ, "", "JSON-LD expansion gives %d nodes, want one message", len(exp))
	}
	if err := checkExpandedType(typ, doc, exp[0]); err != nil {
		return nil, err
	}
	out, err := guarded(func() (map[string]any, error) { return p.Compact(exp, canonicalContext, opts) })
	if err != nil {
		return nil, ldError(typ, err)
	}
	if _, graph := out["@graph"]; graph {
		return nil, malformed(typ, "", "JSON-LD expansion gives more than one node, want one message")
	}
	out["@context"] = canonicalContext["@context"]
	wrapSets(out)
	return json.Marshal(out)
}

// typeIRI is the expanded @type of a message type.
func typeIRI(typ string) string {
	if typ == TypeCatalog || typ == TypeDataset {
		return "http://www.w3.org/ns/dcat#" + typ
	}
	return "https://w3id.org/dspace/2025/1/" + typ
}

// checkExpandedType checks the message is of type typ once expanded: a
// "ContractRequestMessage" with no context that defines it is not the DSP
// message of that name.
func checkExpandedType(typ string, body any, node any) error {
	doc, _ := body.(map[string]any)
	want := typeIRI(typ)
	n, _ := node.(map[string]any)
	types, _ := n["@type"].([]any)
	for _, t := range types {
		if t == want {
			return nil
		}
	}
	if _, hasCtx := doc["@context"]; !hasCtx && doc["@type"] != nil && doc["@type"] != want {
		return malformed(typ, "@context", "required; must contain %q (or the message must be in expanded form)", Context)
	}
	if len(types) == 0 {
		return malformed(typ, "@type", "required; must be %q (%s)", typ, want)
	}
	return malformed(typ, "@type", "is %v after JSON-LD expansion; this endpoint takes %q (%s)", types, typ, want)
}

func ldError(typ string, err error) error {
	if errors.Is(err, ErrRemoteContext) {
		var le *ld.JsonLdError
		if errors.As(err, &le) {
			if inner, ok := le.Details.(error); ok {
				err = inner
			}
		}
		return malformed(typ, "@context", "%v", err)
	}
	return malformed(typ, "@context", "JSON-LD processing failed: %v", err)
}

// setKeys are the ODRL logical constraints, which the ODRL profile does not
// declare as @set: compaction writes a one-element list as a bare object.
var setKeys = map[string]bool{"and": true, "or": true, "xone": true, "andSequence": true}

func wrapSets(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if setKeys[k] {
				if _, isList := c.([]any); !isList {
					x[k] = []any{c}
				}
			}
			wrapSets(x[k])
		}
	case []any:
		for _, c := range x {
			wrapSets(c)
		}
	}
}

// scanString reads the JSON string starting at data[i] == '"': its raw
// content, the index after the closing quote (-1 if none) and whether it
// has escapes.
func scanString(data []byte, i int) (s []byte, next int, escaped bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return data[i+1 : j], j + 1, escaped
		}
	}
	return nil, -1, escaped
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}

// scanContext reads an @context value at data[i:]: the DSP context alone or
// followed by tdsc's, as a string or an array of strings.
func scanContext(data []byte, i int) (tdsc bool, next int, ok bool) {
	i = skipSpace(data, i)
	if i >= len(data) {
		return false, 0, false
	}
	if data[i] == '"' {
		s, next, esc := scanString(data, i)
		return false, next, next > 0 && !esc && string(s) == Context
	}
	if data[i] != '[' {
		return false, 0, false
	}
	var got [2][]byte
	n := 0
	for i = skipSpace(data, i+1); i < len(data); i = skipSpace(data, i) {
		switch data[i] {
		case ']':
			switch {
			case n == 1 && string(got[0]) == Context:
				return false, i + 1, true
			case n == 2 && string(got[0]) == Context && string(got[1]) == TDSCContext:
				return true, i + 1, true
			}
			return false, 0, false
		case ',':
			i++
		case '"':
			if n == len(got) {
				return false, 0, false
			}
			s, next, esc := scanString(data, i)
			if next < 0 || esc {
				return false, 0, false
			}
			got[n], n, i = s, n+1, next
		default:
			return false, 0, false
		}
	}
	return false, 0, false
}
