package ledger_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

const good = `{"schema":1,"id":"r-1","kind":"transfer.authorized","time":"2026-03-01T08:00:00+08:00","actor":"p1","counterparty":"p2","agreement":"ag-1","transfer":"t-1","tokenId":"jti-1"}`

func TestDecodeRecord(t *testing.T) {
	tests := []struct {
		name, in    string
		rule, field string
	}{
		{"valid", good, "", ""},
		{"not JSON", `{"schema":`, ledger.RuleJSON, "record"},
		{"unknown field", strings.Replace(good, `"actor"`, `"payload":"secret","actor"`, 1), ledger.RuleJSON, "record"},
		{"trailing data", good + `{}`, ledger.RuleJSON, "record"},
		{"other schema version", strings.Replace(good, `"schema":1`, `"schema":2`, 1), ledger.RuleVersion, "schema"},
		{"unknown kind", strings.Replace(good, "transfer.authorized", "transfer.teleported", 1), ledger.RuleKind, "kind"},
		{"time without offset", strings.Replace(good, "+08:00", "", 1), ledger.RuleFormat, "time"},
		{"missing actor", strings.Replace(good, `"actor":"p1",`, "", 1), ledger.RuleRequired, "actor"},
		{"missing id", strings.Replace(good, `"id":"r-1",`, "", 1), ledger.RuleRequired, "id"},
		{"id with spaces", strings.Replace(good, `"id":"r-1"`, `"id":"r 1"`, 1), ledger.RuleFormat, "id"},
		{"kind needs its fields", strings.Replace(good, `"transfer":"t-1",`, "", 1), ledger.RuleRequired, "transfer"},
		{"bad classification", strings.Replace(good, `"actor"`, `"classification":"secret","actor"`, 1), ledger.RuleFormat, "classification"},
		{"bad decision", strings.Replace(good, `"actor"`, `"decision":"maybe","actor"`, 1), ledger.RuleFormat, "decision"},
		{"bad right", strings.Replace(good, `"actor"`, `"rights":["own"],"actor"`, 1), ledger.RuleFormat, "rights[0]"},
		{"cross-border without legal basis", strings.Replace(good, `"actor"`, `"crossBorder":true,"actor"`, 1), ledger.RuleRequired, "legalBasis"},
		{"a group size without compute-only", strings.Replace(good, `"actor"`, `"terms":{"groupSize":10,"consumerKeyId":"","consumerSignature":""},"actor"`, 1), ledger.RuleFormat, "terms.groupSize"},
		{"a negative group size", strings.Replace(good, `"actor"`, `"terms":{"computeOnly":true,"groupSize":-1,"consumerKeyId":"","consumerSignature":""},"actor"`, 1), ledger.RuleFormat, "terms.groupSize"},
		{"oversized", strings.Replace(good, `"actor"`, `"reason":"`+strings.Repeat("x", ledger.MaxRecordBytes)+`","actor"`, 1), ledger.RuleSize, "record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ledger.DecodeRecord([]byte(tt.in))
			if tt.rule == "" {
				if err != nil || r.ID != "r-1" {
					t.Fatalf("got %v, %v", r, err)
				}
				return
			}
			var me *ledger.MalformedError
			if !errors.Is(err, ledger.ErrMalformed) || !errors.As(err, &me) || me.Rule != tt.rule || me.Field != tt.field {
				t.Fatalf("got %v, want rule %s on field %s", err, tt.rule, tt.field)
			}
		})
	}
}

func TestBatchRoundTrip(t *testing.T) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := s.Participant("p1", "CN-BJ")
	b, err := s.Batch(s.Authority(), p1, s.Rules(policy.SpaceRules{}))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(b)
	got, err := ledger.DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Fatalf("(-sent +decoded):\n%s", diff)
	}
	if _, _, err := got.CheckRoot(suite.Intl); err != nil {
		t.Fatal(err)
	}
	if err := got.VerifySignature(s.AuthorityKey.JWK()); err != nil {
		t.Fatal(err)
	}
	if err := got.VerifySignature(s.Keys["p1"].JWK()); !errors.Is(err, ledger.ErrBadSignature) {
		t.Fatalf("signature under another key: %v", err)
	}
	// Duplicate ids in one batch are refused by name.
	dup, _ := json.Marshal(&ledger.Batch{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Records: []ledger.Record{p1, p1}, Root: b.Root, Signature: b.Signature})
	var re *ledger.RuleError
	if _, err := ledger.DecodeBatch(dup); !errors.As(err, &re) || re.Rule != "record.id-unique" || re.Field != "records[1].id" {
		t.Fatalf("duplicate ids: %v", err)
	}
	// Too many records.
	many := &ledger.Batch{Space: "s", Writer: "w", KeyID: "k", Root: b.Root, Signature: b.Signature, Records: make([]ledger.Record, ledger.MaxBatchRecords+1)}
	var me *ledger.MalformedError
	if err := many.Validate(); !errors.As(err, &me) || me.Rule != ledger.RuleSize || me.Field != "records" {
		t.Fatalf("oversized batch: %v", err)
	}
}

