package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
)

// login exchanges token for a session cookie, failing the test unless the status is want.
func login(t *testing.T, srv *httptest.Server, token string, want int) *http.Cookie {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, err := srv.Client().Post(srv.URL+"/ui/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("login: status %d, want %d: %s", resp.StatusCode, want, b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName {
			return c
		}
	}
	return nil
}

// call makes a request with the session cookie (nil for none), decodes a JSON
// answer into out (may be nil) and returns the status.
func call(t *testing.T, srv *httptest.Server, method string, c *http.Cookie, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.AddCookie(c)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

var apis = []string{"/ui/api/session", "/ui/api/flows", "/ui/api/timeline", "/ui/api/records", "/ui/api/records/rec-00000001", "/ui/api/rules", "/ui/api/health"}

func TestNoSessionSeesNothing(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	forged := &http.Cookie{Name: dashboard.CookieName, Value: "eyJzdWIiOiJ4Iiwicm9sZSI6InJlZ3VsYXRvciIsImV4cCI6OTk5OTk5OTk5OX0.AAAA"}
	for _, c := range []*http.Cookie{nil, forged} {
		for _, p := range apis {
			if got := call(t, srv, "GET", c, p, nil); got != http.StatusUnauthorized {
				t.Errorf("GET %s with cookie %v: status %d, want 401", p, c != nil, got)
			}
		}
		if got := call(t, srv, "POST", c, "/ui/api/verify", nil); got != http.StatusUnauthorized {
			t.Errorf("POST verify: status %d, want 401", got)
		}
	}
	// The login page itself is public, and carries no data.
	resp, err := srv.Client().Get(srv.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "assets/app.js") {
		t.Errorf("GET /ui/: status %d, body %.80q", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "bj-transport") {
		t.Error("the login page leaks ledger data")
	}
}

func TestLogin(t *testing.T) {
	sc := newScenario(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := sc.server(t, dashboard.WithClock(clock), dashboard.WithSessionTTL(time.Hour))

	for name, tok := range map[string]string{
		"empty":          "",
		"garbage":        "not-a-token",
		"wrong audience": strings.Replace(sc.regulatorToken(t), "a", "b", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if c := login(t, srv, tok, http.StatusUnauthorized); c != nil {
				t.Error("a refused login set a session cookie")
			}
		})
	}
	// A form login works as well as JSON.
	resp, err := srv.Client().PostForm(srv.URL+"/ui/api/login", url.Values{"token": {sc.participantToken(t, "gd-bank")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("form login: status %d", resp.StatusCode)
	}

	c := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/ui/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain HTTP, path /ui/", c)
	}
	var p dashboard.Principal
	if got := call(t, srv, "GET", c, "/ui/api/session", &p); got != http.StatusOK || p.ID != "regulator-1" || p.Role != "regulator" {
		t.Fatalf("session: %d %+v", got, p)
	}
	// A cookie whose payload is changed no longer verifies.
	payload, sig, _ := strings.Cut(c.Value, ".")
	tampered := *c
	tampered.Value = strings.ToUpper(payload[:4]) + payload[4:] + "." + sig
	if got := call(t, srv, "GET", &tampered, "/ui/api/session", nil); got != http.StatusUnauthorized {
		t.Errorf("tampered cookie: status %d, want 401", got)
	}
	// The session ends with its TTL.
	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	if got := call(t, srv, "GET", c, "/ui/api/session", nil); got != http.StatusUnauthorized {
		t.Errorf("expired session: status %d, want 401", got)
	}
	// Logout clears the cookie.
	req, _ := http.NewRequest("POST", srv.URL+"/ui/api/logout", nil)
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout cookies %v, want one expiring cookie", resp.Cookies())
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	sc := newScenario(t)
	mux := http.NewServeMux()
	mux.Handle("/ui/", sc.handler(t))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	c := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	if c == nil || !c.Secure {
		t.Fatalf("cookie over TLS %+v: want Secure", c)
	}
}

func edgeKeys(v dashboard.FlowsView) []string {
	var out []string
	for _, e := range v.Edges {
		k := e.Provider + ">" + e.Consumer + ":" + string(e.Classification)
		if e.CrossBorder {
			k += ":cross-border"
		}
		out = append(out, k)
	}
	return out
}

func TestFlows(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"all", "", []string{"sh-health>bj-datex:important", "bj-transport>bj-datex:important", "bj-datex>gd-bank:general",
			"bj-transport>sg-logistics:important:cross-border", "bj-transport>sh-health:general"}},
		{"general only", "?classification=general", []string{"bj-datex>gd-bank:general", "bj-transport>sh-health:general"}},
		{"region SG", "?region=SG", []string{"bj-transport>sg-logistics:important:cross-border"}},
		{"category health", "?category=health", []string{"sh-health>bj-datex:important"}},
		{"time window before any transfer", "?to=2026-03-01T08:00:00%2B08:00", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var v dashboard.FlowsView
			if got := call(t, srv, "GET", reg, "/ui/api/flows"+tt.query, &v); got != http.StatusOK {
				t.Fatalf("status %d", got)
			}
			if diff := cmp.Diff(tt.want, edgeKeys(v)); diff != "" {
				t.Errorf("edges (-want +got):\n%s", diff)
			}
		})
	}
	var v dashboard.FlowsView
	call(t, srv, "GET", reg, "/ui/api/flows", &v)
	// Nodes are sized by volume: a node's bytes are the sum of its edges'.
	sent := map[string]int64{}
	for _, e := range v.Edges {
		sent[e.Provider] += e.Bytes
	}
	for _, n := range v.Nodes {
		if n.BytesSent != sent[n.ID] {
			t.Errorf("node %s sent %d, edges say %d", n.ID, n.BytesSent, sent[n.ID])
		}
		if n.Name == "" || n.Region == "" {
			t.Errorf("node %s lacks its registered name or region: %+v", n.ID, n)
		}
	}
	if len(v.Nodes) != 5 {
		t.Errorf("%d nodes, want the 5 participants that moved data", len(v.Nodes))
	}
	if diff := cmp.Diff([]string{"CN-BJ", "CN-GD", "CN-SH", "SG"}, v.Options.Regions); diff != "" {
		t.Errorf("region options (-want +got):\n%s", diff)
	}
	if got := call(t, srv, "GET", reg, "/ui/api/flows?classification=secret", nil); got != http.StatusBadRequest {
		t.Errorf("bad classification: status %d, want 400", got)
	}
	if got := call(t, srv, "GET", reg, "/ui/api/flows?from=yesterday", nil); got != http.StatusBadRequest {
		t.Errorf("bad from: status %d, want 400", got)
	}
}

