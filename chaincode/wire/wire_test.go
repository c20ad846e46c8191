package wire

import (
	"bytes"
	"encoding/json"
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

// TestEncodeWritten: the hand-built payload is byte for byte what
// json.Marshal gives (the payload format readers decode, and the bytes an
// Append compares with what the client sent).
func TestEncodeWritten(t *testing.T) {
	rec := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		ws   []*Written
	}{
		{"none", []*Written{}},
		{"one", []*Written{{Space: "s", Writer: "p1", KeyID: "k1", Root: strings.Repeat("ab", 32), Signature: "c2ln",
			Records: []json.RawMessage{rec(map[string]any{"id": "r1", "n": 1}), rec("x")}}}},
		{"escapes", []*Written{{Space: "a<b>&\"\\\u2028", Writer: "\x00\x1f\xff", KeyID: "ключ", Root: "", Signature: "",
			Records: []json.RawMessage{rec(map[string]string{"<tag>": "&amp;\u2029"})}}}},
		{"no records", []*Written{{Space: "s", Records: []json.RawMessage{}}, {Space: "t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.ws)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EncodeWritten(tt.ws)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzEncodeWritten: for any header strings and any records that are
// canonical JSON (what json.Marshal writes), EncodeWritten and json.Marshal
// agree.
func FuzzEncodeWritten(f *testing.F) {
	f.Add("space", "writer", "key", "root", "sig", "r1", "<&>", 2)
	f.Add("", "\xff", "\u2028", "\"", "\\", "", "\x00", 0)
	f.Fuzz(func(t *testing.T, space, writer, keyID, root, sig, a, b string, n int) {
		var recs []json.RawMessage
		if n >= 0 {
			recs = []json.RawMessage{}
			for i := range n % 4 {
				r, err := json.Marshal(map[string]any{"id": a, "v": b, "i": i})
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
		}
		ws := []*Written{{Space: space, Writer: writer, KeyID: keyID, Root: root, Signature: sig, Records: recs},
			{Space: b, Writer: a}}
		want, err := json.Marshal(ws)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeWritten(ws)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}
