package policy

import (
	"bytes"
	"encoding/json"
)

// Policy is one ODRL 2.2 policy in this profile: an Offer (in a catalogue or
// a contract negotiation), an Agreement, or a Set. Parse builds it from DSP
// JSON-LD (compact form) and MarshalJSON writes it back in the shape the DSP
// 2025-1 contract schema expects. Values are held normalised (region codes
// upper-case, levels lower-case, terms without prefixes); their meaning is
// what Compile, Match and Hash work on.
type Policy struct {
	ID   string
	Type string // "Offer", "Agreement" or "Set"
	// Profile lists the ODRL profiles the policy names, as given.
	Profile []string
	// Target is the dataset the policy governs. A catalogue Offer omits it (the
	// dataset carries the policy); a negotiation Offer and an Agreement name it.
	Target   string
	Assigner string
	Assignee string
	// Timestamp is an Agreement's xsd:dateTime, as given.
	Timestamp    string
	Permissions  []Rule
	Prohibitions []Rule
	Obligations  []Obligation
}

// Rule is a permission or a prohibition: an action and the constraints under
// which it applies. A permission may carry duties owed when it is exercised.
type Rule struct {
	ID          string
	Action      string
	Constraints []Constraint
	Duties      []Obligation
}

// Obligation is a duty: delete, log, notify or anonymise, optionally bound by
// an elapsedTime (within a period of the agreement's start, or of each use for
// log and notify) or a dateTime (by an instant) constraint.
type Obligation struct {
	ID          string
	Action      string
	Constraints []Constraint
}

// Constraint is atomic (LeftOperand, Operator, RightOperand) or logical (Logic
// with Operands). RightOperand holds one value, or several for the list
// operators isAnyOf, isNoneOf and isPartOf.
type Constraint struct {
	LeftOperand  string
	Operator     string
	RightOperand []string

	Logic    string // "and", "or", "xone", "andSequence"; empty when atomic
	Operands []Constraint
}

// Logical reports whether c is a logical constraint.
func (c Constraint) Logical() bool { return c.Logic != "" }

type wirePolicy struct {
	ID          string           `json:"@id"`
	Type        string           `json:"@type"`
	Profile     any              `json:"profile,omitempty"`
	Target      string           `json:"target,omitempty"`
	Assigner    string           `json:"assigner,omitempty"`
	Assignee    string           `json:"assignee,omitempty"`
	Timestamp   string           `json:"timestamp,omitempty"`
	Permission  []wireRule       `json:"permission,omitempty"`
	Prohibition []wireRule       `json:"prohibition,omitempty"`
	Obligation  []wireObligation `json:"obligation,omitempty"`
}

type wireRule struct {
	ID         string           `json:"@id,omitempty"`
	Action     string           `json:"action"`
	Constraint []wireConstraint `json:"constraint,omitempty"`
	Duty       []wireObligation `json:"duty,omitempty"`
}

type wireObligation struct {
	ID         string           `json:"@id,omitempty"`
	Action     string           `json:"action"`
	Constraint []wireConstraint `json:"constraint,omitempty"`
}

type wireConstraint struct {
	LeftOperand  string           `json:"leftOperand,omitempty"`
	Operator     string           `json:"operator,omitempty"`
	RightOperand any              `json:"rightOperand,omitempty"`
	And          []wireConstraint `json:"and,omitempty"`
	Or           []wireConstraint `json:"or,omitempty"`
	Xone         []wireConstraint `json:"xone,omitempty"`
	AndSequence  []wireConstraint `json:"andSequence,omitempty"`
}

// MarshalJSON writes the policy in DSP 2025-1 compact form, bare terms, ready
// to sit in an offer, a catalogue's hasPolicy or an agreement. It has no
// @context of its own: the enclosing DSP message carries it. (A value
// receiver, so a Policy held by value in a message struct marshals too.)
func (p Policy) MarshalJSON() ([]byte, error) {
	w := wirePolicy{ID: p.ID, Type: p.Type, Target: p.Target, Assigner: p.Assigner, Assignee: p.Assignee, Timestamp: p.Timestamp}
	switch len(p.Profile) {
	case 0:
	case 1:
		w.Profile = p.Profile[0]
	default:
		w.Profile = p.Profile
	}
	for _, r := range p.Permissions {
		w.Permission = append(w.Permission, r.wire())
	}
	for _, r := range p.Prohibitions {
		w.Prohibition = append(w.Prohibition, r.wire())
	}
	for _, o := range p.Obligations {
		w.Obligation = append(w.Obligation, o.wire())
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (r Rule) wire() wireRule {
	w := wireRule{ID: r.ID, Action: r.Action, Constraint: wireConstraints(r.Constraints)}
	for _, d := range r.Duties {
		w.Duty = append(w.Duty, d.wire())
	}
	return w
}

func (o Obligation) wire() wireObligation {
	action := o.Action
	if action == DutyAnonymise {
		action = "anonymize" // ODRL's spelling on the wire
	}
	return wireObligation{ID: o.ID, Action: action, Constraint: wireConstraints(o.Constraints)}
}

func wireConstraints(cs []Constraint) []wireConstraint {
	if len(cs) == 0 {
		return nil
	}
	out := make([]wireConstraint, len(cs))
	for i, c := range cs {
		out[i] = c.wire()
	}
	return out
}

func (c Constraint) wire() wireConstraint {
	switch c.Logic {
	case LogicAnd:
		return wireConstraint{And: wireConstraints(c.Operands)}
	case LogicOr:
		return wireConstraint{Or: wireConstraints(c.Operands)}
	case LogicXone:
		return wireConstraint{Xone: wireConstraints(c.Operands)}
	case LogicAndSequence:
		return wireConstraint{AndSequence: wireConstraints(c.Operands)}
	}
	w := wireConstraint{LeftOperand: c.LeftOperand, Operator: c.Operator}
	if c.Operator == OpIsAnyOf || c.Operator == OpIsNoneOf || len(c.RightOperand) > 1 {
		w.RightOperand = append([]string(nil), c.RightOperand...)
	} else if len(c.RightOperand) == 1 {
		w.RightOperand = c.RightOperand[0]
	}
	return w
}

// UnmarshalJSON parses a policy with Parse, so a DSP message struct with a
// Policy field refuses policies outside the profile as it decodes.
func (p *Policy) UnmarshalJSON(data []byte) error {
	q, err := Parse(data)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}
