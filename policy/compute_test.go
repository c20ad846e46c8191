package policy

import (
	"context"
	"testing"
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
