package policy

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// domain is the set of request values an atomic constraint admits, in a form
// both the evaluator and the matcher use: equivalent constraints ("isAnyOf
// [x]" and "eq x"; "lt 5" and "lteq 4" on counts; bounds written in different
// zones) have equal domains.
type domain struct {
	kind operandKind
	// Sets: strings, memberships and regions. neg means "none of set". area
	// means regions within any of set (isPartOf) rather than equal to one.
	set  []string
	neg  bool
	area bool
	// Ordered values (times as Unix nanoseconds, durations in nanoseconds,
	// counts): the inclusive range [lo, hi]; with neg, everything but lo.
	lo, hi int64
	// Classification levels: a bit per level, general 1, important 2, core 4.
	mask uint8
}

const allLevels = 7

func levelBit(c Classification) uint8 {
	if r := c.Rank(); r > 0 {
		return 1 << (r - 1)
	}
	return 0
}

// instant converts a time to Unix nanoseconds, clamped to the int64 range.
func instant(t time.Time) int64 {
	const maxSec = math.MaxInt64/1_000_000_000 - 1
	switch s := t.Unix(); {
	case s > maxSec:
		return math.MaxInt64
	case s < -maxSec:
		return math.MinInt64
	}
	return t.UnixNano()
}

// ordinal reads one ordered value of a parsed (already validated) constraint.
func ordinal(k operandKind, s string) int64 {
	switch k {
	case kindTime:
		t, _ := parseDateTime(s)
		return instant(t)
	case kindDuration:
		d, _ := parseDuration(s)
		return int64(d)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// toDomain builds the domain of an atomic constraint accepted by Parse.
func toDomain(c Constraint) domain {
	k := operandKinds[c.LeftOperand]
	d := domain{kind: k}
	if len(c.RightOperand) == 0 || k == 0 {
		// outside the profile (a hand-built policy Compile would refuse):
		// admits nothing, as Evaluate would never allow it
		d.kind, d.lo, d.hi = kindCount, 1, 0
		return d
	}
	switch k {
	case kindString, kindMembers, kindRegion:
		d.set = slices.Clone(c.RightOperand)
		if k == kindRegion {
			for i, s := range d.set {
				d.set[i] = strings.ToUpper(s)
			}
		}
		slices.Sort(d.set)
		d.set = slices.Compact(d.set)
		d.neg = c.Operator == OpNeq || c.Operator == OpIsNoneOf
		d.area = c.Operator == OpIsPartOf
		if d.area { // "within CN or CN-BJ" is "within CN"
			d.set = slices.DeleteFunc(d.set, func(r string) bool {
				for _, a := range d.set {
					if a != r && IsPartOf(r, a) {
						return true
					}
				}
				return false
			})
		}
	case kindLevel:
		var bits uint8
		for _, v := range c.RightOperand {
			bits |= levelBit(Classification(v))
		}
		var below, above uint8 // levels strictly below / above the bound
		for b := uint8(1); b < 8; b <<= 1 {
			if b < bits {
				below |= b
			} else if b > bits {
				above |= b
			}
		}
		switch c.Operator {
		case OpEq, OpIsAnyOf:
			d.mask = bits
		case OpNeq, OpIsNoneOf:
			d.mask = allLevels &^ bits
		case OpLt:
			d.mask = below
		case OpLteq:
			d.mask = below | bits
		case OpGt:
			d.mask = above
		case OpGteq:
			d.mask = above | bits
		}
	default:
		v := ordinal(k, c.RightOperand[0])
		d.lo, d.hi = math.MinInt64, math.MaxInt64
		switch c.Operator {
		case OpEq:
			d.lo, d.hi = v, v
		case OpNeq:
			d.lo, d.hi, d.neg = v, v, true
		case OpLt:
			d.hi = dec(v)
		case OpLteq:
			d.hi = v
		case OpGt:
			d.lo = inc(v)
		case OpGteq:
			d.lo = v
		}
		if k == kindCount && d.lo < 0 {
			d.lo = 0
		}
	}
	return d
}

func dec(v int64) int64 {
	if v == math.MinInt64 {
		return v
	}
	return v - 1
}

func inc(v int64) int64 {
	if v == math.MaxInt64 {
		return v
	}
	return v + 1
}

// contains is a linear scan: right-operand lists are short.
func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// admitsString reports whether a string-valued domain admits v.
func (d *domain) admitsString(v string) bool { return contains(d.set, v) != d.neg }

// admitsRegion reports whether a region domain admits region r.
func (d *domain) admitsRegion(r string) bool {
	in := false
	for _, a := range d.set {
		if d.area && IsPartOf(r, a) || !d.area && strings.EqualFold(r, a) {
			in = true
			break
		}
	}
	return in != d.neg
}

// admitsMembers reports whether memberships ms satisfy the domain: one of
// them listed, or (negated) none of them listed.
func (d *domain) admitsMembers(ms []string) bool {
	for _, m := range ms {
		if contains(d.set, m) {
			return !d.neg
		}
	}
	return d.neg
}

// admitsOrdinal reports whether an ordered value lies in the domain.
func (d *domain) admitsOrdinal(v int64) bool {
	in := v >= d.lo && v <= d.hi
	return in != d.neg
}

// empty reports whether no value satisfies the domain.
func (d *domain) empty() bool {
	switch d.kind {
	case kindLevel:
		return d.mask == 0
	case kindTime, kindDuration, kindCount:
		return !d.neg && d.lo > d.hi
	}
	return !d.neg && len(d.set) == 0
}

// intersect narrows d by e (same operand). It returns false when the result
// cannot be represented as one domain (e.g. two exclusions on a range); the
// caller then keeps both.
func (d *domain) intersect(e domain) bool {
	switch d.kind {
	case kindLevel:
		d.mask &= e.mask
		return true
	case kindTime, kindDuration, kindCount:
		if d.neg || e.neg {
			return false
		}
		d.lo, d.hi = max(d.lo, e.lo), min(d.hi, e.hi)
		return true
	case kindMembers:
		return false // "member of a" and "member of b" is not one set
	}
	if d.area != e.area {
		return false
	}
	switch {
	case !d.neg && !e.neg && !d.area:
		d.set = intersectSorted(d.set, e.set)
	case d.neg && e.neg:
		d.set = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(d.set), e.set...))))
	case !d.neg && e.neg && !d.area:
		d.set = slices.DeleteFunc(slices.Clone(d.set), func(s string) bool { return contains(e.set, s) })
	case d.neg && !e.neg && !d.area:
		d.set = slices.DeleteFunc(slices.Clone(e.set), func(s string) bool { return contains(d.set, s) })
		d.neg = false
	default:
		return false
	}
	return true
}

