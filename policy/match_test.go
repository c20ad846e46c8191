package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func offerWith(constraints string) string {
	return `{"@id":"urn:offer","@type":"Offer","target":"urn:d","permission":[{"action":"use","constraint":[` + constraints + `]}],"prohibition":[{"action":"distribute"}],"obligation":[{"action":"delete","constraint":[{"leftOperand":"elapsedTime","operator":"lteq","rightOperand":"P30D"}]}]}`
}

const (
	cPurpose = `{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}`
	cBefore  = `{"leftOperand":"dateTime","operator":"lt","rightOperand":"2027-01-01T00:00:00+08:00"}`
	cCount   = `{"leftOperand":"count","operator":"lteq","rightOperand":100}`
	cRegion  = `{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"CN"}`
	cLevel   = `{"leftOperand":"classification","operator":"lteq","rightOperand":"important"}`
)

func TestMatch(t *testing.T) {
	offer := offerWith(strings.Join([]string{cPurpose, cBefore, cCount, cRegion, cLevel}, ","))
	tests := []struct {
		name, request string
		path          string // empty: matches
	}{
		{"identical", offer, ""},
		{"reordered", `{"@id":"urn:req","@type":"Offer","target":"urn:d","obligation":[{"action":"delete","constraint":[{"leftOperand":"elapsedTime","operator":"lteq","rightOperand":"P30D"}]}],"prohibition":[{"action":"distribute"}],"permission":[{"action":"use","constraint":[` +
			strings.Join([]string{cLevel, cRegion, cCount, cBefore, cPurpose}, ",") + `]}]}`, ""},
		{"prefixed and equivalent forms", `{"@id":"urn:req","@type":"odrl:Offer","odrl:target":"urn:d","odrl:prohibition":{"odrl:action":{"@id":"odrl:distribute"}},
			"obligation":[{"action":"delete","constraint":[{"leftOperand":"elapsedTime","operator":"lt","rightOperand":"PT720H"}]}],
			"odrl:permission":[{"odrl:action":"odrl:use","odrl:constraint":[
			{"leftOperand":"odrl:purpose","operator":{"@id":"odrl:isAnyOf"},"rightOperand":["research"]},
			{"leftOperand":"dateTime","operator":"lt","rightOperand":"2026-12-31T16:00:00Z"},
			{"leftOperand":"count","operator":"lt","rightOperand":"101"},
			{"and":[{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"cn"},{"leftOperand":"classification","operator":"isAnyOf","rightOperand":["important","general"]}]}]}]}`, ""},
		{"narrower", offerWith(strings.Join([]string{cPurpose, cBefore, `{"leftOperand":"count","operator":"lteq","rightOperand":10}`,
			`{"leftOperand":"spatial","operator":"eq","rightOperand":"CN-BJ"}`, `{"leftOperand":"classification","operator":"eq","rightOperand":"general"}`,
			`{"leftOperand":"industry","operator":"eq","rightOperand":"education"}`}, ",")), ""},
		{"broader count", offerWith(strings.Join([]string{cPurpose, cBefore, `{"leftOperand":"count","operator":"lteq","rightOperand":200}`, cRegion, cLevel}, ",")), "permission[0].constraint[2]"},
		{"later deadline", offerWith(strings.Join([]string{cPurpose, `{"leftOperand":"dateTime","operator":"lteq","rightOperand":"2027-01-01T00:00:00Z"}`, cCount, cRegion, cLevel}, ",")), "permission[0].constraint[1]"},
		{"other purpose", offerWith(strings.Join([]string{`{"leftOperand":"purpose","operator":"isAnyOf","rightOperand":["research","marketing"]}`, cBefore, cCount, cRegion, cLevel}, ",")), "permission[0].constraint[0]"},
		{"dropped constraint", offerWith(strings.Join([]string{cPurpose, cBefore, cCount, cLevel}, ",")), "permission[0]"},
		{"region outside", offerWith(strings.Join([]string{cPurpose, cBefore, cCount, `{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"SG"}`, cLevel}, ",")), "permission[0].constraint[3]"},
		{"dropped prohibition", strings.Replace(offer, `"prohibition":[{"action":"distribute"}],`, "", 1), "prohibition"},
		{"dropped duty", strings.Replace(offer, `,"obligation":[{"action":"delete","constraint":[{"leftOperand":"elapsedTime","operator":"lteq","rightOperand":"P30D"}]}]`, "", 1), "obligation"},
		{"slower deletion", strings.Replace(offer, `P30D`, `P60D`, 1), "obligation"},
		{"other target", strings.Replace(offer, `"target":"urn:d"`, `"target":"urn:other"`, 1), "target"},
		{"transfer not offered", strings.Replace(offer, `"action":"use"`, `"action":"transfer"`, 1), "permission[0].action"},
	}
	o := mustParse(t, offer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.request)
			err := Match(o, r)
			if tt.path == "" {
				if err != nil {
					t.Fatalf("Match: %v", err)
				}
				return
			}
			var me *MismatchError
			if !errors.As(err, &me) || !errors.Is(err, ErrMismatch) {
				t.Fatalf("err = %v, want a *MismatchError at %s", err, tt.path)
			}
			if me.Path != tt.path || me.Reason == "" {
				t.Errorf("mismatch at %q (%s), want %q", me.Path, me.Reason, tt.path)
			}
		})
	}
}

