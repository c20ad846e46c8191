package rulebook

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// TestMemIDs: record and transfer ids are found exactly as they were put,
// whichever way the Mem holds them: a UUID URN in canonical form as its
// bytes, its other spellings (upper case, without "urn:uuid:", another
// prefix) as the strings they are, each a different id; Contents gives each
// back as it was, in order.
func TestMemIDs(t *testing.T) {
	u := uuid.MustParse("0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6071")
	spellings := []string{
		u.URN(),                  // canonical: held as 16 bytes
		strings.ToUpper(u.URN()), // URN:UUID:… upper case
		"urn:uuid:" + strings.ToUpper(u.String()), // upper-case hex
		"URN:uuid:" + u.String(),                  // prefix in another case
		u.String(),                                // bare
		"{" + u.String() + "}",
		"urn:uuid:" + u.String()[:35] + "g", // not hex
		"rec-00000001",
	}
	for _, overlay := range []bool{false, true} {
		for i, put := range spellings {
			m := newMem(overlay)
			m.Put(Change{Seen: put}, Change{Transfer: &Transfer{ID: put, Agreement: "urn:uuid:" + uuid.NewString(), Provider: "did:web:p.example", Consumer: "c", Completed: true, CompletedByConsumer: true}})
			for j, ask := range spellings {
				seen, _ := m.Seen(ask)
				tr, _ := m.Transfer(ask)
				if seen != (i == j) || (tr != nil) != (i == j) {
					t.Errorf("overlay %v: put %q, asked %q: seen %v, transfer %v", overlay, put, ask, seen, tr != nil)
				}
			}
		}
		m := newMem(overlay)
		want := &Transfer{ID: u.URN(), Agreement: "ag-1", Provider: "p0", Consumer: "p1", Completed: true, CompletedByProvider: true}
		m.Put(Change{Transfer: want}, Change{Transfer: &Transfer{ID: "t-2", Agreement: "ag-1", Provider: "p1", Consumer: "p0"}})
		if got, _ := m.Transfer(u.URN()); !cmp.Equal(got, want) {
			t.Errorf("overlay %v: transfer %s (-+):\n%s", overlay, u.URN(), cmp.Diff(want, got))
		}
		if got, _ := m.Transfer("t-2"); got.Provider != "p1" || got.Consumer != "p0" || got.Completed {
			t.Errorf("overlay %v: transfer t-2 is %+v", overlay, got)
		}
		all := newMem(overlay)
		for _, id := range spellings {
			all.Put(Change{Seen: id})
		}
		var got []string
		for _, c := range all.Contents() {
			got = append(got, c.Seen)
		}
		want2 := slices.Sorted(slices.Values(spellings))
		if !slices.Equal(got, want2) {
			t.Errorf("overlay %v: contents %q, want %q", overlay, got, want2)
		}
	}
}

// FuzzIDMap: a compact idMap answers as a map of strings does, for any ids
// (record ids are untrusted input).
func FuzzIDMap(f *testing.F) {
	u := uuid.MustParse("0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6071")
	f.Add(u.URN(), strings.ToUpper(u.URN()))
	f.Add(u.URN(), u.URN())
	f.Add("urn:uuid:"+u.String(), u.String())
	f.Add("rec-1", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		m := newIDMap[int](true)
		m.put(a, 1)
		m.put(b, 2)
		want := map[string]int{a: 1}
		want[b] = 2
		for _, id := range []string{a, b, a + "x", strings.ToLower(a), strings.ToUpper(b)} {
			got, ok := m.get(id)
			w, wok := want[id]
			if got != w || ok != wok {
				t.Fatalf("put %q, %q: get %q = %d, %v; a map says %d, %v", a, b, id, got, ok, w, wok)
			}
		}
		if got, w := m.sorted(), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) || m.len() != len(w) {
			t.Fatalf("put %q, %q: ids %q (len %d), want %q", a, b, got, m.len(), w)
		}
	})
}
