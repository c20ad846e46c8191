package connector

import (
	"context"
	"strings"
	"testing"
)

func TestCallbackAddresses(t *testing.T) {
	n := &Node{cfg: Config{PublicURL: "http://127.0.0.1:7001", Listen: "127.0.0.1:7001", LedgerURL: "http://127.0.0.1:7000"}}
	for _, tc := range []struct {
		url, refused string // refused: a word the reason must hold, "" for accepted
	}{
		{"http://127.0.0.1:7002/callback", ""},
		{"http://127.0.0.1:7000/x", "ledger"},
		{"http://localhost:7000/x", "ledger"},
		{"http://127.0.0.1:7001/callback", "own"},
		{"http://127.0.0.1:7002/api/v1", "/api/"},
		{"http://127.0.0.1:7002/ledger/v1", "/ledger/"},
		{"http://127.0.0.1:7002/readyz", "/readyz/"},
		{"http://169.254.169.254/latest", "link-local"},
		{"http://0.0.0.0:7002/", "unspecified"},
		{"http://[::]:7002/", "unspecified"},
		{"http://user@127.0.0.1:7002/", "credentials"},
		{"ftp://127.0.0.1/", "http(s)"},
		{"http://127.0.0.1:7002/a/%2e%2e/api", "dot segments"},
	} {
		err := checkCallback(tc.url)
		if err == nil {
			err = n.checkCallbackHost(context.Background(), tc.url)
		}
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s refused: %v", tc.url, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: got %v, want a refusal naming %q", tc.url, err, tc.refused)
		}
	}
	// A node not on loopback calls no loopback address.
	pub := &Node{cfg: Config{PublicURL: "http://192.0.2.10:7001", LedgerURL: "http://192.0.2.11:7000"}}
	if err := pub.checkCallbackHost(context.Background(), "http://127.0.0.1:9999/callback"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a public node calling loopback: %v", err)
	}
}