func TestParticipantSeesOnlyItsOwn(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	c := login(t, srv, sc.participantToken(t, "gd-bank"), http.StatusOK)
	var v dashboard.FlowsView
	call(t, srv, "GET", c, "/ui/api/flows", &v)
	if diff := cmp.Diff([]string{"bj-datex>gd-bank:general"}, edgeKeys(v)); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	var rs dashboard.RecordsView
	call(t, srv, "GET", c, "/ui/api/records?limit=500", &rs)
	if rs.Total == 0 || rs.Total != len(rs.Records) {
		t.Fatalf("total %d, %d rows", rs.Total, len(rs.Records))
	}
	for _, r := range rs.Records {
		if r.Actor != "gd-bank" && r.Counterparty != "gd-bank" && r.Kind != ledger.KindParticipantRegistered {
			t.Errorf("gd-bank sees record %s of %s and %s", r.ID, r.Actor, r.Counterparty)
		}
	}
	// Someone else's record is not found, exactly like a missing one.
	if got := call(t, srv, "GET", c, "/ui/api/records/"+sc.crossBorder, nil); got != http.StatusNotFound {
		t.Errorf("other's record: status %d, want 404", got)
	}
	var rules dashboard.RulesView
	call(t, srv, "GET", c, "/ui/api/rules", &rules)
	if diff := cmp.Diff([]string{"space.core-stays-in-region"}, rulesOf(rules)); diff != "" {
		t.Errorf("denials (-want +got):\n%s", diff)
	}
	if len(rules.CrossBorder) != 0 || len(rules.NegativeListHits) != 0 {
		t.Errorf("gd-bank sees others' exceptions: %+v", rules)
	}
	if got := call(t, srv, "POST", c, "/ui/api/verify", nil); got != http.StatusForbidden {
		t.Errorf("participant runs verification: status %d, want 403", got)
	}
}

