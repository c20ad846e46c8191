package policy

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t testing.TB, s string) *Policy {
	t.Helper()
	p, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, s)
	}
	return p
}

func mustCompile(t testing.TB, s string) *Compiled {
	t.Helper()
	c, err := Compile(mustParse(t, s))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func readExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// okRequest satisfies testdata/example.json.
func okRequest() Request {
	return Request{
		Purpose:        "research",
		Time:           time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		AgreementStart: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		Uses:           3,
		Consumer:       Party{ID: "did:web:uni.example", Region: "CN-BJ"},
		Dataset:        DatasetInfo{ID: "urn:tdsc:dataset:traffic-2026", Classification: Important, Region: "CN-SH"},
	}
}

// The example: purpose = research, before 2027-01-01T00:00:00+08:00,
// at most 100 uses, consumer in region CN, classification at most important.
func TestExamplePolicy(t *testing.T) {
	c, err := Compile(mustParse(t, string(readExample(t))))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		change     func(*Request)
		wantRule   string
		wantReason string
	}{
		{"allowed", func(*Request) {}, "permission[0]", ""},
		{"last allowed use", func(r *Request) { r.Uses = 99 }, "permission[0]", ""},
		{"purpose", func(r *Request) { r.Purpose = "marketing" }, "permission[0].constraint[0]", `purpose "marketing" is not "research"`},
		{"no purpose", func(r *Request) { r.Purpose = "" }, "permission[0].constraint[0]", "the request gives no purpose"},
		{"expired (same instant in UTC)", func(r *Request) { r.Time = time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC) },
			"permission[0].constraint[1]", "time 2026-12-31T16:00:00Z is not before 2027-01-01T00:00:00+08:00"},
		{"101st use", func(r *Request) { r.Uses = 100 }, "permission[0].constraint[2]", "use number 101 is not at most 100"},
		{"outside CN", func(r *Request) { r.Consumer.Region = "SG" }, "permission[0].constraint[3]", "consumer region SG is not within CN"},
		{"Hong Kong is not CN-HK-by-prefix but is CN-HK", func(r *Request) { r.Consumer.Region = "CN-HK" }, "permission[0]", ""},
		{"core data", func(r *Request) { r.Dataset.Classification = Core }, "permission[0].constraint[4]", `classification "core" is not at most important`},
		{"unclassified", func(r *Request) { r.Dataset.Classification = "" }, "permission[0].constraint[4]", `the dataset's classification is unknown ("")`},
		{"transfer not granted", func(r *Request) { r.Action = "transfer" }, "permission", `no permission covers action "transfer"`},
		{"read is a use", func(r *Request) { r.Action = "read" }, "permission[0]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := okRequest()
			tt.change(&req)
			d := Evaluate(context.Background(), c, req)
			if d.Allowed != (tt.wantReason == "") || d.Rule != tt.wantRule || d.Reason != tt.wantReason {
				t.Errorf("got allowed=%v rule=%q reason=%q; want rule=%q reason=%q", d.Allowed, d.Rule, d.Reason, tt.wantRule, tt.wantReason)
			}
			if len(d.Results) != 5 && req.Action != "transfer" {
				t.Errorf("got %d results, want one per constraint (5)", len(d.Results))
			}
			for _, r := range d.Results {
				if r.Reason == "" || r.Path == "" || r.Constraint == "" {
					t.Errorf("result without explanation: %+v", r)
				}
			}
		})
	}
}

func TestExampleDuties(t *testing.T) {
	c := mustCompile(t, string(readExample(t)))
	req := okRequest()
	d := Evaluate(context.Background(), c, req)
	want := []Duty{
		{ID: "obligation[0]", Action: DutyLog},
		{ID: "permission[0].duty[0]", Action: DutyDelete, Due: req.AgreementStart.Add(30 * 24 * time.Hour), Within: 30 * 24 * time.Hour},
	}
	if diff := cmp.Diff(want, d.Duties); diff != "" {
		t.Errorf("duties (-want +got):\n%s", diff)
	}
	if d := Evaluate(context.Background(), c, Request{}); len(d.Duties) != 0 {
		t.Errorf("a denied request owes no duties, got %v", d.Duties)
	}
	l := c.Limits()
	wantAfter := time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("", 8*3600))
	if !l.NotAfter.Equal(wantAfter) || !l.NotBefore.IsZero() || l.MaxUses != 100 || len(l.Duties) != 2 {
		t.Errorf("Limits = %+v; want NotAfter %v, MaxUses 100, 2 duties", l, wantAfter)
	}
}

func atomic(left, op, right string) string {
	return `{"@id":"urn:t","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"` + left + `","operator":"` + op + `","rightOperand":` + right + `}]}]}`
}

