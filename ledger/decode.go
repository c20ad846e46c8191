package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger/digest"
)

// Size limits on untrusted input.
const (
	// MaxRecordBytes bounds one record's canonical encoding.
	MaxRecordBytes = 16 << 10
	// MaxBatchRecords bounds the records of one batch.
	MaxBatchRecords = 4096
	// MaxBatchBytes bounds an encoded batch.
	MaxBatchBytes = 8 << 20
	// MaxIDLength bounds every id field.
	MaxIDLength = 256
)

// Schema rule identifiers named in a *MalformedError.
const (
	RuleJSON     = "schema.json"
	RuleVersion  = "schema.version"
	RuleKind     = "schema.kind"
	RuleRequired = "schema.required"
	RuleFormat   = "schema.format"
	RuleSize     = "schema.size"
)

// DecodeRecord decodes one record strictly: unknown fields, trailing data,
// another schema version, an unknown kind, a missing required field or an
// encoding over MaxRecordBytes are refused with a *MalformedError.
func DecodeRecord(data []byte) (*Record, error) {
	if len(data) > MaxRecordBytes {
		return nil, malformed(RuleSize, "record", "", "%d bytes exceeds the limit of %d", len(data), MaxRecordBytes)
	}
	var r Record
	if err := strictUnmarshal(data, &r); err != nil {
		return nil, malformed(RuleJSON, "record", "", "%v", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c, err := r.Canonical()
	if err != nil {
		return nil, malformed(RuleJSON, "record", r.ID, "%v", err)
	}
	if err := checkSize("record", r.ID, c); err != nil {
		return nil, err
	}
	return &r, nil
}

// RuleCanonical names bytes that are not the canonical encoding of the record they decode to.
const RuleCanonical = "schema.canonical"

// DecodeCanonical decodes bytes a ledger stored: they must be exactly the
// canonical encoding (Record.Canonical) of a valid record. That is as strict
// as DecodeRecord (an unknown field, a differently cased key or trailing data
// would not survive re-encoding) and faster, for verifiers reading millions.
func DecodeCanonical(raw []byte) (*Record, error) {
	if len(raw) > MaxRecordBytes {
		return nil, malformed(RuleSize, "record", "", "%d bytes exceeds the limit of %d", len(raw), MaxRecordBytes)
	}
	var r Record
	if err := jsondec.Unmarshal(raw, &r); err != nil {
		return nil, malformed(RuleJSON, "record", "", "%v", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c, err := r.Canonical()
	if err != nil {
		return nil, malformed(RuleJSON, "record", r.ID, "%v", err)
	}
	if !bytes.Equal(c, raw) {
		return nil, malformed(RuleCanonical, "record", r.ID, "stored bytes are not the record's canonical encoding")
	}
	return &r, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := jsondec.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// Validate checks the record against the schema: version, kind, id and time
// formats, enumerations and the sub-object its kind needs. The size of its
// canonical encoding is checked where it is encoded (Batch.Encode, DecodeRecord).
// It does not consult ledger state; the rulebook does that.
func (r *Record) Validate() error {
	id := r.ID
	if r.Schema != SchemaVersion {
		return malformed(RuleVersion, "schema", id, "must be %d, got %d", SchemaVersion, r.Schema)
	}
	if err := checkID("id", r.ID, id, true); err != nil {
		return err
	}
	if !r.Kind.Known() {
		return malformed(RuleKind, "kind", id, "unknown kind %q", string(r.Kind))
	}
	if _, err := ParseTime(r.Time); err != nil {
		return malformed(RuleFormat, "time", id, "must be RFC 3339 with an offset: %v", err)
	}
	for _, f := range []struct {
		name, v string
		req     bool
	}{
		{"actor", r.Actor, true}, {"counterparty", r.Counterparty, false}, {"dataset", r.Dataset, false},
		{"offer", r.Offer, false}, {"agreement", r.Agreement, false}, {"transfer", r.Transfer, false},
		{"tokenId", r.TokenID, false},
	} {
		if err := checkID(f.name, f.v, id, f.req); err != nil {
			return err
		}
	}
	if r.Classification != "" {
		if err := r.Classification.Validate(); err != nil {
			return malformed(RuleFormat, "classification", id, "%v", err)
		}
	}
	for i, right := range r.Rights {
		if right != RightHolding && right != RightUse && right != RightOperation {
			return malformed(RuleFormat, fmt.Sprintf("rights[%d]", i), id, "must be holding, use or operation; got %q", right)
		}
	}
	if r.Decision != "" && r.Decision != DecisionAllow && r.Decision != DecisionDeny {
		return malformed(RuleFormat, "decision", id, "must be allow or deny; got %q", r.Decision)
	}
	if r.Bytes < 0 {
		return malformed(RuleFormat, "bytes", id, "must not be negative")
	}
	if r.CrossBorder && r.LegalBasis == "" && r.Kind == KindTransferAuthorized {
		return malformed(RuleRequired, "legalBasis", id, "a cross-border transfer must record its legal basis")
	}
	if err := r.validateKind(); err != nil {
		return err
	}
	return nil
}

// checkSize refuses a canonical encoding over MaxRecordBytes.
func checkSize(field, id string, canon []byte) error {
	if len(canon) > MaxRecordBytes {
		return malformed(RuleSize, field, id, "%d bytes exceeds the limit of %d", len(canon), MaxRecordBytes)
	}
	return nil
}

// required lists, per kind, the fields a record of that kind must carry.
var required = map[Kind][]string{
	KindParticipantRegistered: {"participant"},
	KindParticipantUpdated:    {"participant"},
	KindRulesUpdated:          {"rules"},
	KindDatasetRegistered:     {"dataset", "classification", "category"},
	KindOfferPublished:        {"offer", "dataset"},
	KindAgreementSigned:       {"agreement", "counterparty", "dataset", "policyHash", "terms"},
	KindNegotiationDenied:     {"counterparty", "reason"},
	KindAgreementRevoked:      {"agreement"},
	KindTransferAuthorized:    {"transfer", "agreement", "counterparty", "tokenId"},
	KindTransferCompleted:     {"transfer"},
	KindTransferDenied:        {"counterparty", "reason"},
	KindUsageLogged:           {"agreement"},
	KindDutyFulfilled:         {"agreement", "duty"},
	KindObjectionFiled:        {"objection"},
	KindObjectionResolved:     {"objection"},
	KindComputeExecuted:       {"agreement", "counterparty", "dataset", "decision", "compute"},
}

func (r *Record) validateKind() error {
	for _, f := range required[r.Kind] {
		missing := false
		switch f {
		case "participant":
			missing = r.Participant == nil
		case "rules":
			missing = r.Rules == nil
		case "terms":
			missing = r.Terms == nil
		case "duty":
			missing = r.Duty == nil || r.Duty.ID == ""
		case "objection":
			missing = r.Objection == nil || r.Objection.ID == ""
		case "dataset":
			missing = r.Dataset == ""
		case "classification":
			missing = r.Classification == ""
		case "category":
			missing = r.Category == ""
		case "offer":
			missing = r.Offer == ""
		case "agreement":
			missing = r.Agreement == ""
		case "counterparty":
			missing = r.Counterparty == ""
		case "policyHash":
			missing = r.PolicyHash == ""
		case "transfer":
			missing = r.Transfer == ""
		case "tokenId":
			missing = r.TokenID == ""
		case "reason":
			missing = r.Reason == ""
		case "decision":
			missing = r.Decision == ""
		case "compute":
			missing = r.Compute == nil
		}
		if missing {
			return malformed(RuleRequired, f, r.ID, "a %s record must carry %s", r.Kind, f)
		}
	}
	if c := r.Compute; c != nil {
		if err := c.validate(r); err != nil {
			return err
		}
	}
	if p := r.Participant; p != nil {
		if err := checkID("participant.id", p.ID, r.ID, true); err != nil {
			return err
		}
		if p.Status != "active" && p.Status != "suspended" {
			return malformed(RuleFormat, "participant.status", r.ID, "must be active or suspended; got %q", p.Status)
		}
		for i, k := range p.Keys {
			if err := k.Validate(); err != nil {
				return malformed(RuleFormat, fmt.Sprintf("participant.keys[%d]", i), r.ID, "%v", err)
			}
			if k.Kid == "" {
				return malformed(RuleRequired, fmt.Sprintf("participant.keys[%d].kid", i), r.ID, "every registered key needs its thumbprint kid")
			}
		}
	}
	if r.Rules != nil {
		if err := r.Rules.Validate(); err != nil {
			return malformed(RuleFormat, "rules", r.ID, "%v", err)
		}
	}
	if t := r.Terms; t != nil {
		for _, f := range []struct{ name, v string }{{"terms.notBefore", t.NotBefore}, {"terms.notAfter", t.NotAfter}} {
			if f.v != "" {
				if _, err := ParseTime(f.v); err != nil {
					return malformed(RuleFormat, f.name, r.ID, "must be RFC 3339 with an offset: %v", err)
				}
			}
		}
		if t.MaxUses < 0 {
			return malformed(RuleFormat, "terms.maxUses", r.ID, "must not be negative")
		}
		if t.GroupSize < 0 || t.GroupSize > 0 && !t.ComputeOnly {
			return malformed(RuleFormat, "terms.groupSize", r.ID, "must not be negative, and is a term of compute-only agreements only (computeOnly true)")
		}
		for i, d := range t.Duties {
			if d.ID == "" || d.Action == "" {
				return malformed(RuleRequired, fmt.Sprintf("terms.duties[%d]", i), r.ID, "a duty needs id and action")
			}
		}
	}
	return nil
}

func checkID(field, v, id string, req bool) error {
	if v == "" {
		if req {
			return malformed(RuleRequired, field, id, "must not be empty")
		}
		return nil
	}
	if len(v) > MaxIDLength {
		return malformed(RuleSize, field, id, "longer than %d bytes", MaxIDLength)
	}
	for _, c := range v {
		if c < 0x21 || c == 0x7f {
			return malformed(RuleFormat, field, id, "must not contain spaces or control characters")
		}
	}
	return nil
}

// ParseTime parses an RFC 3339 time, which always carries an offset.
func ParseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

func (c *Compute) validate(r *Record) error {
	if err := checkID("compute.run", c.Run, r.ID, true); err != nil {
		return err
	}
	for _, h := range []struct {
		field, v string
		req      bool
	}{{"compute.program", c.Program, true}, {"compute.inputHash", c.InputHash, false}, {"compute.outputHash", c.OutputHash, false}} {
		if h.v == "" && !h.req {
			continue
		}
		if !isDigest(h.v) {
			return malformed(RuleFormat, h.field, r.ID, "must be a content hash as <alg>:<lower-case hex digits> (sha256, or sm3 in a gm space); got %q", h.v)
		}
	}
	for _, n := range []struct {
		field string
		v     int64
	}{{"compute.inputBytes", c.InputBytes}, {"compute.outputBytes", c.OutputBytes}, {"compute.cpuMillis", c.CPUMillis}, {"compute.peakMemory", c.PeakMemory}} {
		if n.v < 0 {
			return malformed(RuleFormat, n.field, r.ID, "must not be negative")
		}
	}
	if r.Decision == DecisionDeny && (r.Rule == "" || r.Reason == "") {
		return malformed(RuleRequired, "rule", r.ID, "a denied compute.executed record must name its rule and reason")
	}
	if r.Decision == DecisionDeny && r.Bytes != 0 {
		return malformed(RuleFormat, "bytes", r.ID, "a denied run lets no bytes leave; got %d", r.Bytes)
	}
	return nil
}

// isDigest reports whether s is a content hash in the form the ledger
// records it (digest.Digest.String: "sha256:" and lower-case hex).
func isDigest(s string) bool {
	d, err := digest.Parse(s)
	return err == nil && d.String() == s
}
