package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
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

// TestDeflate: the event payload's compression round-trips, is a function
// of its input alone (both endorsers must sign the same bytes), and
// shrinks a batch of records.
func TestDeflate(t *testing.T) {
	var recs []string
	for i := range 500 {
		recs = append(recs, fmt.Sprintf(`{"schema":1,"id":"rec-%08d","kind":"transfer.completed","actor":"cons-%d","transfer":"tr-%d","bytes":%d}`, i, i%7, i*31, i*1013))
	}
	p := []byte("[" + strings.Join(recs, ",") + "]")
	a, err := Deflate(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Deflate(bytes.Clone(p))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two compressions of the same payload differ")
	}
	if len(a) >= len(p)/2 {
		t.Fatalf("%d bytes deflate to %d", len(p), len(a))
	}
	got, err := Inflate("event", a)
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("Inflate: %v, equal %v", err, bytes.Equal(got, p))
	}
	if _, err := Inflate("event", a[:len(a)-3]); err == nil {
		t.Fatal("a truncated payload inflated")
	}
}
