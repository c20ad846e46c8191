package dsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// clearContexts zeroes every @context in a decoded message, so that forms
// that differ only in how they spell the context compare equal.
func clearContexts(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	var walk func(reflect.Value)
	walk = func(x reflect.Value) {
		switch x.Kind() {
		case reflect.Struct:
			for i := 0; i < x.NumField(); i++ {
				f := x.Field(i)
				if f.Type() == reflect.TypeOf(Contexts{}) && f.CanSet() {
					f.Set(reflect.Zero(f.Type()))
					continue
				}
				walk(f)
			}
		case reflect.Slice:
			for i := 0; i < x.Len(); i++ {
				walk(x.Index(i))
			}
		}
	}
	walk(cp)
	return cp.Interface()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forms returns the same message in the JSON-LD forms a peer may send.
func forms(t *testing.T, canonical []byte) map[string][]byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(canonical, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"compacted": canonical}
	ctx, _ := m["@context"].([]any)
	if len(ctx) == 1 {
		s := clone(m)
		s["@context"] = Context
		out["string @context"] = mustJSON(t, s)
	}
	in := clone(m)
	in["@context"] = append(append([]any{}, ctx...), map[string]any{"ex": "http://example.com/ns/"})
	in["ex:note"] = "a term of the sender's own, dropped by the receiver"
	out["inline context"] = mustJSON(t, in)
	// A prefixed @type selects no type-scoped context, so only a message
	// without properties keeps its meaning with nothing else prefixed (see
	// TestPrefixedTerms for the rest).
	if typ, _ := m["@type"].(string); typ == TypeCatalogRequestMessage {
		p := clone(m)
		p["@type"] = "dspace:" + typ
		out["prefixed @type"] = mustJSON(t, p)
	}
	exp, err := Expand(canonical)
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	out["expanded"] = mustJSON(t, exp[0])
	out["expanded, in an array"] = mustJSON(t, exp)
	return out
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestJSONLDFormsReachSameMessage: every JSON-LD form of every message
// decodes to the same message as the compacted form.
func TestJSONLDFormsReachSameMessage(t *testing.T) {
	for typ, msg := range samples() {
		dec := decoders[typ]
		if strings.HasSuffix(typ, "Error") {
			continue // error objects are read for their reason only
		}
		canonical := mustJSON(t, msg)
		want, err := dec(bytes.NewReader(canonical))
		if err != nil {
			t.Fatalf("%s: canonical: %v", typ, err)
		}
		for name, body := range forms(t, canonical) {
			t.Run(typ+"/"+name, func(t *testing.T) {
				got, err := dec(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("decode: %v\n%s", err, body)
				}
				if !reflect.DeepEqual(clearContexts(got), clearContexts(want)) {
					t.Fatalf("decoded\n%+v\nwant\n%+v\nfrom %s", got, want, body)
				}
			})
		}
	}
}

// TestPrefixedTerms: a message written with dspace: compact IRIs (no
// type-scoped context applies then, so identifiers are written as nodes)
// reaches the same message as the compacted form.
func TestPrefixedTerms(t *testing.T) {
	prefixed := `{"@context":"` + Context + `","@type":"dspace:TransferTerminationMessage",
		"dspace:providerPid":{"@id":"p2"},"dspace:consumerPid":{"@id":"c2"},"dspace:code":"agreement.revoked","dspace:reason":["revoked"]}`
	full := `{"@context":{"d":"https://w3id.org/dspace/2025/1/"},"@type":"d:TransferTerminationMessage",
		"d:providerPid":{"@id":"p2"},"d:consumerPid":{"@id":"c2"},"d:code":"agreement.revoked","d:reason":"revoked"}`
	want, err := DecodeTransferTermination(bytes.NewReader(mustJSON(t, samples()[TypeTransferTerminationMessage])))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"dspace: prefix": prefixed, "own prefix, inline context": full} {
		got, err := DecodeTransferTermination(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(clearContexts(got), clearContexts(want)) {
			t.Fatalf("%s: decoded %+v, want %+v", name, got, want)
		}
	}
	// With a prefixed @type, an unprefixed key is not a term: it is dropped,
	// and the refusal names it.
	_, err = DecodeTransferTermination(strings.NewReader(`{"@context":"` + Context + `","@type":"dspace:TransferTerminationMessage","providerPid":"p2","consumerPid":"c2"}`))
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "providerPid" {
		t.Fatalf("err = %v, want providerPid named", err)
	}
}

// TestTDSCTermsSurviveExpansion: a JSON-LD peer reading our agreement keeps
// the tdsc terms (declared by TDSCContext) and DCT titles.
func TestTDSCTermsSurviveExpansion(t *testing.T) {
	s := samples()
	body := mustJSON(t, s[TypeContractAgreementMessage])
	if !bytes.Contains(body, []byte(TDSCContext)) {
		t.Fatalf("agreement with tdsc:terms does not list %s: %s", TDSCContext, body)
	}
	exp, err := Expand(body)
	if err != nil {
		t.Fatal(err)
	}
	flat := string(mustJSON(t, exp))
	for _, iri := range []string{TDSCNamespace + "terms", TDSCNamespace + "policyHash", TDSCNamespace + "maxUses", TDSCNamespace + "duties", TDSCNamespace + "dutyAction"} {
		if !strings.Contains(flat, `"`+iri+`"`) {
			t.Errorf("expansion lost %s: %s", iri, flat)
		}
	}
	ds := mustJSON(t, s[TypeDataset])
	exp, err = Expand(ds)
	if err != nil {
		t.Fatal(err)
	}
	if flat := string(mustJSON(t, exp)); !strings.Contains(flat, "http://purl.org/dc/terms/title") {
		t.Errorf("dataset title is not dct:title after expansion: %s", flat)
	}
	// A plain DSP message names no tdsc context: a standard peer never meets it.
	plain := mustJSON(t, s[TypeContractRequestMessage])
	if bytes.Contains(plain, []byte("tdsc")) {
		t.Errorf("plain request mentions tdsc: %s", plain)
	}
}

// TestJSONLDRefusals: what expansion loses is named; remote contexts are
// never fetched.
func TestJSONLDRefusals(t *testing.T) {
	tests := []struct {
		name, body, field, say string
		typ                    string
	}{
		{"misspelt term dropped by expansion", `{"@context":"` + Context + `","@type":"ContractRequestMessage","consumerpid":"c","callbackAddress":"x","offer":{"@type":"Offer","@id":"o","permission":[{"action":"use"}]}}`,
			"consumerPid", "after JSON-LD expansion", TypeContractRequestMessage},
		{"remote context", `{"@context":["https://evil.example/ctx.jsonld"],"@type":"TransferCompletionMessage","providerPid":"p","consumerPid":"c"}`,
			"@context", "unknown remote JSON-LD context", TypeTransferCompletionMessage},
		{"remote context imported inline", `{"@context":[{"@version":1.1,"@import":"https://evil.example/ctx.jsonld"}],"@type":"TransferCompletionMessage"}`,
			"@context", "unknown remote JSON-LD context", TypeTransferCompletionMessage},
		{"other vocabulary's type", `{"@context":{"@vocab":"http://example.com/"},"@type":"TransferCompletionMessage","providerPid":"p","consumerPid":"c"}`,
			"@type", "this endpoint takes", TypeTransferCompletionMessage},
		{"distribution without @type loses its scoped terms", `{"@context":["` + Context + `"],"@id":"urn:c","@type":"Catalog","participantId":"did:p","dataset":[{"@id":"urn:d","@type":"Dataset","hasPolicy":[{"@id":"urn:o","@type":"Offer","permission":[{"action":"use"}]}],"distribution":[{"format":"HttpData-PULL","accessService":"urn:s"}]}]}`,
			"dataset[0].distribution[0]", "format and accessService are required", TypeCatalog},
		{"service not a DataService", `{"@context":["` + Context + `"],"@id":"urn:c","@type":"Catalog","participantId":"did:p","service":[{"@id":"urn:s","@type":"Service","endpointURL":"http://x"}]}`,
			"service[0].@type", `must be "DataService"`, TypeCatalog},
		{"two nodes", `{"@context":"` + Context + `","@graph":[{"@type":"TransferCompletionMessage"},{"@type":"TransferCompletionMessage"}]}`,
			"", "want one message", TypeTransferCompletionMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decoders[tt.typ](strings.NewReader(tt.body))
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want a *DecodeError (ErrMalformed)", err)
			}
			if de.Field != tt.field || !strings.Contains(de.Error(), tt.say) {
				t.Fatalf("err = %v (field %q), want field %q saying %q", err, de.Field, tt.field, tt.say)
			}
		})
	}
}

