package dsptck_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/dsp/dspschema"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

const (
	cutID    = "did:tdsc:cut"
	tckID    = "did:tdsc:tck"
	opToken  = "operator-token-for-the-tck-tier"
	dspCtx   = dsp.Context
	waitLong = 10 * time.Second
)

// world is one data space: a real embedded ledger, the connector under test
// (CUT) on a loopback server, and the TCK's counterparty (peer).
type world struct {
	t    *testing.T
	sp   *ledgertest.Space
	led  *embedded.Store
	cut  *connector.Node
	cutU string
	peer *peer
	// helper is a real tdsc node with the TCK's identity, used only to seed
	// the agreements the transfer cases start from (the TCK requires them
	// to exist before a TP case runs); it is served by the peer's server.
	helper *connector.Node
	nextID atomic.Int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	led, err := embedded.Open(ctx, t.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(context.Background()) })
	w := &world{t: t, sp: sp, led: led}
	for _, id := range []string{cutID, tckID} {
		rec, err := sp.Participant(id, "CN-BJ")
		if err != nil {
			t.Fatal(err)
		}
		b, err := sp.Batch(sp.Authority(), rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := led.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	w.peer = newPeer(t, w, sp.Keys[tckID])
	// The CUT: a real node on a real loopback server.
	srv := httptest.NewUnstartedServer(nil)
	w.cutU = "http://" + srv.Listener.Addr().String()
	// The CUT's operator decides on every offer (manualOffers), starts every
	// transfer it provides (holdTransfers) and signs off every verified
	// agreement (holdFinalize), as the TCK's cases need: there, each is a
	// step of its own. The helper does all of it on its own.
	w.cut = w.node(cutID, w.cutU, true)
	srv.Config.Handler = w.cut.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	// The helper node shares the peer's URL: the peer hands it what it does
	// not play itself while w.peer.delegate is set.
	w.helper = w.node(tckID, w.peer.url, false)
	return w
}

func (w *world) node(id, public string, manualOffers bool) *connector.Node {
	w.t.Helper()
	dir := w.t.TempDir()
	cfg := connector.Config{ParticipantID: id, Space: w.sp.Genesis.Space, Listen: strings.TrimPrefix(public, "http://"), PublicURL: public,
		DataDir: dir, DataSources: dir, RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond, StrictTimeout: 2 * time.Second, MaxAttempts: 1000,
		ManualOffers: manualOffers, HoldTransfers: manualOffers, HoldFinalize: manualOffers}
	n, err := connector.New(context.Background(), cfg, connector.WithKey(w.sp.Keys[id]), connector.WithLedger(w.led),
		connector.WithParticipants(w.led), connector.WithRules(w.led), connector.WithRegisteredDatasets(w.led),
		connector.WithOperatorToken(opToken), connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		connector.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
	})
	return n
}

const dataCSV = "road,hour,vehicles\nG6,08,1520\n"

// dataset registers a dataset and an offer on node n (through its
// management API), returning their ids. manual datasets wait for the
// operator on every request.
func (w *world) dataset(n *connector.Node, base, id string, manual bool) (string, string) {
	w.t.Helper()
	return w.datasetOf(n, id, manual, "general")
}

// datasetOf is dataset with a classification level.
func (w *world) datasetOf(n *connector.Node, id string, manual bool, class string) (string, string) {
	w.t.Helper()
	sum := sha256.Sum256([]byte(dataCSV))
	dir := w.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, id+".csv"), []byte(dataCSV), 0o600); err != nil {
		w.t.Fatal(err)
	}
	ds, err := n.AddDataset(context.Background(), connector.NewDataset{ID: id, Title: "Traffic counts " + id, Classification: class,
		Category: "transport", ContentHash: "sha256:" + hex.EncodeToString(sum[:]), Source: "file:" + filepath.Join(dir, id+".csv"), ManualApproval: manual})
	if err != nil {
		w.t.Fatal(err)
	}
	o, err := n.AddOffer(context.Background(), connector.NewOffer{ID: "offer-" + id, Dataset: ds.ID, Policy: json.RawMessage(`{
		"@context": "https://w3id.org/dspace/2025/1/context.jsonld", "@id": "offer-` + id + `", "@type": "Offer",
		"permission": [{"action": "use"}]}`)})
	if err != nil {
		w.t.Fatal(err)
	}
	return ds.ID, o.ID
}

