package ledger

import (
	"fmt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/policy"
)

// Query selects records. Empty fields match everything; set fields must all
// match. Participant matches actor or counterparty; Region matches fromRegion
// or toRegion (a region lies in an area, as policy.IsPartOf). From and To
// bound the record time (RFC 3339, inclusive From, exclusive To).
type Query struct {
	Participant    string                `json:"participant,omitempty"`
	Dataset        string                `json:"dataset,omitempty"`
	Agreement      string                `json:"agreement,omitempty"`
	Transfer       string                `json:"transfer,omitempty"`
	Kind           Kind                  `json:"kind,omitempty"`
	Classification policy.Classification `json:"classification,omitempty"`
	Region         string                `json:"region,omitempty"`
	From           string                `json:"from,omitempty"`
	To             string                `json:"to,omitempty"`
	// Cursor continues a previous page (Page.Next); empty starts at the
	// beginning. Every backend's cursor is the decimal index of the next
	// record to look at (ReadDirectoryChanges relies on it).
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size; 0 means DefaultPageSize, more than MaxPageSize is capped.
	Limit int `json:"limit,omitempty"`
}

// Page sizes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of a query's results in ledger order; Next is empty on the last page.
type Page struct {
	Records []Entry `json:"records"`
	Next    string  `json:"next,omitempty"`
}

// Entry is a committed record with its position in the ledger's tree.
type Entry struct {
	Index     uint64 `json:"index"`
	BatchRoot string `json:"batchRoot"`
	Record    Record `json:"record"`
}

// Proven is a record with its inclusion proof against a signed checkpoint.
type Proven struct {
	Entry
	// Proof is the RFC 6962 inclusion proof of the record's leaf at Index in a
	// tree of size TreeSize, whose root the Checkpoint signs.
	Proof      [][]byte `json:"proof"`
	TreeSize   uint64   `json:"treeSize"`
	Checkpoint []byte   `json:"checkpoint"` // C2SP signed note
}

// PartyTo reports whether who is a party to a record with this actor and
// counterparty. It is the ledger's one rule of whose a record is: what a
// Query's Participant matches, and (through Visible) which records a
// participant may read. It is generic so that a reader holding records in a
// compact form (the dashboard's interned names) applies the same rule.
func PartyTo[T comparable](who, actor, counterparty T) bool {
	return actor == who || counterparty == who
}

// Visible reports whether p may see r: an auditor or a regulator sees every
// record; a participant the records it is a party to (actor or counterparty,
// PartyTo), not the records others wrote about it, such as its own
// registration by the authority (the participant directory serves that). The
// ledger service and the audit dashboard both answer with it; a record that
// is not visible is answered as not found.
func Visible(p identity.Principal, r *Record) bool {
	return p.SeesAll() || p.Role == identity.RoleParticipant && PartyTo(p.ID, r.Actor, r.Counterparty)
}

// Matches reports whether r satisfies the query's filters (not its cursor or limit).
func (q *Query) Matches(r *Record) bool {
	if q.Participant != "" && !PartyTo(q.Participant, r.Actor, r.Counterparty) {
		return false
	}
	if q.Dataset != "" && r.Dataset != q.Dataset ||
		q.Agreement != "" && r.Agreement != q.Agreement ||
		q.Transfer != "" && r.Transfer != q.Transfer ||
		q.Kind != "" && r.Kind != q.Kind ||
		q.Classification != "" && r.Classification != q.Classification {
		return false
	}
	if q.Region != "" && !(r.FromRegion != "" && policy.IsPartOf(r.FromRegion, q.Region) || r.ToRegion != "" && policy.IsPartOf(r.ToRegion, q.Region)) {
		return false
	}
	if q.From != "" || q.To != "" {
		t, err := ParseTime(r.Time)
		if err != nil {
			return false
		}
		if q.From != "" {
			if f, err := ParseTime(q.From); err == nil && t.Before(f) {
				return false
			}
		}
		if q.To != "" {
			if to, err := ParseTime(q.To); err == nil && !t.Before(to) {
				return false
			}
		}
	}
	return true
}

// Normalize validates the query's filters and bounds its limit (0 becomes
// DefaultPageSize, more than MaxPageSize is capped). Every backend calls it,
// so a bad filter is refused alike everywhere with a *MalformedError naming
// the field.
func (q *Query) Normalize() error {
	if q.Limit <= 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit > MaxPageSize {
		q.Limit = MaxPageSize
	}
	for _, f := range []struct{ name, v string }{{"from", q.From}, {"to", q.To}} {
		if f.v != "" {
			if _, err := ParseTime(f.v); err != nil {
				return &MalformedError{Rule: RuleFormat, Field: f.name, Reason: "must be RFC 3339 with an offset"}
			}
		}
	}
	if q.Kind != "" && !q.Kind.Known() {
		return &MalformedError{Rule: RuleKind, Field: "kind", Reason: fmt.Sprintf("unknown kind %q", q.Kind)}
	}
	if q.Classification != "" {
		if err := q.Classification.Validate(); err != nil {
			return &MalformedError{Rule: RuleFormat, Field: "classification", Reason: err.Error()}
		}
	}
	return nil
}