// TestFastPathOnlyForCanonicalForm pins which bodies skip the processor.
func TestFastPathOnlyForCanonicalForm(t *testing.T) {
	tests := []struct {
		body string
		fast bool
	}{
		{`{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","providerPid":"p","consumerPid":"c"}`, true},
		{`{"@context":"` + Context + `","@type":"TransferCompletionMessage","providerPid":"p","consumerPid":"c"}`, true},
		{`{"@context":["` + Context + `","` + TDSCContext + `"],"@type":"ContractAgreementVerificationMessage","tdsc:keyId":"k"}`, true},
		{`{"@context":["` + Context + `"],"@type":"ContractAgreementVerificationMessage","tdsc:keyId":"k"}`, false},
		{`{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","ProviderPid":"p"}`, false},
		{`{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","dspace:providerPid":"p"}`, false},
		{`{"@context":["` + Context + `"],"@type":"X","offer":{"@context":{}}}`, false},
		{`{"@context":["` + Context + `",{}],"@type":"X"}`, false},
		{`{"@type":"X"}`, true},
		{`[{"@type":"X"}]`, true},
		{`{"@context":["` + Context + `"],"@type":"X","a\u0062":1}`, false},
		// A type-scoped term counts only in an object of that @type.
		{`{"@context":["` + Context + `"],"@type":"Catalog","participantId":"p","service":[{"@type":"DataService","endpointURL":"u"}]}`, true},
		{`{"@context":["` + Context + `"],"@type":"Catalog","participantId":"p","service":[{"@type":"DataServic\u0065","endpointURL":"u"}]}`, false},
		{`{"@context":["` + Context + `"],"@type":"Catalog","participantId":"p","service":[{"@type":"Dataset","endpointURL":"u"}]}`, false},
		{`{"@context":["` + Context + `"],"@type":"Catalog","participantId":"p","service":[{"endpointURL":"u"}]}`, false},
		{`{"@context":["` + Context + `"],"@type":"Catalog","service":[{"endpointURL":"u","@type":"DataService"}],"participantId":"p"}`, true},
		{`{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","dataAddress":{"endpoint":"e"}}`, false},
		{`{"@context":["` + Context + `"],"@type":"TransferStartMessage","dataAddress":{"@type":"DataAddress","endpoint":"e"}}`, true},
		{`{"@context":["` + Context + `"],"@type":"TransferStartMessage","dataAddress":{"@type":["DataAddress"],"endpoint":"e"}}`, false},
		// ODRL terms: only below a propagating scope (a contract message, a Dataset).
		{`{"@context":["` + Context + `"],"@type":"ContractRequestMessage","offer":{"@type":"Offer","permission":[{"action":"use"}]}}`, true},
		{`{"@context":["` + Context + `"],"offer":{"@type":"Offer","permission":[{"action":"use"}]},"@type":"ContractRequestMessage"}`, true},
		{`{"@context":["` + Context + `"],"@type":"TransferRequestMessage","offer":{"permission":[{"action":"use"}]}}`, false},
		{`{"@context":["` + Context + `"],"@type":"Catalog","dataset":[{"@type":"Dataset","hasPolicy":[{"permission":[{"action":"use"}]}],"distribution":[{"@type":"Distribution","format":"f"}]}]}`, true},
		{`{"@context":["` + Context + `"],"@type":"Catalog","dataset":[{"@type":"Dataset","distribution":[{"format":"f"}]}]}`, false},
		{`{"@context":["` + Context + `"],"@type":"Catalog","dataset":[{"hasPolicy":[{"action":"use"}]}]}`, false},
		// A Dataset inside a contract message redefines a protected term: a processor refuses it.
		{`{"@context":["` + Context + `"],"@type":"ContractRequestMessage","offer":{"@type":"Dataset"}}`, false},
		// tdsc's property-scoped terms: only inside tdsc:terms.
		{`{"@context":["` + Context + `","` + TDSCContext + `"],"@type":"ContractAgreementMessage","agreement":{"tdsc:terms":{"maxUses":1,"duties":[{"id":"d","action":"delete"}]}}}`, true},
		{`{"@context":["` + Context + `","` + TDSCContext + `"],"@type":"ContractAgreementMessage","agreement":{"maxUses":1}}`, false},
		{`{"@context":["` + Context + `","` + TDSCContext + `"],"@type":"TransferCompletionMessage","x":{"tdsc:terms":{"due":1}}}`, false},
		{`{"@context":["` + Context + `"],"@type":"ContractAgreementMessage","agreement":{"tdsc:terms":{"maxUses":1}}}`, false},
		{`{"@context":["` + Context + `"],"@type":"X"]`, false},
	}
	for _, tt := range tests {
		if got := fastPath([]byte(tt.body)); got != tt.fast {
			t.Errorf("fastPath(%s) = %v, want %v", tt.body, got, tt.fast)
		}
	}
}

