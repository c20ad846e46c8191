package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestParseRefusesWithPath(t *testing.T) {
	wrap := func(constraint string) string {
		return `{"@id":"urn:t","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"purpose","operator":"eq","rightOperand":"x"},` + constraint + `]}]}`
	}
	tests := []struct {
		name, in, path, reason string
	}{
		{"unknown left operand", wrap(`{"leftOperand":"foo","operator":"eq","rightOperand":"x"}`), "permission[0].constraint[1].leftOperand", `unknown left operand "foo"`},
		{"partner from the DSP example", wrap(`{"leftOperand":"partner","operator":"eq","rightOperand":"gold"}`), "permission[0].constraint[1].leftOperand", `unknown left operand "partner"`},
		{"operator not for operand", wrap(`{"leftOperand":"dateTime","operator":"eq","rightOperand":"2027-01-01T00:00:00Z"}`), "permission[0].constraint[1].operator", `operator "eq" is not allowed for dateTime (allowed: lt, lteq, gt, gteq)`},
		{"unknown operator", wrap(`{"leftOperand":"purpose","operator":"hasPart","rightOperand":"x"}`), "permission[0].constraint[1].operator", `operator "hasPart" is not allowed for purpose (allowed: eq, neq, isAnyOf, isNoneOf)`},
		{"unknown key", wrap(`{"leftOperand":"purpose","operator":"eq","rightOperand":"x","unit":"m"}`), "permission[0].constraint[1].unit", `unknown term "unit" in this profile`},
		{"missing right operand", wrap(`{"leftOperand":"purpose","operator":"eq"}`), "permission[0].constraint[1].rightOperand", "required"},
		{"list for eq", wrap(`{"leftOperand":"purpose","operator":"eq","rightOperand":["a","b"]}`), "permission[0].constraint[1].rightOperand", "operator eq takes one value, not a list"},
		{"empty list", wrap(`{"leftOperand":"purpose","operator":"isAnyOf","rightOperand":[]}`), "permission[0].constraint[1].rightOperand", "must not be empty"},
		{"bad time", wrap(`{"leftOperand":"dateTime","operator":"lt","rightOperand":"tomorrow"}`), "permission[0].constraint[1].rightOperand", `"tomorrow" is not an xsd:dateTime such as 2027-01-01T00:00:00+08:00`},
		{"time without zone", wrap(`{"leftOperand":"dateTime","operator":"lt","rightOperand":"2027-01-01T00:00:00"}`), "permission[0].constraint[1].rightOperand", `dateTime "2027-01-01T00:00:00" has no time zone; add Z or an offset such as +08:00`},
		{"months", wrap(`{"leftOperand":"elapsedTime","operator":"lt","rightOperand":"P1M"}`), "permission[0].constraint[1].rightOperand", `duration "P1M" uses years or months, which have no fixed length; use days (P30D)`},
		{"negative count", wrap(`{"leftOperand":"count","operator":"lt","rightOperand":-1}`), "permission[0].constraint[1].rightOperand", `"-1" is not a count (a whole number from 0)`},
		{"bad level", wrap(`{"leftOperand":"classification","operator":"lteq","rightOperand":"secret"}`), "permission[0].constraint[1].rightOperand", `classification: must be one of general, important, core; got "secret"`},
		{"bad region in list", wrap(`{"leftOperand":"spatial","operator":"isAnyOf","rightOperand":["CN","_:EU"]}`), "permission[0].constraint[1].rightOperand[1]", `"_:EU" is not a region code such as CN or CN-BJ`},
		{"number for purpose", wrap(`{"leftOperand":"purpose","operator":"eq","rightOperand":5}`), "permission[0].constraint[1].rightOperand", "must be a string, got a number"},
		{"wrong typed literal", wrap(`{"leftOperand":"count","operator":"lt","rightOperand":{"@value":"5","@type":"xsd:dateTime"}}`), "permission[0].constraint[1].rightOperand.@type", `must be xsd:integer or xsd:nonNegativeInteger for this operand, got "xsd:dateTime"`},
		{"two logics", wrap(`{"and":[{"leftOperand":"purpose","operator":"eq","rightOperand":"x"}],"or":[{"leftOperand":"purpose","operator":"eq","rightOperand":"x"}]}`), "permission[0].constraint[1].or", "a logical constraint has exactly one of and, or, xone, andSequence (also has and)"},
		{"nested unknown", wrap(`{"or":[{"leftOperand":"purpose","operator":"eq","rightOperand":"x"},{"and":[{"leftOperand":"foo","operator":"eq","rightOperand":"x"}]}]}`), "permission[0].constraint[1].or[1].and[0].leftOperand", `unknown left operand "foo"`},
		{"bare and prefixed", wrap(`{"leftOperand":"purpose","odrl:leftOperand":"purpose","operator":"eq","rightOperand":"x"}`), "permission[0].constraint[1].odrl:leftOperand", `term "leftOperand" given twice (bare and prefixed)`},
		{"unknown action", `{"@id":"urn:t","permission":[{"action":"sell"}]}`, "permission[0].action", "unknown action \"sell\"; the profile's actions are use, transfer, read, distribute, reproduce, modify, derive, aggregate, display, commercialize, compute"},
		{"refined action", `{"@id":"urn:t","permission":[{"action":{"rdf:value":{"@id":"odrl:use"},"refinement":[]}}]}`, "permission[0].action", "refined actions are outside the profile; put the constraint on the rule"},
		{"unknown duty", `{"@id":"urn:t","permission":[{"action":"use","duty":[{"action":"compensate"}]}]}`, "permission[0].duty[0].action", `unknown duty "compensate"; the profile's duties are delete, log, notify (inform), anonymise (anonymize)`},
		{"duty with a purpose", `{"@id":"urn:t","permission":[{"action":"use"}],"obligation":[{"action":"delete","constraint":[{"leftOperand":"purpose","operator":"eq","rightOperand":"x"}]}]}`, "obligation[0].constraint[0]", "a duty takes only a deadline: elapsedTime or dateTime with lt or lteq"},
		{"no id", `{"@type":"Offer","permission":[{"action":"use"}]}`, "@id", "required"},
		{"bad type", `{"@id":"urn:t","@type":"Ticket","permission":[{"action":"use"}]}`, "@type", `must be Offer, Agreement or Set, got "Ticket"`},
		{"no rules", `{"@id":"urn:t","@type":"Offer"}`, "permission", "a policy needs at least one permission or prohibition"},
		{"agreement without assignee", `{"@id":"urn:t","@type":"Agreement","target":"urn:d","assigner":"a","permission":[{"action":"use"}]}`, "assignee", "required in an Agreement"},
		{"foreign context", `{"@context":"https://example.com/ctx","@id":"urn:t","permission":[{"action":"use"}]}`, "@context[0]", "only the DSP 2025-1 context https://w3id.org/dspace/2025/1/context.jsonld or the ODRL context is accepted"},
		{"conflict term", `{"@id":"urn:t","conflict":"perm","permission":[{"action":"use"}]}`, "conflict", `unknown term "conflict" in this profile`},
		{"permission not array of objects", `{"@id":"urn:t","permission":["use"]}`, "permission[0]", "must be an object, got a string"},
		{"not an object", `[1,2]`, "", "must be an object, got an array"},
		{"not JSON", `{"@id":`, "", "not JSON: unexpected EOF"},
		{"trailing", `{"@id":"urn:t","permission":[{"action":"use"}]} {}`, "", "trailing data after the policy object"},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), "", "nested deeper than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Path != tt.path || pe.Reason != tt.reason {
				t.Errorf("got  %s: %s\nwant %s: %s", pe.Path, pe.Reason, tt.path, tt.reason)
			}
		})
	}
}

