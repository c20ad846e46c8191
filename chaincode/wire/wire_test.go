package wire

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger"
)

func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		err  error
		is   error
	}{
		{"rule", &ledger.RuleError{Rule: "transfer.agreement-max-uses", Field: "agreement", Reason: "all 10 uses taken", RecordID: "rec-1"}, ledger.ErrRefused},
		{"malformed", &ledger.MalformedError{Rule: ledger.RuleRequired, Field: "records[2].time", Reason: "must not be empty", RecordID: "rec-3"}, ledger.ErrMalformed},
		{"bad signature", &ledger.FieldError{Err: ledger.ErrBadSignature, Rule: ledger.RuleBatchSignature, Field: "signature", Reason: "does not verify"}, ledger.ErrBadSignature},
		{"unknown writer", &ledger.FieldError{Err: ledger.ErrUnknownWriter, Rule: ledger.RuleWriterRegistered, Field: "writer", Reason: "p9"}, ledger.ErrUnknownWriter},
		{"not found", fmt.Errorf("%w: record rec-9", ledger.ErrNotFound), ledger.ErrNotFound},
		{"genesis", fmt.Errorf("%w: other space", ledger.ErrGenesisMismatch), ledger.ErrGenesisMismatch},
		{"in a batch", &BatchError{Index: 2, Err: &ledger.RuleError{Rule: "writer.is-actor", Reason: "x"}}, ledger.ErrRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := "chaincode response 500, " + Message(tt.err)
			e, ok := ParseMessage(msg)
			if !ok {
				t.Fatalf("no error in %q", msg)
			}
			got := e.Err()
			if !errors.Is(got, tt.is) {
				t.Fatalf("got %v, want errors.Is %v", got, tt.is)
			}
			want := tt.err
			var be *BatchError
			if errors.As(tt.err, &be) {
				if e.Batch == nil || *e.Batch != be.Index {
					t.Fatalf("batch index %v, want %d", e.Batch, be.Index)
				}
				want = be.Err
			}
			if diff := cmp.Diff(want.Error(), got.Error()); diff != "" {
				t.Fatalf("message changed (-sent +received):\n%s", diff)
			}
		})
	}
	if _, ok := ParseMessage("chaincode response 500, something else"); ok {
		t.Fatal("found an error in a message without one")
	}
}
