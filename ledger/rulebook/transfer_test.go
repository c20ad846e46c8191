package rulebook

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTransferFields: the binary form and a Mem's memTransfer carry every
// field of Transfer; a field added there must be added to them (and this
// list).
func TestTransferFields(t *testing.T) {
	var got []string
	for f := range reflect.TypeFor[Transfer]().Fields() {
		got = append(got, f.Name)
	}
	want := []string{"ID", "Agreement", "Provider", "Consumer", "Completed", "CompletedByProvider", "CompletedByConsumer"}
	if !slices.Equal(got, want) {
		t.Fatalf("Transfer has fields %v; the binary form (rulebook/transfer.go) and memTransfer (mem.go) carry %v", got, want)
	}
}

// TestTransferEncoding: the form with the id round-trips and refuses
// values that are not it.
func TestTransferEncoding(t *testing.T) {
	for _, tr := range []Transfer{
		{ID: "t-1", Agreement: "ag-1", Provider: "p0", Consumer: "p1"},
		{ID: "t-2", Agreement: "ag-1", Provider: "p0", Consumer: "p1", Completed: true, CompletedByConsumer: true},
		{ID: "t-3", Agreement: "ag-1", Provider: "p0", Consumer: "p1", Completed: true, CompletedByProvider: true, CompletedByConsumer: true},
		{ID: "t-legacy", Agreement: strings.Repeat("a", 300), Provider: "", Consumer: "p1", Completed: true},
	} {
		got, err := DecodeTransfer(EncodeTransfer(&tr))
		if err != nil {
			t.Fatalf("%s: %v", tr.ID, err)
		}
		if d := cmp.Diff(&tr, got); d != "" {
			t.Fatalf("%s: round trip (-+):\n%s", tr.ID, d)
		}
	}
	good := EncodeTransfer(&Transfer{ID: "t-1", Agreement: "ag-1", Provider: "p0", Consumer: "p1"})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"json":           []byte(`{"id":"t-1"}`),
		"unknown flag":   append([]byte{transferV1, 0x80}, good[2:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
	} {
		if _, err := DecodeTransfer(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeTransfer(f *testing.F) {
	f.Add(EncodeTransfer(&Transfer{ID: "t-1", Agreement: "ag-1", Provider: "p0", Consumer: "p1", Completed: true, CompletedByProvider: true}))
	f.Add([]byte{transferV1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTransfer(b)
		if err != nil {
			return
		}
		again, err := DecodeTransfer(EncodeTransfer(tr))
		if err != nil || !cmp.Equal(tr, again) {
			t.Fatalf("%+v does not round-trip: %+v %v", tr, again, err)
		}
	})
}
