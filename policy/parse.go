package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits on untrusted input.
const (
	// MaxPolicyBytes is the largest policy Parse reads.
	MaxPolicyBytes = 1 << 20
	// MaxDepth is the deepest JSON nesting Parse accepts; it allows a dozen
	// levels of logical constraints.
	MaxDepth = 32
)

// ErrInvalidPolicy is wrapped by every error Parse returns: the policy is
// outside the profile or malformed, and the *ParseError says where. Fix the
// policy; retrying will not help.
var ErrInvalidPolicy = errors.New("invalid policy")

// ParseError names the offending node by its JSON path.
type ParseError struct {
	Path   string // e.g. "permission[0].constraint[1].leftOperand"; empty for the whole document
	Reason string
}

// Error names the policy once: "policy: reason" for the document as a
// whole, "policy.path: reason" for a node in it. Callers do not add their own
// "policy: " in front.
func (e *ParseError) Error() string {
	if e.Path == "" {
		return "policy: " + e.Reason
	}
	return "policy." + e.Path + ": " + e.Reason
}

func (e *ParseError) Unwrap() error { return ErrInvalidPolicy }

func perr(path, format string, args ...any) error {
	return &ParseError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// Parse reads one ODRL policy object (Offer, Agreement or Set) in JSON-LD
// compact form and refuses anything outside the profile with the path of the
// offending node. Prefixed and bare terms are both accepted.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, perr("", "larger than %d bytes", MaxPolicyBytes)
	}
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, perr("", "not JSON: %v", err)
	}
	if dec.More() {
		return nil, perr("", "trailing data after the policy object")
	}
	return parsePolicy(v)
}

