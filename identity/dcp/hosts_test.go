package dcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity/dcp"
)

func TestHostsAllow(t *testing.T) {
	h := dcp.Hosts{"authority.example.com", "127.0.0.1:8443", "*.members.example.org"}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{
		"https://authority.example.com/did.json":        true,
		"https://AUTHORITY.example.com:443/x":           true,
		"https://127.0.0.1:8443/.well-known/did.json":   true,
		"https://127.0.0.1:9443/.well-known/did.json":   false,
		"https://a.members.example.org/cs":              true,
		"https://members.example.org/cs":                false,
		"https://evil-members.example.org/cs":           false,
		"https://authority.example.com.evil.example/cs": false,
		"https://169.254.169.254/latest/meta-data":      false,
	} {
		err := h.Allow(u)
		if (err == nil) != want || err != nil && (!errors.Is(err, dcp.ErrDID) || !strings.Contains(err.Error(), "dcpAllowedHosts")) {
			t.Errorf("Allow(%s) = %v, want allowed %v", u, err, want)
		}
	}
	if err := (dcp.Hosts{}).Allow("https://anything.example/"); err != nil {
		t.Fatalf("an empty list allows every host: %v", err)
	}
	for _, bad := range []string{"", "*.", "https://x.example", "a b", "x/y", ".example.com"} {
		if err := (dcp.Hosts{bad}).Validate(); err == nil {
			t.Errorf("Validate(%q) accepted", bad)
		}
	}
}

// TestVerifierAllowedHosts: with an allow-list, a token naming a DID on
// another host is refused before any connection is made to that host, and a
// node whose Credential Service is elsewhere is refused too; DIDs on the
// listed host verify as before.
func TestVerifierAllowedHosts(t *testing.T) {
	s := newSpace(t)
	alice := s.addNode("alice")
	s.register(alice, "CN-SH")
	bob := s.addNode("bob")
	u, _ := url.Parse(s.srv.URL)
	var hits atomic.Int64
	otherSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); http.NotFound(w, r) }))
	t.Cleanup(otherSrv.Close)
	otherURL, _ := url.Parse(otherSrv.URL)

	res, err := dcp.NewResolver(dcp.WithHTTPClient(s.srv.Client()), dcp.WithResolverClock(s.clock.Now), dcp.WithAllowedHosts(dcp.Hosts{u.Host}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := dcp.NewVerifier(dcp.VerifierConfig{STS: bob.sts, Resolver: res, Space: spaceID, Trusted: []string{s.auth.did},
		HTTPClient: s.srv.Client(), CacheTTL: 10 * time.Second, Now: s.clock.Now, AllowedHosts: dcp.Hosts{u.Host}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := alice.sts.Request(bob.did, dcp.ScopeMembership)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("a DID on the listed host: %v", err)
	}
	// Another loopback HTTPS server (another port: another host): refused.
	other := "did:web:127.0.0.1%3A" + strings.TrimPrefix(otherURL.Host, "127.0.0.1:") + ":count"
	if _, err := res.Resolve(context.Background(), other); !errors.Is(err, dcp.ErrDID) || !strings.Contains(err.Error(), "dcpAllowedHosts") {
		t.Fatalf("a DID on another host: %v, want ErrDID naming dcpAllowedHosts", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the refused host was fetched %d times", hits.Load())
	}
	// Control: without the list the same DID is fetched.
	open, _ := dcp.NewResolver(dcp.WithHTTPClient(s.srv.Client()))
	_, _ = open.Resolve(context.Background(), other)
	if hits.Load() != 1 {
		t.Fatalf("without the list the other host was fetched %d times, want 1", hits.Load())
	}
}