func rulesOf(v dashboard.RulesView) []string {
	var out []string
	for _, d := range v.Denials {
		out = append(out, d.Rule)
	}
	return out
}

func TestRecordsPagination(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	var all []dashboard.RecordRow
	next, pages, total := "", 0, 0
	for {
		var v dashboard.RecordsView
		path := "/ui/api/records?limit=7"
		if next != "" {
			path += "&cursor=" + next
		}
		if got := call(t, srv, "GET", reg, path, &v); got != http.StatusOK {
			t.Fatalf("%s: status %d", path, got)
		}
		all, total, pages = append(all, v.Records...), v.Total, pages+1
		if v.Next == "" {
			break
		}
		if len(v.Records) != 7 {
			t.Fatalf("page %d has %d records, want 7", pages, len(v.Records))
		}
		next = v.Next
	}
	size, _ := sc.store.Checkpoint(t.Context())
	if total == 0 || len(all) != total || pages != (total+6)/7 || !bytes.Contains(size, []byte("\n")) {
		t.Fatalf("%d records over %d pages, total %d", len(all), pages, total)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Index >= all[i-1].Index {
			t.Fatalf("not newest first at %d: %d after %d", i, all[i].Index, all[i-1].Index)
		}
	}
	if all[len(all)-1].Index != 0 || int(all[0].Index) != total-1 {
		t.Errorf("pages cover %d..%d of %d records", all[len(all)-1].Index, all[0].Index, total)
	}
	var d dashboard.RecordsView
	call(t, srv, "GET", reg, "/ui/api/records?denied=1", &d)
	if d.Total != 3 {
		t.Errorf("%d denials, want 3", d.Total)
	}
	for _, bad := range []string{"?limit=0", "?limit=9999", "?cursor=-1", "?cursor=x", "?kind=nonsense"} {
		if got := call(t, srv, "GET", reg, "/ui/api/records"+bad, nil); got != http.StatusBadRequest {
			t.Errorf("records%s: status %d, want 400", bad, got)
		}
	}
}

func TestTimeline(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	var v dashboard.TimelineView
	if got := call(t, srv, "GET", reg, "/ui/api/timeline?buckets=10", &v); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	var rs dashboard.RecordsView
	call(t, srv, "GET", reg, "/ui/api/records?limit=1", &rs)
	sum := 0
	for _, b := range v.Buckets {
		for _, n := range b.Counts {
			sum += n
		}
	}
	if len(v.Buckets) != 10 || v.Total != rs.Total || sum != rs.Total || v.Denials != 3 {
		t.Errorf("%d buckets, total %d, summed %d, want %d; denials %d, want 3", len(v.Buckets), v.Total, sum, rs.Total, v.Denials)
	}
}

func TestRecordProof(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	var v dashboard.RecordView
	if got := call(t, srv, "GET", reg, "/ui/api/records/"+sc.crossBorder, &v); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	if v.Verdict != "verified" || len(v.Checks) != 4 {
		t.Errorf("verdict %s, checks %+v", v.Verdict, v.Checks)
	}
	for _, c := range v.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if !v.Record.CrossBorder || v.Record.LegalBasis == "" || v.Batch.Writer != "bj-transport" || v.Checkpoint.Size != v.TreeSize {
		t.Errorf("record view %+v", v)
	}
	// Every record, wherever it sits in its batch, proves.
	var all dashboard.RecordsView
	call(t, srv, "GET", reg, "/ui/api/records?limit=500", &all)
	for _, r := range all.Records {
		var v dashboard.RecordView
		if got := call(t, srv, "GET", reg, "/ui/api/records/"+r.ID, &v); got != http.StatusOK || v.Verdict != "verified" || v.Index != r.Index {
			t.Errorf("record %s at %d: status %d, verdict %q, index %d, checks %+v", r.ID, r.Index, got, v.Verdict, v.Index, v.Checks)
		}
	}
	if got := call(t, srv, "GET", reg, "/ui/api/records/no-such-record", nil); got != http.StatusNotFound {
		t.Errorf("missing record: status %d, want 404", got)
	}
}

