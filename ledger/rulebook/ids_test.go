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
// whichever way the Mem holds them: an id holding a UUID in canonical form
// (lower-case hex) as the UUID's bytes with the text around it interned —
// a UUID URN, a connector's record ids with a kind before it and a
// participant after it, the bare UUID, the UUID in braces, after
// "URN:uuid:" — the others (upper-case hex, a letter that is not hex, no
// UUID) as the strings they are; each spelling a different id; Contents
// gives each back as it was, in order.
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
		"transfer.authorized/" + u.URN(),
		"transfer.completed/" + u.URN() + "/did:web:a.example",
		"transfer.completed/" + u.URN() + "/did:web:b.example",
		"transfer.completed/" + u.String() + "/did:web:a.example",
		u.URN() + "/" + uuid.MustParse("0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6072").URN(), // two UUIDs: the first splits
		"-" + u.String() + u.String(),
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
	f.Add("transfer.completed/"+u.URN()+"/did:web:a.example", "transfer.completed/"+u.URN()+"/did:web:b.example")
	f.Add("transfer.authorized/"+u.URN(), "transfer.denied/"+u.URN())
	f.Add(u.String()+u.String(), u.String())
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

// FuzzCanonicalUUID: canonicalUUID takes exactly the strings uuid.UUID's
// String writes, to the same UUID; splitUUID splits at the first of them
// and the parts give the id back.
func FuzzCanonicalUUID(f *testing.F) {
	u := uuid.MustParse("0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6071")
	f.Add(u.String())
	f.Add(strings.ToUpper(u.String()))
	f.Add("transfer.completed/" + u.URN() + "/did:web:a.example")
	f.Add("{" + u.String() + "}")
	f.Fuzz(func(t *testing.T, id string) {
		for i := 0; i+36 <= len(id); i++ {
			s := id[i : i+36]
			got, ok := canonicalUUID(s)
			want, err := uuid.Parse(s)
			if wok := err == nil && want.String() == s; ok != wok || ok && got != want {
				t.Fatalf("canonicalUUID(%q) = %v, %v; uuid.Parse gives %v, %v", s, got, ok, want, err)
			}
		}
		prefix, got, suffix, ok := splitUUID(id)
		first := -1
		for i := 0; i+36 <= len(id); i++ {
			if p, err := uuid.Parse(id[i : i+36]); err == nil && p.String() == id[i:i+36] {
				first = i
				break
			}
		}
		if ok != (first >= 0) || ok && (len(prefix) != first || prefix+got.String()+suffix != id) {
			t.Fatalf("splitUUID(%q) = %q, %v, %q, %v; the first canonical UUID at %d", id, prefix, got, suffix, ok, first)
		}
	})
}