// FuzzDecodeRecord: any input either is refused as malformed or decodes to a
// record whose canonical encoding decodes to the same record; whatever
// DecodeCanonical accepts, DecodeRecord accepts and reads the same way.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"schema":1,"id":"r-2","kind":"rules.updated","time":"2026-03-01T08:00:00+08:00","actor":"auth","rules":{"groupFloors":[{"classification":"core","minGroupSize":50}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, errc := ledger.DecodeCanonical(data)
		r, err := ledger.DecodeRecord(data)
		if errc == nil && (err != nil || !cmp.Equal(rc, r)) {
			t.Fatalf("DecodeCanonical accepted what DecodeRecord refuses or reads differently: %v", err)
		}
		if errc != nil && !errors.Is(errc, ledger.ErrMalformed) {
			t.Fatalf("DecodeCanonical error not ErrMalformed: %v", errc)
		}
		if err != nil {
			if !errors.Is(err, ledger.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		c, err := r.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ledger.DecodeRecord(c)
		if err != nil {
			t.Fatalf("canonical form of an accepted record refused: %v\n%s", err, c)
		}
		c2, _ := r2.Canonical()
		if string(c) != string(c2) {
			t.Fatalf("canonical form not stable:\n%s\n%s", c, c2)
		}
	})
}

// FuzzDecodeBatch: any input is refused with a typed error or decodes to a
// batch that validates and re-encodes to the same canonical records (so the
// same leaves). encoding/json matches keys case-insensitively and keeps the
// last of duplicate keys; that is harmless here because what is hashed and
// signed is the canonical re-encoding of what was decoded, never the input bytes.
func FuzzDecodeBatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ledger.DecodeBatch(data)
		if err != nil {
			if !errors.Is(err, ledger.ErrMalformed) && !errors.Is(err, ledger.ErrRefused) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(b.Records) == 0 || len(b.Records) > ledger.MaxBatchRecords {
			t.Fatalf("accepted a batch of %d records", len(b.Records))
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ledger.DecodeBatch(again)
		if err != nil {
			t.Fatalf("re-encoded batch refused: %v", err)
		}
		// Equal up to encoding: the same canonical records, so the same leaves.
		again2, _ := json.Marshal(b2)
		if string(again) != string(again2) {
			t.Fatalf("round trip changed the batch:\n%s\n%s", again, again2)
		}
		l1, err1 := b.Leaves(suite.Intl)
		l2, err2 := b2.Leaves(suite.Intl)
		if err1 != nil || err2 != nil || !cmp.Equal(l1, l2) {
			t.Fatalf("leaves differ after a round trip: %v %v", err1, err2)
		}
	})
}

func TestDecodeCanonical(t *testing.T) {
	r, err := ledger.DecodeRecord([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.Canonical()
	if _, err := ledger.DecodeCanonical(c); err != nil {
		t.Fatalf("canonical bytes: %v", err)
	}
	for name, in := range map[string]string{
		"unknown field":  strings.Replace(string(c), `"actor"`, `"x":1,"actor"`, 1),
		"cased key":      strings.Replace(string(c), `"actor"`, `"Actor"`, 1),
		"trailing space": string(c) + " ",
		"reordered":      strings.Replace(strings.Replace(string(c), `"schema":1,`, "", 1), `}`, `,"schema":1}`, 1),
	} {
		var me *ledger.MalformedError
		if _, err := ledger.DecodeCanonical([]byte(in)); !errors.As(err, &me) {
			t.Errorf("%s: got %v, want a MalformedError", name, err)
		}
	}
}
