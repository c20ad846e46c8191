package policy

import (
	"context"
	"strconv"
	"time"
)

// Request is what a decision is asked about: who wants to do what with which
// dataset, when, and how often they have already done it.
type Request struct {
	// Action defaults to "use".
	Action  string    `json:"action,omitempty"`
	Purpose string    `json:"purpose,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// AgreementStart is the origin of elapsedTime and of one-off duties' due times.
	AgreementStart time.Time `json:"agreementStart,omitzero"`
	// Uses is the number of uses so far under the agreement, read from the
	// ledger by the caller; count constraints judge Uses+1, the number this use
	// would make.
	Uses       int         `json:"uses,omitempty"`
	Consumer   Party       `json:"consumer"`
	Dataset    DatasetInfo `json:"dataset"`
	LegalBasis string      `json:"legalBasis,omitempty"`
	// Compute describes a compute request: the program, and once it has run,
	// its result. Nil for other actions.
	Compute *Compute `json:"compute,omitempty"`
}

// Compute is what the compute action's constraints judge. Before a run Output
// is nil and the output constraints are satisfied provisionally (their reason
// says they are checked on the result); the caller evaluates again with the
// result's Output, and only an allowed second decision lets the result leave.
type Compute struct {
	// Program is the module's hash, "sha256:" and lower-case hex.
	Program string `json:"program"`
	// Approval is ApprovalOperator when the provider's operator approved it.
	Approval string       `json:"approval,omitempty"`
	Output   *OutputFacts `json:"output,omitempty"`
	// Negotiation asks whether an agreement may grant compute at all, before
	// any program exists: the program constraints, like the output ones,
	// pass provisionally (their reason says they are judged at each run).
	Negotiation bool `json:"negotiation,omitempty"`
}

// OutputFacts are what a result shows the output constraints.
type OutputFacts struct {
	Bytes int64 `json:"bytes"`
	Rows  int   `json:"rows"`
	// Aggregate is true when the result is a table with a count column;
	// SmallestGroup is then its smallest count (0 for no rows).
	Aggregate     bool `json:"aggregate"`
	SmallestGroup int  `json:"smallestGroup,omitempty"`
}

// Party is the consumer's registered attributes.
type Party struct {
	ID       string   `json:"id,omitempty"`
	Region   string   `json:"region,omitempty"`
	Industry string   `json:"industry,omitempty"`
	OrgType  string   `json:"orgType,omitempty"`
	Member   []string `json:"member,omitempty"`
}

// DatasetInfo is what the space rules and classification constraints need
// to know about the dataset.
type DatasetInfo struct {
	ID             string         `json:"id,omitempty"`
	Category       string         `json:"category,omitempty"`
	Classification Classification `json:"classification,omitempty"`
	// Region is where the dataset is held: the origin of a flow.
	Region string `json:"region,omitempty"`
}

// Result is one constraint's outcome with a reason a person can read.
type Result struct {
	Path       string `json:"path"`
	Constraint string `json:"constraint"`
	Satisfied  bool   `json:"satisfied"`
	Reason     string `json:"reason"`
}

// Duty is a duty owed because of an allowed use.
type Duty struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	// Due is when a one-off duty falls due; zero for per-use duties.
	Due time.Time `json:"due,omitzero"`
	// Within is the period the policy gives (after the agreement's start, or
	// after each use for per-use duties); zero if none.
	Within time.Duration `json:"within,omitempty"`
}

// Decision is the engine's answer. Reason is the first refusal in plain
// words and Rule the path of the rule or constraint that refused (a space
// rule's name, such as space.negative-list, when a space rule refused).
type Decision struct {
	Allowed bool     `json:"allowed"`
	Rule    string   `json:"rule,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Results []Result `json:"results"`
	Duties  []Duty   `json:"duties,omitempty"`
}

// Evaluate decides a request against a compiled policy. An action is allowed
// when a permission covering it has all its constraints satisfied and no
// prohibition covering it has all of its satisfied; prohibitions win.
func Evaluate(ctx context.Context, c *Compiled, req Request) Decision {
	var d Decision
	c.EvaluateInto(ctx, req, &d)
	return d
}

