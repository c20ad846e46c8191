package connector

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
)

// TestNotRegistered: a provider refuses a consumer only when the registry says
// it is not (or no longer) in the space; a registry it cannot read — the
// ledger away, an HTTP 503, a timeout — is a reason to retry, never to refuse.
func TestNotRegistered(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"unknown participant", fmt.Errorf("%w: %q", identity.ErrUnknownParticipant, "x"), true},
		{"suspended", fmt.Errorf("%w: %q is suspended", identity.ErrSuspended, "x"), true},
		{"ledger unavailable", fmt.Errorf("registry lookup of %q: %w", "x", ledger.ErrUnavailable), false},
		{"transport error", errors.New("ledger client: 500 Internal Server Error: internal error"), false},
		{"no error", nil, false},
	} {
		if got := notRegistered(tc.err); got != tc.want {
			t.Errorf("%s: notRegistered(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