func TestOperandsAndOperators(t *testing.T) {
	base := okRequest()
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	tests := []struct {
		left, op, right string
		change          func(*Request)
		want            bool
	}{
		{"purpose", "eq", `"research"`, nil, true},
		{"purpose", "eq", `"teaching"`, nil, false},
		{"purpose", "neq", `"marketing"`, nil, true},
		{"purpose", "neq", `"research"`, nil, false},
		{"purpose", "isAnyOf", `["teaching","research"]`, nil, true},
		{"purpose", "isAnyOf", `["teaching"]`, nil, false},
		{"purpose", "isNoneOf", `["marketing","resale"]`, nil, true},
		{"purpose", "isNoneOf", `["research"]`, nil, false},
		{"recipient", "eq", `"did:web:uni.example"`, nil, true},
		{"recipient", "isNoneOf", `["did:web:uni.example"]`, nil, false},
		{"industry", "eq", `"education"`, func(r *Request) { r.Consumer.Industry = "education" }, true},
		{"industry", "isAnyOf", `["finance"]`, func(r *Request) { r.Consumer.Industry = "education" }, false},
		{"industry", "eq", `"education"`, nil, false}, // not given
		{"orgType", "eq", `"university"`, func(r *Request) { r.Consumer.OrgType = "university" }, true},
		{"orgType", "neq", `"enterprise"`, func(r *Request) { r.Consumer.OrgType = "university" }, true},
		{"membership", "eq", `"alliance"`, func(r *Request) { r.Consumer.Member = []string{"x", "alliance"} }, true},
		{"membership", "eq", `"alliance"`, nil, false},
		{"membership", "isAnyOf", `["a","b"]`, func(r *Request) { r.Consumer.Member = []string{"b"} }, true},
		{"membership", "isNoneOf", `["sanctioned"]`, nil, true},
		{"membership", "neq", `"sanctioned"`, func(r *Request) { r.Consumer.Member = []string{"sanctioned"} }, false},
		{"spatial", "eq", `"CN-BJ"`, nil, true},
		{"spatial", "eq", `"cn"`, nil, false},
		{"spatial", "isPartOf", `"cn"`, nil, true},
		{"spatial", "isPartOf", `["SG","CN-BJ"]`, nil, true},
		{"spatial", "isPartOf", `"CN-SH"`, nil, false},
		{"spatial", "isAnyOf", `["CN-SH","CN-BJ"]`, nil, true},
		{"spatial", "isNoneOf", `["CN-BJ"]`, nil, false},
		{"spatial", "neq", `"SG"`, nil, true},
		{"dateTime", "lt", `"2026-06-01T00:00:00Z"`, nil, false},
		{"dateTime", "lteq", `"2026-06-01T00:00:00Z"`, nil, true},
		{"dateTime", "gt", `"2026-06-01T08:00:00+08:00"`, nil, false},
		{"dateTime", "gteq", `"2026-06-01T08:00:00+08:00"`, nil, true},
		{"dateTime", "gt", `"2026-06-01T07:59:59+08:00"`, nil, true},
		{"dateTime", "lteq", `"2023-12-31T06:00Z"`, nil, false},
		{"elapsedTime", "lteq", `"P31D"`, nil, true},
		{"elapsedTime", "lt", `"P31D"`, nil, false},
		{"elapsedTime", "gt", `"P30D"`, nil, true},
		{"elapsedTime", "gteq", `"PT744H"`, nil, true},
		{"elapsedTime", "lteq", `"P1W"`, nil, false},
		{"count", "lteq", `4`, nil, true},
		{"count", "lt", `4`, nil, false},
		{"count", "eq", `"4"`, nil, true},
		{"count", "neq", `4`, nil, false},
		{"count", "gt", `3`, nil, true},
		{"count", "gteq", `5`, nil, false},
		{"classification", "eq", `"important"`, nil, true},
		{"classification", "neq", `"important"`, nil, false},
		{"classification", "lt", `"important"`, nil, false},
		{"classification", "lteq", `"important"`, nil, true},
		{"classification", "gt", `"general"`, nil, true},
		{"classification", "gteq", `"core"`, nil, false},
		{"classification", "isAnyOf", `["general","important"]`, nil, true},
		{"classification", "isNoneOf", `["core"]`, nil, true},
		{"classification", "lteq", `"general"`, func(r *Request) { r.Dataset.Classification = General }, true},
		{"dateTime", "lt", `"2026-06-01T00:00:01Z"`, func(r *Request) { r.Time = at("2026-06-01T08:00:00+08:00") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.left+" "+tt.op+" "+tt.right, func(t *testing.T) {
			c := mustCompile(t, atomic(tt.left, tt.op, tt.right))
			req := base
			if tt.change != nil {
				tt.change(&req)
			}
			d := Evaluate(context.Background(), c, req)
			if d.Allowed != tt.want {
				t.Errorf("allowed = %v, want %v (%s)", d.Allowed, tt.want, d.Reason)
			}
			if len(d.Results) != 1 || d.Results[0].Satisfied != tt.want || d.Results[0].Reason == "" {
				t.Errorf("results = %+v", d.Results)
			}
		})
	}
}

func TestTimeZones(t *testing.T) {
	// The bound is midnight in Beijing: 16:00 the day before in UTC.
	c := mustCompile(t, atomic("dateTime", "lt", `"2027-01-01T00:00:00+08:00"`))
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 12, 31, 15, 59, 59, 999999999, time.UTC), true},
		{time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), false},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), false}, // still 2026 in UTC, but after the bound
		{time.Date(2026, 12, 31, 23, 59, 0, 0, time.FixedZone("CST", 8*3600)), true},
		{time.Date(2026, 12, 31, 10, 59, 59, 0, time.FixedZone("EST", -5*3600)), true},
		{time.Date(2026, 12, 31, 11, 0, 0, 0, time.FixedZone("EST", -5*3600)), false},
	} {
		req := okRequest()
		req.Time = tt.at
		if d := Evaluate(context.Background(), c, req); d.Allowed != tt.want {
			t.Errorf("at %v: allowed = %v, want %v (%s)", tt.at, d.Allowed, tt.want, d.Reason)
		}
	}
}

