package policy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SpaceRules are the rules the space's authority sets above every offer and
// records on the ledger (rules.updated). They win over any offer: a flow they
// refuse is refused whatever the offer's policy says. The ledger's rulebook and
// the connector both evaluate them with CheckFlow.
type SpaceRules struct {
	// NegativeList names dataset categories that may never be agreed or moved.
	NegativeList []NegativeEntry `json:"negativeList,omitempty"`
	// CrossBorder is the white-list of destinations (a border such as "SG" or a
	// region such as "DE-BE") that data may leave its border for, up to a
	// classification level and with the legal basis the flow must cite.
	CrossBorder []CrossBorderEntry `json:"crossBorder,omitempty"`
	// Ceilings cap the classification level that may flow to a destination
	// area (region code); "*" matches any destination.
	Ceilings []Ceiling `json:"ceilings,omitempty"`
	// CountersignedFor lists the classification levels whose agreements must
	// carry countersigned evidence (both parties' signatures over the
	// terms); an agreement with only acknowledged evidence (the consumer's
	// authenticated verification message) on such data is refused
	// (RuleCountersigned).
	CountersignedFor []Classification `json:"countersignedFor,omitempty"`
	// GroupFloors raise the least group size (k) that a compute-only
	// agreement's results are held to, by classification level: an entry
	// binds data of its level and above, and the strictest entry that binds
	// wins (GroupFloor). A compute-only agreement whose groupSize is below
	// the floor of its dataset's level is refused (RuleGroupFloor), when it
	// is negotiated and signed and at every run under it, so a floor raised
	// later holds the agreements made before it too.
	GroupFloors []GroupFloor `json:"groupFloors,omitempty"`
}

// GroupFloor is the least group size (k) of compute-only results on data
// of Classification and above.
type GroupFloor struct {
	Classification Classification `json:"classification"`
	MinGroupSize   int            `json:"minGroupSize"`
}

// MaxGroupFloor bounds GroupFloor.MinGroupSize.
const MaxGroupFloor = 1 << 20

// GroupFloor returns the least group size the rules hold compute-only
// results on data of level c to: the largest MinGroupSize of the entries at
// c's level or below, 0 when none binds.
func (r SpaceRules) GroupFloor(c Classification) int {
	k := 0
	for _, f := range r.GroupFloors {
		if f.Classification.Rank() <= c.Rank() {
			k = max(k, f.MinGroupSize)
		}
	}
	return k
}

// NegativeEntry is one negative-listed category.
type NegativeEntry struct {
	Category string `json:"category"`
	Reason   string `json:"reason,omitempty"`
}

// CrossBorderEntry allows flows to Destination of data up to MaxClassification.
// Core data never crosses a border, whatever an entry says.
type CrossBorderEntry struct {
	Destination       string         `json:"destination"`
	MaxClassification Classification `json:"maxClassification"`
	// LegalBasis the flow must cite, e.g. "PIPL-38-standard-contract"; when empty
	// any non-empty legal basis recorded with the flow is accepted.
	LegalBasis string `json:"legalBasis,omitempty"`
}

// Ceiling caps the classification that may flow to Destination.
type Ceiling struct {
	Destination       string         `json:"destination"`
	MaxClassification Classification `json:"maxClassification"`
}

// Flow is what the space rules are asked about: a dataset moving (or being
// agreed to move) from a provider's region to a consumer's region.
type Flow struct {
	Category       string
	Classification Classification
	FromRegion     string
	ToRegion       string
	LegalBasis     string
	// ComputeOnly says the data does not move: the agreement lets the
	// consumer's programs run where the data is (Limits.ComputeOnly), and
	// GroupSize is the aggregate-only output rule its results are held to
	// (Limits.GroupSize). See CheckFlow.
	ComputeOnly bool
	GroupSize   int
}

// MinAggregateGroup is the least groupSize (k) that makes a compute-only
// flow's results aggregates rather than rows: with groups of one, an
// aggregate is a copy of the rows.
const MinAggregateGroup = 2

// stays reports whether f is a compute-only flow whose data stays at its
// holder and whose results, aggregates only, do not leave the border: the
// flow the rules about data leaving its region let through.
func (f Flow) stays() bool {
	return f.ComputeOnly && f.GroupSize >= MinAggregateGroup && !f.crossesBorder()
}

func (f Flow) crossesBorder() bool {
	return f.FromRegion != "" && f.ToRegion != "" && CrossBorder(f.FromRegion, f.ToRegion)
}

