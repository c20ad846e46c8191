package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tdsc/tdsc/ledger/digest"
)

// ErrMismatch is wrapped by every *MismatchError: the consumer's request is
// not the offer nor narrower than it. Negotiation should refuse or counter-offer.
var ErrMismatch = errors.New("request does not match the offer")

// MismatchError says where a request differs from the offer it claims to
// accept. Path is a JSON path in the request ("permission[0].constraint[2]"),
// or in the offer when the request leaves out one of the offer's terms.
type MismatchError struct {
	Path   string
	Reason string
}

func (e *MismatchError) Error() string { return e.Path + ": " + e.Reason }
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// conj is a conjunction of constraints in normal form: atomic constraints
// merged per left operand, logical ones kept whole (and and andSequence are
// flattened into the conjunction).
type conj struct {
	atoms []atom
	logic []Constraint
	paths []string // paths of logic, parallel
}

type atom struct {
	left string
	dom  domain
	path string
	text string
}

func normalise(path string, cs []Constraint) conj {
	var c conj
	var add func(path string, cs []Constraint)
	add = func(path string, cs []Constraint) {
		for i, k := range cs {
			p := index(path, i)
			switch {
			case (k.Logic == LogicOr || k.Logic == LogicXone) && len(k.Operands) == 1:
				add(p+"."+k.Logic, k.Operands) // one alternative is just that constraint
				continue
			}
			switch k.Logic {
			case LogicAnd, LogicAndSequence:
				add(p+"."+k.Logic, k.Operands)
				continue
			case "":
			default:
				c.logic = append(c.logic, k)
				c.paths = append(c.paths, p)
				continue
			}
			d := toDomain(k)
			merged := false
			for j := range c.atoms {
				if c.atoms[j].left == k.LeftOperand {
					m := c.atoms[j].dom
					if m.intersect(d) {
						c.atoms[j].dom = m
						merged = true
						break
					}
				}
			}
			if !merged {
				c.atoms = append(c.atoms, atom{left: k.LeftOperand, dom: d, path: p, text: constraintText(k)})
			}
		}
	}
	add(path, cs)
	return c
}

func constraintText(k Constraint) string {
	return k.LeftOperand + " " + k.Operator + " " + operandText(k.RightOperand, k.Operator == OpIsAnyOf || k.Operator == OpIsNoneOf)
}

// impliesAtom reports whether the conjunction admits only values a admits,
// and if not, the request atom on the same operand (nil if none).
func (c *conj) impliesAtom(a *atom) (bool, *atom) {
	var same *atom
	for i := range c.atoms {
		b := &c.atoms[i]
		if b.left != a.left {
			continue
		}
		if b.dom.implies(&a.dom) {
			return true, nil
		}
		same = b
	}
	return false, same
}

// implies reports whether the conjunction implies constraint k.
func (c *conj) implies(k Constraint) bool {
	switch k.Logic {
	case "":
		a := atom{left: k.LeftOperand, dom: toDomain(k)}
		ok, _ := c.impliesAtom(&a)
		return ok
	case LogicAnd, LogicAndSequence:
		for _, o := range k.Operands {
			if !c.implies(o) {
				return false
			}
		}
		return true
	}
	want := canonicalConstraint(k)
	for _, l := range c.logic {
		if canonicalConstraint(l) == want {
			return true
		}
	}
	if k.Logic == LogicOr {
		for _, o := range k.Operands {
			if c.implies(o) {
				return true
			}
		}
		// a request "or" whose every branch implies k
		for _, l := range c.logic {
			if l.Logic != LogicOr {
				continue
			}
			all := true
			for _, b := range l.Operands {
				bc := normalise("", []Constraint{b})
				if !bc.implies(k) {
					all = false
					break
				}
			}
			if all {
				return true
			}
		}
	}
	return false
}

// covering checks that request constraints imply all of the offer's; the
// error names the request's broader constraint or the offer's missing one.
func covering(reqPath string, req conj, offerPath string, offer conj) *MismatchError {
	for i := range offer.atoms {
		a := &offer.atoms[i]
		ok, same := req.impliesAtom(a)
		if ok {
			continue
		}
		if same != nil {
			return &MismatchError{Path: same.path, Reason: fmt.Sprintf("%s is broader than the offer's %s (%s)", same.text, a.text, a.path)}
		}
		return &MismatchError{Path: reqPath, Reason: fmt.Sprintf("missing the offer's constraint %s (%s)", a.text, a.path)}
	}
	for i, l := range offer.logic {
		if !req.implies(l) {
			return &MismatchError{Path: reqPath, Reason: fmt.Sprintf("does not imply the offer's constraint %s (%s)", canonicalConstraint(l), offer.paths[i])}
		}
	}
	return nil
}

// dutiesCovered checks the request owes at least the offer's duties, each no
// later than the offer asks.
func dutiesCovered(reqPath string, req []Obligation, offerPath string, offer []Obligation) *MismatchError {
	for i, o := range offer {
		od, _ := compileDuty("", o)
		found := false
		for _, r := range req {
			rd, _ := compileDuty("", r)
			if rd.Action != od.Action {
				continue
			}
			if od.Within > 0 && (rd.Within == 0 || rd.Within > od.Within) {
				continue
			}
			if !od.By.IsZero() && (rd.By.IsZero() || rd.By.After(od.By)) {
				continue
			}
			found = true
			break
		}
		if !found {
			return &MismatchError{Path: reqPath, Reason: fmt.Sprintf("missing or later than the offer's duty %s (%s)", dutyText(o), index(offerPath, i))}
		}
	}
	return nil
}

func dutyText(o Obligation) string {
	s := o.Action
	for _, c := range o.Constraints {
		s += " " + constraintText(c)
	}
	return s
}

