package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Compiled is a policy prepared for evaluation: right operands parsed, bounds
// converted to instants, explanations of satisfied constraints written in
// advance. It is immutable and safe for concurrent use.
type Compiled struct {
	policy       *Policy
	permissions  []crule
	prohibitions []crule
	obligations  []DutyTemplate
	limits       Limits
	results      int // constraints in the whole policy, to size Decision.Results
	duties       int // most duties one decision can owe, to size Decision.Duties
}

type crule struct {
	path, action string
	cons         []node
	duties       []DutyTemplate
}

// node is one compiled constraint.
type node struct {
	path  string // "permission[0].constraint[1]"
	text  string // "purpose eq research"
	left  string
	op    string
	logic string // empty for atomic
	kids  []node
	dom   domain
	ok    string // the explanation when satisfied
	noun  string // what the operand is called in explanations
	pred  string // the right operand in words: `"research"`, "before 2027-…"
}

// Limits are an agreement's terms in the form the ledger records them: the
// time window, the number of uses, the duties owed, and whether the
// agreement is compute-only. A zero NotBefore, NotAfter or MaxUses means
// unbounded.
type Limits struct {
	NotBefore time.Time
	NotAfter  time.Time
	MaxUses   int
	Duties    []DutyTemplate
	// ComputeOnly is set when the policy grants compute and no other
	// action: an agreement on it lets the consumer's programs run where the
	// data is and no byte of the data leave (docs/sandbox.md).
	ComputeOnly bool
	// GroupSize is, for a compute-only policy, the smallest group every
	// compute permission requires of its results (groupSize gteq k, the
	// aggregate-only output rule): the least k of them, 0 when one of them
	// sets no such rule.
	GroupSize int
}

// DutyTemplate is a duty as a policy states it; Evaluate turns it into a
// Duty with a due time.
type DutyTemplate struct {
	ID     string
	Action string // delete, log, notify, anonymise
	// PerUse duties (log, notify) are owed for each use; the others once.
	PerUse bool
	// Within is the period the duty must be met in: after the agreement's
	// start for one-off duties, after each use for per-use ones. Zero if none.
	Within time.Duration
	// By is an absolute deadline (a dateTime constraint on the duty); zero if none.
	By time.Time
}

// Compile prepares a parsed policy for evaluation.
func Compile(p *Policy) (*Compiled, error) {
	if p == nil {
		return nil, fmt.Errorf("policy: compile: nil policy")
	}
	c := &Compiled{policy: p}
	for i, r := range p.Permissions {
		cr, err := c.compileRule(index("permission", i), r)
		if err != nil {
			return nil, err
		}
		c.permissions = append(c.permissions, cr)
	}
	for i, r := range p.Prohibitions {
		cr, err := c.compileRule(index("prohibition", i), r)
		if err != nil {
			return nil, err
		}
		c.prohibitions = append(c.prohibitions, cr)
	}
	for i, o := range p.Obligations {
		d, err := compileDuty(index("obligation", i), o)
		if err != nil {
			return nil, err
		}
		c.obligations = append(c.obligations, d)
	}
	c.limits = c.computeLimits()
	for _, r := range c.permissions {
		c.duties = max(c.duties, len(c.obligations)+len(r.duties))
	}
	return c, nil
}

// Policy returns the policy c was compiled from.
func (c *Compiled) Policy() *Policy { return c.policy }

func (c *Compiled) compileRule(path string, r Rule) (crule, error) {
	cr := crule{path: path, action: r.Action}
	if !ruleActions[r.Action] {
		return crule{}, &ParseError{Path: path + ".action", Reason: fmt.Sprintf("unknown action %q", r.Action)}
	}
	for i, k := range r.Constraints {
		n, err := c.compileNode(index(path+".constraint", i), k)
		if err != nil {
			return crule{}, err
		}
		cr.cons = append(cr.cons, n)
	}
	for i, d := range r.Duties {
		t, err := compileDuty(index(path+".duty", i), d)
		if err != nil {
			return crule{}, err
		}
		cr.duties = append(cr.duties, t)
	}
	return cr, nil
}

