package identity_test

import (
	"net/http/httptest"
	"testing"

	"github.com/tdsc/tdsc/identity"
)

// TestAuthorization: the scheme is case-insensitive (RFC 7235 §2.1), the
// token is what follows it, and anything else is no token.
func TestAuthorization(t *testing.T) {
	tests := []struct {
		header, scheme, token string
		ok                    bool
	}{
		{"Bearer abc", identity.SchemeBearer, "abc", true},
		{"bearer abc", identity.SchemeBearer, "abc", true},
		{"BEARER  abc ", identity.SchemeBearer, "abc", true},
		{"DPoP xyz", identity.SchemeDPoP, "xyz", true},
		{"dpop xyz", identity.SchemeDPoP, "xyz", true},
		{"Basic dXNlcjpwYXNz", "", "", false},
		{"Bearer", "", "", false},
		{"Bearer ", "", "", false},
		{"Bearerabc", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		scheme, tok, ok := identity.Authorization(r)
		if scheme != tt.scheme || tok != tt.token || ok != tt.ok {
			t.Errorf("%q: got (%q, %q, %v), want (%q, %q, %v)", tt.header, scheme, tok, ok, tt.scheme, tt.token, tt.ok)
		}
		if got := identity.BearerToken(r); got != tt.token {
			t.Errorf("%q: BearerToken = %q, want %q", tt.header, got, tt.token)
		}
	}
}