// mgmt calls the CUT's management API as its operator.
func (w *world) mgmt(method, path string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.cutU+path, rd)
	req.Header.Set("Authorization", "Bearer "+opToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("management %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, out
}

// mustMgmt is mgmt that fails the case on a non-2xx answer.
func (w *world) mustMgmt(method, path string, body any) map[string]any {
	code, out := w.mgmt(method, path, body)
	if code/100 != 2 {
		fail("management %s %s: %d %v", method, path, code, out)
	}
	return out
}

// ---- the case runner

// caseFailure is how a case step fails: a panic the runner recovers, so a
// case reads as the TCK's sequence of steps.
type caseFailure struct{ msg string }

func fail(format string, args ...any) { panic(caseFailure{fmt.Sprintf(format, args...)}) }

// run runs one case; it returns the failure, or "".
func run(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			cf, ok := r.(caseFailure)
			if !ok {
				panic(r)
			}
			msg = cf.msg
		}
	}()
	f()
	return ""
}

// ---- the TCK's counterparty

// inMsg is a message the CUT sent to the peer.
type inMsg struct {
	method, path string
	body         []byte
	typ          string
}

type peer struct {
	t   *testing.T
	w   *world
	id  string
	iss *identity.Issuer
	srv *httptest.Server
	url string
	in  chan inMsg

	// delegate hands every request to the helper node (agreement seeding).
	delegate atomic.Bool

	mu       sync.Mutex
	problems []string
	// the catalogue served to the CUT as consumer
	catDataset, catOffer string
	// pids the peer hands out, and what it answers to a transfer request
	next atomic.Int64
}

func newPeer(t *testing.T, w *world, key *identity.Key) *peer {
	iss, err := identity.NewIssuer(tckID, key)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, w: w, id: tckID, iss: iss, in: make(chan inMsg, 64), catDataset: "tck-dataset", catOffer: "tck-offer"}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.url = p.srv.URL
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, s := range p.problems {
			t.Errorf("message check: %s", s)
		}
	})
	return p
}

