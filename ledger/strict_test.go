package ledger

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/internal/jsondec"
)

// stdStrict is strictUnmarshal as it was written with encoding/json: the
// reference the decoder this package uses (internal/jsondec) must agree with.
func stdStrict(data []byte, v any) error {
	dec := stdjson.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// FuzzStrictMatchesEncodingJSON: for any input, the decoders of untrusted
// batches and records (strictUnmarshal) and of stored records
// (DecodeCanonical's) accept exactly what encoding/json accepts and decode
// it to the same values — keys matched without regard to case, the last of
// duplicate keys kept, invalid UTF-8 replaced, as encoding/json does.
func FuzzStrictMatchesEncodingJSON(f *testing.F) {
	rec := `{"schema":1,"id":"r-1","kind":"transfer.authorized","time":"2026-03-01T08:00:00+08:00","actor":"p1","counterparty":"p2","agreement":"ag-1","transfer":"t-1","tokenId":"jti-1","bytes":12,"rights":["use"]}`
	for _, s := range []string{
		rec,
		`{"space":"s","writer":"w","keyId":"k","root":"ab","signature":"x","records":[` + rec + `]}`,
		`{"SPACE":"s","Space":"t","records":null}`,
		`{"space":"a","space":"b"}`,
		"{\"space\":\"\xff\\u00e9\\ud800\"}",
		`{"records":[{"bytes":1e400}]}`,
		`{"records":[{"bytes":-0,"schema":1.0}]}`,
		`{"space":"x"} {}`,
		`{"space":"x"}  `,
		`{"unknown":1}`,
		`{"rights":"use"}`,
		`[1,2]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b1, b2 Batch
		e1, e2 := strictUnmarshal(data, &b1), stdStrict(data, &b2)
		if (e1 == nil) != (e2 == nil) || e1 == nil && !cmp.Equal(b1, b2) {
			t.Fatalf("batch: decoded %v, encoding/json %v\n%s", e1, e2, cmp.Diff(b2, b1))
		}
		var r1, r2 Record
		e1, e2 = strictUnmarshal(data, &r1), stdStrict(data, &r2)
		if (e1 == nil) != (e2 == nil) || e1 == nil && !cmp.Equal(r1, r2) {
			t.Fatalf("record: decoded %v, encoding/json %v\n%s", e1, e2, cmp.Diff(r2, r1))
		}
		var c1, c2 Record
		e1, e2 = jsondec.Unmarshal(data, &c1), stdjson.Unmarshal(data, &c2)
		if (e1 == nil) != (e2 == nil) || e1 == nil && !cmp.Equal(c1, c2) {
			t.Fatalf("stored record: decoded %v, encoding/json %v\n%s", e1, e2, cmp.Diff(c2, c1))
		}
	})
}
