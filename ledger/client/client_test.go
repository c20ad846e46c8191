package client

import (
	"net/http"
	"testing"
	"time"
)

// TestWithHTTPClientKeepsCallersClient: the ledger client sets its own
// timeout on a copy of the HTTP client it is given; a connector's client,
// shared with its peer calls, keeps its timeout.
func TestWithHTTPClientKeepsCallersClient(t *testing.T) {
	hc := &http.Client{Timeout: 42 * time.Second}
	c, err := New("https://ledger.example.com", WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if hc.Timeout != 42*time.Second {
		t.Fatalf("caller's client now has timeout %v: want 42s", hc.Timeout)
	}
	if got := c.r.GetClient().Timeout; got != 60*time.Second {
		t.Fatalf("ledger client's timeout %v: want its own 60s", got)
	}
}