// TestConflictTable: the fast path's table of scoped types that may not
// appear below a propagating scope is what the processor refuses.
func TestConflictTable(t *testing.T) {
	tb := ld11
	names := make([]string, len(tb.scope))
	for n, i := range tb.typ {
		names[i] = n
	}
	conflicts := 0
	for p := 1; p < len(names); p++ {
		if !tb.propagate[p] {
			continue
		}
		for q := 1; q < len(names); q++ {
			body := `{"@context":"` + Context + `","@type":"` + names[p] + `","dct:title":{"@type":"` + names[q] + `","@id":"urn:x"}}`
			_, err := Expand([]byte(body))
			want := tb.conflict[p]&(1<<q) != 0
			if (err != nil) != want {
				t.Errorf("%s inside %s: processor error %v, table says conflict %v", names[q], names[p], err, want)
			}
			if want {
				conflicts++
			}
		}
	}
	if conflicts == 0 {
		t.Fatal("no conflicts found: the table is not being built")
	}
}

// TestSamplesTakeFastPath: every message tdsc writes skips the processor.
func TestSamplesTakeFastPath(t *testing.T) {
	for typ, m := range samples() {
		if b := mustJSON(t, m); !fastPath(b) {
			t.Errorf("%s: fast path refuses tdsc's own form\n%s", typ, b)
		}
	}
}