func (c *Compiled) compileNode(path string, k Constraint) (node, error) {
	c.results++
	if k.Logical() {
		switch {
		case k.Logic != LogicAnd && k.Logic != LogicOr && k.Logic != LogicXone && k.Logic != LogicAndSequence:
			return node{}, &ParseError{Path: path, Reason: fmt.Sprintf("unknown logical constraint %q", k.Logic)}
		case len(k.Operands) == 0:
			return node{}, &ParseError{Path: path + "." + k.Logic, Reason: "must not be empty"}
		}
		n := node{path: path, logic: k.Logic}
		var parts []string
		for i, o := range k.Operands {
			kid, err := c.compileNode(index(path+"."+k.Logic, i), o)
			if err != nil {
				return node{}, err
			}
			n.kids = append(n.kids, kid)
			parts = append(parts, kid.text)
		}
		n.text = k.Logic + "(" + strings.Join(parts, ", ") + ")"
		switch k.Logic {
		case LogicAnd, LogicAndSequence:
			n.ok = fmt.Sprintf("all %d constraints of %s hold", len(n.kids), k.Logic)
		case LogicOr:
			n.ok = "at least one alternative holds"
		case LogicXone:
			n.ok = "exactly one alternative holds"
		}
		return n, nil
	}
	kind, ok := operandKinds[k.LeftOperand]
	if !ok || !operatorAllowed(kind, k.Operator) || len(k.RightOperand) == 0 || (!listOperator(k.Operator) && len(k.RightOperand) > 1) {
		return node{}, &ParseError{Path: path, Reason: fmt.Sprintf("constraint %s %s %v is outside the profile", k.LeftOperand, k.Operator, k.RightOperand)}
	}
	for i, v := range k.RightOperand {
		if _, err := normValue(kind, v); err != nil {
			return node{}, &ParseError{Path: index(path+".rightOperand", i), Reason: err.Error()}
		}
	}
	n := node{path: path, left: k.LeftOperand, op: k.Operator, dom: toDomain(k)}
	n.text = k.LeftOperand + " " + k.Operator + " " + operandText(k.RightOperand, k.Operator == OpIsAnyOf || k.Operator == OpIsNoneOf)
	n.noun = nouns[k.LeftOperand]
	n.pred = predicate(k)
	if n.dom.neg {
		n.ok = n.noun + " is not " + n.pred
	} else {
		n.ok = n.noun + " is " + n.pred
	}
	return n, nil
}

var nouns = map[string]string{
	LeftPurpose: "purpose", LeftRecipient: "recipient", LeftIndustry: "industry", LeftOrgType: "orgType",
	LeftMembership: "membership", LeftSpatial: "consumer region", LeftDateTime: "time",
	LeftElapsedTime: "time since the agreement started", LeftCount: "use number", LeftClassification: "classification",
	LeftProgram: "program", LeftProgramApproval: "program approval", LeftOutputBytes: "result size in bytes",
	LeftOutputRows: "result rows", LeftGroupSize: "smallest group",
}

