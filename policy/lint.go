package policy

import (
	"errors"
	"math"
	"time"
)

// Problem is one finding of Lint.
type Problem struct {
	Path     string `json:"path"`
	Severity string `json:"severity"` // "error": the policy is refused or can never allow; "warning": probably a mistake
	Message  string `json:"message"`
}

// Lint parses a policy and reports what is wrong with it or probably
// unintended: anything Parse refuses, constraints that contradict each other
// (lt 5 and gt 10), dateTime bounds already past at now, count limits that
// allow no use, permissions with no constraints, duplicate rules, and a
// missing target.
func Lint(data []byte, now time.Time) []Problem {
	p, err := Parse(data)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return []Problem{{Path: pe.Path, Severity: "error", Message: pe.Reason}}
		}
		return []Problem{{Severity: "error", Message: err.Error()}}
	}
	var out []Problem
	if p.Target == "" {
		out = append(out, Problem{Path: "target", Severity: "warning", Message: "no target: fine in a catalogue's hasPolicy, required in a contract negotiation's offer"})
	}
	lintRules := func(name string, rules []Rule) {
		seen := map[string]string{}
		for i, r := range rules {
			path := index(name, i)
			if c := canonicalRule(r); seen[c] != "" {
				out = append(out, Problem{Path: path, Severity: "warning", Message: "same as " + seen[c]})
			} else {
				seen[c] = path
			}
			if name == "permission" && len(r.Constraints) == 0 {
				out = append(out, Problem{Path: path, Severity: "warning", Message: "permission for " + r.Action + " has no constraints: anyone may " + r.Action + " at any time"})
			}
			c := normalise(path+".constraint", r.Constraints)
			for _, a := range c.atoms {
				switch {
				case a.dom.empty():
					out = append(out, Problem{Path: a.path, Severity: "error", Message: "contradictory constraints on " + a.left + ": no request can satisfy them"})
				case a.left == LeftCount && !a.dom.neg && a.dom.hi < 1:
					out = append(out, Problem{Path: a.path, Severity: "error", Message: "count allows no use: the first use is number 1"})
				case a.left == LeftDateTime && !a.dom.neg && a.dom.hi != math.MaxInt64 && a.dom.hi < instant(now):
					out = append(out, Problem{Path: a.path, Severity: "error", Message: "dateTime bound has passed: " + time.Unix(0, a.dom.hi).UTC().Format(time.RFC3339) + " is before now"})
				}
			}
		}
	}
	lintRules("permission", p.Permissions)
	lintRules("prohibition", p.Prohibitions)
	return out
}
