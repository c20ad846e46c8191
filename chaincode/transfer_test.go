package chaincode

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// TestTransferValue: the binary form round-trips every combination of
// flags, is a fraction of the JSON, the JSON of earlier chaincodes is still
// read, and values that are neither are refused.
func TestTransferValue(t *testing.T) {
	for flags := range 8 {
		tr := &rulebook.Transfer{ID: "tr-1-49-0", Agreement: "ag-1", Provider: "did:web:prov.example", Consumer: "cons-1",
			Completed: flags&1 != 0, CompletedByProvider: flags&2 != 0, CompletedByConsumer: flags&4 != 0}
		v := rulebook.EncodeKeyedTransfer(tr)
		got, err := decodeTransfer(tr.ID, v)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tr, got); diff != "" {
			t.Fatalf("flags %d (-wrote +read):\n%s", flags, diff)
		}
		js, _ := json.Marshal(tr)
		if 2*len(v) > len(js) {
			t.Fatalf("binary %d bytes, JSON %d", len(v), len(js))
		}
		old, err := decodeTransfer(tr.ID, js)
		if err != nil || !cmp.Equal(old, tr) {
			t.Fatalf("JSON of an earlier chaincode: %+v, %v", old, err)
		}
	}
	empty := &rulebook.Transfer{ID: "t"}
	if got, err := decodeTransfer("t", rulebook.EncodeKeyedTransfer(empty)); err != nil || !cmp.Equal(got, empty) {
		t.Fatalf("empty fields: %+v, %v", got, err)
	}
	good := rulebook.EncodeKeyedTransfer(&rulebook.Transfer{ID: "t", Agreement: "a", Provider: "p", Consumer: "c"})
	for name, v := range map[string][]byte{
		"empty":         {},
		"tag only":      {0x01},
		"unknown tag":   append([]byte{0x02}, good[1:]...),
		"unknown flags": append([]byte{0x01, 0x08}, good[2:]...),
		"truncated":     good[:len(good)-1],
		"long length":   {0x01, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"trailing":      append(slices.Clone(good), 'x'),
		"long form":     {0x01, 0, 0x80, 0x00, 0, 0},
		"other id":      []byte(`{"id":"u"}`),
		"bad JSON":      []byte(`{"id":`),
	} {
		if _, err := decodeTransfer("t", v); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzTransferValue: no value makes decodeTransfer panic, and whatever it
// reads in the binary form encodes back to the same bytes.
func FuzzTransferValue(f *testing.F) {
	f.Add(rulebook.EncodeKeyedTransfer(&rulebook.Transfer{ID: "t", Agreement: "ag", Provider: "p", Consumer: "c", Completed: true}))
	f.Add([]byte(`{"id":"t","agreement":"ag"}`))
	f.Add([]byte{0x01, 7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		tr, err := decodeTransfer("t", v)
		if err != nil || strings.HasPrefix(string(v), "{") {
			return
		}
		if back := rulebook.EncodeKeyedTransfer(tr); string(back) != string(v) {
			t.Fatalf("read %x, encodes to %x", v, back)
		}
	})
}

// TestTransfersWrittenAsJSON: a space whose transfers an earlier chaincode
// wrote as JSON goes on under this one: with every transfer's state turned
// back into JSON halfway through, the streams' later batches (completions
// of those transfers among them) commit, and the states they write are in
// the binary form.
func TestTransfersWrittenAsJSON(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 300, 5, 3)
	m := newMemState()
	if _, err := tx(t, m, s.Genesis, nil, w.Setup...); err != nil {
		t.Fatal(err)
	}
	run := func(half int) {
		for i, st := range w.Streams {
			lo, hi := 0, len(st)/2
			if half == 1 {
				lo, hi = hi, len(st)
			}
			for _, b := range st[lo:hi] {
				if _, err := tx(t, m, s.Genesis, nil, b); err != nil {
					t.Fatalf("stream %d, half %d: %v", i, half, err)
				}
			}
		}
	}
	run(0)
	turned := 0
	for k, v := range m.kv {
		if id, ok := strings.CutPrefix(k, "t/"); ok {
			tr, err := decodeTransfer(id, v)
			if err != nil || v[0] != 0x01 {
				t.Fatalf("%s: %x (%v), want the binary form", k, v, err)
			}
			if m.kv[k], err = json.Marshal(tr); err != nil {
				t.Fatal(err)
			}
			turned++
		}
	}
	if turned == 0 {
		t.Fatal("the first half wrote no transfer")
	}
	m.wrote = nil
	run(1)
	rewritten := 0
	for _, k := range m.wrote {
		if strings.HasPrefix(k, "t/") && m.kv[k][0] == 0x01 {
			rewritten++
		}
	}
	if rewritten == 0 {
		t.Fatal("the second half wrote no transfer in the binary form")
	}
	t.Logf("%d transfers turned to JSON, %d written after", turned, rewritten)
}