func TestRulesAndHealth(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	var v dashboard.RulesView
	call(t, srv, "GET", reg, "/ui/api/rules", &v)
	if diff := cmp.Diff([]string{"space.core-stays-in-region", "space.negative-list", "transfer.agreement-max-uses"}, rulesOf(v)); diff != "" {
		t.Errorf("denials (-want +got):\n%s", diff)
	}
	if len(v.NegativeListHits) != 1 || v.NegativeListHits[0].Record != sc.denied {
		t.Errorf("negative-list hits %+v", v.NegativeListHits)
	}
	if len(v.CrossBorder) != 1 || v.CrossBorder[0].LegalBasis != "PIPL-38-standard-contract" {
		t.Errorf("cross-border %+v", v.CrossBorder)
	}
	var overdue []string
	for _, d := range v.DutiesOverdue {
		overdue = append(overdue, d.Agreement)
	}
	if diff := cmp.Diff([]string{"ag-credit-bank", "ag-traffic-datex"}, overdue); diff != "" {
		t.Errorf("overdue duties (-want +got):\n%s", diff)
	}
	if len(v.ObjectionsOpen) != 1 || len(v.Revoked) != 1 {
		t.Errorf("objections %+v, revoked %+v", v.ObjectionsOpen, v.Revoked)
	}

	var hv dashboard.HealthView
	call(t, srv, "GET", reg, "/ui/api/health", &hv)
	if !hv.Checkpoint.Signed || hv.Checkpoint.Size == 0 || hv.Participants != 5 || hv.Batches == 0 || !hv.Verification.Available || hv.Verification.At != "" {
		t.Errorf("health %+v", hv)
	}
	var vv dashboard.VerificationView
	if got := call(t, srv, "POST", reg, "/ui/api/verify", &vv); got != http.StatusOK || !vv.OK || vv.Report == nil || vv.Report.Records != hv.Checkpoint.Size {
		t.Fatalf("verify: %d %+v", got, vv)
	}
	call(t, srv, "GET", reg, "/ui/api/health", &hv)
	if !hv.Verification.OK || hv.Verification.At == "" {
		t.Errorf("health after verification %+v", hv.Verification)
	}
	// The embedded store has no probes of its own: always well.
	if want := (dashboard.ServiceView{Healthy: dashboard.ProbeView{OK: true}, Ready: dashboard.ProbeView{OK: true}, WritesReady: dashboard.ProbeView{OK: true}}); hv.Service != want {
		t.Errorf("the embedded store's probes: %+v, want all ok", hv.Service)
	}
}

// probed is the scenario's store with a ledger service's probes (as the
// Fabric backend has them): ready to write or not.
type probed struct {
	*embedded.Store
	writes error
}

func (p probed) Health(context.Context) error      { return nil }
func (p probed) Ready(context.Context) error       { return nil }
func (p probed) WritesReady(context.Context) error { return p.writes }