func TestLogicalConstraints(t *testing.T) {
	logical := func(kind string, parts ...string) string {
		return `{"@id":"urn:t","@type":"Offer","permission":[{"action":"use","constraint":[{"` + kind + `":[` + strings.Join(parts, ",") + `]}]}]}`
	}
	research := `{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}` // true
	teaching := `{"leftOperand":"purpose","operator":"eq","rightOperand":"teaching"}` // false
	inCN := `{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"CN"}`     // true
	inSG := `{"leftOperand":"spatial","operator":"isPartOf","rightOperand":"SG"}`     // false
	tests := []struct {
		name, policy string
		want         bool
	}{
		{"and true", logical("and", research, inCN), true},
		{"and false", logical("and", research, inSG), false},
		{"or one", logical("or", teaching, inCN), true},
		{"or none", logical("or", teaching, inSG), false},
		{"xone exactly one", logical("xone", research, inSG), true},
		{"xone two", logical("xone", research, inCN), false},
		{"xone none", logical("xone", teaching, inSG), false},
		{"andSequence true", logical("andSequence", research, inCN), true},
		{"andSequence stops", logical("andSequence", inSG, research), false},
		{"nested or of and", logical("or", `{"and":[`+research+`,`+inSG+`]}`, `{"and":[`+research+`,`+inCN+`]}`), true},
		{"nested and of or", logical("and", `{"or":[`+teaching+`,`+inSG+`]}`, inCN), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(context.Background(), mustCompile(t, tt.policy), okRequest())
			if d.Allowed != tt.want {
				t.Errorf("allowed = %v, want %v: %s", d.Allowed, tt.want, d.Reason)
			}
			if !tt.want && (d.Rule != "permission[0].constraint[0]" || d.Reason == "") {
				t.Errorf("rule %q reason %q: want the logical constraint named with a reason", d.Rule, d.Reason)
			}
		})
	}
	d := Evaluate(context.Background(), mustCompile(t, logical("andSequence", inSG, research)), okRequest())
	if got := d.Results[2].Reason; !strings.Contains(got, "not evaluated") {
		t.Errorf("andSequence after a failure: %q", got)
	}
}

func TestProhibitions(t *testing.T) {
	c := mustCompile(t, `{"@id":"urn:t","@type":"Offer","permission":[{"action":"use"}],
		"prohibition":[{"action":"distribute"},{"action":"use","constraint":[{"leftOperand":"purpose","operator":"isAnyOf","rightOperand":["marketing","resale"]}]}]}`)
	for _, tt := range []struct {
		action, purpose, rule, reason string
	}{
		{"use", "research", "permission[0]", ""},
		{"distribute", "research", "prohibition[0]", "distribute is prohibited"},
		{"use", "marketing", "prohibition[1]", `use is prohibited when purpose is one of "marketing", "resale"`},
		{"read", "resale", "prohibition[1]", `read is prohibited (use) when purpose is one of "marketing", "resale"`},
	} {
		req := okRequest()
		req.Action, req.Purpose = tt.action, tt.purpose
		d := Evaluate(context.Background(), c, req)
		if d.Allowed != (tt.reason == "") || d.Rule != tt.rule || d.Reason != tt.reason {
			t.Errorf("%s/%s: got %v %q %q, want %q %q", tt.action, tt.purpose, d.Allowed, d.Rule, d.Reason, tt.rule, tt.reason)
		}
	}
}