func TestParseAcceptsEquivalentForms(t *testing.T) {
	bare := mustParse(t, `{"@id":"urn:t","@type":"Offer","target":"urn:d","permission":[{"action":"use","constraint":[
		{"leftOperand":"purpose","operator":"eq","rightOperand":"research"},
		{"leftOperand":"count","operator":"lteq","rightOperand":"100"},
		{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"CN"}]}]}`)
	prefixed := mustParse(t, `{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@id":"urn:t","@type":"odrl:Offer","odrl:target":{"@id":"urn:d"},
		"odrl:permission":{"odrl:action":{"@id":"odrl:use"},"odrl:constraint":[
		{"@type":"Constraint","odrl:leftOperand":{"@id":"odrl:purpose"},"odrl:operator":{"@id":"odrl:eq"},"odrl:rightOperand":{"@value":"research","@type":"xsd:string"}},
		{"leftOperand":"http://www.w3.org/ns/odrl/2/count","operator":"http://www.w3.org/ns/odrl/2/lteq","rightOperand":{"@value":100,"@type":"xsd:integer"}},
		{"leftOperand":"odrl:spatial","operator":"odrl:isPartOf","rightOperand":{"@id":"cn"}}]}}`)
	if diff := cmp.Diff(bare, prefixed); diff != "" {
		t.Errorf("prefixed form parses differently (-bare +prefixed):\n%s", diff)
	}
}

// Every policy in the DSP 2025-1 examples parses, or is refused only for
// left operands outside the profile (the examples use "partner").
func TestParseDSPExamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, f := range files {
		data := seed(t, f)
		_, err := Parse(data)
		var pe *ParseError
		switch {
		case err == nil:
		case errors.As(err, &pe) && (strings.HasPrefix(pe.Reason, "unknown left operand") || strings.Contains(pe.Reason, "region code")):
		default:
			t.Errorf("%s: %v", f, err)
		}
	}
}