func operandText(vs []string, asList bool) string {
	if !asList && len(vs) == 1 {
		return vs[0]
	}
	return "[" + strings.Join(vs, ", ") + "]"
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// predicate says in words what the constraint requires of the operand,
// positively (negated operators use "is not" with it).
func predicate(k Constraint) string {
	vs := k.RightOperand
	kind := operandKinds[k.LeftOperand]
	if kind == kindMembers {
		if len(vs) == 1 {
			return "a member of " + strconv.Quote(vs[0])
		}
		return "a member of one of " + quoteList(vs)
	}
	switch k.Operator {
	case OpEq, OpNeq:
		if kind == kindString || kind == kindRegion || kind == kindLevel {
			return strconv.Quote(vs[0])
		}
		return vs[0]
	case OpIsAnyOf, OpIsNoneOf:
		return "one of " + quoteList(vs)
	case OpIsPartOf:
		if len(vs) == 1 {
			return "within " + vs[0]
		}
		return "within one of " + strings.Join(vs, ", ")
	}
	var before, after string
	switch kind {
	case kindTime:
		before, after = "before", "after"
	case kindLevel:
		before, after = "below", "above"
	default:
		before, after = "less than", "more than"
	}
	switch k.Operator {
	case OpLt:
		return before + " " + vs[0]
	case OpLteq:
		if kind == kindTime {
			return "at or before " + vs[0]
		}
		return "at most " + vs[0]
	case OpGt:
		return after + " " + vs[0]
	case OpGteq:
		if kind == kindTime {
			return "at or after " + vs[0]
		}
		return "at least " + vs[0]
	}
	return k.Operator + " " + vs[0]
}

func compileDuty(path string, o Obligation) (DutyTemplate, error) {
	id := o.ID
	if id == "" {
		id = path
	}
	d := DutyTemplate{ID: id, Action: o.Action, PerUse: perUse(o.Action)}
	if _, ok := dutyAction(o.Action); !ok {
		return DutyTemplate{}, &ParseError{Path: path + ".action", Reason: fmt.Sprintf("unknown duty %q", o.Action)}
	}
	for _, k := range o.Constraints {
		if len(k.RightOperand) != 1 {
			return DutyTemplate{}, &ParseError{Path: path + ".constraint", Reason: "a duty deadline takes one value"}
		}
		switch k.LeftOperand {
		case LeftElapsedTime:
			w, err := parseDuration(k.RightOperand[0])
			if err != nil {
				return DutyTemplate{}, &ParseError{Path: path + ".constraint", Reason: err.Error()}
			}
			d.Within = w
		case LeftDateTime:
			t, err := parseDateTime(k.RightOperand[0])
			if err != nil {
				return DutyTemplate{}, &ParseError{Path: path + ".constraint", Reason: err.Error()}
			}
			d.By = t
		}
	}
	return d, nil
}

// Limits returns the policy's time window, use limit and duties, for the
// ledger's record of an agreement. With several permissions the window and
// limit are the loosest any of them allows.
func (c *Compiled) Limits() Limits {
	l := c.limits
	l.Duties = append([]DutyTemplate(nil), l.Duties...)
	return l
}

// minGroupSize is the least k of the groupSize gteq k every compute
// permission sets (directly or under and/andSequence), 0 when one sets none.
func (c *Compiled) minGroupSize() int {
	least := 0
	for _, r := range c.permissions {
		if r.action != ActionCompute {
			continue
		}
		k := 0
		var walk func(ns []node)
		walk = func(ns []node) {
			for _, n := range ns {
				switch {
				case n.logic == LogicAnd || n.logic == LogicAndSequence:
					walk(n.kids)
				case n.logic == "" && n.left == LeftGroupSize && !n.dom.neg && n.dom.lo != math.MinInt64:
					k = max(k, int(min(n.dom.lo, math.MaxInt32)))
				}
			}
		}
		walk(r.cons)
		if k == 0 {
			return 0
		}
		if least == 0 || k < least {
			least = k
		}
	}
	return least
}

// Grants returns the uses an agreement on c is put to, each judged when the
// agreement is negotiated: ActionUse when a permission grants any action but
// compute (the data leaving, as a transfer evaluates it), and ActionCompute
// when one grants compute.
func (c *Compiled) Grants() []string {
	var use, compute bool
	for _, r := range c.permissions {
		if r.action == ActionCompute {
			compute = true
		} else {
			use = true
		}
	}
	var out []string
	if use {
		out = append(out, ActionUse)
	}
	if compute {
		out = append(out, ActionCompute)
	}
	return out
}

func (c *Compiled) computeLimits() Limits {
	var l Limits
	l.Duties = append(l.Duties, c.obligations...)
	l.ComputeOnly = len(c.permissions) > 0
	for _, r := range c.permissions {
		if r.action != ActionCompute {
			l.ComputeOnly = false
		}
	}
	if l.ComputeOnly {
		l.GroupSize = c.minGroupSize()
	}
	first := true
	for _, r := range c.permissions {
		// A compute-only agreement's window and use limit are its compute
		// permissions'; otherwise those of the permissions that let the
		// data leave.
		if l.ComputeOnly && r.action != ActionCompute || !l.ComputeOnly && r.action != "use" && r.action != "read" && r.action != "transfer" {
			continue
		}
		var nb, na time.Time
		maxUses := 0
		var walk func(ns []node)
		walk = func(ns []node) {
			for _, n := range ns {
				if n.logic == LogicAnd || n.logic == LogicAndSequence {
					walk(n.kids)
					continue
				}
				if n.logic != "" || n.dom.neg {
					continue
				}
				switch n.left {
				case LeftDateTime:
					if n.dom.hi != math.MaxInt64 {
						t := time.Unix(0, n.dom.hi) // the bound as written: lt T and lteq T both give T
						if n.op == OpLt {
							t = time.Unix(0, inc(n.dom.hi))
						}
						if na.IsZero() || t.Before(na) {
							na = t
						}
					}
					if n.dom.lo != math.MinInt64 {
						t := time.Unix(0, n.dom.lo)
						if n.op == OpGt {
							t = time.Unix(0, dec(n.dom.lo))
						}
						if nb.IsZero() || t.After(nb) {
							nb = t
						}
					}
				case LeftCount:
					if n.dom.hi != math.MaxInt64 && (maxUses == 0 || int(n.dom.hi) < maxUses) {
						maxUses = max(int(n.dom.hi), 0)
					}
				}
			}
		}
		walk(r.cons)
		if first {
			l.NotBefore, l.NotAfter, l.MaxUses = nb, na, maxUses
			first = false
		} else {
			if nb.IsZero() || nb.Before(l.NotBefore) {
				l.NotBefore = nb
			}
			if na.IsZero() || !l.NotAfter.IsZero() && na.After(l.NotAfter) {
				l.NotAfter = na
			}
			if maxUses == 0 || l.MaxUses != 0 && maxUses > l.MaxUses {
				l.MaxUses = maxUses
			}
		}
		l.Duties = append(l.Duties, r.duties...)
	}
	if !l.NotBefore.IsZero() {
		l.NotBefore = l.NotBefore.UTC()
	}
	if !l.NotAfter.IsZero() {
		l.NotAfter = l.NotAfter.UTC()
	}
	return l
}
