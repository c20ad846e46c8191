package dashboard

import (
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
)

// FuzzSessionCookie feeds arbitrary cookie values to the session decoder: it
// must never panic and must accept nothing but the one cookie it signed.
func FuzzSessionCookie(f *testing.F) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	h := &Handler{sessionKey: []byte("0123456789abcdef0123456789abcdef"), now: func() time.Time { return now }}
	valid := h.encodeSession(Principal{Principal: identity.Principal{ID: "regulator-1", Role: "regulator"}}, now.Add(time.Hour))
	f.Add(valid)
	f.Add("")
	f.Add(".")
	f.Add("eyJzdWIiOiJ4Iiwicm9sZSI6InJlZ3VsYXRvciIsImV4cCI6OTk5OTk5OTk5OX0.AAAA")
	f.Fuzz(func(t *testing.T, v string) {
		p, err := h.decodeSession(v)
		if err == nil && v != valid {
			t.Fatalf("accepted a cookie it did not sign: %q -> %+v", v, p)
		}
		if v == valid && (err != nil || p.ID != "regulator-1" || p.Role != "regulator") {
			t.Fatalf("refused its own cookie: %v", err)
		}
	})
}
