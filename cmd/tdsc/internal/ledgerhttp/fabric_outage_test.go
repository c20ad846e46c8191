package ledgerhttp_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/cmd/tdsc/internal/ledgerhttp"
	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/fabric/fabrictest"
)

// TestConnectorOutage stops the Fabric network under two real connectors
// mid-run: the ledger service runs over a freshly deployed chaincode
// (ledgerhttp.Fabric), the provider and the consumer write through the
// ledger client; after a negotiation and a pull transfer the network goes
// down, the connectors keep producing records (the consumer's receipt, usage
// and duty, the provider's new dataset and offer) which the outboxes hold, a
// new negotiation waits, and after the restart the outboxes drain, the
// negotiation finishes and every record the connectors wrote is on the ledger
// exactly once.
//
// It stops the network, so it runs only with TDSC_FABRIC_OUTAGE=1 besides the
// Fabric tier's TDSC_FABRIC=1 and TDSC_FABRIC_PROFILE (scripts/fabric-test.sh
// runs it last).
func TestConnectorOutage(t *testing.T) {
	profile := fabrictest.Changing(t, "TDSC_FABRIC_OUTAGE", "stops the network")
	p, err := fabric.LoadProfile(profile)
	if err != nil {
		t.Fatalf("%v (is the network up? scripts/fabric.sh up)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sp := newOutageSpace(t, ctx, profile)
	prov := sp.node(t, ctx, "did:tdsc:transport-bureau", "Beijing Municipal Transport Bureau", "CN-BJ", "government")
	cons := sp.node(t, ctx, "did:tdsc:research-lab", "Shanghai Traffic Research Lab", "CN-SH", "research")
	sp.register(t, ctx)

	// Before the outage: a dataset and offer, a negotiation, a pull transfer.
	dsID, offerID := sp.offerDataset(t, ctx, prov, "ds-traffic", trafficCSV)
	cat, err := cons.RemoteCatalog(ctx, prov.url, prov.id)
	if err != nil {
		t.Fatal(err)
	}
	offer := findOffer(t, cat, offerID)
	neg1, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url, Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	fin := waitNegotiation(t, ctx, cons, neg1.ID, 60*time.Second)
	agreement := fin.AgreementID
	x, err := cons.StartTransfer(ctx, agreement, "")
	if err != nil {
		t.Fatal(err)
	}
	started := waitTransfer(t, ctx, cons, x.ID, 60*time.Second)
	var addr dsp.DataAddress
	if err := json.Unmarshal(started.DataAddress, &addr); err != nil {
		t.Fatal(err)
	}
	tok := addr.Property("authorization")
	got, err := pull.Download(ctx, addr.Endpoint, tok, dataplane.KeyProof(cons.key, tok), filepath.Join(t.TempDir(), "traffic.csv"))
	if err != nil {
		t.Fatal(err)
	}
	duties, err := cons.Duties(ctx, agreement)
	if err != nil || len(duties) != 1 {
		t.Fatalf("consumer duties of %s: %v %+v, want the offer's one delete duty", agreement, err, duties)
	}
	before := time.Now()

	// The network stops mid-run: whatever the outboxes were sending stays there.
	if err := p.Script(ctx, "down"); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			p.Script(context.Background(), "restart")
		}
	})
	t.Logf("network down %v after the transfer started", time.Since(before).Round(time.Millisecond))

	// Each writer holds one batch it cannot deliver (its first record written
	// now, or a batch that was in flight when the network stopped); the
	// records after it wait in the outbox as pending.
	receipt, err := cons.RecordReceipt(ctx, x.ID, connector.Receipt{Bytes: got.Size, SHA256: got.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	ds2, _ := sp.addDataset(t, ctx, prov, "ds-weather", weatherCSV)
	waitHeld(t, ctx, 30*time.Second, cons, prov)
	if _, err := cons.CompleteTransfer(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	if err := cons.FulfilDuty(ctx, agreement, duties[0].DutyID); err != nil {
		t.Fatal(err)
	}
	offer2, err := prov.AddOffer(ctx, connector.NewOffer{ID: "offer-weather", Dataset: ds2, Policy: json.RawMessage(researchOffer)})
	if err != nil {
		t.Fatal(err)
	}
	during := map[*outageNode][]string{
		cons: {receipt.ID, "usage.logged/" + x.ID, "duty.fulfilled/" + agreement + "/" + duties[0].DutyID},
		prov: {"dataset.registered/" + ds2, "offer.published/" + offer2.ID},
	}
	// A new negotiation needs the ledger (the space rules, then its strict
	// agreement.signed): it waits and retries.
	neg2, err := cons.Negotiate(ctx, connector.NegotiateOffer{ProviderURL: prov.url, Provider: prov.id, Dataset: dsID, Offer: offer, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the writers and the negotiation retry against the stopped network
	for n, ids := range during {
		st, err := n.Outbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Counts[store.OutboxPending] == 0 || st.Counts[store.OutboxRefused] != 0 {
			t.Fatalf("%s's outbox during the outage: %v, want pending records and none refused", n.id, st.Counts)
		}
		for _, id := range ids {
			state, err := n.OutboxRecordState(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if state != store.OutboxPending && state != store.OutboxBatched {
				t.Fatalf("%s: record %s is %s during the outage, want it held in the outbox", n.id, id, state)
			}
		}
		t.Logf("%s's outbox during the outage: %v", n.id, st.Counts)
	}
	neg, err := cons.Negotiation(ctx, neg2.ID)
	if err != nil || dsp.NegotiationState(neg.State).Final() {
		t.Fatalf("negotiation during the outage: %v %+v, want it waiting", err, neg)
	}
	t.Logf("the negotiation started during the outage waits at %s", neg.State)
	// The ledger service says it is unwell and not ready, and why.
	if code, body := sp.probe(t, "/healthz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "unhealthy: fabric: ") {
		t.Fatalf("/healthz during the outage: %d %q, want 503 naming the follower or the peer", code, body)
	} else {
		t.Logf("/healthz during the outage: %d %s", code, strings.TrimSpace(body))
	}
	if code, body := sp.probe(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: fabric: ") {
		t.Fatalf("/readyz during the outage: %d %q, want 503", code, body)
	}

	// The network restarts on its ledger; the outboxes drain.
	if err := p.Script(ctx, "restart"); err != nil {
		t.Fatal(err)
	}
	restarted = true
	t.Logf("network restarted %v after it stopped", time.Since(before).Round(time.Millisecond))
	fin2 := waitNegotiation(t, ctx, cons, neg2.ID, 120*time.Second)
	after := "agreement.signed/" + fin2.AgreementID
	for _, n := range []*outageNode{cons, prov} {
		waitUntil(t, ctx, n.id+"'s outbox to drain", 120*time.Second, func() (bool, string) {
			c := counts(t, ctx, n)
			return c[store.OutboxPending]+c[store.OutboxBatched]+c[store.OutboxRefused] == 0, fmt.Sprint(c)
		})
	}
	t.Logf("outboxes drained %v after the network stopped", time.Since(before).Round(time.Millisecond))
	for _, path := range []string{"/healthz", "/readyz"} {
		waitUntil(t, ctx, "the ledger service's "+path+" to answer ok", 60*time.Second, func() (bool, string) {
			code, body := sp.probe(t, path)
			return code == http.StatusOK && body == "ok\n", fmt.Sprintf("%d %q", code, body)
		})
	}

	// Nothing lost: every record a connector committed (those written during
	// the outage among them) is on the ledger under its id. Nothing doubled:
	// counted over the whole ledger, every id occurs once.
	var written []string
	for _, n := range []*outageNode{cons, prov} {
		var recs []*store.OutboxRecord
		for p := (store.Page{Limit: store.MaxPageSize}); ; {
			page, next, err := n.OutboxRecords(ctx, store.OutboxCommitted, p)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, page...)
			if next == "" {
				break
			}
			p.After = next
		}
		committed := map[string]bool{}
		for _, r := range recs {
			committed[r.RecordID] = true
			written = append(written, r.RecordID)
		}
		for _, id := range during[n] {
			if !committed[id] {
				t.Errorf("%s: record %s written during the outage is not committed", n.id, id)
			}
		}
		if n == prov && !committed[after] {
			t.Errorf("%s: %s of the negotiation started during the outage is not committed", n.id, after)
		}
	}
	seen := sp.ledgerCounts(t, ctx)
	for _, id := range written {
		pr, err := sp.auditor.Record(ctx, id)
		if err != nil {
			t.Errorf("record %s: %v", id, err)
		} else if pr.Record.ID != id {
			t.Errorf("record %s: the ledger answered %s", id, pr.Record.ID)
		}
		if seen[id] != 1 {
			t.Errorf("record %s is on the ledger %d times, want once", id, seen[id])
		}
	}
	var total int
	for id, k := range seen {
		total += k
		if k != 1 {
			t.Errorf("record %s is on the ledger %d times, want once", id, k)
		}
	}
	if want := len(written) + sp.authorityRecords; total != want {
		t.Errorf("the ledger holds %d records, want the connectors' %d and the authority's %d", total, len(written), sp.authorityRecords)
	}
	t.Logf("%d connector records on the ledger once each, %d of them written during the outage", len(written), len(during[cons])+len(during[prov]))
	// The service's metrics show its committer and follower at work.
	res, err := http.Get(sp.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, m := range []string{"tdsc_ledger_fabric_transactions_total", "tdsc_ledger_fabric_blocks_read_total", "tdsc_ledger_fabric_next_block"} {
		if !regexp.MustCompile(`(?m)^` + m + ` [1-9]`).Match(body) {
			t.Errorf("metrics: no positive %s in\n%s", m, body)
		}
	}
	// And the orderers as the scrape found them, back after the outage:
	// enough answering, and of BFT (the script's profile names the
	// operations endpoints) every one that answered counted by its view.
	gauge := func(name string) (float64, bool) {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindSubmatch(body)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(string(m[1]), 64)
		return v, err == nil
	}
	answering, ok1 := gauge("tdsc_ledger_fabric_orderers_answering")
	needed, ok2 := gauge("tdsc_ledger_fabric_orderers_needed")
	if !ok1 || !ok2 || needed < 1 || answering < needed {
		t.Errorf("metrics: orderers answering %v (%v), needed %v (%v), want at least as many answering as needed in\n%s", answering, ok1, needed, ok2, body)
	}
	if _, bft := gauge(`tdsc_ledger_fabric_bft_consenters{standing="level"}`); bft {
		var viewed float64
		for _, s := range []string{"level", "trailing", "alone", "unread"} {
			v, _ := gauge(`tdsc_ledger_fabric_bft_consenters{standing="` + s + `"}`)
			viewed += v
		}
		if viewed != answering {
			t.Errorf("metrics: BFT consenters by view %v, want the %v answering in\n%s", viewed, answering, body)
		}
		t.Logf("orderers: %v answering, %v needed; of BFT by view: %s", answering, needed, regexp.MustCompile(`(?m)^tdsc_ledger_fabric_bft_consenters.*$`).FindAll(body, -1))
	} else {
		t.Logf("orderers: %v answering, %v needed", answering, needed)
	}
}

// outageSpace is the authority, the ledger service over Fabric and the
// connectors of TestConnectorOutage.
type outageSpace struct {
	auth    *authority.Authority
	url     string
	writer  *client.Client // the connectors' and the authority's
	auditor *client.Client // reads with an auditor's role token
	nodes   []*outageNode
	// authorityRecords counts the records the authority appended.
	authorityRecords int
	logFile          string
}

type outageNode struct {
	*connector.Node
	id, name, region, industry string
	key                        *identity.Key
	dir, url                   string
}

// newOutageSpace starts the ledger service over a freshly deployed chaincode
// on a loopback listener.
func newOutageSpace(t *testing.T, ctx context.Context, profile string) *outageSpace {
	t.Helper()
	dir := t.TempDir()
	auth, err := authority.Init(filepath.Join(dir, "authority"), authority.InitOptions{Space: "urn:tdsc:space:outage-test", Name: "Outage Test Authority", Region: "CN-BJ"})
	if err != nil {
		t.Fatal(err)
	}
	sp := &outageSpace{auth: auth, logFile: filepath.Join(dir, "nodes.log")}
	t.Cleanup(func() { sp.dumpLog(t) })
	g := auth.Genesis()
	chaincode := fmt.Sprintf("connoutage%d", time.Now().UnixNano()%1_000_000_000)
	start := time.Now()
	h, l, err := ledgerhttp.Fabric(ctx, ledgerhttp.FabricOptions{Options: ledgerhttp.Options{Audience: "ledger"}, Profile: profile,
		Chaincode: chaincode, Deploy: true, Genesis: &g, NoteKeyFile: filepath.Join(dir, "note.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	t.Logf("chaincode %s deployed and initialised in %v", chaincode, time.Since(start).Round(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sp.url = "http://" + ln.Addr().String()
	if sp.writer, err = client.New(sp.url); err != nil {
		t.Fatal(err)
	}
	tok, err := auth.RoleToken(identity.RoleAuditor, "outage-auditor", "ledger", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sp.auditor, err = client.New(sp.url, client.WithToken(tok)); err != nil {
		t.Fatal(err)
	}
	return sp
}

// node starts a connector with its SQLite store in a temp dir, writing to
// the ledger service through the ledger client. Register the participants
// (register) before the nodes talk to each other.
func (sp *outageSpace) node(t *testing.T, ctx context.Context, id, name, region, industry string) *outageNode {
	t.Helper()
	key, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(sp.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", id)
	cfg := connector.Config{ParticipantID: id, Space: sp.auth.Genesis().Space, Listen: ln.Addr().String(), DataDir: dir,
		DataSources: dir, RetryMin: 10 * time.Millisecond, RetryMax: 250 * time.Millisecond, StrictTimeout: 5 * time.Second, MaxAttempts: 10000}
	n, err := connector.New(ctx, cfg, connector.WithKey(key), connector.WithLedger(sp.writer),
		connector.WithParticipants(sp.writer), connector.WithRules(sp.writer), connector.WithRegisteredDatasets(sp.writer), connector.WithOperatorToken("operator-"+id),
		connector.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close()
		n.Close(cctx)
		logf.Close()
	})
	on := &outageNode{Node: n, id: id, name: name, region: region, industry: industry, key: key, dir: dir, url: "http://" + ln.Addr().String()}
	sp.nodes = append(sp.nodes, on)
	return on
}

// register has the authority register every node's participant in one batch.
func (sp *outageSpace) register(t *testing.T, ctx context.Context) {
	t.Helper()
	var recs []ledger.Record
	for _, n := range sp.nodes {
		r, err := sp.auth.Register(authority.Registration{ID: n.id, Name: n.name, Key: n.key.JWK(), Region: n.region,
			Industry: n.industry, OrgType: "government"})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if _, err := sp.auth.Submit(ctx, sp.writer, recs...); err != nil {
		t.Fatal(err)
	}
	sp.authorityRecords += len(recs)
}

// addDataset registers a file as a dataset of the provider.
func (sp *outageSpace) addDataset(t *testing.T, ctx context.Context, n *outageNode, id, content string) (string, string) {
	t.Helper()
	file := id + ".csv"
	if err := os.WriteFile(filepath.Join(n.dir, file), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	d, err := n.AddDataset(ctx, connector.NewDataset{ID: id, Title: id, Classification: "general", Category: "transport",
		ContentHash: "sha256:" + hex.EncodeToString(sum[:]), Source: "file:" + file})
	if err != nil {
		t.Fatal(err)
	}
	return d.ID, file
}

// offerDataset registers a dataset and offers it under the research policy.
func (sp *outageSpace) offerDataset(t *testing.T, ctx context.Context, n *outageNode, id, content string) (datasetID, offerID string) {
	t.Helper()
	datasetID, _ = sp.addDataset(t, ctx, n, id, content)
	o, err := n.AddOffer(ctx, connector.NewOffer{Dataset: datasetID, Policy: json.RawMessage(researchOffer)})
	if err != nil {
		t.Fatal(err)
	}
	return datasetID, o.ID
}

// ledgerCounts reads the whole ledger and counts its records by id.
func (sp *outageSpace) ledgerCounts(t *testing.T, ctx context.Context) map[string]int {
	t.Helper()
	seen := map[string]int{}
	q := ledger.Query{Limit: ledger.MaxPageSize}
	for {
		page, err := sp.auditor.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Records {
			seen[e.Record.ID]++
		}
		if page.Next == "" {
			return seen
		}
		q.Cursor = page.Next
	}
}

// dumpLog prints the nodes' warnings when the test failed.
func (sp *outageSpace) dumpLog(t *testing.T) {
	if !t.Failed() {
		return
	}
	f, err := os.Open(sp.logFile)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	for _, l := range lines {
		t.Log(l)
	}
}

func findOffer(t *testing.T, cat *dsp.Catalog, offerID string) dsp.Policy {
	t.Helper()
	for _, d := range cat.Dataset {
		for _, p := range d.HasPolicy {
			if p.ID == offerID {
				return p
			}
		}
	}
	t.Fatalf("offer %s is not in the provider's catalogue", offerID)
	return dsp.Policy{}
}

func waitNegotiation(t *testing.T, ctx context.Context, n *outageNode, id string, d time.Duration) *store.Negotiation {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	neg, err := n.WaitNegotiation(wctx, id)
	if err != nil {
		t.Fatalf("negotiation %s: %v (state %+v)", id, err, neg)
	}
	if neg.State != string(dsp.NegFinalized) {
		t.Fatalf("negotiation %s ended %s, want FINALIZED: %+v", id, neg.State, neg.History)
	}
	return neg
}

func waitTransfer(t *testing.T, ctx context.Context, n *outageNode, id string, d time.Duration) *store.Transfer {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	x, err := n.WaitTransfer(wctx, id)
	if err != nil {
		t.Fatalf("transfer %s: %v", id, err)
	}
	if x.State != string(dsp.TransferStarted) {
		t.Fatalf("transfer %s is %s, want STARTED: %+v", id, x.State, x.History)
	}
	return x
}

func counts(t *testing.T, ctx context.Context, n *outageNode) map[string]int {
	t.Helper()
	st, err := n.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Counts
}

// waitHeld waits until each node's writer holds a batch that has stopped
// changing for a second. A batch in flight when the network stopped may
// still commit (its transaction ordered just before): the writer then takes
// what is pending into its next batch, which cannot commit. Records written
// after this wait while that batch is held.
func waitHeld(t *testing.T, ctx context.Context, d time.Duration, nodes ...*outageNode) {
	t.Helper()
	held := map[*outageNode]string{}
	since := map[*outageNode]time.Time{}
	waitUntil(t, ctx, "a batch held by each writer", d, func() (bool, string) {
		var state []string
		ok := true
		for _, n := range nodes {
			recs, _, err := n.OutboxRecords(ctx, store.OutboxBatched, store.Page{Limit: store.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.RecordID
			}
			now := fmt.Sprint(ids)
			if now != held[n] {
				held[n], since[n] = now, time.Now()
			}
			ok = ok && len(ids) > 0 && time.Since(since[n]) >= time.Second
			state = append(state, fmt.Sprintf("%s batched %s", n.id, now))
		}
		return ok, strings.Join(state, "; ")
	})
}

// waitUntil polls cond (the outboxes, the ledger service's probes) until it
// holds or d passes.
func waitUntil(t *testing.T, ctx context.Context, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
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

const (
	trafficCSV = "road,hour,vehicles\nG6,08,1520\nG6,09,1710\n"
	weatherCSV = "station,hour,mm\nHaidian,08,0.4\nHaidian,09,1.2\n"
)

// probe gets the ledger service's path (/healthz, /readyz): its status and
// body.
func (sp *outageSpace) probe(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(sp.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
