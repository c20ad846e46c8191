package policy

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestTemplates(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	t.Run("department sharing", func(t *testing.T) {
		p, err := DepartmentSharing(SharingParams{ID: "urn:share", Target: "urn:d", Departments: []string{"did:web:transport.gov"}, Purposes: []string{"statutory-duty"}, Region: "CN-BJ"})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := Compile(p)
		req := Request{Purpose: "statutory-duty", Time: at, Consumer: Party{ID: "did:web:transport.gov", OrgType: "government", Region: "CN-BJ"}, Dataset: DatasetInfo{Classification: Important}}
		if d := Evaluate(ctx, c, req); !d.Allowed || len(d.Duties) != 1 || d.Duties[0].Action != DutyLog {
			t.Fatalf("department: %+v", d)
		}
		req.Consumer.ID = "did:web:company"
		if d := Evaluate(ctx, c, req); d.Allowed || d.Rule != "permission[0].constraint[0]" {
			t.Errorf("another recipient: %+v", d)
		}
		req.Consumer.ID, req.Action = "did:web:transport.gov", "distribute"
		if d := Evaluate(ctx, c, req); d.Allowed || d.Rule != "prohibition[0]" {
			t.Errorf("distribution: %+v", d)
		}
	})

	t.Run("open data", func(t *testing.T) {
		p, err := OpenData(OpenDataParams{ID: "urn:open", ExcludedPurposes: []string{"surveillance"}})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := Compile(p)
		req := Request{Purpose: "anything", Time: at, Dataset: DatasetInfo{Classification: General}}
		if d := Evaluate(ctx, c, req); !d.Allowed {
			t.Fatalf("open data denied: %s", d.Reason)
		}
		req.Dataset.Classification = Important
		if d := Evaluate(ctx, c, req); d.Allowed || !strings.Contains(d.Reason, "important") {
			t.Errorf("important data opened: %+v", d)
		}
		req.Dataset.Classification, req.Purpose = General, "surveillance"
		if d := Evaluate(ctx, c, req); d.Allowed {
			t.Errorf("excluded purpose allowed")
		}
	})

	t.Run("authorised operation", func(t *testing.T) {
		notAfter := time.Date(2028, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
		p, err := AuthorisedOperation(OperationParams{ID: "urn:op", Target: "urn:d", Operator: "did:web:op", Purposes: []string{"traffic-app"},
			NotBefore: at, NotAfter: notAfter, MaxUses: 500, Region: "CN", Retention: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := Compile(p)
		start := at.Add(time.Hour)
		req := Request{Purpose: "traffic-app", Time: start.Add(time.Hour), AgreementStart: start, Uses: 10,
			Consumer: Party{ID: "did:web:op", Region: "CN-SH"}, Dataset: DatasetInfo{Classification: Important}}
		d := Evaluate(ctx, c, req)
		if !d.Allowed {
			t.Fatalf("operator denied: %s", d.Reason)
		}
		var actions []string
		for _, duty := range d.Duties {
			actions = append(actions, duty.Action)
			if duty.Action == DutyDelete && !duty.Due.Equal(start.Add(7*24*time.Hour)) {
				t.Errorf("delete due %v", duty.Due)
			}
		}
		if strings.Join(actions, ",") != "log,notify,delete" {
			t.Errorf("duties %v", actions)
		}
		l := c.Limits()
		if !l.NotBefore.Equal(at) || !l.NotAfter.Equal(notAfter) || l.MaxUses != 500 {
			t.Errorf("limits %+v", l)
		}
		req.Time = notAfter
		if d := Evaluate(ctx, c, req); d.Allowed {
			t.Error("allowed after the term")
		}
	})

	t.Run("missing parameters", func(t *testing.T) {
		if _, err := AuthorisedOperation(OperationParams{ID: "urn:op", Operator: "x", Purposes: []string{"p"}, Region: "CN"}); err == nil || !strings.Contains(err.Error(), "NotAfter") {
			t.Errorf("err = %v, want NotAfter required", err)
		}
		if _, err := DepartmentSharing(SharingParams{ID: "urn:s"}); err == nil {
			t.Error("sharing without departments accepted")
		}
		if _, err := AuthorisedOperation(OperationParams{ID: "urn:op", Operator: "x", Purposes: []string{"p"}, Region: "C", NotAfter: at}); err == nil {
			t.Error("bad region accepted")
		}
	})
}

func TestLint(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     []string // "path: message" prefixes
	}{
		{"clean", string(readExample(t)), nil},
		{"contradiction", atomicPair(`{"leftOperand":"count","operator":"lt","rightOperand":5}`, `{"leftOperand":"count","operator":"gt","rightOperand":10}`),
			[]string{"target: no target", "permission[0].constraint[0]: contradictory constraints on count"}},
		{"expired", strings.Replace(string(readExample(t)), "2027-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00", 1),
			[]string{"permission[0].constraint[1]: dateTime bound has passed"}},
		{"no use", strings.Replace(string(readExample(t)), `"lteq", "rightOperand": 100`, `"lt", "rightOperand": 1`, 1),
			[]string{"permission[0].constraint[2]: count allows no use"}},
		{"unrestricted and duplicate", `{"@id":"urn:t","target":"urn:d","permission":[{"action":"use"},{"action":"odrl:use"}]}`,
			[]string{"permission[0]: permission for use has no constraints", "permission[1]: same as permission[0]", "permission[1]: permission for use has no constraints"}},
		{"unknown term", atomicPair(`{"leftOperand":"foo","operator":"eq","rightOperand":"x"}`, `{"leftOperand":"purpose","operator":"eq","rightOperand":"x"}`),
			[]string{`permission[0].constraint[0].leftOperand: unknown left operand "foo"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Lint([]byte(tt.in), now)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %+v, want %d", len(got), got, len(tt.want))
			}
			for i, p := range got {
				if s := p.Path + ": " + p.Message; !strings.HasPrefix(s, tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, s, tt.want[i])
				}
			}
		})
	}
}

func atomicPair(a, b string) string {
	return `{"@id":"urn:t","@type":"Offer","permission":[{"action":"use","constraint":[` + a + `,` + b + `]}]}`
}
