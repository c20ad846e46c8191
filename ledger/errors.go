package ledger

import (
	"errors"
	"fmt"
)

// ErrMalformed reports input that does not decode or does not follow the
// schema: bad JSON, unknown field, unknown kind, wrong schema version, a
// missing required field, or input over a size limit. The request can never
// succeed as sent: fix the field named in the *MalformedError and resend.
var ErrMalformed = errors.New("ledger: malformed")

// ErrUnknownWriter reports a batch whose writer is not a registered
// participant of the space (or whose key id is not one of its registered
// keys). Register the participant (or its key) through the authority first.
var ErrUnknownWriter = errors.New("ledger: unknown writer")

// ErrBadSignature reports a batch whose signature does not verify under the
// writer's registered key, or whose root does not match its records. The
// batch was altered or signed with another key: do not retry it as is.
var ErrBadSignature = errors.New("ledger: bad batch signature")

// ErrRefused reports a record the rulebook refused. Every refusal is a
// *RuleError naming the rule; nothing of the batch was committed. Retrying the
// same batch fails the same way until the state it depends on changes.
var ErrRefused = errors.New("ledger: refused by rule")

// ErrNotFound reports a record, batch, participant or checkpoint the ledger
// does not hold. For a record just written by an outbox, retry later.
var ErrNotFound = errors.New("ledger: not found")

// ErrUnavailable reports a backend that could not be reached (a Fabric network
// down, a ledger service not answering). Nothing was decided: retry later with
// the same batch, which is idempotent. Never treat it as a refusal or as
// "not registered".
var ErrUnavailable = errors.New("ledger: unavailable")

// ErrGenesisMismatch reports opening a ledger with a genesis other than the
// one it was created with. Use the space's genesis file, or another directory.
var ErrGenesisMismatch = errors.New("ledger: genesis does not match")

// MalformedError says which field of which record broke which schema rule.
type MalformedError struct {
	Rule     string // e.g. "schema.required", "schema.size"
	Field    string // JSON path, e.g. "records[3].time"
	Reason   string
	RecordID string
}

func (e *MalformedError) Error() string {
	s := fmt.Sprintf("ledger: malformed: field %s: %s (rule %s)", e.Field, e.Reason, e.Rule)
	if e.RecordID != "" {
		s += " in record " + e.RecordID
	}
	return s
}

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// RuleError is a rulebook refusal: which rule, on which field of which record, and why.
type RuleError struct {
	Rule     string // e.g. "agreement.parties-registered", "space.negative-list"
	Field    string // the record field at fault, e.g. "counterparty"
	Reason   string
	RecordID string
}

func (e *RuleError) Error() string {
	s := fmt.Sprintf("ledger: refused by rule %s", e.Rule)
	if e.RecordID != "" {
		s += ": record " + e.RecordID
	}
	if e.Field != "" {
		s += ": field " + e.Field
	}
	return s + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RuleError) Unwrap() error { return ErrRefused }

func malformed(rule, field, id, format string, args ...any) error {
	return &MalformedError{Rule: rule, Field: field, RecordID: id, Reason: fmt.Sprintf(format, args...)}
}

// Rules named by a *FieldError for writer and signature checks.
const (
	RuleWriterRegistered = "writer.registered"
	RuleWriterKey        = "writer.key-registered"
	RuleBatchRoot        = "batch.root"
	RuleBatchSignature   = "batch.signature"
)

// FieldError is ErrUnknownWriter or ErrBadSignature (Err) with the field and
// rule at fault; errors.Is(err, ErrBadSignature) and the like hold.
type FieldError struct {
	Err    error
	Rule   string
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: field %s: %s (rule %s)", e.Err, e.Field, e.Reason, e.Rule)
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// RefusalOf splits a ledger refusal (a *RuleError, *MalformedError or
// *FieldError anywhere in err's chain) into the rule that refused and the
// rest of the reason ("field F: why"), so a caller that shows the rule on its
// own does not print it twice. ok is false for any other error.
func RefusalOf(err error) (rule, reason string, ok bool) {
	var (
		re *RuleError
		me *MalformedError
		fe *FieldError
	)
	var field string
	switch {
	case errors.As(err, &re):
		rule, field, reason = re.Rule, re.Field, re.Reason
	case errors.As(err, &me):
		rule, field, reason = me.Rule, me.Field, me.Reason
	case errors.As(err, &fe):
		rule, field, reason = fe.Rule, fe.Field, fe.Reason
	default:
		return "", "", false
	}
	if field != "" {
		reason = "field " + field + ": " + reason
	}
	return rule, reason, true
}