// EvaluateInto is Evaluate writing into d and reusing its slices, so a
// caller deciding in a loop allocates nothing when requests are allowed.
func (c *Compiled) EvaluateInto(ctx context.Context, req Request, d *Decision) {
	d.Allowed, d.Rule, d.Reason = false, "", ""
	if cap(d.Results) < c.results {
		d.Results = make([]Result, 0, c.results)
	}
	if cap(d.Duties) < c.duties {
		d.Duties = make([]Duty, 0, c.duties)
	}
	d.Results, d.Duties = d.Results[:0], d.Duties[:0]
	if err := ctx.Err(); err != nil {
		d.Rule, d.Reason = "context", "decision abandoned: "+err.Error()
		return
	}
	action := req.Action
	if action == "" {
		action = "use"
	}
	granted := -1
	for i := range c.permissions {
		r := &c.permissions[i]
		if !covers(r.action, action) {
			continue
		}
		ok, fail := evalAll(r.cons, &req, d)
		if ok && granted < 0 {
			granted = i
		}
		if !ok && d.Rule == "" {
			d.Rule, d.Reason = d.Results[fail].Path, d.Results[fail].Reason
		}
	}
	if granted < 0 && d.Rule == "" {
		d.Rule, d.Reason = "permission", "no permission covers action "+strconv.Quote(action)
	}
	prohibited := false
	for i := range c.prohibitions {
		r := &c.prohibitions[i]
		if !covers(r.action, action) {
			continue
		}
		start := len(d.Results)
		if ok, _ := evalAll(r.cons, &req, d); ok && !prohibited {
			prohibited, granted = true, -1
			d.Rule, d.Reason = r.path, prohibitedReason(r, action, d.Results[start:])
		}
	}
	if granted < 0 {
		return
	}
	d.Allowed, d.Rule, d.Reason = true, c.permissions[granted].path, ""
	appendDuties(d, c.obligations, &req)
	appendDuties(d, c.permissions[granted].duties, &req)
}

func prohibitedReason(r *crule, action string, rs []Result) string {
	s := action + " is prohibited"
	if r.action != action {
		s = action + " is prohibited (" + r.action + ")"
	}
	for i, res := range rs {
		if i == 0 {
			s += " when "
		} else {
			s += " and "
		}
		s += res.Reason
	}
	return s
}

func appendDuties(d *Decision, ts []DutyTemplate, req *Request) {
	for i := range ts {
		t := &ts[i]
		duty := Duty{ID: t.ID, Action: t.Action, Within: t.Within}
		switch {
		case !t.By.IsZero():
			duty.Due = t.By
		case !t.PerUse && t.Within > 0:
			start := req.AgreementStart
			if start.IsZero() {
				start = req.Time
			}
			duty.Due = start.Add(t.Within)
		}
		d.Duties = append(d.Duties, duty)
	}
}

// evalAll evaluates every constraint of a rule (all are reported, for the
// explanation) and returns whether all hold and the result index of the
// first that does not.
func evalAll(ns []node, req *Request, d *Decision) (bool, int) {
	all, fail := true, -1
	for i := range ns {
		if ok, at := evalNode(&ns[i], req, d); !ok && all {
			all, fail = false, at
		}
	}
	return all, fail
}

// evalNode appends n's result (and its operands' results) and returns
// whether n holds and the index of its result.
func evalNode(n *node, req *Request, d *Decision) (bool, int) {
	at := len(d.Results)
	d.Results = append(d.Results, Result{Path: n.path, Constraint: n.text})
	if n.logic == "" {
		ok, reason := evalAtomic(n, req)
		d.Results[at].Satisfied, d.Results[at].Reason = ok, reason
		return ok, at
	}
	held, firstFail, firstHeld := 0, -1, -1
	for i := range n.kids {
		if n.logic == LogicAndSequence && firstFail >= 0 {
			k := &n.kids[i]
			d.Results = append(d.Results, Result{Path: k.path, Constraint: k.text, Reason: "not evaluated: an earlier constraint of the sequence failed"})
			continue
		}
		ok, kat := evalNode(&n.kids[i], req, d)
		if ok {
			held++
			if firstHeld < 0 {
				firstHeld = kat
			}
		} else if firstFail < 0 {
			firstFail = kat
		}
	}
	var ok bool
	var reason string
	switch n.logic {
	case LogicAnd, LogicAndSequence:
		ok = firstFail < 0
		if !ok {
			reason = d.Results[firstFail].Reason
		}
	case LogicOr:
		ok = held > 0
		if !ok {
			reason = "none of the " + strconv.Itoa(len(n.kids)) + " alternatives holds"
		}
	case LogicXone:
		ok = held == 1
		if !ok {
			reason = "exactly one of the " + strconv.Itoa(len(n.kids)) + " alternatives must hold; " + strconv.Itoa(held) + " do"
		}
	}
	if ok {
		reason = n.ok
	}
	d.Results[at].Satisfied, d.Results[at].Reason = ok, reason
	return ok, at
}

