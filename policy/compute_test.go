package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const computePolicy = `{"@id":"urn:offer:pop","@type":"Offer","permission":[{"action":"compute","constraint":[
  {"or":[{"leftOperand":"program","operator":"isAnyOf","rightOperand":["sha256:aa","sha256:bb"]},
         {"leftOperand":"programApproval","operator":"eq","rightOperand":"operator"}]},
  {"leftOperand":"count","operator":"lteq","rightOperand":3},
  {"leftOperand":"outputBytes","operator":"lteq","rightOperand":4096},
  {"leftOperand":"outputRows","operator":"lteq","rightOperand":50},
  {"leftOperand":"groupSize","operator":"gteq","rightOperand":10}]}]}`

func TestComputeAction(t *testing.T) {
	c := mustCompile(t, computePolicy)
	agg := &OutputFacts{Bytes: 120, Rows: 3, Aggregate: true, SmallestGroup: 12}
	for _, tc := range []struct {
		name    string
		action  string
		uses    int
		compute *Compute
		allowed bool
		rule    string
	}{
		{"listed program, before the run", ActionCompute, 0, &Compute{Program: "sha256:aa"}, true, ""},
		{"approved program", ActionCompute, 0, &Compute{Program: "sha256:cc", Approval: ApprovalOperator}, true, ""},
		{"unlisted program", ActionCompute, 0, &Compute{Program: "sha256:cc"}, false, "permission[0].constraint[0]"},
		{"no program", ActionCompute, 0, nil, false, "permission[0].constraint[0]"},
		{"fourth run", ActionCompute, 3, &Compute{Program: "sha256:aa"}, false, "permission[0].constraint[1]"},
		{"an aggregate result", ActionCompute, 0, &Compute{Program: "sha256:aa", Output: agg}, true, ""},
		{"too large", ActionCompute, 0, &Compute{Program: "sha256:aa", Output: &OutputFacts{Bytes: 5000, Rows: 3, Aggregate: true, SmallestGroup: 12}}, false, "permission[0].constraint[2]"},
		{"too many rows", ActionCompute, 0, &Compute{Program: "sha256:aa", Output: &OutputFacts{Bytes: 100, Rows: 51, Aggregate: true, SmallestGroup: 12}}, false, "permission[0].constraint[3]"},
		{"a small group", ActionCompute, 0, &Compute{Program: "sha256:aa", Output: &OutputFacts{Bytes: 100, Rows: 3, Aggregate: true, SmallestGroup: 4}}, false, "permission[0].constraint[4]"},
		{"raw rows", ActionCompute, 0, &Compute{Program: "sha256:aa", Output: &OutputFacts{Bytes: 100, Rows: 3}}, false, "permission[0].constraint[4]"},
		{"use does not reach compute's data", "use", 0, nil, false, "permission"},
		{"transfer is not granted by compute", "transfer", 0, nil, false, "permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := okRequest()
			req.Action, req.Uses, req.Compute = tc.action, tc.uses, tc.compute
			d := Evaluate(context.Background(), c, req)
			if d.Allowed != tc.allowed || d.Rule != tc.rule && !tc.allowed {
				t.Fatalf("allowed %v rule %q (%s), want %v %q", d.Allowed, d.Rule, d.Reason, tc.allowed, tc.rule)
			}
			for _, r := range d.Results {
				if r.Reason == "" {
					t.Errorf("no reason for %s", r.Path)
				}
			}
			t.Logf("%s: %s", d.Rule, d.Reason)
		})
	}
}

func TestUseDoesNotCoverCompute(t *testing.T) {
	c := mustCompile(t, `{"@id":"urn:u","permission":[{"action":"use"}]}`)
	req := okRequest()
	req.Action = ActionCompute
	req.Compute = &Compute{Program: "sha256:aa"}
	if d := Evaluate(context.Background(), c, req); d.Allowed {
		t.Fatal("a use permission allowed a computation")
	}
}

func TestComputeOutputLimit(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   int64
	}{
		{computePolicy, 4096},
		{`{"@id":"urn:x","permission":[{"action":"compute"}]}`, 0},
		{`{"@id":"urn:x","permission":[{"action":"compute","constraint":[{"leftOperand":"outputBytes","operator":"lt","rightOperand":100}]},
		  {"action":"compute","constraint":[{"leftOperand":"outputBytes","operator":"lteq","rightOperand":500}]}]}`, 500},
		{`{"@id":"urn:x","permission":[{"action":"use"}]}`, 0},
	} {
		if got := ComputeOutputLimit(mustCompile(t, tc.policy)); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.policy, got, tc.want)
		}
	}
}

