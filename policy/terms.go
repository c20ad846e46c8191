package policy

import "strings"

// The profile's vocabulary. Terms are accepted bare ("purpose"), with the
// ODRL prefix ("odrl:purpose"), as full ODRL IRIs
// ("http://www.w3.org/ns/odrl/2/purpose"), and — for the terms this profile
// adds to ODRL — with the "tdsc:" prefix. They are always written bare, as
// the DSP 2025-1 context expects.

const (
	// DSPContext is the JSON-LD context DSP 2025-1 messages carry.
	DSPContext = "https://w3id.org/dspace/2025/1/context.jsonld"
	// ODRLContext is the ODRL 2.2 JSON-LD context, also accepted.
	ODRLContext = "http://www.w3.org/ns/odrl.jsonld"
	// ProfileIRI names this profile; policies may list it in "profile".
	ProfileIRI = "https://w3id.org/tdsc/policy/v1"

	odrlNS = "http://www.w3.org/ns/odrl/2/"
)

// term strips the accepted prefixes from a key or vocabulary value.
func term(s string) string {
	switch {
	case strings.HasPrefix(s, "odrl:"):
		return s[len("odrl:"):]
	case strings.HasPrefix(s, odrlNS):
		return s[len(odrlNS):]
	case strings.HasPrefix(s, "tdsc:"):
		return s[len("tdsc:"):]
	}
	return s
}

// Left operands of the profile.
const (
	LeftPurpose        = "purpose"
	LeftDateTime       = "dateTime"
	LeftElapsedTime    = "elapsedTime"
	LeftCount          = "count"
	LeftSpatial        = "spatial"
	LeftRecipient      = "recipient"
	LeftIndustry       = "industry"
	LeftOrgType        = "orgType"
	LeftMembership     = "membership"
	LeftClassification = "classification"

	// The compute action's operands (docs/sandbox.md). program and
	// programApproval are judged before a run, the output ones on its result.
	LeftProgram         = "program"         // the module's "sha256:<hex>"
	LeftProgramApproval = "programApproval" // "operator" when the provider's operator approved the module
	LeftOutputBytes     = "outputBytes"     // the result's size
	LeftOutputRows      = "outputRows"      // the result's data rows
	LeftGroupSize       = "groupSize"       // the smallest group of an aggregate result
)

// ActionUse is ODRL's use: every action but transfer and compute. A
// transfer of the data is evaluated as a use.
const ActionUse = "use"

// ActionCompute is the usage action of running a program where the data is:
// only the result leaves. A "use" permission does not cover it.
const ActionCompute = "compute"

// ApprovalOperator is programApproval's value for a module the provider's
// operator approved.
const ApprovalOperator = "operator"

// Operators of the profile.
const (
	OpEq       = "eq"
	OpNeq      = "neq"
	OpLt       = "lt"
	OpLteq     = "lteq"
	OpGt       = "gt"
	OpGteq     = "gteq"
	OpIsAnyOf  = "isAnyOf"
	OpIsNoneOf = "isNoneOf"
	OpIsPartOf = "isPartOf"
)

// Logical constraint kinds.
const (
	LogicAnd         = "and"
	LogicOr          = "or"
	LogicXone        = "xone"
	LogicAndSequence = "andSequence"
)

// Duty actions. ODRL's "anonymize" and "inform" are accepted as spellings of
// anonymise and notify.
const (
	DutyDelete    = "delete"
	DutyLog       = "log"
	DutyNotify    = "notify"
	DutyAnonymise = "anonymise"
)

// operandKind is how a left operand's values are typed and compared.
type operandKind uint8

const (
	kindString   operandKind = iota + 1 // compared for equality / set membership
	kindMembers                         // the consumer's memberships, a set
	kindRegion                          // region codes, isPartOf by hierarchy
	kindTime                            // xsd:dateTime instants
	kindDuration                        // ISO 8601 durations
	kindCount                           // non-negative integers
	kindLevel                           // classification levels, ordered
)

// operandKinds lists every left operand the profile accepts.
var operandKinds = map[string]operandKind{
	LeftPurpose:        kindString,
	LeftRecipient:      kindString,
	LeftIndustry:       kindString,
	LeftOrgType:        kindString,
	LeftMembership:     kindMembers,
	LeftSpatial:        kindRegion,
	LeftDateTime:       kindTime,
	LeftElapsedTime:    kindDuration,
	LeftCount:          kindCount,
	LeftClassification: kindLevel,

	LeftProgram:         kindString,
	LeftProgramApproval: kindString,
	LeftOutputBytes:     kindCount,
	LeftOutputRows:      kindCount,
	LeftGroupSize:       kindCount,
}

// operatorsFor lists the operators each kind of operand accepts.
var operatorsFor = map[operandKind][]string{
	kindString:   {OpEq, OpNeq, OpIsAnyOf, OpIsNoneOf},
	kindMembers:  {OpEq, OpNeq, OpIsAnyOf, OpIsNoneOf},
	kindRegion:   {OpEq, OpNeq, OpIsAnyOf, OpIsNoneOf, OpIsPartOf},
	kindTime:     {OpLt, OpLteq, OpGt, OpGteq},
	kindDuration: {OpLt, OpLteq, OpGt, OpGteq},
	kindCount:    {OpEq, OpNeq, OpLt, OpLteq, OpGt, OpGteq},
	kindLevel:    {OpEq, OpNeq, OpLt, OpLteq, OpGt, OpGteq, OpIsAnyOf, OpIsNoneOf},
}

func operatorAllowed(k operandKind, op string) bool {
	for _, o := range operatorsFor[k] {
		if o == op {
			return true
		}
	}
	return false
}

// listOperator reports whether an operator takes a list right operand.
// isPartOf takes one area or a list of areas.
func listOperator(op string) bool { return op == OpIsAnyOf || op == OpIsNoneOf || op == OpIsPartOf }

// Actions permissions and prohibitions may name. "use" includes every action
// but "transfer", as in ODRL 2.2's core vocabulary.
var ruleActions = map[string]bool{
	"use": true, "transfer": true, "read": true, "distribute": true, "reproduce": true,
	"modify": true, "derive": true, "aggregate": true, "display": true, "commercialize": true,
	ActionCompute: true,
}

// covers reports whether a rule's action applies to a requested action.
func covers(ruleAction, requested string) bool {
	if ruleAction == requested {
		return true
	}
	return ruleAction == "use" && requested != "transfer" && requested != ActionCompute && ruleActions[requested]
}

// dutyAction maps accepted duty action spellings to the profile's.
func dutyAction(a string) (string, bool) {
	switch a {
	case DutyDelete, DutyLog, DutyNotify, DutyAnonymise:
		return a, true
	case "anonymize":
		return DutyAnonymise, true
	case "inform":
		return DutyNotify, true
	}
	return "", false
}

// perUse reports whether a duty is owed for each use (log, notify) rather
// than once (delete, anonymise).
func perUse(action string) bool { return action == DutyLog || action == DutyNotify }
