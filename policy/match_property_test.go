package policy

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// Match must be sound: when it accepts a request as narrower than an offer,
// every request the consumer's policy allows, the offer allows too. This
// checks it on random policies over small value pools, against random
// requests, with a fixed seed.
func TestMatchIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	some := func(vs ...string) []string {
		var out []string
		for _, v := range vs {
			if rng.IntN(2) == 0 {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			out = []string{vs[0]}
		}
		return out
	}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	times := []string{"2026-06-01T00:00:00Z", "2026-06-01T08:00:00+08:00", "2026-06-02T00:00:00+08:00", "2026-06-03T00:00:00Z"}
	randConstraint := func() Constraint {
		switch rng.IntN(6) {
		case 0:
			op := pick(OpEq, OpNeq, OpIsAnyOf, OpIsNoneOf)
			vs := []string{pick("a", "b", "c")}
			if op == OpIsAnyOf || op == OpIsNoneOf {
				vs = some("a", "b", "c")
			}
			return Constraint{LeftOperand: LeftPurpose, Operator: op, RightOperand: vs}
		case 1:
			op := pick(OpEq, OpNeq, OpIsAnyOf, OpIsNoneOf, OpIsPartOf)
			vs := []string{pick("CN", "CN-BJ", "CN-SH", "SG")}
			if op != OpEq && op != OpNeq {
				vs = some("CN", "CN-BJ", "CN-SH", "SG")
			}
			return Constraint{LeftOperand: LeftSpatial, Operator: op, RightOperand: vs}
		case 2:
			return Constraint{LeftOperand: LeftCount, Operator: pick(OpEq, OpNeq, OpLt, OpLteq, OpGt, OpGteq), RightOperand: []string{strconv.Itoa(rng.IntN(5))}}
		case 3:
			return Constraint{LeftOperand: LeftDateTime, Operator: pick(OpLt, OpLteq, OpGt, OpGteq), RightOperand: []string{pick(times...)}}
		case 4:
			op := pick(OpEq, OpNeq, OpLt, OpLteq, OpGt, OpGteq, OpIsAnyOf, OpIsNoneOf)
			vs := []string{pick("general", "important", "core")}
			if op == OpIsAnyOf || op == OpIsNoneOf {
				vs = some("general", "important", "core")
			}
			return Constraint{LeftOperand: LeftClassification, Operator: op, RightOperand: vs}
		}
		op := pick(OpEq, OpNeq, OpIsAnyOf, OpIsNoneOf)
		vs := []string{pick("x", "y")}
		if op == OpIsAnyOf || op == OpIsNoneOf {
			vs = some("x", "y", "z")
		}
		return Constraint{LeftOperand: LeftMembership, Operator: op, RightOperand: vs}
	}
	randConstraints := func() []Constraint {
		var cs []Constraint
		for range 1 + rng.IntN(3) {
			if rng.IntN(5) == 0 {
				cs = append(cs, Constraint{Logic: pick(LogicOr, LogicAnd, LogicXone), Operands: []Constraint{randConstraint(), randConstraint()}})
			} else {
				cs = append(cs, randConstraint())
			}
		}
		return cs
	}
	randPolicy := func() *Policy {
		p := &Policy{ID: "urn:p", Type: "Offer", Permissions: []Rule{{Action: pick("use", "read"), Constraints: randConstraints()}}}
		if rng.IntN(3) == 0 {
			p.Prohibitions = []Rule{{Action: "use", Constraints: []Constraint{randConstraint()}}}
		}
		return p
	}
	randRequest := func() Request {
		return Request{
			Action:   pick("use", "read"),
			Purpose:  pick("a", "b", "c", "d"),
			Time:     base.Add(time.Duration(rng.IntN(80)) * time.Hour),
			Uses:     rng.IntN(6),
			Consumer: Party{Region: pick("CN", "CN-BJ", "CN-SH", "SG", "US"), Member: some("x", "y", "z", "w")},
			Dataset:  DatasetInfo{Classification: Classification(pick("general", "important", "core"))},
		}
	}
	ctx := context.Background()
	matched := 0
	for i := range 20000 {
		offer := randPolicy()
		request := randPolicy()
		if i%3 == 0 { // a request built from the offer, often narrower
			request = &Policy{ID: "urn:r", Type: "Offer", Permissions: []Rule{{Action: offer.Permissions[0].Action,
				Constraints: append(append([]Constraint(nil), offer.Permissions[0].Constraints...), randConstraint())}}, Prohibitions: offer.Prohibitions}
		}
		if Match(offer, request) != nil {
			continue
		}
		matched++
		oc, err := Compile(offer)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := Compile(request)
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			req := randRequest()
			if Evaluate(ctx, rc, req).Allowed && !Evaluate(ctx, oc, req).Allowed {
				t.Fatalf("Match accepted a broader request.\noffer:   %s\nrequest: %s\nrequest %+v: %s",
					offer.Canonical(), request.Canonical(), req, Evaluate(ctx, oc, req).Reason)
			}
		}
	}
	if matched < 1000 {
		t.Errorf("only %d random pairs matched; the test is not exercising Match", matched)
	}
}