func TestMatchMessages(t *testing.T) {
	o := mustParse(t, offerWith(cCount))
	r := mustParse(t, offerWith(`{"leftOperand":"count","operator":"lteq","rightOperand":200}`))
	want := "permission[0].constraint[0]: count lteq 200 is broader than the offer's count lteq 100 (permission[0].constraint[0])"
	if err := Match(o, r); err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	r = mustParse(t, offerWith(cPurpose))
	want = "permission[0]: missing the offer's constraint count lteq 100 (permission[0].constraint[0])"
	if err := Match(o, r); err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestMatchLogical(t *testing.T) {
	or := offerWith(`{"or":[` + cPurpose + `,` + cRegion + `]}`)
	tests := []struct {
		name, request string
		ok            bool
	}{
		{"same or, reordered", offerWith(`{"or":[` + cRegion + `,` + cPurpose + `]}`), true},
		{"one branch", offerWith(cPurpose), true},
		{"narrower branch", offerWith(`{"leftOperand":"spatial","operator":"eq","rightOperand":"CN-SH"}`), true},
		{"or of narrower branches", offerWith(`{"or":[` + cPurpose + `,{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"CN-BJ"}]}`), true},
		{"unrelated", offerWith(cLevel), false},
		{"or with a broader branch", offerWith(`{"or":[` + cPurpose + `,{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"SG"}]}`), false},
	}
	o := mustParse(t, or)
	for _, tt := range tests {
		if err := Match(o, mustParse(t, tt.request)); (err == nil) != tt.ok {
			t.Errorf("%s: Match = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestHash(t *testing.T) {
	a := mustParse(t, offerWith(strings.Join([]string{cPurpose, cCount, cRegion}, ",")))
	b := mustParse(t, `{"@id":"urn:other","@type":"Agreement","target":"urn:d","assigner":"p","assignee":"c","prohibition":{"action":"odrl:distribute"},
		"obligation":[{"action":"delete","constraint":[{"leftOperand":"elapsedTime","operator":"lteq","rightOperand":"PT720H"}]}],
		"permission":[{"action":"use","constraint":[{"leftOperand":"spatial","operator":"isPartOf","rightOperand":["cn"]},{"leftOperand":"count","operator":"lt","rightOperand":101},{"leftOperand":"purpose","operator":"isAnyOf","rightOperand":["research","research"]}]}]}`)
	if a.Hash() != b.Hash() {
		t.Errorf("equivalent policies hash differently:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	if err := Match(a, b); err != nil {
		t.Errorf("Match(a, b): %v", err)
	}
	if err := Match(b, a); err != nil {
		t.Errorf("Match(b, a): %v", err)
	}
	d := mustParse(t, offerWith(`{"or":[{"leftOperand":"spatial","operator":"isPartOf","rightOperand":["CN","CN-BJ"]}]},`+cCount+`,`+cPurpose))
	if a.Hash() != d.Hash() || Match(a, d) != nil || Match(d, a) != nil {
		t.Errorf("or of one redundant area is not the area:\n%s\n%s", a.Canonical(), d.Canonical())
	}
	c := mustParse(t, offerWith(strings.Join([]string{cPurpose, `{"leftOperand":"count","operator":"lteq","rightOperand":99}`, cRegion}, ",")))
	if a.Hash() == c.Hash() {
		t.Error("different limits hash alike")
	}
	if !strings.HasPrefix(a.Hash(), "sha256:") || len(a.Hash()) != 71 {
		t.Errorf("hash %q", a.Hash())
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMatchHandBuiltOutsideProfileDoesNotPanic(t *testing.T) {
	bad := &Policy{ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{LeftOperand: "foo", Operator: OpEq}, {LeftOperand: LeftCount, Operator: OpLt}}}}}
	good := mustParse(t, offerWith(cCount))
	_ = Match(bad, good)
	_ = Match(good, bad)
	_ = bad.Hash()
}
