package dcp_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/suite"
)

// storedMembership waits until n holds exactly one membership credential
// other than not (a credential id, or ""), and returns it.
func storedMembership(t *testing.T, n *node, not string) *dcp.CredentialClaims {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := n.cs.Stored(dcp.TypeMembership)
		if len(got) == 1 {
			c, err := dcp.ParseUnverifiedCredential(got[0])
			if err != nil {
				t.Fatal(err)
			}
			if c.CredID != not {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d membership credentials: want one, not %q", n.did, len(got), not)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeepMembership, in both crypto suites, has a holder keep its membership credential from the
// authority's Issuer Service: obtained at start, kept across a restart,
// renewed with less than 40 % of its life left, requested again when the
// authority offers one after the ledger entry changed or when its status list
// shows it revoked, and superseded each time so that presentations carry the
// current one only.
func TestKeepMembership(t *testing.T) {
	for _, cs := range []*suite.Suite{suite.Intl, suite.GM} {
		t.Run(cs.Name(), func(t *testing.T) { testKeepMembership(t, cs) })
	}
}

func testKeepMembership(t *testing.T, cs *suite.Suite) {
	s := newSuiteIssuanceSpace(t, cs)
	alice, bob := s.holder("alice", identity.StatusActive), s.addNode("bob")
	store := filepath.Join(t.TempDir(), "dcp-credentials.json")
	if err := alice.cs.OpenStore(store); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- alice.dn.KeepMembership(ctx, dcp.KeepConfig{Issuer: s.iss.did, Check: 20 * time.Millisecond, Wait: 5 * time.Second})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("KeepMembership: %v", err)
		}
	}()
	verify := func(industry string) {
		t.Helper()
		v := s.verifier(bob, func(c *dcp.VerifierConfig) { c.Trusted = []string{s.iss.did}; c.CacheTTL = time.Nanosecond })
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		r, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("bob verifying alice: %v", err)
		}
		if r.Participant.Industry != industry {
			t.Fatalf("verified %+v: want industry %s", r.Participant, industry)
		}
	}

	first := storedMembership(t, alice, "")
	if issued := s.ci.Credentials(alice.did); len(issued) != 1 || issued[0].ID != first.CredID {
		t.Fatalf("issuer's records %+v: want the one alice holds, %s", issued, first.CredID)
	}
	verify("manufacturing")

	t.Run("kept across a restart", func(t *testing.T) {
		dn, err := dcp.NewNode(dcp.NodeConfig{DID: alice.did, Key: alice.key, Space: spaceID, Trusted: []string{s.iss.did},
			CredentialStore: store, Now: s.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if got := dn.Credentials.Stored(dcp.TypeMembership); len(got) != 1 || !strings.Contains(string(mustRead(t, store)), got[0]) {
			t.Fatalf("restarted node holds %d membership credentials: want the one in %s", len(got), store)
		}
	})

	t.Run("renewed with less than 40 % of its life left", func(t *testing.T) {
		s.clock.Add(17 * 24 * time.Hour) // of 30 days: 43 % left, kept
		time.Sleep(100 * time.Millisecond)
		if c := storedMembership(t, alice, ""); c.CredID != first.CredID {
			t.Fatalf("renewed %s with 43 %% of its life left", first.CredID)
		}
		s.clock.Add(2 * 24 * time.Hour) // 37 % left
		second := storedMembership(t, alice, first.CredID)
		if n := len(s.ci.Credentials(alice.did)); n != 2 {
			t.Fatalf("issuer issued %d credentials to alice: want 2", n)
		}
		verify("manufacturing")
		first = second
	})

	// changed has the ledger state alice's industry, as the authority's
	// reconcile sees it, revoking the credential that said otherwise.
	changed := func(t *testing.T, industry string) []string {
		t.Helper()
		p, _ := s.ledger.Participant(ctx, alice.did)
		p.Industry = industry
		s.ledger.Put(p)
		revoked, err := s.ci.Reconcile(ctx, s.ledger)
		if err != nil || !slices.Contains(revoked, first.CredID) {
			t.Fatalf("reconcile revoked %v, %v: want %s", revoked, err, first.CredID)
		}
		return revoked
	}

	t.Run("requested again when the authority offers one", func(t *testing.T) {
		revoked := changed(t, "finance")
		offered, err := s.svc.Reoffer(ctx, revoked)
		if err != nil || !slices.Equal(offered, []string{alice.did}) {
			t.Fatalf("offered %v, %v: want alice", offered, err)
		}
		third := storedMembership(t, alice, first.CredID)
		if third.Subject.Industry != "finance" {
			t.Fatalf("new credential states industry %q: want finance", third.Subject.Industry)
		}
		verify("finance") // the revoked one is no longer presented
		first = third
	})

	t.Run("replaced when revoked without an offer", func(t *testing.T) {
		// The offer did not reach the node (it was down): the status list
		// tells it once its cached copy is older than the cache TTL.
		changed(t, "energy")
		s.clock.Add(2 * time.Minute)
		fourth := storedMembership(t, alice, first.CredID)
		if fourth.Subject.Industry != "energy" {
			t.Fatalf("new credential states industry %q: want energy", fourth.Subject.Industry)
		}
		verify("energy")
		first = fourth
	})

	t.Run("nothing offered to a suspended holder", func(t *testing.T) {
		p, _ := s.ledger.Participant(ctx, alice.did)
		p.Status = identity.StatusSuspended
		s.ledger.Put(p)
		revoked, err := s.ci.Reconcile(ctx, s.ledger)
		if err != nil || !slices.Contains(revoked, first.CredID) {
			t.Fatalf("reconcile revoked %v, %v: want %s", revoked, err, first.CredID)
		}
		if offered, err := s.svc.Reoffer(ctx, revoked); err != nil || len(offered) != 0 {
			t.Fatalf("offered %v, %v: want none", offered, err)
		}
		if err := s.svc.Offer(ctx, alice.did); !errors.Is(err, identity.ErrSuspended) {
			t.Fatalf("Offer to a suspended holder: %v, want ErrSuspended", err)
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeepMembershipRefusesUntrustedIssuer: a node does not request from
// an issuer whose deliveries it would refuse.
func TestKeepMembershipRefusesUntrustedIssuer(t *testing.T) {
	s := newIssuanceSpace(t)
	alice := s.holder("alice", identity.StatusActive)
	err := alice.dn.KeepMembership(context.Background(), dcp.KeepConfig{Issuer: "did:web:elsewhere"})
	if !errors.Is(err, dcp.ErrUntrustedIssuer) {
		t.Fatalf("KeepMembership from an untrusted issuer: %v, want ErrUntrustedIssuer", err)
	}
}

// TestCredentialStore: a store file that does not read is refused naming
// the file and the field; expired credentials are neither loaded nor
// presented; a credential superseded already is not filed.
func TestCredentialStore(t *testing.T) {
	s := newSpace(t)
	n := s.addNode("holder")
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":      "credentials",
		"unknown field": `{"credentials": [], "more": 1}`,
		"two objects":   `{"credentials": []} {}`,
		"not a jwt":     `{"credentials": ["x.y.z"]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		err := n.cs.OpenStore(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: OpenStore: %v, want an error naming %s", name, err, path)
		}
		if name == "not a jwt" && !strings.Contains(fmtErr(err), "credentials[0]") {
			t.Errorf("%s: %v, want the field credentials[0]", name, err)
		}
	}

	old := s.register(n, "CN-SH")
	s.clock.Add(time.Hour)
	cur := s.register(n, "CN-SH")
	if got := n.cs.Stored(dcp.TypeMembership); len(got) != 1 || got[0] != cur.JWT {
		t.Fatalf("holder holds %d membership credentials: want the newer only", len(got))
	}
	if err := n.cs.Store(old.JWT); err != nil {
		t.Fatal(err)
	}
	if got := n.cs.Stored(dcp.TypeMembership); len(got) != 1 || got[0] != cur.JWT {
		t.Fatal("an older credential filed again displaced the newer one")
	}

	sc, err := dcp.ParseScope(dcp.ScopeMembership)
	if err != nil {
		t.Fatal(err)
	}
	scope := []dcp.Scope{sc}
	if r, err := n.cs.Present(s.auth.did, scope, scope); err != nil || len(r.Presentation) != 1 {
		t.Fatalf("presentations %v: want one", err)
	}
	s.clock.Add(31 * 24 * time.Hour)
	if r, err := n.cs.Present(s.auth.did, scope, scope); err != nil || len(r.Presentation) != 0 {
		t.Fatalf("%d presentations, %v: want none, the credential expired", len(r.Presentation), err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestCallerHTTPClientUntouched: the DCP pieces set their own timeout and
// redirect policy on a copy of the HTTP client they are given; a
// connector's client, shared with its DSP calls, keeps its own.
func TestCallerHTTPClientUntouched(t *testing.T) {
	s := newIssuanceSpace(t)
	hc := &http.Client{Timeout: 42 * time.Second, Transport: s.srv.Client().Transport}
	key, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dcp.NewNode(dcp.NodeConfig{DID: s.iss.did, Key: key, Space: spaceID, Trusted: []string{s.iss.did}, HTTPClient: hc}); err != nil {
		t.Fatal(err)
	}
	if _, err := dcp.NewIssuerService(dcp.IssuerServiceConfig{DID: s.iss.did, Key: key, Issuer: s.ci, Ledger: s.ledger,
		Endpoint: s.endpoint, Resolver: s.res, HTTPClient: hc}); err != nil {
		t.Fatal(err)
	}
	if hc.Timeout != 42*time.Second || hc.CheckRedirect != nil {
		t.Fatalf("caller's client now has timeout %v and a redirect policy %v: want 42s and none", hc.Timeout, hc.CheckRedirect != nil)
	}
}

// TestSuiteAlgorithms: a node accepts the JWS algorithms of its own crypto
// suite only: in a gm space a token signed with Ed25519 is refused, in an
// intl space one signed with SM2, each naming the algorithm, whatever the
// DID document says.
func TestSuiteAlgorithms(t *testing.T) {
	for _, tc := range []struct{ space, other *suite.Suite }{{suite.GM, suite.Intl}, {suite.Intl, suite.GM}} {
		t.Run(tc.space.Name(), func(t *testing.T) {
			s := newSuiteSpace(t, tc.space)
			bob := s.addNode("bob")
			key, err := identity.Generate(tc.other, "")
			if err != nil {
				t.Fatal(err)
			}
			stranger := s.addNodeWithKey("stranger", key) // its document publishes that key
			s.register(stranger, "CN-SH")
			v := s.verifier(bob)
			tok, err := stranger.sts.Request(bob.did, dcp.ScopeMembership)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tok)
			if err == nil || !strings.Contains(err.Error(), key.JWK().Algorithm()) {
				t.Fatalf("a %s token at a %s node: %v, want a refusal naming %s", tc.other.Name(), tc.space.Name(), err, key.JWK().Algorithm())
			}
		})
	}
}

// TestKeepMembershipWaitsUntilServed: a node asks for its credential only
// once its own DID document is served. The issuer authenticates a request by
// resolving that document and remembers a failed resolution (here for as
// long as the test's clock stands still), so an early request would keep the
// node refused after it serves.
func TestKeepMembershipWaitsUntilServed(t *testing.T) {
	s := newIssuanceSpace(t)
	key := s.newKey()
	base := s.srv.URL + "/late"
	did, err := dcp.WebDID(base)
	if err != nil {
		t.Fatal(err)
	}
	dn, err := dcp.NewNode(dcp.NodeConfig{DID: did, Key: key, Space: spaceID, Trusted: []string{s.iss.did},
		HTTPClient: s.srv.Client(), CacheTTL: time.Minute, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.ledger.Put(identity.Participant{ID: did, DID: did, Name: "late", Region: "CN-SH", Status: identity.StatusActive, Keys: []identity.JWK{key.JWK()}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dn.KeepMembership(ctx, dcp.KeepConfig{Issuer: s.iss.did, Check: 20 * time.Millisecond})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("KeepMembership: %v", err)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	if reqs := s.svc.Requests(); len(reqs) != 0 {
		t.Fatalf("the issuer got %d requests from a node not serving its DID document: want none", len(reqs))
	}
	h := dn.Handler()
	s.mux.Handle("/late/did.json", h)
	s.mux.Handle("/late/cs/", h)
	deadline := time.Now().Add(10 * time.Second)
	for len(dn.Credentials.Stored(dcp.TypeMembership)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no credential after the node served its DID document")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.ci.Credentials(did)); n != 1 {
		t.Fatalf("the issuer issued %d credentials: want 1", n)
	}
}