func (p *peer) problem(format string, args ...any) {
	p.mu.Lock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

// check validates a DSP body against the official schema and checks that
// its JSON-LD expansion is one node of the expected DSP type.
func check(body []byte, wantType string) error {
	if err := dspschema.Validate(body); err != nil {
		return fmt.Errorf("schema: %w\n%s", err, body)
	}
	exp, err := dsp.Expand(body)
	if err != nil {
		return fmt.Errorf("JSON-LD expansion: %w\n%s", err, body)
	}
	if len(exp) != 1 {
		return fmt.Errorf("JSON-LD expansion gives %d nodes\n%s", len(exp), body)
	}
	if wantType == "" {
		return nil
	}
	node, _ := exp[0].(map[string]any)
	types, _ := node["@type"].([]any)
	iri := "https://w3id.org/dspace/2025/1/" + wantType
	if wantType == dsp.TypeCatalog || wantType == dsp.TypeDataset {
		iri = "http://www.w3.org/ns/dcat#" + wantType
	}
	for _, t := range types {
		if t == iri {
			return nil
		}
	}
	return fmt.Errorf("expanded @type is %v, want %s\n%s", types, iri, body)
}

func typeOf(body []byte) string {
	var h struct {
		Type string `json:"@type"`
	}
	_ = json.Unmarshal(body, &h)
	return h.Type
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serve is the peer's DSP endpoint: it takes whatever the CUT sends,
// validates it and queues it for the running case.
func (p *peer) serve(rw http.ResponseWriter, r *http.Request) {
	if p.delegate.Load() {
		p.w.helper.Handler().ServeHTTP(rw, r)
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && path == "/.well-known/dspace-version":
		writeJSON(rw, 200, map[string]any{"protocolVersions": []any{map[string]any{"version": "2025-1", "path": "/", "binding": "HTTPS"}}})
		return
	case r.Method != http.MethodPost:
		http.NotFound(rw, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	typ := typeOf(body)
	if err := check(body, typ); err != nil {
		p.problem("%s %s from the CUT: %v", r.Method, path, err)
	}
	switch {
	case path == "/catalog/request":
		cat := map[string]any{"@context": []any{dspCtx}, "@id": "urn:tck:catalog", "@type": "Catalog", "participantId": tckID,
			"service": []any{map[string]any{"@id": "urn:tck:service", "@type": "DataService", "endpointURL": p.url}},
			"dataset": []any{map[string]any{"@id": p.catDataset, "@type": "Dataset",
				"hasPolicy":    []any{map[string]any{"@id": p.catOffer, "@type": "Offer", "permission": []any{map[string]any{"action": "use"}}}},
				"distribution": []any{map[string]any{"@type": "Distribution", "format": "HttpData-PULL", "accessService": "urn:tck:service"}}}}}
		p.reply(rw, 200, cat)
		return
	case path == "/negotiations/request":
		var m struct {
			ConsumerPID string `json:"consumerPid"`
		}
		_ = json.Unmarshal(body, &m)
		pid := fmt.Sprintf("urn:tck:neg:%d", p.next.Add(1))
		p.in <- inMsg{r.Method, path, body, typ}
		p.reply(rw, 201, map[string]any{"@context": []any{dspCtx}, "@type": "ContractNegotiation", "providerPid": pid, "consumerPid": m.ConsumerPID, "state": "REQUESTED"})
		return
	case path == "/transfers/request":
		var m struct {
			ConsumerPID string `json:"consumerPid"`
		}
		_ = json.Unmarshal(body, &m)
		pid := fmt.Sprintf("urn:tck:tp:%d", p.next.Add(1))
		p.in <- inMsg{r.Method, path, body, typ}
		p.reply(rw, 201, map[string]any{"@context": []any{dspCtx}, "@type": "TransferProcess", "providerPid": pid, "consumerPid": m.ConsumerPID, "state": "REQUESTED"})
		return
	}
	p.in <- inMsg{r.Method, path, body, typ}
	rw.WriteHeader(http.StatusOK)
}

func (p *peer) reply(rw http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	if err := check(b, typeOf(b)); err != nil {
		p.problem("the peer's own answer: %v", err)
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = rw.Write(b)
}

// expect waits for the CUT's next message, which must go to a path ending
// in suffix and be of type typ.
func (p *peer) expect(suffix, typ string) inMsg {
	select {
	case m := <-p.in:
		if !strings.HasSuffix(m.path, suffix) || m.typ != typ {
			fail("expected %s at …%s from the CUT, got %s at %s: %s", typ, suffix, m.typ, m.path, m.body)
		}
		return m
	case <-time.After(waitLong):
		fail("expected %s at …%s from the CUT; nothing came in %s", typ, suffix, waitLong)
	}
	return inMsg{}
}

// quiet checks the CUT sends nothing more for a moment.
func (p *peer) quiet(d time.Duration) {
	select {
	case m := <-p.in:
		fail("the CUT sent an unexpected %s to %s: %s", m.typ, m.path, m.body)
	case <-time.After(d):
	}
}

// drain forgets queued messages (between cases).
func (p *peer) drain() {
	for {
		select {
		case <-p.in:
		default:
			return
		}
	}
}

// send posts a DSP message to url as the peer, validating the message and
// the CUT's answer; it returns the status and the answer.
func (p *peer) send(url string, msg map[string]any) (int, []byte) {
	b, _ := json.Marshal(msg)
	if err := check(b, msg["@type"].(string)); err != nil {
		fail("the peer's own message: %v", err)
	}
	tok, err := p.iss.ProtocolToken(cutID)
	if err != nil {
		fail("token: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(out)) > 0 {
		if err := check(out, ""); err != nil {
			fail("the CUT's answer (%d) to %s: %v", resp.StatusCode, msg["@type"], err)
		}
	}
	return resp.StatusCode, out
}

// get reads a negotiation or transfer from the CUT as the peer (DSP GET).
func (p *peer) get(url string) (int, map[string]any) {
	tok, _ := p.iss.ProtocolToken(cutID)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := check(b, ""); err != nil {
		fail("the CUT's answer to GET %s: %v", url, err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// ok2xx fails unless status is 2xx.
func ok2xx(what string, status int, body []byte) {
	if status/100 != 2 {
		fail("%s: the CUT answered %d, want 2xx: %s", what, status, body)
	}
}

// refused fails unless status is 4xx with a DSP error object of errType.
func refused(what string, status int, body []byte, errType string) {
	if status/100 != 4 {
		fail("%s: the CUT answered %d, want a 4xx error: %s", what, status, body)
	}
	if typeOf(body) != errType {
		fail("%s: the CUT's 4xx body is %q, want a %s: %s", what, typeOf(body), errType, body)
	}
}

func field(b []byte, name string) string {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	s, _ := m[name].(string)
	return s
}

// eventually polls cond until it holds.
func eventually(what string, cond func() (bool, string)) {
	deadline := time.Now().Add(waitLong)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(5 * time.Millisecond)
	}
	fail("timed out waiting for %s; last: %s", what, last)
}

// okay returns a check that a (status, body) answer is 2xx.
func okay(what string) func(int, []byte) {
	return func(status int, body []byte) { ok2xx(what, status, body) }
}
