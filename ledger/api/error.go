package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tdsc/tdsc/ledger"
)

// ErrUnauthorized reports a read without a valid role token. Obtain a token
// from the authority (auditor, regulator) or sign one with a registered key
// (participant) and retry.
var ErrUnauthorized = errors.New("ledger service: role token required")

// ErrForbidden reports a principal reading what its role does not cover. Do
// not retry with the same token.
var ErrForbidden = errors.New("ledger service: role does not allow this read")

// Kinds: which ledger sentinel an Error stands for.
const (
	KindMalformed     = "malformed"
	KindRefused       = "refused"
	KindUnknownWriter = "unknown-writer"
	KindBadSignature  = "bad-signature"
	KindNotFound      = "not-found"
	KindGenesis       = "genesis-mismatch"
	KindUnauthorized  = "unauthorized"
	KindForbidden     = "forbidden"
	KindUnavailable   = "unavailable"
	KindInternal      = "internal"
)

// kinds pairs every kind but internal with its sentinel; the first match wins.
var kinds = []struct {
	kind string
	err  error
}{
	{KindMalformed, ledger.ErrMalformed},
	{KindRefused, ledger.ErrRefused},
	{KindUnknownWriter, ledger.ErrUnknownWriter},
	{KindBadSignature, ledger.ErrBadSignature},
	{KindNotFound, ledger.ErrNotFound},
	{KindGenesis, ledger.ErrGenesisMismatch},
	{KindUnauthorized, ErrUnauthorized},
	{KindForbidden, ErrForbidden},
	{KindUnavailable, ledger.ErrUnavailable},
}

// Error is a ledger error on the wire: the JSON body of every error answer
// of the ledger service, and the payload of a chaincode error message.
type Error struct {
	Kind     string `json:"kind"`
	Rule     string `json:"rule,omitempty"`
	Field    string `json:"field,omitempty"`
	RecordID string `json:"recordId,omitempty"`
	// Reason is what went wrong, without the kind's own text (never
	// "ledger: refused by rule …" again): Err puts the parts together.
	Reason string `json:"reason"`
	// Batch is the index of the failing batch within an Append, if one failed.
	Batch *int `json:"batch,omitempty"`
}

// BatchError says which batch of a multi-batch Append failed.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// Kind names the sentinel err matches: one of the Kind constants.
func Kind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return KindInternal
}

// FromError is err in its wire form. The typed ledger errors travel field by
// field; any other error travels as its kind and its text less the
// sentinel's, so Err rebuilds the same message.
func FromError(err error) *Error {
	e := fromError(err)
	var be *BatchError
	if errors.As(err, &be) {
		i := be.Index
		e.Batch = &i
	}
	return e
}

func fromError(err error) *Error {
	var re *ledger.RuleError
	if errors.As(err, &re) {
		return &Error{Kind: KindRefused, Rule: re.Rule, Field: re.Field, Reason: re.Reason, RecordID: re.RecordID}
	}
	var me *ledger.MalformedError
	if errors.As(err, &me) {
		return &Error{Kind: KindMalformed, Rule: me.Rule, Field: me.Field, Reason: me.Reason, RecordID: me.RecordID}
	}
	var fe *ledger.FieldError
	if errors.As(err, &fe) {
		if k := Kind(fe.Err); k != KindInternal {
			return &Error{Kind: k, Rule: fe.Rule, Field: fe.Field, Reason: fe.Reason}
		}
	}
	var be *BatchError
	if errors.As(err, &be) {
		err = be.Err
	}
	kind, msg := Kind(err), err.Error()
	if s := sentinel(kind); s != nil {
		// "ledger: not found: record r1" travels as reason "record r1".
		if rest, ok := strings.CutPrefix(msg, s.Error()+": "); ok && !strings.Contains(rest, s.Error()) {
			msg = rest
		} else if msg == s.Error() {
			msg = ""
		}
	}
	return &Error{Kind: kind, Reason: msg}
}

// Err is the ledger error e stands for — *ledger.RuleError,
// *ledger.MalformedError, *ledger.FieldError, or the kind's sentinel with the
// reason — so errors.Is and errors.As hold as on the side that sent it. It is
// the one decoder of every ledger wire.
func (e *Error) Err() error {
	switch e.Kind {
	case KindRefused:
		if e.Rule != "" {
			return &ledger.RuleError{Rule: e.Rule, Field: e.Field, Reason: e.Reason, RecordID: e.RecordID}
		}
	case KindMalformed:
		if e.Rule != "" {
			return &ledger.MalformedError{Rule: e.Rule, Field: e.Field, Reason: e.Reason, RecordID: e.RecordID}
		}
	}
	if s := sentinel(e.Kind); s != nil {
		if e.Rule != "" {
			return &ledger.FieldError{Err: s, Rule: e.Rule, Field: e.Field, Reason: e.Reason}
		}
		return &kindError{sentinel: s, reason: e.Reason}
	}
	if e.Reason == "" {
		return fmt.Errorf("ledger: %s error", e.Kind)
	}
	return errors.New(e.Reason)
}

func sentinel(kind string) error {
	for _, k := range kinds {
		if k.kind == kind {
			return k.err
		}
	}
	return nil
}

// kindError is a sentinel with the sender's reason: "<sentinel>: <reason>",
// or the reason alone when it already names the sentinel.
type kindError struct {
	sentinel error
	reason   string
}

func (e *kindError) Error() string {
	s := e.sentinel.Error()
	switch {
	case e.reason == "":
		return s
	case strings.Contains(e.reason, s):
		return e.reason
	}
	return s + ": " + e.reason
}

func (e *kindError) Unwrap() error { return e.sentinel }