// checkDepth refuses nesting deeper than MaxDepth before anything recurses.
func checkDepth(data []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range data {
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxDepth {
				return perr("", "nested deeper than %d levels", MaxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// fields returns an object's members under their bare terms, refusing
// anything not in allowed and terms given twice (bare and prefixed).
func fields(path string, v any, allowed ...string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, perr(path, "must be an object, got %s", kindOf(v))
	}
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := k
		if !strings.HasPrefix(k, "@") {
			t = term(k)
		}
		if t == "uid" {
			t = "@id"
		}
		known := false
		for _, a := range allowed {
			if a == t {
				known = true
				break
			}
		}
		if !known {
			return nil, perr(join(path, k), "unknown term %q in this profile", k)
		}
		if _, dup := out[t]; dup {
			return nil, perr(join(path, k), "term %q given twice (bare and prefixed)", t)
		}
		out[t] = m[k]
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// str reads a string or an {"@id": string} reference.
func str(path string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		f, err := fields(path, x, "@id")
		if err != nil {
			return "", err
		}
		s, ok := f["@id"].(string)
		if !ok {
			return "", perr(join(path, "@id"), "must be a string")
		}
		return s, nil
	}
	return "", perr(path, "must be a string or {\"@id\": ...}, got %s", kindOf(v))
}

// list reads an array, or a single value as a list of one (JSON-LD compaction
// drops the array around one value).
func list(v any) []any {
	if a, ok := v.([]any); ok {
		return a
	}
	return []any{v}
}

func parsePolicy(v any) (*Policy, error) {
	f, err := fields("", v, "@context", "@id", "@type", "profile", "target", "assigner", "assignee",
		"timestamp", "permission", "prohibition", "obligation")
	if err != nil {
		return nil, err
	}
	p := &Policy{Type: "Offer"}
	if c, ok := f["@context"]; ok {
		for i, x := range list(c) {
			s, ok := x.(string)
			if !ok || (s != DSPContext && s != ODRLContext) {
				return nil, perr(index("@context", i), "only the DSP 2025-1 context %s or the ODRL context is accepted", DSPContext)
			}
		}
	}
	id, ok := f["@id"]
	if !ok {
		return nil, perr("@id", "required")
	}
	if p.ID, err = str("@id", id); err != nil {
		return nil, err
	}
	if p.ID == "" {
		return nil, perr("@id", "must not be empty")
	}
	if t, ok := f["@type"]; ok {
		s, err := str("@type", t)
		if err != nil {
			return nil, err
		}
		switch term(s) {
		case "Offer", "Agreement", "Set":
			p.Type = term(s)
		default:
			return nil, perr("@type", "must be Offer, Agreement or Set, got %q", s)
		}
	}
	if pr, ok := f["profile"]; ok {
		for i, x := range list(pr) {
			s, err := str(index("profile", i), x)
			if err != nil {
				return nil, err
			}
			p.Profile = append(p.Profile, s)
		}
	}
	for _, k := range []struct {
		name string
		dst  *string
	}{{"target", &p.Target}, {"assigner", &p.Assigner}, {"assignee", &p.Assignee}} {
		if x, ok := f[k.name]; ok {
			if *k.dst, err = str(k.name, x); err != nil {
				return nil, err
			}
			if *k.dst == "" {
				return nil, perr(k.name, "must not be empty")
			}
		}
	}
	if ts, ok := f["timestamp"]; ok {
		s, err := str("timestamp", ts)
		if err != nil {
			return nil, err
		}
		if _, err := parseDateTime(s); err != nil {
			return nil, perr("timestamp", "%v", err)
		}
		p.Timestamp = s
	}
	if p.Type == "Agreement" {
		for _, k := range []struct{ name, v string }{{"target", p.Target}, {"assigner", p.Assigner}, {"assignee", p.Assignee}} {
			if k.v == "" {
				return nil, perr(k.name, "required in an Agreement")
			}
		}
	}
	if x, ok := f["permission"]; ok {
		if p.Permissions, err = parseRules("permission", x, true); err != nil {
			return nil, err
		}
	}
	if x, ok := f["prohibition"]; ok {
		if p.Prohibitions, err = parseRules("prohibition", x, false); err != nil {
			return nil, err
		}
	}
	if x, ok := f["obligation"]; ok {
		if p.Obligations, err = parseDuties("obligation", x); err != nil {
			return nil, err
		}
	}
	if len(p.Permissions) == 0 && len(p.Prohibitions) == 0 {
		return nil, perr("permission", "a policy needs at least one permission or prohibition")
	}
	return p, nil
}

func parseRules(path string, v any, permission bool) ([]Rule, error) {
	items := list(v)
	if len(items) == 0 {
		return nil, perr(path, "must not be empty")
	}
	rules := make([]Rule, 0, len(items))
	for i, x := range items {
		rp := index(path, i)
		allowed := []string{"@id", "@type", "action", "constraint"}
		if permission {
			allowed = append(allowed, "duty")
		}
		f, err := fields(rp, x, allowed...)
		if err != nil {
			return nil, err
		}
		var r Rule
		if err := checkType(rp, f, "Permission", "Prohibition"); err != nil {
			return nil, err
		}
		if id, ok := f["@id"]; ok {
			if r.ID, err = str(join(rp, "@id"), id); err != nil {
				return nil, err
			}
		}
		a, ok := f["action"]
		if !ok {
			return nil, perr(join(rp, "action"), "required")
		}
		s, err := action(join(rp, "action"), a)
		if err != nil {
			return nil, err
		}
		if !ruleActions[s] {
			return nil, perr(join(rp, "action"), "unknown action %q; the profile's actions are use, transfer, read, distribute, reproduce, modify, derive, aggregate, display, commercialize, compute", s)
		}
		r.Action = s
		if c, ok := f["constraint"]; ok {
			if r.Constraints, err = parseConstraints(join(rp, "constraint"), c, 0); err != nil {
				return nil, err
			}
		}
		if d, ok := f["duty"]; ok {
			if r.Duties, err = parseDuties(join(rp, "duty"), d); err != nil {
				return nil, err
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// checkType accepts an optional @type naming one of the given classes.
func checkType(path string, f map[string]any, classes ...string) error {
	t, ok := f["@type"]
	if !ok {
		return nil
	}
	s, err := str(join(path, "@type"), t)
	if err != nil {
		return err
	}
	for _, c := range classes {
		if term(s) == c {
			return nil
		}
	}
	return perr(join(path, "@type"), "must be %s, got %q", strings.Join(classes, " or "), s)
}

// action reads an action: a string or {"@id": ...}. Refined actions are
// outside the profile.
func action(path string, v any) (string, error) {
	if m, ok := v.(map[string]any); ok {
		for k := range m {
			if term(k) == "refinement" || k == "rdf:value" {
				return "", perr(path, "refined actions are outside the profile; put the constraint on the rule")
			}
		}
	}
	s, err := str(path, v)
	if err != nil {
		return "", err
	}
	return term(s), nil
}

func parseDuties(path string, v any) ([]Obligation, error) {
	items := list(v)
	if len(items) == 0 {
		return nil, perr(path, "must not be empty")
	}
	out := make([]Obligation, 0, len(items))
	for i, x := range items {
		dp := index(path, i)
		f, err := fields(dp, x, "@id", "@type", "action", "constraint")
		if err != nil {
			return nil, err
		}
		if err := checkType(dp, f, "Duty"); err != nil {
			return nil, err
		}
		var d Obligation
		if id, ok := f["@id"]; ok {
			if d.ID, err = str(join(dp, "@id"), id); err != nil {
				return nil, err
			}
		}
		a, ok := f["action"]
		if !ok {
			return nil, perr(join(dp, "action"), "required")
		}
		s, err := action(join(dp, "action"), a)
		if err != nil {
			return nil, err
		}
		if d.Action, ok = dutyAction(s); !ok {
			return nil, perr(join(dp, "action"), "unknown duty %q; the profile's duties are delete, log, notify (inform), anonymise (anonymize)", s)
		}
		if c, ok := f["constraint"]; ok {
			if d.Constraints, err = parseConstraints(join(dp, "constraint"), c, 0); err != nil {
				return nil, err
			}
			for j, c := range d.Constraints {
				cp := index(join(dp, "constraint"), j)
				if c.Logical() || (c.LeftOperand != LeftElapsedTime && c.LeftOperand != LeftDateTime) ||
					(c.Operator != OpLt && c.Operator != OpLteq) {
					return nil, perr(cp, "a duty takes only a deadline: elapsedTime or dateTime with lt or lteq")
				}
			}
			if len(d.Constraints) > 1 {
				return nil, perr(index(join(dp, "constraint"), 1), "a duty takes one deadline")
			}
		}
		out = append(out, d)
	}
	return out, nil
}

var logicKinds = []string{LogicAnd, LogicOr, LogicXone, LogicAndSequence}

func parseConstraints(path string, v any, depth int) ([]Constraint, error) {
	items := list(v)
	if len(items) == 0 {
		return nil, perr(path, "must not be empty")
	}
	out := make([]Constraint, 0, len(items))
	for i, x := range items {
		c, err := parseConstraint(index(path, i), x, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(path string, v any, depth int) (Constraint, error) {
	if depth > MaxDepth {
		return Constraint{}, perr(path, "logical constraints nested too deep")
	}
	f, err := fields(path, v, "@id", "@type", "leftOperand", "operator", "rightOperand", LogicAnd, LogicOr, LogicXone, LogicAndSequence)
	if err != nil {
		return Constraint{}, err
	}
	var logic string
	for _, l := range logicKinds {
		if _, ok := f[l]; ok {
			if logic != "" {
				return Constraint{}, perr(join(path, l), "a logical constraint has exactly one of and, or, xone, andSequence (also has %s)", logic)
			}
			logic = l
		}
	}
	if logic != "" {
		if err := checkType(path, f, "LogicalConstraint"); err != nil {
			return Constraint{}, err
		}
		for _, k := range []string{"leftOperand", "operator", "rightOperand"} {
			if _, ok := f[k]; ok {
				return Constraint{}, perr(join(path, k), "not allowed in a logical constraint")
			}
		}
		ops, err := parseConstraints(join(path, logic), f[logic], depth+1)
		if err != nil {
			return Constraint{}, err
		}
		return Constraint{Logic: logic, Operands: ops}, nil
	}
	if err := checkType(path, f, "Constraint"); err != nil {
		return Constraint{}, err
	}
	for _, k := range []string{"leftOperand", "operator", "rightOperand"} {
		if _, ok := f[k]; !ok {
			return Constraint{}, perr(join(path, k), "required")
		}
	}
	lo, err := str(join(path, "leftOperand"), f["leftOperand"])
	if err != nil {
		return Constraint{}, err
	}
	lo = term(lo)
	kind, ok := operandKinds[lo]
	if !ok {
		return Constraint{}, perr(join(path, "leftOperand"), "unknown left operand %q", lo)
	}
	op, err := str(join(path, "operator"), f["operator"])
	if err != nil {
		return Constraint{}, err
	}
	op = term(op)
	if !operatorAllowed(kind, op) {
		return Constraint{}, perr(join(path, "operator"), "operator %q is not allowed for %s (allowed: %s)", op, lo, strings.Join(operatorsFor[kind], ", "))
	}
	rp := join(path, "rightOperand")
	raw := f["rightOperand"]
	vals := []any{raw}
	if a, isList := raw.([]any); isList {
		if !listOperator(op) {
			return Constraint{}, perr(rp, "operator %s takes one value, not a list", op)
		}
		if len(a) == 0 {
			return Constraint{}, perr(rp, "must not be empty")
		}
		vals = a
	}
	c := Constraint{LeftOperand: lo, Operator: op}
	for i, x := range vals {
		vp := rp
		if len(vals) > 1 || listOperatorArray(raw) {
			vp = index(rp, i)
		}
		s, err := scalar(vp, x, kind)
		if err != nil {
			return Constraint{}, err
		}
		n, err := normValue(kind, s)
		if err != nil {
			return Constraint{}, perr(vp, "%v", err)
		}
		c.RightOperand = append(c.RightOperand, n)
	}
	return c, nil
}

func listOperatorArray(v any) bool { _, ok := v.([]any); return ok }

// scalar reads one right-operand value: a string, a number (counts only), a
// typed literal {"@value": ..., "@type": "xsd:..."} or a reference {"@id": ...}.
func scalar(path string, v any, kind operandKind) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		if kind != kindCount {
			return "", perr(path, "must be a string, got a number")
		}
		return x.String(), nil
	case map[string]any:
		if _, ok := x["@id"]; ok {
			return str(path, x)
		}
		f, err := fields(path, x, "@value", "@type")
		if err != nil {
			return "", err
		}
		val, ok := f["@value"]
		if !ok {
			return "", perr(join(path, "@value"), "required in a typed value")
		}
		if t, ok := f["@type"]; ok {
			ts, isStr := t.(string)
			if !isStr {
				return "", perr(join(path, "@type"), "must be a string")
			}
			want := map[operandKind][]string{
				kindTime: {"xsd:dateTime"}, kindDuration: {"xsd:duration", "xsd:dayTimeDuration"},
				kindCount: {"xsd:integer", "xsd:nonNegativeInteger"},
			}[kind]
			if want == nil {
				want = []string{"xsd:string"}
			}
			ts = strings.Replace(ts, "http://www.w3.org/2001/XMLSchema#", "xsd:", 1)
			found := false
			for _, w := range want {
				found = found || ts == w
			}
			if !found {
				return "", perr(join(path, "@type"), "must be %s for this operand, got %q", strings.Join(want, " or "), ts)
			}
		}
		return scalar(join(path, "@value"), val, kind)
	}
	return "", perr(path, "must be a string, got %s", kindOf(v))
}