func TestSpaceRulesWinOverOffer(t *testing.T) {
	c := mustCompile(t, `{"@id":"urn:t","@type":"Offer","permission":[{"action":"use"}]}`) // allows everything
	rules, err := ParseSpaceRules([]byte(`{"negativeList":[{"category":"genomic","reason":"human genetic resources"}],
		"crossBorder":[{"destination":"SG","maxClassification":"important","legalBasis":"PIPL-38-standard-contract"}],
		"ceilings":[{"destination":"*","maxClassification":"important"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Request)
		rule   string
	}{
		{"allowed", func(*Request) {}, ""},
		{"negative list", func(r *Request) { r.Dataset.Category = "GENOMIC" }, RuleNegativeList},
		{"core stays", func(r *Request) { r.Dataset.Classification = Core; r.Consumer.Region = "SG" }, RuleCoreStaysInRegion},
		{"not whitelisted", func(r *Request) { r.Consumer.Region = "US" }, RuleCrossBorder},
		{"no legal basis", func(r *Request) { r.Consumer.Region = "SG" }, RuleLegalBasis},
		{"whitelisted", func(r *Request) { r.Consumer.Region = "SG"; r.LegalBasis = "PIPL-38-standard-contract" }, ""},
		{"ceiling", func(r *Request) { r.Dataset.Classification = Core; r.Dataset.Region = "CN-BJ" }, RuleCeiling},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := okRequest()
			tt.change(&req)
			d := EvaluateWithRules(context.Background(), c, rules, req)
			if tt.rule == "" {
				if !d.Allowed {
					t.Fatalf("denied: %s %s", d.Rule, d.Reason)
				}
				return
			}
			if d.Allowed || d.Rule != tt.rule || d.Reason == "" || d.Duties != nil {
				t.Errorf("got allowed=%v rule=%q reason=%q, want %s", d.Allowed, d.Rule, d.Reason, tt.rule)
			}
			if want := rules.CheckFlow(req.Flow()); want == nil || want.Rule != d.Rule {
				t.Errorf("CheckFlow disagrees: %v", want)
			}
		})
	}
}

func TestEvaluateIntoReuses(t *testing.T) {
	c := mustCompile(t, string(readExample(t)))
	req := okRequest()
	var d Decision
	allocs := testing.AllocsPerRun(100, func() { c.EvaluateInto(context.Background(), req, &d) })
	if !d.Allowed {
		t.Fatal(d.Reason)
	}
	if allocs != 0 {
		t.Errorf("EvaluateInto allocates %v times per allowed decision, want 0", allocs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := Evaluate(ctx, c, req); d.Allowed || d.Rule != "context" {
		t.Errorf("cancelled context: %+v", d)
	}
}

func TestCompileRefusesHandBuiltPoliciesOutsideTheProfile(t *testing.T) {
	for name, p := range map[string]*Policy{
		"unknown logic":    {ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{Logic: "not", Operands: []Constraint{{LeftOperand: LeftPurpose, Operator: OpEq, RightOperand: []string{"r"}}}}}}}},
		"empty and":        {ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{Logic: LogicAnd}}}}},
		"unknown action":   {ID: "x", Permissions: []Rule{{Action: "sell"}}},
		"bad operator":     {ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{LeftOperand: LeftDateTime, Operator: OpEq, RightOperand: []string{"2027-01-01T00:00:00Z"}}}}}},
		"bad value":        {ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{LeftOperand: LeftCount, Operator: OpLt, RightOperand: []string{"many"}}}}}},
		"two values":       {ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{LeftOperand: LeftPurpose, Operator: OpEq, RightOperand: []string{"a", "b"}}}}}},
		"unknown duty":     {ID: "x", Permissions: []Rule{{Action: "use"}}, Obligations: []Obligation{{Action: "pay"}}},
		"no right operand": {ID: "x", Permissions: []Rule{{Action: "use", Constraints: []Constraint{{LeftOperand: LeftPurpose, Operator: OpEq}}}}},
	} {
		if _, err := Compile(p); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: Compile err = %v, want ErrInvalidPolicy", name, err)
		}
	}
}

// A Compiled is shared by every request of a connector; run with -race.
func TestCompiledConcurrentUse(t *testing.T) {
	c := mustCompile(t, string(readExample(t)))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d Decision
			for i := range 200 {
				req := okRequest()
				req.Uses = (g*200 + i) % 150
				c.EvaluateInto(context.Background(), req, &d)
				if d.Allowed != (req.Uses < 100) {
					t.Errorf("uses %d: allowed=%v (%s)", req.Uses, d.Allowed, d.Reason)
					return
				}
			}
		}()
	}
	wg.Wait()
}