// Rule identifiers named in refusals.
const (
	RuleNegativeList      = "space.negative-list"
	RuleCoreStaysInRegion = "space.core-stays-in-region"
	RuleCrossBorder       = "space.cross-border-whitelist"
	RuleLegalBasis        = "space.cross-border-legal-basis"
	RuleCeiling           = "space.classification-ceiling"
	RuleCountersigned     = "space.countersigned-evidence"
	RuleGroupFloor        = "space.group-size-floor"
)

// Agreement evidence levels (ledger.Terms.Evidence).
const (
	// EvidenceCountersigned: the consumer signed the terms, the provider
	// signed the batch that records them.
	EvidenceCountersigned = "countersigned"
	// EvidenceAcknowledged: the consumer's authenticated verification
	// message (its token id and the message hash) stands for its assent.
	EvidenceAcknowledged = "acknowledged"
)

// Refusal says which space rule refused a flow and why.
type Refusal struct {
	Rule   string
	Reason string
}

func (r *Refusal) Error() string { return r.Rule + ": " + r.Reason }

// ParseSpaceRules decodes and validates rules, refusing unknown fields.
func ParseSpaceRules(data []byte) (SpaceRules, error) {
	var r SpaceRules
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return SpaceRules{}, fmt.Errorf("space rules: %w", err)
	}
	return r, r.Validate()
}

// Validate checks every entry names its field correctly.
func (r SpaceRules) Validate() error {
	for i, e := range r.NegativeList {
		if strings.TrimSpace(e.Category) == "" {
			return fmt.Errorf("space rules: negativeList[%d].category: must not be empty", i)
		}
	}
	for i, e := range r.CrossBorder {
		if e.Destination == "" {
			return fmt.Errorf("space rules: crossBorder[%d].destination: must not be empty", i)
		}
		if err := e.MaxClassification.Validate(); err != nil {
			return fmt.Errorf("space rules: crossBorder[%d].maxClassification: %w", i, err)
		}
	}
	for i, c := range r.CountersignedFor {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("space rules: countersignedFor[%d]: %w", i, err)
		}
	}
	for i, c := range r.Ceilings {
		if c.Destination == "" {
			return fmt.Errorf("space rules: ceilings[%d].destination: must not be empty", i)
		}
		if err := c.MaxClassification.Validate(); err != nil {
			return fmt.Errorf("space rules: ceilings[%d].maxClassification: %w", i, err)
		}
	}
	seen := map[Classification]bool{}
	for i, f := range r.GroupFloors {
		if err := f.Classification.Validate(); err != nil {
			return fmt.Errorf("space rules: groupFloors[%d].classification: %w", i, err)
		}
		if seen[f.Classification] {
			return fmt.Errorf("space rules: groupFloors[%d].classification: %s has an entry already; one floor a level", i, f.Classification)
		}
		seen[f.Classification] = true
		if f.MinGroupSize < MinAggregateGroup || f.MinGroupSize > MaxGroupFloor {
			return fmt.Errorf("space rules: groupFloors[%d].minGroupSize: must be %d to %d (a group of one is a row, not an aggregate), got %d", i, MinAggregateGroup, MaxGroupFloor, f.MinGroupSize)
		}
	}
	return nil
}

// CheckFlow returns nil when the rules allow the flow, or a *Refusal naming the rule.
// Order: negative list, the group-size floor of compute-only flows, core data
// stays in its region, cross-border white-list and legal basis, then ceilings.
//
// A compute-only flow with aggregate-only results (Flow.ComputeOnly,
// GroupSize ≥ MinAggregateGroup) that stays within its border is held to the
// negative list alone: the data never leaves the provider's node, so the
// rules about where data may go (core data stays in its region, the
// ceilings) have nothing to hold; only aggregates of at least k rows leave.
// Across a border the results are an export like any other and every rule
// applies, core data's included: results of core data do not leave the
// country. A compute-only flow without an aggregate-only rule is judged as a
// transfer: a program may print the rows.
func (r SpaceRules) CheckFlow(f Flow) *Refusal {
	ref := r.checkFlow(f)
	if ref != nil && ref.Rule != RuleNegativeList && ref.Rule != RuleGroupFloor && f.ComputeOnly {
		switch {
		case f.crossesBorder():
			ref.Reason += "; a compute-only agreement's results crossing the border are held to the export rules like the data"
		case f.GroupSize < MinAggregateGroup:
			ref.Reason += fmt.Sprintf("; a compute-only agreement is let through only when every compute permission keeps its results aggregate-only (groupSize gteq %d or more)", MinAggregateGroup)
		}
	}
	return ref
}

