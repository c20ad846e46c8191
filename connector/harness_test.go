package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dsp/dspschema"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/connector/store/storetest"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/suite"
)

// testSpace is a data space with a real embedded ledger in a temp dir.
type testSpace struct {
	t testing.TB
	// schema checks every DSP message and response the nodes exchange.
	schema *schemaCheck
	sp     *ledgertest.Space
	led    *embedded.Store
	// gate wraps the ledger so a test can take it down (an outage at the
	// process boundary) or lose the answer to a committed append.
	gate *gatedLedger
	// tls, when set, makes every node serve HTTPS with its certificate and
	// trust its CA.
	tls *testTLS
}

// testTLS names a CA's certificate and a certificate for 127.0.0.1 it issued.
type testTLS struct{ ca, cert, key string }

// gatedLedger passes appends to the real ledger unless the test has taken it
// down; with loseAnswers it commits but reports a transport error, as when
// the connection drops after the ledger's fsync.
type gatedLedger struct {
	led         *embedded.Store
	down        atomic.Bool
	loseAnswers atomic.Int32
	appends     atomic.Int64
}

var errLedgerDown = errors.New("ledger unreachable: connection refused")

func (g *gatedLedger) Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error) {
	if g.down.Load() {
		return ledger.Receipt{}, errLedgerDown
	}
	g.appends.Add(1)
	r, err := g.led.Append(ctx, b)
	if err == nil && g.loseAnswers.Load() > 0 {
		g.loseAnswers.Add(-1)
		return ledger.Receipt{}, errors.New("connection reset by peer after the request was sent")
	}
	return r, err
}

// testSuite is the crypto suite this package's tests run in: TestMain runs
// every test once in each suite (intl: Ed25519, SHA-256; gm: SM2, SM3).
var testSuite = suite.Intl

func TestMain(m *testing.M) {
	code := 0
	for _, cs := range ledgertest.Suites {
		testSuite = cs
		fmt.Printf("--- connector tests in the %s suite\n", cs)
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// contentHash is b's content hash in the suite under test ("sha256:<hex>" or "sm3:<hex>").
func contentHash(b []byte) string { return digest.Of(testSuite.HashName(), b).String() }

// hashOf is the hex of contentHash.
func hashOf(b []byte) string { return digest.Of(testSuite.HashName(), b).Hex() }

func newSpace(t *testing.T) *testSpace { return newSpaceB(t) }

func newSpaceB(t testing.TB) *testSpace {
	t.Helper()
	sp, err := ledgertest.NewSuiteSpace(testSuite)
	if err != nil {
		t.Fatal(err)
	}
	led, err := embedded.Open(context.Background(), t.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(context.Background()) })
	sc := &schemaCheck{}
	t.Cleanup(func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		for _, f := range sc.failures {
			t.Errorf("DSP body does not validate against the official schema: %s", f)
		}
	})
	return &testSpace{t: t, sp: sp, led: led, gate: &gatedLedger{led: led}, schema: sc}
}

// register records a participant with the authority and returns its key.
func (s *testSpace) register(id, region, industry string) *identity.Key {
	s.t.Helper()
	rec, err := s.sp.Participant(id, region)
	if err != nil {
		s.t.Fatal(err)
	}
	rec.Participant.Industry = industry
	b, err := s.sp.Batch(s.sp.Authority(), rec)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.led.Append(context.Background(), b); err != nil {
		s.t.Fatal(err)
	}
	return s.sp.Keys[id]
}

// testNode is a connector on a real loopback HTTP server with a SQLite file.
type testNode struct {
	*connector.Node
	id   string
	dir  string
	addr string
	key  *identity.Key
	srv  *http.Server
	s    *testSpace
}

const opToken = "operator-token-for-tests"