// Match returns nil when request is the offer in meaning — whatever the
// order, prefixes, or equivalent forms (isAnyOf of one value and eq; lt 5 and
// lteq 4 on counts; one instant written in two zones) — or strictly narrower:
// fewer or narrower permissions, more or broader prohibitions, more or
// earlier duties. Otherwise it returns a *MismatchError saying where. Match
// is sound but not complete: an exotic equivalence it cannot prove is
// reported as a mismatch, never the other way round.
func Match(offer, request *Policy) error {
	if offer == nil || request == nil {
		return &MismatchError{Path: "", Reason: "missing policy"}
	}
	for _, k := range []struct{ name, o, r string }{{"target", offer.Target, request.Target}, {"assigner", offer.Assigner, request.Assigner}} {
		if k.o != "" && k.r != "" && k.o != k.r {
			return &MismatchError{Path: k.name, Reason: fmt.Sprintf("%q is not the offer's %q", k.r, k.o)}
		}
	}
	for i, rp := range request.Permissions {
		path := index("permission", i)
		rc := normalise(path+".constraint", rp.Constraints)
		var first *MismatchError
		matched := false
		for j, op := range offer.Permissions {
			if !covers(op.Action, rp.Action) {
				continue
			}
			opath := index("permission", j)
			err := covering(path, rc, opath, normalise(opath+".constraint", op.Constraints))
			if err == nil {
				err = dutiesCovered(path+".duty", rp.Duties, opath+".duty", op.Duties)
			}
			if err == nil {
				matched = true
				break
			}
			if first == nil {
				first = err
			}
		}
		if !matched {
			if first == nil {
				return &MismatchError{Path: path + ".action", Reason: fmt.Sprintf("the offer grants no permission covering %q", rp.Action)}
			}
			return first
		}
	}
	for j, op := range offer.Prohibitions {
		opath := index("prohibition", j)
		oc := normalise(opath+".constraint", op.Constraints)
		matched := false
		for i, rp := range request.Prohibitions {
			if !covers(rp.Action, op.Action) {
				continue
			}
			// the request's prohibition must apply whenever the offer's does
			if covering(opath, oc, index("prohibition", i), normalise(index("prohibition", i)+".constraint", rp.Constraints)) == nil {
				matched = true
				break
			}
		}
		if !matched {
			return &MismatchError{Path: "prohibition", Reason: fmt.Sprintf("missing or narrower than the offer's %s prohibition (%s)", op.Action, opath)}
		}
	}
	if err := dutiesCovered("obligation", request.Obligations, "obligation", offer.Obligations); err != nil {
		return err
	}
	return nil
}

// canonicalConstraint writes a constraint in its semantic normal form:
// domains for atomic constraints, sorted operands for and/or/xone.
func canonicalConstraint(k Constraint) string {
	if k.Logic == "" {
		d := toDomain(k)
		return d.canonical(k.LeftOperand)
	}
	if len(k.Operands) == 1 {
		return canonicalConstraint(k.Operands[0])
	}
	parts := make([]string, len(k.Operands))
	for i, o := range k.Operands {
		parts[i] = canonicalConstraint(o)
	}
	if k.Logic != LogicAndSequence {
		slices.Sort(parts)
	}
	return k.Logic + "(" + strings.Join(parts, "; ") + ")"
}

func canonicalConj(cs []Constraint) []string {
	c := normalise("", cs)
	var out []string
	for _, a := range c.atoms {
		out = append(out, a.dom.canonical(a.left))
	}
	for _, l := range c.logic {
		out = append(out, canonicalConstraint(l))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func canonicalDuty(o Obligation) string {
	d, _ := compileDuty("", o)
	s := d.Action
	if d.Within > 0 {
		s += " within " + strconv.FormatInt(int64(d.Within), 10)
	}
	if !d.By.IsZero() {
		s += " by " + d.By.UTC().Format(time.RFC3339Nano)
	}
	return s
}

func canonicalRule(r Rule) string {
	parts := canonicalConj(r.Constraints)
	var duties []string
	for _, d := range r.Duties {
		duties = append(duties, canonicalDuty(d))
	}
	slices.Sort(duties)
	duties = slices.Compact(duties)
	return r.Action + " {" + strings.Join(parts, ", ") + "} duties {" + strings.Join(duties, ", ") + "}"
}

// Canonical returns the policy's usage terms in semantic normal form, one
// line per rule, sorted: the text Hash digests.
func (p *Policy) Canonical() string {
	section := func(name string, rules []Rule) []string {
		var out []string
		for _, r := range rules {
			out = append(out, name+" "+canonicalRule(r))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	lines := section("permission", p.Permissions)
	lines = append(lines, section("prohibition", p.Prohibitions)...)
	var obl []string
	for _, o := range p.Obligations {
		obl = append(obl, "obligation "+canonicalDuty(o))
	}
	slices.Sort(obl)
	lines = append(lines, slices.Compact(obl)...)
	return strings.Join(lines, "\n") + "\n"
}

// Hash is "sha256:<hex>" of Canonical: equal for policies whose usage terms
// mean the same (order, prefixes and equivalent forms aside). It covers the
// rules only, not @id, target or parties, so an offer and the agreement made
// from it hash alike; the ledger records the dataset and parties beside it.
func (p *Policy) Hash() string { return p.HashWith(digest.SHA256) }

// HashWith is Hash with the content-hash algorithm of the space's suite:
// "sha256:<hex>" or, in a gm space, "sm3:<hex>".
func (p *Policy) HashWith(alg string) string {
	return digest.Of(alg, []byte(p.Canonical())).String()
}