func (r SpaceRules) checkFlow(f Flow) *Refusal {
	for _, e := range r.NegativeList {
		if strings.EqualFold(e.Category, f.Category) {
			reason := fmt.Sprintf("category %q is on the space's negative list", f.Category)
			if e.Reason != "" {
				reason += " (" + e.Reason + ")"
			}
			return &Refusal{Rule: RuleNegativeList, Reason: reason}
		}
	}
	if k := r.GroupFloor(f.Classification); f.ComputeOnly && f.GroupSize < k {
		return &Refusal{Rule: RuleGroupFloor, Reason: fmt.Sprintf("compute results on %s data must come in groups of at least %d rows (the space's group-size floor); the agreement's groupSize is %d", f.Classification, k, f.GroupSize)}
	}
	if f.stays() {
		return nil
	}
	if f.Classification == Core && f.FromRegion != "" && f.ToRegion != "" && !IsPartOf(f.ToRegion, f.FromRegion) && !IsPartOf(f.FromRegion, f.ToRegion) {
		return &Refusal{Rule: RuleCoreStaysInRegion, Reason: fmt.Sprintf("core data may not leave its region %s (destination %s)", f.FromRegion, f.ToRegion)}
	}
	if f.FromRegion != "" && f.ToRegion != "" && CrossBorder(f.FromRegion, f.ToRegion) && f.Classification != General {
		var entry *CrossBorderEntry
		for i := range r.CrossBorder {
			e := &r.CrossBorder[i]
			if IsPartOf(f.ToRegion, e.Destination) || Border(f.ToRegion) == Border(e.Destination) && !strings.Contains(e.Destination, "-") {
				if f.Classification.Rank() <= e.MaxClassification.Rank() {
					entry = e
					break
				}
			}
		}
		if entry == nil {
			return &Refusal{Rule: RuleCrossBorder, Reason: fmt.Sprintf("%s data may not cross the border to %s: destination not on the cross-border white-list at that level", f.Classification, f.ToRegion)}
		}
		if f.LegalBasis == "" || entry.LegalBasis != "" && f.LegalBasis != entry.LegalBasis {
			want := "a legal basis"
			if entry.LegalBasis != "" {
				want = "legal basis " + entry.LegalBasis
			}
			return &Refusal{Rule: RuleLegalBasis, Reason: fmt.Sprintf("%s data crossing the border to %s needs %s recorded; got %q", f.Classification, f.ToRegion, want, f.LegalBasis)}
		}
	}
	for _, c := range r.Ceilings {
		if (c.Destination == "*" || IsPartOf(f.ToRegion, c.Destination)) && f.Classification.Rank() > c.MaxClassification.Rank() {
			return &Refusal{Rule: RuleCeiling, Reason: fmt.Sprintf("%s data exceeds the ceiling %s for destination %s", f.Classification, c.MaxClassification, c.Destination)}
		}
	}
	return nil
}

// CheckEvidence returns nil when an agreement on data of classification c
// may rest on evidence (EvidenceCountersigned or EvidenceAcknowledged), or a
// *Refusal naming RuleCountersigned.
func (r SpaceRules) CheckEvidence(c Classification, evidence string) *Refusal {
	if evidence == EvidenceCountersigned {
		return nil
	}
	for _, need := range r.CountersignedFor {
		if need == c {
			return &Refusal{Rule: RuleCountersigned, Reason: fmt.Sprintf("agreements on %s data need countersigned evidence (the consumer's signature over the terms); this one is %s", c, evidence)}
		}
	}
	return nil
}

// Flow returns the flow a request would make: the dataset moving from its
// region to the consumer's.
func (req Request) Flow() Flow {
	return Flow{
		Category:       req.Dataset.Category,
		Classification: req.Dataset.Classification,
		FromRegion:     req.Dataset.Region,
		ToRegion:       req.Consumer.Region,
		LegalBasis:     req.LegalBasis,
	}
}

// Evaluate judges a request's flow against the space rules as one result of
// a decision: Path is the refusing rule's name (or "space" when they allow it).
func (r SpaceRules) Evaluate(req Request) Result { return r.evaluateFlow(req.Flow()) }

func (r SpaceRules) evaluateFlow(f Flow) Result {
	if ref := r.CheckFlow(f); ref != nil {
		return Result{Path: ref.Rule, Constraint: "space rules", Reason: ref.Reason}
	}
	if f.stays() {
		return Result{Path: "space", Constraint: "space rules", Satisfied: true,
			Reason: fmt.Sprintf("compute-only, aggregates of at least %d rows: the data stays with its holder, and the space's rules allow it", f.GroupSize)}
	}
	return Result{Path: "space", Constraint: "space rules", Satisfied: true, Reason: "the space's rules allow the flow"}
}
