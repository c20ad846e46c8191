package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
)

// TestErrorRoundTrip: every ledger error crosses the wire as JSON and comes
// back through Err with the same message, the same sentinel, and each fact
// (rule, record, field, sentinel text) written once.
func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		err  error
		is   error
		once []string
	}{
		{"rule", &ledger.RuleError{Rule: "objection.resolve-once", Field: "objection.id", Reason: "objection o1 is already resolved", RecordID: "rec-1"},
			ledger.ErrRefused, []string{"objection.resolve-once", "rec-1", "objection.id", "refused"}},
		{"malformed", &ledger.MalformedError{Rule: ledger.RuleRequired, Field: "records[2].time", Reason: "must not be empty", RecordID: "rec-3"},
			ledger.ErrMalformed, []string{ledger.RuleRequired, "records[2].time", "malformed"}},
		{"bad signature", &ledger.FieldError{Err: ledger.ErrBadSignature, Rule: ledger.RuleBatchSignature, Field: "signature", Reason: "does not verify"},
			ledger.ErrBadSignature, []string{ledger.RuleBatchSignature, "does not verify"}},
		{"not found", fmt.Errorf("%w: record rec-9", ledger.ErrNotFound), ledger.ErrNotFound, []string{"not found", "rec-9"}},
		{"not found, wrapped", fmt.Errorf("participant p9: %w", ledger.ErrNotFound), ledger.ErrNotFound, []string{"not found", "p9"}},
		{"bare sentinel", ledger.ErrUnavailable, ledger.ErrUnavailable, []string{"unavailable"}},
		{"unauthorized", fmt.Errorf("%w: token expired", api.ErrUnauthorized), api.ErrUnauthorized, []string{"role token required", "expired"}},
		{"forbidden", fmt.Errorf("%w: participant p3 may query only its own records", api.ErrForbidden), api.ErrForbidden, []string{"does not allow", "p3"}},
		{"genesis", fmt.Errorf("%w: other space", ledger.ErrGenesisMismatch), ledger.ErrGenesisMismatch, []string{"genesis", "other space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(api.FromError(tt.err))
			if err != nil {
				t.Fatal(err)
			}
			var e api.Error
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			got := e.Err()
			if !errors.Is(got, tt.is) {
				t.Fatalf("%s decodes to %v, want errors.Is %v", b, got, tt.is)
			}
			if got.Error() != tt.err.Error() {
				t.Fatalf("message changed on the wire:\nsent %q\ngot  %q (wire %s)", tt.err.Error(), got.Error(), b)
			}
			for _, fact := range tt.once {
				if n := strings.Count(got.Error(), fact); n != 1 {
					t.Errorf("%q reads %d times in %q", fact, n, got.Error())
				}
			}
			if strings.HasPrefix(e.Reason, "ledger") {
				t.Errorf("reason %q repeats the kind's text", e.Reason)
			}
		})
	}
}

// TestBatchIndex: a failing batch's index travels beside the error.
func TestBatchIndex(t *testing.T) {
	e := api.FromError(&api.BatchError{Index: 2, Err: fmt.Errorf("%w: record r1", ledger.ErrNotFound)})
	if e.Batch == nil || *e.Batch != 2 || e.Kind != api.KindNotFound || e.Reason != "record r1" {
		t.Fatalf("wire form %+v", e)
	}
}

// TestUnknownKind: a kind this build does not know still reads as its reason.
func TestUnknownKind(t *testing.T) {
	err := (&api.Error{Kind: "quota", Reason: "too many appends"}).Err()
	if err == nil || err.Error() != "too many appends" || api.Kind(err) != api.KindInternal {
		t.Fatalf("got %v", err)
	}
}