func TestComputeOnlyLimits(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		only         bool
		groupSize    int
		maxUses      int
		grants       []string
	}{
		{"compute only, aggregate-only", computePolicy, true, 10, 3, []string{ActionCompute}},
		{"compute only, no output rule", `{"@id":"urn:x","permission":[{"action":"compute","constraint":[{"leftOperand":"count","operator":"lteq","rightOperand":4}]}]}`, true, 0, 4, []string{ActionCompute}},
		{"two compute permissions: the smaller k", `{"@id":"urn:x","permission":[
		  {"action":"compute","constraint":[{"leftOperand":"groupSize","operator":"gt","rightOperand":19}]},
		  {"action":"compute","constraint":[{"and":[{"leftOperand":"groupSize","operator":"gteq","rightOperand":5}]}]}]}`, true, 5, 0, []string{ActionCompute}},
		{"one compute permission without k", `{"@id":"urn:x","permission":[
		  {"action":"compute","constraint":[{"leftOperand":"groupSize","operator":"gteq","rightOperand":20}]},
		  {"action":"compute"}]}`, true, 0, 0, []string{ActionCompute}},
		{"k only inside an or does not bind", `{"@id":"urn:x","permission":[{"action":"compute","constraint":[{"or":[
		  {"leftOperand":"groupSize","operator":"gteq","rightOperand":20},{"leftOperand":"outputRows","operator":"lteq","rightOperand":1}]}]}]}`, true, 0, 0, []string{ActionCompute}},
		{"use and compute", `{"@id":"urn:x","permission":[{"action":"use","constraint":[{"leftOperand":"count","operator":"lteq","rightOperand":2}]},
		  {"action":"compute","constraint":[{"leftOperand":"groupSize","operator":"gteq","rightOperand":10}]}]}`, false, 0, 2, []string{ActionUse, ActionCompute}},
		{"read", `{"@id":"urn:x","permission":[{"action":"read"}]}`, false, 0, 0, []string{ActionUse}},
		{"prohibitions only", `{"@id":"urn:x","prohibition":[{"action":"distribute"}]}`, false, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.policy)
			l := c.Limits()
			if l.ComputeOnly != tc.only || l.GroupSize != tc.groupSize || l.MaxUses != tc.maxUses {
				t.Errorf("ComputeOnly %v GroupSize %d MaxUses %d, want %v %d %d", l.ComputeOnly, l.GroupSize, l.MaxUses, tc.only, tc.groupSize, tc.maxUses)
			}
			if diff := cmp.Diff(tc.grants, c.Grants()); diff != "" {
				t.Errorf("Grants (-want +got):\n%s", diff)
			}
		})
	}
}