func intersectSorted(a, b []string) []string {
	var out []string
	for _, s := range a {
		if contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// implies reports whether every value d admits, e admits too (d is the same
// as or narrower than e). It is sound, not complete: false may mean "cannot
// tell".
func (d *domain) implies(e *domain) bool {
	if d.empty() {
		return true
	}
	switch d.kind {
	case kindLevel:
		return d.mask&^e.mask == 0
	case kindTime, kindDuration, kindCount:
		switch {
		case !d.neg && !e.neg:
			return d.lo >= e.lo && d.hi <= e.hi
		case !d.neg && e.neg:
			return e.lo < d.lo || e.lo > d.hi
		case d.neg && e.neg:
			return d.lo == e.lo
		}
		// "anything but v" is narrower only than the unbounded range
		return (e.lo == math.MinInt64 || d.kind == kindCount && e.lo <= 0) && e.hi == math.MaxInt64
	case kindMembers:
		switch {
		case !d.neg && !e.neg: // member of one of d.set ⇒ member of one of e.set
			return subset(d.set, e.set)
		case d.neg && e.neg:
			return subset(e.set, d.set)
		}
		return false
	}
	within := func(r string, areas []string, area bool) bool {
		for _, a := range areas {
			if area && IsPartOf(r, a) || !area && r == a {
				return true
			}
		}
		return false
	}
	switch {
	case !d.neg && !e.neg: // every region d admits lies in e
		if d.area && !e.area {
			return false
		}
		for _, r := range d.set {
			if !within(r, e.set, e.area) {
				return false
			}
		}
		return true
	case !d.neg && e.neg: // nothing d admits is excluded by e
		for _, x := range e.set {
			for _, r := range d.set {
				if (d.area && (IsPartOf(x, r) || (e.area && IsPartOf(r, x)))) || (!d.area && (x == r || e.area && IsPartOf(r, x))) {
					return false
				}
			}
		}
		return true
	case d.neg && e.neg: // d excludes at least what e excludes
		if d.area != e.area && !d.area {
			return false
		}
		for _, x := range e.set {
			if !within(x, d.set, d.area) {
				return false
			}
		}
		return true
	}
	return false
}

func subset(a, b []string) bool {
	for _, s := range a {
		if !contains(b, s) {
			return false
		}
	}
	return true
}

// canonical writes the domain as a stable string for hashing and comparing.
func (d *domain) canonical(left string) string {
	var b strings.Builder
	b.WriteString(left)
	switch d.kind {
	case kindLevel:
		b.WriteString(" in ")
		b.WriteString(strconv.Itoa(int(d.mask)))
		return b.String()
	case kindTime, kindDuration, kindCount:
		if d.neg {
			b.WriteString(" != ")
			b.WriteString(strconv.FormatInt(d.lo, 10))
			return b.String()
		}
		b.WriteString(" in [")
		b.WriteString(strconv.FormatInt(d.lo, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(d.hi, 10))
		b.WriteByte(']')
		return b.String()
	}
	switch {
	case d.neg && d.area:
		b.WriteString(" notWithin ")
	case d.neg:
		b.WriteString(" notIn ")
	case d.area:
		b.WriteString(" within ")
	default:
		b.WriteString(" in ")
	}
	for i, s := range d.set {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(strconv.Quote(s))
	}
	return b.String()
}
