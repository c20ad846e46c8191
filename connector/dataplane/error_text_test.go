package dataplane_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector/dataplane"
)

// TestErrorNamesTheDataPlaneOnce: the server's message is its own error text
// ("dataplane: …"); the client's error does not say "dataplane:" twice.
func TestErrorNamesTheDataPlaneOnce(t *testing.T) {
	e := &dataplane.Error{Status: http.StatusUnauthorized, Reason: dataplane.ReasonProofInvalid,
		Message: dataplane.ErrProofInvalid.Error() + ": proof of possession missing"}
	if got := e.Error(); strings.Count(got, "dataplane: ") != 1 || !strings.Contains(got, "proof of possession invalid: proof of possession missing") {
		t.Fatalf("got %q", got)
	}
}