// A compute-only agreement on core data for a consumer in another region of
// the same border: the data stays, aggregates leave. Everything else about
// the space rules stands.
func TestComputeOnlyFlow(t *testing.T) {
	rules, err := ParseSpaceRules([]byte(`{"negativeList":[{"category":"genomic"}],
		"crossBorder":[{"destination":"SG","maxClassification":"core","legalBasis":"PIPL-38-standard-contract"}],
		"ceilings":[{"destination":"*","maxClassification":"important"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	aggregate := mustCompile(t, computePolicy)
	rows := mustCompile(t, `{"@id":"urn:x","permission":[{"action":"compute","constraint":[{"leftOperand":"groupSize","operator":"gteq","rightOperand":1}]}]}`)
	mixed := mustCompile(t, `{"@id":"urn:x","permission":[{"action":"use"},{"action":"compute","constraint":[{"leftOperand":"groupSize","operator":"gteq","rightOperand":10}]}]}`)
	core := func(r *Request) {
		r.Dataset.Classification, r.Dataset.Region, r.Consumer.Region = Core, "CN-BJ", "CN-SH"
	}
	for _, tc := range []struct {
		name   string
		c      *Compiled
		change func(*Request)
		rule   string
		reason string
	}{
		{"core data, aggregates to another region", aggregate, core, "", "compute-only"},
		{"core data, groups of one are rows", rows, core, RuleCoreStaysInRegion, "aggregate-only"},
		{"core data, an agreement that also grants use", mixed, core, RuleCoreStaysInRegion, "may not leave"},
		{"core data across the border", aggregate, func(r *Request) {
			core(r)
			r.Consumer.Region, r.LegalBasis = "SG", "PIPL-38-standard-contract"
		}, RuleCoreStaysInRegion, "export rules"},
		{"important data across the border, no legal basis", aggregate, func(r *Request) { r.Consumer.Region = "SG" }, RuleLegalBasis, "export rules"},
		{"negative list", aggregate, func(r *Request) { core(r); r.Dataset.Category = "genomic" }, RuleNegativeList, "negative list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := okRequest()
			req.Action, req.Uses, req.Compute = ActionCompute, 0, &Compute{Negotiation: true}
			tc.change(&req)
			d := EvaluateWithRules(context.Background(), tc.c, rules, req)
			if tc.rule == "" {
				if !d.Allowed {
					t.Fatalf("denied: %s: %s", d.Rule, d.Reason)
				}
			} else if d.Allowed || d.Rule != tc.rule {
				t.Fatalf("allowed %v rule %q (%s), want %s", d.Allowed, d.Rule, d.Reason, tc.rule)
			}
			last := d.Results[len(d.Results)-1]
			if !strings.Contains(last.Reason, tc.reason) {
				t.Errorf("space result %q, want it to say %q", last.Reason, tc.reason)
			}
			if d.Rule != "" && !d.Allowed && d.Reason != last.Reason {
				t.Errorf("decision reason %q is not the space rule's %q", d.Reason, last.Reason)
			}
			// The ledger asks CheckFlow with the agreement's terms; it agrees.
			f := req.Flow()
			l := tc.c.Limits()
			f.ComputeOnly, f.GroupSize = l.ComputeOnly, l.GroupSize
			if ref := rules.CheckFlow(f); (ref == nil) != (tc.rule == "") || ref != nil && ref.Rule != tc.rule {
				t.Errorf("CheckFlow: %v, want %q", ref, tc.rule)
			}
		})
	}
}

// TestGroupFloor: the space's group-size floors hold compute-only
// agreements to at least their dataset level's k (an entry binds its level
// and above, the strictest wins); agreements that let data leave are not
// compute flows and are untouched; bad floors are refused naming the field.
func TestGroupFloor(t *testing.T) {
	rules, err := ParseSpaceRules([]byte(`{"groupFloors":[{"classification":"general","minGroupSize":5},{"classification":"core","minGroupSize":50}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[Classification]int{General: 5, Important: 5, Core: 50} {
		if got := rules.GroupFloor(c); got != want {
			t.Errorf("GroupFloor(%s) = %d, want %d", c, got, want)
		}
	}
	if k := (SpaceRules{}).GroupFloor(Core); k != 0 {
		t.Errorf("no floors: GroupFloor(core) = %d, want 0", k)
	}
	k10 := mustCompile(t, computePolicy) // groupSize gteq 10
	use := mustCompile(t, `{"@id":"urn:x","permission":[{"action":"use"}]}`)
	for _, tc := range []struct {
		name  string
		c     *Compiled
		class Classification
		rule  string
	}{
		{"important data, k 10 over a floor of 5", k10, Important, ""},
		{"core data, k 10 under a floor of 50", k10, Core, RuleGroupFloor},
		{"important data, an agreement that lets data leave", use, Important, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := okRequest()
			req.Dataset.Classification = tc.class
			if tc.c == k10 {
				req.Action, req.Uses, req.Compute = ActionCompute, 0, &Compute{Negotiation: true}
			}
			d := EvaluateWithRules(context.Background(), tc.c, rules, req)
			if tc.rule == "" && !d.Allowed || tc.rule != "" && (d.Allowed || d.Rule != tc.rule) {
				t.Fatalf("allowed %v rule %q (%s), want rule %q", d.Allowed, d.Rule, d.Reason, tc.rule)
			}
			if tc.rule != "" && (!strings.Contains(d.Reason, "at least 50 rows") || !strings.Contains(d.Reason, "groupSize is 10")) {
				t.Errorf("reason %q: want the floor and the agreement's k", d.Reason)
			}
			// The ledger asks CheckFlow with the agreement's terms; it agrees.
			f := req.Flow()
			l := tc.c.Limits()
			f.ComputeOnly, f.GroupSize = l.ComputeOnly, l.GroupSize
			if ref := rules.CheckFlow(f); (ref == nil) != (tc.rule == "") || ref != nil && ref.Rule != tc.rule {
				t.Errorf("CheckFlow: %v, want %q", ref, tc.rule)
			}
		})
	}
	for _, tc := range []struct{ json, field string }{
		{`{"groupFloors":[{"classification":"secret","minGroupSize":5}]}`, "groupFloors[0].classification"},
		{`{"groupFloors":[{"classification":"core","minGroupSize":1}]}`, "groupFloors[0].minGroupSize"},
		{`{"groupFloors":[{"classification":"core","minGroupSize":2000000}]}`, "groupFloors[0].minGroupSize"},
		{`{"groupFloors":[{"classification":"core","minGroupSize":5},{"classification":"core","minGroupSize":9}]}`, "groupFloors[1].classification"},
	} {
		if _, err := ParseSpaceRules([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error naming %s", tc.json, err, tc.field)
		}
	}
}

// At negotiation no program exists yet: the program constraints pass
// provisionally, the others are judged as for a run.
func TestComputeNegotiation(t *testing.T) {
	c := mustCompile(t, `{"@id":"urn:x","permission":[{"action":"compute","constraint":[
	  {"leftOperand":"program","operator":"isAnyOf","rightOperand":["sha256:aa"]},
	  {"leftOperand":"purpose","operator":"eq","rightOperand":"research"},
	  {"leftOperand":"groupSize","operator":"gteq","rightOperand":10}]}]}`)
	req := okRequest()
	req.Action, req.Uses, req.Compute = ActionCompute, 0, &Compute{Negotiation: true}
	d := Evaluate(context.Background(), c, req)
	if !d.Allowed || !strings.HasPrefix(d.Results[0].Reason, "judged at each run: ") || !strings.HasPrefix(d.Results[2].Reason, "checked on the result: ") {
		t.Fatalf("%+v", d)
	}
	req.Purpose = "marketing"
	if d := Evaluate(context.Background(), c, req); d.Allowed || d.Rule != "permission[0].constraint[1]" {
		t.Fatalf("a wrong purpose at negotiation: %+v", d)
	}
}