// FuzzJSONLD: the fast path and the JSON-LD processor reach the same
// decision on any body the fast path takes, and no body panics the
// processor. Seeds: every sample in every form.
func FuzzJSONLD(f *testing.F) {
	for _, m := range samples() {
		f.Add(mustJSON(f, m))
	}
	f.Add([]byte(`{"@context":"` + Context + `","@type":"dspace:TransferCompletionMessage","providerPid":"p","consumerPid":"c"}`))
	f.Add([]byte(`{"@context":[{"@vocab":"https://w3id.org/dspace/2025/1/"}],"@type":"TransferCompletionMessage","providerPid":"p","consumerPid":"c"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		for typ, dec := range decoders {
			if strings.HasSuffix(typ, "Error") {
				continue
			}
			v, err := dec(bytes.NewReader(data))
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("%s: error %v is not a *DecodeError", typ, err)
				}
				continue
			}
			if !fastPath(data) {
				continue
			}
			// Accepted on the fast path: the processor must agree.
			compact, err := compactForm(data, typ)
			if err != nil {
				t.Fatalf("%s: fast path accepted what JSON-LD refuses: %v\n%s", typ, err, data)
			}
			w, err := dec(bytes.NewReader(compact))
			if err != nil {
				t.Fatalf("%s: fast path accepted, JSON-LD form refused: %v\n%s\n%s", typ, err, data, compact)
			}
			if !reflect.DeepEqual(clearContexts(v), clearContexts(w)) {
				t.Fatalf("%s: fast path read\n%+v\nJSON-LD read\n%+v\nfrom %s", typ, v, w, data)
			}
		}
	})
}

// BenchmarkDecode compares the fast path with the JSON-LD processor on the
// same ContractRequestMessage (the latter as a peer sending an
// inline context would take).
func BenchmarkDecode(b *testing.B) {
	msg := samples()[TypeContractRequestMessage]
	fast := mustJSON(b, msg)
	var m map[string]any
	_ = json.Unmarshal(fast, &m)
	m["@context"] = []any{Context, map[string]any{"ex": "http://example.com/ns/"}}
	slow := mustJSON(b, m)
	b.Run("baseline-plain-json", func(b *testing.B) {
		// what the decoder did before JSON-LD: plain JSON, no form check
		b.ReportAllocs()
		for b.Loop() {
			var m ContractRequestMessage
			if err := plainDecode(fast, TypeContractRequestMessage, &m, &m.Header); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name string
		body []byte
	}{{"fast-compacted", fast}, {"jsonld-processor", slow}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeContractRequest(bytes.NewReader(c.body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEmptyKey: an object key that is the empty string, anywhere in a
// body, is refused with the path of the object holding it, by every
// decoder and by Expand. json-gold, finding no @type in an object, reads
// the value under "" as the type: a number there panicked it (FuzzJSONLD's
// input 13d14f3a75b99f15, {"":0}), a string would have been taken as a type.
func TestEmptyKey(t *testing.T) {
	req := mustJSON(t, samples()[TypeContractRequestMessage])
	var m map[string]any
	if err := json.Unmarshal(req, &m); err != nil {
		t.Fatal(err)
	}
	offer, ok := m["offer"].(map[string]any)
	if !ok {
		t.Fatalf("the sample request has no offer object: %s", req)
	}
	offer[""] = "dspace:ContractRequestMessage"
	nested, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body []byte
		at   string
	}{{[]byte(`{"":0}`), "the top-level object"}, {[]byte(`{"a":[{"":"x"}]}`), "a[0]"}, {nested, "offer"}} {
		for typ, dec := range decoders {
			if strings.HasSuffix(typ, "Error") {
				continue
			}
			_, err := dec(bytes.NewReader(c.body))
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), "empty key") || de.Field != c.at {
				t.Errorf("%s of %s: %v, want a *DecodeError for the empty key at %s", typ, c.body, err, c.at)
			}
		}
		if _, err := Expand(c.body); err == nil || !strings.Contains(err.Error(), "empty key") {
			t.Errorf("Expand(%s): %v, want the empty key refused", c.body, err)
		}
	}
	// What json-gold does beyond that is guarded the same way.
	if _, err := guarded(func() (int, error) { panic("the library") }); err == nil || !strings.Contains(err.Error(), "the library") {
		t.Errorf("guarded: %v, want the panic as an error", err)
	}
}