// seed reads a fuzz corpus file (go test fuzz v1, one []byte).
func seed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// dspSchema compiles a definition of the DSP 2025-1 contract schema.
func dspSchema(t *testing.T, def string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/dsp/contract-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	const id = "https://w3id.org/dspace/2025/1/negotiation/contract-schema.json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id + "#/definitions/" + def)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMarshalIsDSPValid(t *testing.T) {
	agreement := mustParse(t, string(readExample(t)))
	agreement.Type, agreement.Assigner, agreement.Assignee, agreement.Timestamp = "Agreement", "did:web:provider.example", "did:web:uni.example", "2026-05-01T00:00:00Z"
	catalogue := mustParse(t, string(readExample(t)))
	catalogue.Target = ""
	op, err := AuthorisedOperation(OperationParams{ID: "urn:op", Target: "urn:d", Operator: "did:web:op", Purposes: []string{"traffic-app"}, NotAfter: mustTime(t, "2028-01-01T00:00:00+08:00"), Region: "CN-BJ", MaxUses: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    *Policy
		def  string
	}{
		{"negotiation offer", mustParse(t, string(readExample(t))), "MessageOffer"},
		{"catalogue offer", catalogue, "Offer"},
		{"agreement", agreement, "Agreement"},
		{"authorised operation", op, "MessageOffer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := dspSchema(t, tt.def).Validate(v); err != nil {
				t.Errorf("not valid as %s: %v\n%s", tt.def, err, b)
			}
			if err := dspSchema(t, "Policy").Validate(v); err != nil && tt.def != "Offer" && tt.def != "MessageOffer" {
				t.Errorf("not a valid Policy: %v", err)
			}
			back, err := Parse(b)
			if err != nil {
				t.Fatalf("marshalled policy does not parse: %v\n%s", err, b)
			}
			if diff := cmp.Diff(tt.p, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParse: no input panics; whatever parses compiles, and marshals to JSON
// that parses to the same policy with the same hash.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"@id":"urn:t","permission":[{"action":"use","constraint":[{"xone":[{"leftOperand":"count","operator":"lt","rightOperand":3}]}]}]}`))
	f.Add([]byte(`{"@id":"urn:c","permission":[{"action":"compute","constraint":[{"or":[{"leftOperand":"program","operator":"isAnyOf","rightOperand":["sha256:00"]},{"leftOperand":"programApproval","operator":"eq","rightOperand":"operator"}]},{"leftOperand":"groupSize","operator":"gteq","rightOperand":10},{"leftOperand":"outputBytes","operator":"lteq","rightOperand":{"@value":"4096","@type":"xsd:integer"}},{"leftOperand":"outputRows","operator":"lt","rightOperand":100}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error not wrapping ErrInvalidPolicy: %v", err)
			}
			return
		}
		c, err := Compile(p)
		if err != nil {
			t.Fatalf("parsed but does not compile: %v", err)
		}
		req := okRequest()
		req.Consumer.Member = []string{"alliance"}
		d := Evaluate(context.Background(), c, req)
		if d.Allowed == (d.Reason != "") || d.Rule == "" {
			t.Fatalf("inconsistent decision %+v", d)
		}
		creq := okRequest()
		creq.Action = ActionCompute
		creq.Compute = &Compute{Program: "sha256:00", Output: &OutputFacts{Bytes: 10, Rows: 1, Aggregate: true, SmallestGroup: 3}}
		if cd := Evaluate(context.Background(), c, creq); cd.Allowed == (cd.Reason != "") || cd.Rule == "" {
			t.Fatalf("inconsistent compute decision %+v", cd)
		}
		_ = ComputeOutputLimit(c)
		for _, r := range d.Results {
			if r.Reason == "" {
				t.Fatalf("result without a reason: %+v", r)
			}
		}
		_ = Lint(data, req.Time)
		b, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("marshalled form does not parse: %v\n%s", err, b)
		}
		if back.Hash() != p.Hash() {
			t.Fatalf("hash changed on round trip\n%s\n%s", p.Canonical(), back.Canonical())
		}
		if err := Match(p, back); err != nil {
			t.Fatalf("round trip does not match: %v", err)
		}
	})
}

func TestPolicyInAMessageStruct(t *testing.T) {
	type offerMessage struct {
		Type  string     `json:"@type"`
		Offer msgPolicy  `json:"offer"`
		Ptr   *msgPolicy `json:"ptr,omitempty"`
	}
	in := `{"@type":"ContractOfferMessage","offer":` + string(readExample(t)) + `}`
	var m offerMessage
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if m.Offer.ID != "urn:uuid:7f1c2b1e-0000-4000-8000-000000000001" || len(m.Offer.Permissions[0].Constraints) != 5 {
		t.Fatalf("decoded %+v", m.Offer)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"offer":{"@id":"urn:uuid:7f1c2b1e-0000-4000-8000-000000000001","@type":"Offer"`)) {
		t.Errorf("a Policy held by value does not marshal in DSP form: %s", out)
	}
	bad := strings.Replace(in, `"purpose"`, `"foo"`, 1)
	if err := json.Unmarshal([]byte(bad), &m); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("decoding a message with a bad policy: err = %v", err)
	}
}

type msgPolicy = Policy