// TestHealthShowsServiceProbes: the Ledger health page says what the
// ledger service's probes answer (/healthz, /readyz, /readyz/writes), why
// writes wait when they do, to any principal.
func TestHealthShowsServiceProbes(t *testing.T) {
	sc := newScenario(t)
	why := errors.New("fabric: writes wait: a transaction asks 2 of the profile's 2 endorsers and 1 can endorse now (Org2MSP: its peer cannot endorse: it did not answer within 2s)")
	mux := http.NewServeMux()
	mux.Handle("/ui/", sc.handlerOver(t, probed{Store: sc.store, writes: why}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, token := range []string{sc.regulatorToken(t), sc.participantToken(t, "bj-transport")} {
		var hv dashboard.HealthView
		call(t, srv, "GET", login(t, srv, token, http.StatusOK), "/ui/api/health", &hv)
		want := dashboard.ServiceView{Healthy: dashboard.ProbeView{OK: true}, Ready: dashboard.ProbeView{OK: true}, WritesReady: dashboard.ProbeView{Error: why.Error()}}
		if hv.Service != want {
			t.Errorf("probes: %+v, want %+v", hv.Service, want)
		}
	}
}

// TestMirrorFollowsTheLedger appends after the first look and expects the
// dashboard to see the new records.
func TestMirrorFollowsTheLedger(t *testing.T) {
	sc := newScenario(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := sc.server(t, dashboard.WithClock(clock))
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	var before, after dashboard.RecordsView
	call(t, srv, "GET", reg, "/ui/api/records?limit=1", &before)
	use := sc.space.Record(ledger.KindUsageLogged, "gd-bank")
	use.Agreement = "ag-credit-bank"
	b, err := sc.space.Batch("gd-bank", use)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.store.Append(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	call(t, srv, "GET", reg, "/ui/api/records?limit=1", &after)
	if after.Total != before.Total+1 || after.Records[0].ID != use.ID {
		t.Errorf("after append: total %d (was %d), newest %s, want %s", after.Total, before.Total, after.Records[0].ID, use.ID)
	}
}

// TestConcurrentReadsWhileAppending reads every page's data from several
// goroutines while batches are appended (run with -race).
func TestConcurrentReadsWhileAppending(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	var batches []*ledger.Batch
	for i := 0; i < 20; i++ {
		use := sc.space.Record(ledger.KindUsageLogged, "gd-bank")
		use.Agreement = "ag-credit-bank"
		b, err := sc.space.Batch("gd-bank", use)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				for _, p := range []string{"/ui/api/flows", "/ui/api/timeline", "/ui/api/records?limit=5", "/ui/api/rules", "/ui/api/health"} {
					req, _ := http.NewRequest("GET", srv.URL+p, nil)
					req.AddCookie(reg)
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("GET %s: %d", p, resp.StatusCode)
					}
				}
			}
		}()
	}
	for _, b := range batches {
		if _, err := sc.store.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func TestCrossOriginPostRefused(t *testing.T) {
	sc := newScenario(t)
	srv := sc.server(t)
	body := `{"token":"` + sc.regulatorToken(t) + `"}`
	for _, tt := range []struct {
		origin string
		want   int
	}{
		{"https://evil.example", http.StatusForbidden},
		{srv.URL, http.StatusOK},
		{"", http.StatusOK},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/ui/api/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("login with Origin %q: %d, want %d", tt.origin, resp.StatusCode, tt.want)
		}
	}
}

// lying is the real store behind a ledger server that alters what it serves.
type lying struct {
	*embedded.Store
	alter func(p *ledger.Proven)
}

func (l lying) Record(ctx context.Context, id string) (ledger.Proven, error) {
	p, err := l.Store.Record(ctx, id)
	if err == nil {
		l.alter(&p)
	}
	return p, err
}

// TestLyingBackendFails: a proof, record or checkpoint altered on the way is
// caught, named, and the verdict is "failed".
func TestLyingBackendFails(t *testing.T) {
	sc := newScenario(t)
	for _, tt := range []struct {
		name  string
		alter func(p *ledger.Proven)
		fails string
	}{
		{"proof hash flipped", func(p *ledger.Proven) { p.Proof[0][0] ^= 1 }, "inclusion-proof"},
		{"record field changed", func(p *ledger.Proven) { p.Record.Bytes = 1 }, "record-bytes"},
		{"checkpoint re-signed by nobody", func(p *ledger.Proven) { p.Checkpoint = bytes.Replace(p.Checkpoint, []byte("— "), []byte("— x"), 1) }, "checkpoint-signature"},
		{"tree size lies", func(p *ledger.Proven) { p.TreeSize-- }, "checkpoint-signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := identity.NewRegistry(sc.store, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
			v, err := identity.NewVerifier(reg, identity.WithAuthority(sc.space.Authority()))
			if err != nil {
				t.Fatal(err)
			}
			h, err := dashboard.New(lying{sc.store, tt.alter}, sc.store.VerifierKey(), dashboard.RoleTokens(v, audience))
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle("/ui/", h)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			c := login(t, srv, sc.regulatorToken(t), http.StatusOK)
			var rv dashboard.RecordView
			if got := call(t, srv, "GET", c, "/ui/api/records/"+sc.crossBorder, &rv); got != http.StatusOK {
				t.Fatalf("status %d", got)
			}
			var failed []string
			for _, ch := range rv.Checks {
				if !ch.OK {
					failed = append(failed, ch.Name)
				}
			}
			if rv.Verdict != "failed" || !slices.Contains(failed, tt.fails) {
				t.Errorf("verdict %q, failed checks %v, want %s among them", rv.Verdict, failed, tt.fails)
			}
		})
	}
}