// evalAtomic judges one atomic constraint. The satisfied path allocates
// nothing; explanations of failures are built as needed.
func evalAtomic(n *node, req *Request) (bool, string) {
	dom := &n.dom
	var ok bool
	switch n.left {
	case LeftPurpose, LeftRecipient, LeftIndustry, LeftOrgType:
		v := stringOperand(n.left, req)
		if v == "" {
			return false, "the request gives no " + n.noun
		}
		if ok = dom.admitsString(v); ok {
			return true, n.ok
		}
		return false, failReason(n, strconv.Quote(v))
	case LeftMembership:
		if ok = dom.admitsMembers(req.Consumer.Member); ok {
			return true, n.ok
		}
		if dom.neg {
			return false, "the consumer is " + n.pred + ", which is excluded"
		}
		return false, "the consumer is not " + n.pred + " (memberships: " + quoteList(req.Consumer.Member) + ")"
	case LeftSpatial:
		v := req.Consumer.Region
		if v == "" {
			return false, "the request gives no consumer region"
		}
		if ok = dom.admitsRegion(v); ok {
			return true, n.ok
		}
		return false, failReason(n, v)
	case LeftDateTime:
		if req.Time.IsZero() {
			return false, "the request gives no time"
		}
		if ok = dom.admitsOrdinal(instant(req.Time)); ok {
			return true, n.ok
		}
		return false, failReason(n, req.Time.Format(time.RFC3339Nano))
	case LeftElapsedTime:
		if req.Time.IsZero() || req.AgreementStart.IsZero() {
			return false, "the request gives no time or agreement start"
		}
		e := req.Time.Sub(req.AgreementStart)
		if ok = dom.admitsOrdinal(int64(e)); ok {
			return true, n.ok
		}
		return false, failReason(n, formatDuration(e))
	case LeftCount:
		if req.Uses < 0 {
			return false, "the request gives a negative use count"
		}
		if ok = dom.admitsOrdinal(int64(req.Uses) + 1); ok {
			return true, n.ok
		}
		return false, failReason(n, strconv.Itoa(req.Uses+1))
	case LeftProgram, LeftProgramApproval:
		if req.Compute == nil {
			return false, "the request runs no program"
		}
		if req.Compute.Negotiation {
			return true, "judged at each run: " + n.ok
		}
		v := req.Compute.Program
		if n.left == LeftProgramApproval {
			if v = req.Compute.Approval; v == "" {
				return false, "the program has no approval"
			}
		}
		if ok = dom.admitsString(v); ok {
			return true, n.ok
		}
		return false, failReason(n, strconv.Quote(v))
	case LeftOutputBytes, LeftOutputRows, LeftGroupSize:
		if req.Compute == nil {
			return false, "the request runs no program"
		}
		out := req.Compute.Output
		if out == nil {
			return true, "checked on the result: " + n.ok
		}
		var v int64
		switch n.left {
		case LeftOutputBytes:
			v = out.Bytes
		case LeftOutputRows:
			v = int64(out.Rows)
		case LeftGroupSize:
			if !out.Aggregate {
				return false, "the result is not an aggregate: it has no count column"
			}
			if out.Rows == 0 {
				return true, "the result has no groups"
			}
			v = int64(out.SmallestGroup)
		}
		if ok = dom.admitsOrdinal(v); ok {
			return true, n.ok
		}
		return false, failReason(n, strconv.FormatInt(v, 10))
	case LeftClassification:
		bit := levelBit(req.Dataset.Classification)
		if bit == 0 {
			return false, "the dataset's classification is unknown (" + strconv.Quote(string(req.Dataset.Classification)) + ")"
		}
		if ok = dom.mask&bit != 0; ok {
			return true, n.ok
		}
		return false, failReason(n, strconv.Quote(string(req.Dataset.Classification)))
	}
	return false, "unknown left operand " + n.left
}

func stringOperand(left string, req *Request) string {
	switch left {
	case LeftPurpose:
		return req.Purpose
	case LeftRecipient:
		return req.Consumer.ID
	case LeftIndustry:
		return req.Consumer.Industry
	case LeftOrgType:
		return req.Consumer.OrgType
	}
	return ""
}

func failReason(n *node, value string) string {
	if n.dom.neg {
		return n.noun + " " + value + " is " + n.pred + ", which is excluded"
	}
	return n.noun + " " + value + " is not " + n.pred
}

// EvaluateWithRules decides a request against an offer's compiled policy and
// the space's rules together. The space rules win: a flow they refuse is
// denied whatever the policy says, and the decision names the space rule
// (space.negative-list, space.cross-border-whitelist, ...). The flow is the
// dataset moving from its region (Dataset.Region) to the consumer's; under
// a compute-only policy (Limits.ComputeOnly) it is a compute-only flow with
// the policy's aggregate-only rule (SpaceRules.CheckFlow).
func EvaluateWithRules(ctx context.Context, c *Compiled, rules SpaceRules, req Request) Decision {
	d := Decision{Results: make([]Result, 0, c.results+1)}
	c.EvaluateInto(ctx, req, &d)
	f := req.Flow()
	f.ComputeOnly, f.GroupSize = c.limits.ComputeOnly, c.limits.GroupSize
	res := rules.evaluateFlow(f)
	d.Results = append(d.Results, res)
	if !res.Satisfied {
		d.Allowed, d.Rule, d.Reason, d.Duties = false, res.Path, res.Reason, nil
	}
	return d
}
