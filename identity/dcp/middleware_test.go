package dcp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// TestRequireEither: one DSP endpoint accepts a ledger-registered peer's
// protocol token and a DID peer's DCP request, and sees the same attributes.
func TestRequireEither(t *testing.T) {
	s := newSpace(t)
	alice, bob := s.addNode("alice"), s.addNode("bob")
	s.register(alice, "CN-SH")
	carolKey, _ := identity.GenerateEd25519()
	s.ledger.Put(identity.Participant{ID: "carol", Keys: []identity.JWK{carolKey.JWK()}, Region: "CN-BJ", Status: identity.StatusActive})
	reg := identity.NewRegistry(s.ledger)
	tv, _ := identity.NewVerifier(reg, identity.WithClock(s.clock.Now))

	attrs := func(w http.ResponseWriter, r *http.Request) {
		c, _ := identity.FromContext(r.Context())
		region := ""
		if d, ok := dcp.FromContext(r.Context()); ok {
			region = d.Participant.Region
		} else if p, err := reg.Participant(r.Context(), c.Caller()); err == nil {
			region = p.Region
		}
		_, _ = io.WriteString(w, c.Caller()+" "+region)
	}
	both := httptest.NewServer(dcp.RequireEither(tv, bob.did, s.verifier(bob))(http.HandlerFunc(attrs)))
	defer both.Close()
	tdscOnly := httptest.NewServer(dcp.RequireEither(tv, bob.did, nil)(http.HandlerFunc(attrs)))
	defer tdscOnly.Close()
	call := func(url, tok string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(http.MethodGet, url, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	carol, _ := identity.NewIssuer("carol", carolKey, identity.WithIssuerClock(s.clock.Now))
	proto, _ := carol.ProtocolToken(bob.did)
	if code, body := call(both.URL, proto); code != 200 || body != "carol CN-BJ" {
		t.Fatalf("tdsc peer: %d %q", code, body)
	}
	dcpTok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
	if code, body := call(both.URL, dcpTok); code != 200 || body != "tdsc-alice CN-SH" {
		t.Fatalf("DCP peer: %d %q", code, body)
	}
	dcpTok, _ = alice.sts.Request(bob.did, dcp.ScopeMembership)
	if code, body := call(tdscOnly.URL, dcpTok); code != http.StatusUnauthorized {
		t.Fatalf("DCP at a tdsc-only endpoint: %d %q", code, body)
	}
	other, _ := carol.ProtocolToken("did:web:someone.else")
	if code, body := call(both.URL, other); code != http.StatusUnauthorized {
		t.Fatalf("protocol token for another audience: %d %q", code, body)
	}
}