// node starts a connector for a registered participant; dir and addr may be
// reused to restart one.
func (s *testSpace) node(id string, key *identity.Key, dir, addr string, extra ...connector.Option) *testNode {
	s.t.Helper()
	if dir == "" {
		dir = s.t.TempDir()
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // a restarted node rebinds its old port
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	addr = ln.Addr().String()
	cfg := connector.Config{ParticipantID: id, Space: s.sp.Genesis.Space, Listen: addr, DataDir: dir,
		DataSources: dir, RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond, StrictTimeout: 2 * time.Second, MaxAttempts: 1000}
	if storetest.Postgres() { // TDSC_TEST_POSTGRES: the node's state in PostgreSQL
		cfg.DatabaseURL = storetest.Path(s.t, filepath.Join(dir, "connector.db"))
	}
	if s.tls != nil {
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = s.tls.cert, s.tls.key, s.tls.ca
		ct, err := cfg.ClientTLS()
		if err != nil {
			s.t.Fatal(err)
		}
		s.schema.base = &http.Transport{TLSClientConfig: ct}
	}
	opts := append([]connector.Option{connector.WithKey(key), connector.WithLedger(s.gate),
		connector.WithParticipants(s.led), connector.WithRules(s.led), connector.WithRegisteredDatasets(s.led), connector.WithOperatorToken(opToken),
		connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		connector.WithHTTPClient(&http.Client{Timeout: 5 * time.Second, Transport: s.schema})}, extra...)
	n, err := connector.New(context.Background(), cfg, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if s.tls != nil {
		if srv.TLSConfig, err = cfg.ServerTLS(); err != nil {
			s.t.Fatal(err)
		}
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	tn := &testNode{Node: n, id: id, dir: dir, addr: addr, key: key, srv: srv, s: s}
	s.t.Cleanup(func() { tn.stop() })
	return tn
}

func (n *testNode) url() string { return n.PublicURL() }

// stop closes the node and its server (idempotent).
func (n *testNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.srv.Close()
	n.Node.Close(ctx)
}

// restart stops the node and starts it again on the same dir and address.
func (n *testNode) restart() *testNode {
	n.stop()
	return n.s.node(n.id, n.key, n.dir, n.addr)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func negState(t *testing.T, n *testNode, id string) *store.Negotiation {
	t.Helper()
	neg, err := n.Store().View(context.Background()).NegotiationWithHistory(id)
	if err != nil {
		t.Fatal(err)
	}
	return neg
}

// peerNegotiation finds the other side's negotiation by its peer pid.
func peerNegotiation(t *testing.T, n *testNode, peerPid string) *store.Negotiation {
	t.Helper()
	l, _, err := n.Store().View(context.Background()).Negotiations("", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range l {
		if x.PeerPID == peerPid {
			return negState(t, n, x.ID)
		}
	}
	return nil
}

func waitNeg(t *testing.T, n *testNode, id, state string) *store.Negotiation {
	t.Helper()
	var neg *store.Negotiation
	eventually(t, n.id+" negotiation "+state, func() (bool, string) {
		neg = negState(t, n, id)
		b, _ := json.Marshal(neg)
		return neg.State == state, string(b)
	})
	return neg
}

func waitTransfer(t *testing.T, n *testNode, id, state string) *store.Transfer {
	t.Helper()
	var x *store.Transfer
	eventually(t, n.id+" transfer "+state, func() (bool, string) {
		var err error
		x, err = n.Store().View(context.Background()).Transfer(id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(x)
		return x.State == state, string(b)
	})
	return x
}

// onLedger waits for a record to be on the ledger and returns it.
func (s *testSpace) onLedger(t *testing.T, id string) ledger.Record {
	t.Helper()
	var rec ledger.Record
	eventually(t, "record "+id+" on the ledger", func() (bool, string) {
		p, err := s.led.Record(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		rec = p.Record
		return true, ""
	})
	return rec
}

const researchOffer = `{
  "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
  "@id": "offer-research",
  "@type": "Offer",
  "permission": [{
    "action": "use",
    "constraint": [
      {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
      {"leftOperand": "count", "operator": "lteq", "rightOperand": 5}
    ],
    "duty": [{"action": "delete", "constraint": [{"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"}]}]
  }]
}`

// provider sets up a provider with one dataset and the research offer.
func provider(t testing.TB, n *testNode, manual bool) (datasetID, offerID string) {
	t.Helper()
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(n.dir, "traffic.csv"), []byte(trafficCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := n.AddDataset(ctx, connector.NewDataset{ID: "ds-traffic", Title: "Traffic counts", Classification: "general",
		Category: "transport", ContentHash: contentHash([]byte(trafficCSV)), Source: "file:traffic.csv", ManualApproval: manual})
	if err != nil {
		t.Fatal(err)
	}
	o, err := n.AddOffer(ctx, connector.NewOffer{Dataset: d.ID, Policy: json.RawMessage(researchOffer)})
	if err != nil {
		t.Fatal(err)
	}
	return d.ID, o.ID
}

const trafficCSV = "road,hour,vehicles\nG6,08,1520\nG6,09,1710\n"

// sendDSP posts a DSP message from n to peer with n's protocol token.
func (n *testNode) sendDSP(t *testing.T, peer *testNode, path string, msg any) (int, string) {
	t.Helper()
	iss, err := identity.NewIssuer(n.id, n.key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.ProtocolToken(peer.id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(msg)
	req, _ := http.NewRequest(http.MethodPost, peer.url()+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// schemaCheck is the nodes' HTTP transport: it validates every DSP request
// body the nodes send and every response body they get against the official
// DSP 2025-1 schemas.
type schemaCheck struct {
	mu       sync.Mutex
	failures []string
	checked  int
	// base carries the requests (http.DefaultTransport when nil).
	base http.RoundTripper
}

func (c *schemaCheck) check(what string, body []byte) {
	if len(bytes.TrimSpace(body)) == 0 {
		return
	}
	err := dspschema.Validate(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	if err != nil {
		c.failures = append(c.failures, fmt.Sprintf("%s: %v\n%s", what, err, body))
	}
}

func (c *schemaCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	// A computation (POST /compute/…) carries a module and answers with its
	// result, not DSP messages; its refusals are DSP error objects.
	compute := strings.HasPrefix(req.URL.Path, "/compute/")
	dspCall := !strings.HasPrefix(req.URL.Path, "/.well-known/") && !compute
	if dspCall && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		c.check(req.Method+" "+req.URL.Path, b)
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	base := c.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || !dspCall && !(compute && resp.StatusCode >= 400) {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.check(fmt.Sprintf("response %d to %s %s", resp.StatusCode, req.Method, req.URL.Path), b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}
