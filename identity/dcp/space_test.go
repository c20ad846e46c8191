package dcp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/suite"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// node is one DID participant served by the test space's HTTPS server.
type node struct {
	did  string
	key  *identity.Key
	doc  *dcp.Document
	sts  *dcp.STS
	cs   *dcp.CredentialService
	dn   *dcp.Node
	base string
}

// space is a loopback HTTPS server (its certificate plays the space CA)
// hosting the authority's DID document and status list, and each node's DID
// document and Credential Service under /<name>/.
type space struct {
	t      testing.TB
	srv    *httptest.Server
	mux    *http.ServeMux
	clock  *clock
	res    *dcp.Resolver
	ledger *identity.MemorySource
	// suite is the space's crypto suite: every key's (Ed25519 in intl, SM2
	// in gm).
	suite  *suite.Suite
	auth   *node
	issuer *dcp.CredentialIssuer
	nodes  map[string]*node
}

const spaceID = "space-1"

func newSpace(t testing.TB) *space { return newSuiteSpace(t, suite.Intl) }

// newSuiteSpace is newSpace with every key of crypto suite cs.
func newSuiteSpace(t testing.TB, cs *suite.Suite) *space {
	t.Helper()
	s := &space{t: t, mux: http.NewServeMux(), clock: &clock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)},
		ledger: identity.NewMemorySource(), nodes: map[string]*node{}, suite: cs}
	s.srv = httptest.NewTLSServer(s.mux)
	t.Cleanup(s.srv.Close)
	var err error
	s.res, err = dcp.NewResolver(dcp.WithHTTPClient(s.srv.Client()), dcp.WithResolverClock(s.clock.Now), dcp.WithDocumentTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	s.auth = s.addNode("authority")
	s.issuer, err = dcp.NewCredentialIssuer(dcp.IssuerConfig{
		DID: s.auth.did, Key: s.auth.key, Space: spaceID, StatusURL: s.auth.base + dcp.StatusPath,
		StatusTTL: 10 * time.Second, Now: s.clock.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mux.Handle("/authority"+dcp.StatusPath, http.StripPrefix("/authority", s.issuer.Handler()))
	return s
}

// addNode makes a DID participant name served at /name/.
func (s *space) addNode(name string) *node {
	s.t.Helper()
	return s.addNodeWithKey(name, s.newKey())
}

// newKey makes a key of the space's suite.
func (s *space) newKey() *identity.Key {
	s.t.Helper()
	key, err := identity.Generate(s.suite, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return key
}

func (s *space) addNodeWithKey(name string, key *identity.Key) *node {
	s.t.Helper()
	return s.addNodeTrusting(name, key, "did:web:unused")
}

// addNodeTrusting makes a DID participant whose Credential Service accepts
// credentials from the trusted issuers.
func (s *space) addNodeTrusting(name string, key *identity.Key, trusted ...string) *node {
	s.t.Helper()
	base := s.srv.URL + "/" + name
	did, err := dcp.WebDID(base)
	if err != nil {
		s.t.Fatal(err)
	}
	dn, err := dcp.NewNode(dcp.NodeConfig{DID: did, Key: key, DSP: base + "/dsp", Space: spaceID, Trusted: trusted,
		HTTPClient: s.srv.Client(), CacheTTL: time.Minute, Now: s.clock.Now})
	if err != nil {
		s.t.Fatal(err)
	}
	n := &node{did: did, key: key, base: base, doc: dn.Document, sts: dn.STS, cs: dn.Credentials, dn: dn}
	if n.cs == nil || dn.Document.Service[0].ServiceEndpoint != base+"/cs" {
		s.t.Fatalf("node %s: Credential Service at %q", name, dn.Document.Service[0].ServiceEndpoint)
	}
	h := dn.Handler()
	s.mux.Handle("/"+name+"/did.json", h)
	s.mux.Handle("/"+name+"/cs/", h)
	s.nodes[name] = n
	return n
}

// register records n on the ledger and has the authority issue its
// membership credential into its Credential Service.
func (s *space) register(n *node, region string) dcp.IssuedCredential {
	s.t.Helper()
	p := identity.Participant{ID: "tdsc-" + strings.TrimPrefix(n.base, s.srv.URL+"/"), Name: n.did, Region: region,
		Industry: "manufacturing", OrgType: "enterprise", DID: n.did, Status: identity.StatusActive, Keys: []identity.JWK{n.key.JWK()}}
	s.ledger.Put(p)
	ic, err := s.issuer.Issue(p)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := n.cs.Store(ic.JWT); err != nil {
		s.t.Fatal(err)
	}
	return ic
}

// verifier is the DCP verifier of node n (a provider).
func (s *space) verifier(n *node, opts ...func(*dcp.VerifierConfig)) *dcp.Verifier {
	s.t.Helper()
	cfg := dcp.VerifierConfig{STS: n.sts, Resolver: s.res, Space: spaceID, Trusted: []string{s.auth.did},
		HTTPClient: s.srv.Client(), CacheTTL: 10 * time.Second, Now: s.clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	v, err := dcp.NewVerifier(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}
