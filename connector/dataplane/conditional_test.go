package dataplane

import (
	"net/http"
	"testing"

	"github.com/tdsc/tdsc/ledger/digest"
)

func TestCheckConditions(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		name string
		h    http.Header
		want condition
	}{
		{"none", http.Header{}, condProceed},
		{"if-match same", http.Header{"If-Match": {etag}}, condProceed},
		{"if-match list", http.Header{"If-Match": {`"x", "abc"`}}, condProceed},
		{"if-match star", http.Header{"If-Match": {"*"}}, condProceed},
		{"if-match weak refused", http.Header{"If-Match": {`W/"abc"`}}, condPreconditionFailed},
		{"if-match other", http.Header{"If-Match": {`"x"`}}, condPreconditionFailed},
		{"if-none-match same", http.Header{"If-None-Match": {etag}}, condNotModified},
		{"if-none-match weak same", http.Header{"If-None-Match": {`W/"abc"`}}, condNotModified},
		{"if-none-match star", http.Header{"If-None-Match": {"*"}}, condNotModified},
		{"if-none-match other", http.Header{"If-None-Match": {`"x"`}}, condProceed},
		{"if-range same", http.Header{"If-Range": {etag}, "Range": {"bytes=1-"}}, condProceed},
		{"if-range other", http.Header{"If-Range": {`"x"`}, "Range": {"bytes=1-"}}, condIgnoreRange},
		{"if-range date", http.Header{"If-Range": {"Mon, 23 Nov 2026 12:00:00 GMT"}, "Range": {"bytes=1-"}}, condIgnoreRange},
		{"if-range without range", http.Header{"If-Range": {`"x"`}}, condProceed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: tt.h}
			if got := checkConditions(r, etag); got != tt.want {
				t.Errorf("checkConditions(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

// FuzzConditions feeds arbitrary conditional headers: no panic, and a
// missing ETag never matches anything but a failed If-Match.
func FuzzConditions(f *testing.F) {
	f.Add(`"a"`, `W/"a", "b"`, `"a"`, "bytes=0-")
	f.Add("*", "*", "", "")
	f.Fuzz(func(t *testing.T, ifMatch, ifNoneMatch, ifRange, rng string) {
		r := &http.Request{Header: http.Header{}}
		for k, v := range map[string]string{"If-Match": ifMatch, "If-None-Match": ifNoneMatch, "If-Range": ifRange, "Range": rng} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		checkConditions(r, `"tag"`)
		if c := checkConditions(r, ""); c == condNotModified {
			t.Fatalf("no ETag, yet 304 for %v", r.Header)
		}
	})
}

func TestNormHash(t *testing.T) {
	const hexSum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, in := range []string{hexSum, "sha256:" + hexSum, "SHA256:" + hexSum, " sha-256:" + hexSum} {
		if got := digest.SHA256Hex(in); got != hexSum {
			t.Errorf("normHash(%q) = %q", in, got)
		}
	}
	if got := reprDigest(digest.SHA256, "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"); got != hexSum {
		t.Errorf("reprDigest = %q", got)
	}
}
