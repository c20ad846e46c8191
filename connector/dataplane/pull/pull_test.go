package pull

import (
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger/digest"
)

func TestContentRange(t *testing.T) {
	tests := []struct {
		in          string
		start, size int64
		ok          bool
	}{
		{"bytes 10-19/100", 10, 100, true},
		{"bytes */100", 0, 100, true},
		{"bytes 10-19/*", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes x-1/3", 0, 3, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		start, size, ok := contentRange(tt.in)
		if ok != tt.ok || (ok && (start != tt.start || size != tt.size)) {
			t.Errorf("contentRange(%q) = %d, %d, %v; want %d, %d, %v", tt.in, start, size, ok, tt.start, tt.size, tt.ok)
		}
	}
}

func TestReprDigest(t *testing.T) {
	// SHA-256 of the empty string.
	const hexSum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := map[string]string{
		"sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:":                 hexSum,
		"sha-512=:AAAA:, sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:": hexSum,
		"sha-256=:short:": "",
		"":                "",
	}
	for in, want := range tests {
		if got := reprDigest(digest.SHA256, in); got != want {
			t.Errorf("reprDigest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := digest.SHA256Hex("SHA256:" + strings.ToUpper(hexSum)); got != hexSum {
		t.Errorf("normHash = %q", got)
	}
}
