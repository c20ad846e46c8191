package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestUniqueMembers(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hdr := enc(`{"alg":"EdDSA","typ":"tdsc-protocol+jwt","kid":"k"}`)
	for _, tc := range []struct {
		name, token string
		dup         bool
	}{
		{"plain", hdr + "." + enc(`{"iss":"a","sub":"a","aud":["b"]}`) + ".sig", false},
		{"iss twice", hdr + "." + enc(`{"iss":"victim","sub":"a","iss":"a"}`) + ".sig", true},
		{"nested twice", hdr + "." + enc(`{"cnf":{"jkt":"x","jkt":"y"}}`) + ".sig", true},
		{"header alg twice", enc(`{"alg":"none","alg":"EdDSA"}`) + "." + enc(`{}`) + ".sig", true},
		{"same name in two objects", hdr + "." + enc(`{"a":{"x":1},"b":{"x":2}}`) + ".sig", false},
		{"not base64", "!!!.???.sig", false},
	} {
		err := uniqueMembers(tc.token)
		if tc.dup != (err != nil) || err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want duplicate=%v", tc.name, err, tc.dup)
		}
	}
}

// FuzzNoDuplicates: never panics, and refuses only JSON that repeats a name.
func FuzzNoDuplicates(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `[1,2,{"x":null}]`, `{"a":"\u0061","b":1}`, `{`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := noDuplicates(raw)
		if err != nil && !strings.Contains(err.Error(), "twice") {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err != nil && !json.Valid(raw) {
			// a prefix with a duplicate may precede invalid JSON: fine, refused either way
			return
		}
	})
}
