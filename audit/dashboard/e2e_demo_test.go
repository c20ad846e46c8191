package dashboard_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tdsc/tdsc/identity"
)

// The demo's participants (demo.Dept, demo.Firm and demo.SGCo in
// cmd/tdsc/internal/demo, which this package cannot import).
const (
	demoDept = "bj-transport-bureau"
	demoFirm = "sh-mobility-tech"
	demoSGCo = "sg-urban-analytics"
)

// TestE2EDemo drives the dashboard in headless Chromium against a running
// `tdsc demo --keep`: the dashboard the product serves at <ledger>/ui/, over
// the ledger the demo's connectors wrote while telling their story. It runs
// with TDSC_E2E=1 and the demo's ledger URL and directory in
// TDSC_E2E_DEMO_URL and TDSC_E2E_DEMO_DIR (scripts/dashboard-e2e.sh starts
// the demo and sets them). Screenshots go to the demo/ folder of
// $TDSC_E2E_SCREENSHOTS.
func TestE2EDemo(t *testing.T) {
	browser := chromium(t)
	ledgerURL, dir := strings.TrimSuffix(os.Getenv("TDSC_E2E_DEMO_URL"), "/"), os.Getenv("TDSC_E2E_DEMO_DIR")
	if ledgerURL == "" || dir == "" {
		t.Skip("set TDSC_E2E_DEMO_URL and TDSC_E2E_DEMO_DIR to a running `tdsc demo --keep` (scripts/dashboard-e2e.sh)")
	}
	if res, err := http.Get(ledgerURL + "/healthz"); err != nil {
		t.Fatalf("demo ledger at %s: %v", ledgerURL, err)
	} else if res.Body.Close(); res.StatusCode != http.StatusOK {
		t.Fatalf("demo ledger at %s: GET /healthz: %s", ledgerURL, res.Status)
	}
	regulator, err := os.ReadFile(filepath.Join(dir, "regulator.token"))
	if err != nil {
		t.Fatalf("the demo's regulator token: %v", err)
	}
	sgToken := demoParticipantToken(t, dir, demoSGCo)

	b := newE2E(t, browser, screenshotDir(t, "demo"))
	base := ledgerURL + "/ui/"
	var polled bool

	// No token: nothing but the login page, and every data endpoint refuses.
	b.run("open", chromedp.Navigate(base+"?lang=en"), chromedp.WaitVisible("#login-form", chromedp.ByQuery), b.shot("01-login"))
	var navHidden bool
	b.run("nav", chromedp.Evaluate(`document.getElementById('nav').hidden`, &navHidden))
	if !navHidden {
		t.Error("the navigation shows before login")
	}
	for _, p := range []string{"flows", "timeline", "records", "rules", "health"} {
		if got := b.status(p); got != http.StatusUnauthorized {
			t.Errorf("without a session GET api/%s: %d, want 401", p, got)
		}
	}

	// The regulator sees the three participants and the flow across the border.
	b.login(strings.TrimSpace(string(regulator)))
	b.run("flows", chromedp.WaitVisible("#flow-graph", chromedp.ByQuery), b.shot("02-flows"))
	nodes := b.texts("[data-node]")
	slices.Sort(nodes)
	if want := []string{demoDept, demoSGCo, demoFirm}; !slices.Equal(nodes, want) {
		t.Errorf("graph nodes %v, want %v", nodes, want)
	}
	edges := b.texts("[data-edge]")
	slices.Sort(edges)
	if want := []string{demoDept + ">" + demoSGCo, demoDept + ">" + demoFirm}; !slices.Equal(edges, want) {
		t.Errorf("graph edges %v, want %v", edges, want)
	}
	if cross := b.texts(`[data-cross-border="true"]`); !slices.Equal(cross, []string{demoDept + ">" + demoSGCo}) {
		t.Errorf("cross-border edges %v, want %s>%s", cross, demoDept, demoSGCo)
	}
	if table := strings.Join(b.texts("main table tbody tr"), "\n"); !strings.Contains(table, "CN-BJ → SG") || !strings.Contains(table, "data-export-security-assessment") {
		t.Errorf("the flow table names neither the border crossed nor its legal basis:\n%s", table)
	}

	// The demo's computations on the core population grid, under its
	// compute-only agreement: one run, two refused, beside the flows; the
	// grid itself never appears as a flow.
	compute := strings.Join(b.texts("#compute-table tbody tr"), "\n")
	if !strings.Contains(compute, "ds-population-grid") || !strings.Contains(compute, demoFirm) {
		t.Errorf("the computation table does not show the runs on the core grid:\n%s", compute)
	}
	if flows := strings.Join(b.texts("#flows-table tbody tr"), "\n"); strings.Contains(flows, "ds-population-grid") {
		t.Errorf("the core grid appears as a flow:\n%s", flows)
	}

	// The agreement the Singapore company signed, found in the timeline, with its proof verified.
	b.run("timeline", chromedp.Click(`a[data-page="timeline"]`, chromedp.ByQuery), chromedp.WaitVisible("#records-table", chromedp.ByQuery),
		chromedp.Sleep(300*time.Millisecond), b.shot("03-timeline"))
	// The demo's story takes well under a second: the intervals must still read apart.
	starts := b.texts(".chart-data tbody tr > :first-child")
	if len(starts) < 2 || len(slices.Compact(slices.Clone(starts))) != len(starts) {
		t.Errorf("the timeline's intervals start at %q: want two or more, no two alike", starts)
	}
	b.run("agreements with sg", chromedp.SetValue(`select[name="kind"]`, "agreement.signed", chromedp.ByQuery),
		chromedp.SetValue(`input[name="participant"]`, demoSGCo, chromedp.ByQuery),
		chromedp.Click(`form.filters button[type="submit"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('records-total')?.textContent.startsWith('1 ')`, &polled),
		chromedp.Sleep(200*time.Millisecond), b.shot("04-timeline-agreement"))
	var verdict, browserOK, h1 string
	b.run("open agreement", chromedp.Click(`#records-table a`, chromedp.ByQuery), chromedp.WaitVisible("#verdict", chromedp.ByQuery),
		chromedp.AttributeValue("#verdict", "data-verdict", &verdict, nil, chromedp.ByQuery),
		chromedp.AttributeValue("#browser-check", "data-ok", &browserOK, nil, chromedp.ByQuery),
		chromedp.Text("h1", &h1, chromedp.ByQuery), b.shot("05-record-agreement"))
	if !strings.Contains(h1, "agreement.signed/") {
		t.Errorf("record page heading %q, want an agreement.signed record", h1)
	}
	if verdict != "verified" || browserOK != "true" {
		t.Errorf("agreement record: verdict %q, browser check %q; want verified, true", verdict, browserOK)
	}
	var page string
	b.run("record text", chromedp.Text("main", &page, chromedp.ByQuery))
	if !strings.Contains(page, demoSGCo) || !strings.Contains(page, demoDept) {
		t.Errorf("the agreement's page names neither party:\n%s", page)
	}

	// Rules and exceptions; ledger health with a full verification of the demo's ledger.
	b.run("rules", chromedp.Click(`a[data-page="rules"]`, chromedp.ByQuery), chromedp.WaitVisible("#denials-table", chromedp.ByQuery), b.shot("06-rules"))
	if rules := strings.Join(b.texts("#denials-table code"), " "); !strings.Contains(rules, "space.negative-list") || !strings.Contains(rules, "space.cross-border-legal-basis") ||
		!strings.Contains(rules, "transfer.compute-only") {
		t.Errorf("denials by rule: %s", rules)
	}
	// The demo wrote its ledger within seconds: the average per hour is not extrapolated from them.
	var health struct {
		Checkpoint struct {
			Size uint64 `json:"size"`
		} `json:"checkpoint"`
		Rate struct {
			PerHour float64 `json:"perHour"`
		} `json:"rate"`
	}
	b.fetchJSON("health", &health)
	if health.Checkpoint.Size == 0 || health.Rate.PerHour > float64(health.Checkpoint.Size) {
		t.Errorf("health: %v records an hour on average from a ledger of %d records", health.Rate.PerHour, health.Checkpoint.Size)
	}
	b.run("health", chromedp.Click(`a[data-page="health"]`, chromedp.ByQuery), chromedp.WaitVisible("#verify-now", chromedp.ByQuery),
		chromedp.Click("#verify-now", chromedp.ByQuery), chromedp.WaitVisible(`#verify-result [data-ok="true"]`, chromedp.ByQuery), b.shot("07-health"))

	// The agreement between the department and the Shanghai firm, for the participant's view below.
	var firm struct {
		Records []struct {
			ID string `json:"id"`
		} `json:"records"`
	}
	b.fetchJSON("records?kind=agreement.signed&participant="+demoFirm, &firm)
	if len(firm.Records) == 0 {
		t.Fatalf("no agreement.signed record with %s", demoFirm)
	}
	other := firm.Records[0].ID

	b.run("logout", chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery), b.shot("08-logged-out"))
	if got := b.status("flows"); got != http.StatusUnauthorized {
		t.Errorf("after logout GET api/flows: %d, want 401", got)
	}

	// The Singapore company, with a read token it signed itself, sees only its own flow and records.
	b.login(sgToken)
	b.run("participant flows", chromedp.WaitVisible("#flow-graph", chromedp.ByQuery), b.shot("09-participant-flows"))
	nodes = b.texts("[data-node]")
	slices.Sort(nodes)
	if want := []string{demoDept, demoSGCo}; !slices.Equal(nodes, want) {
		t.Errorf("participant graph nodes %v, want %v", nodes, want)
	}
	if edges := b.texts("[data-edge]"); !slices.Equal(edges, []string{demoDept + ">" + demoSGCo}) {
		t.Errorf("participant edges %v, want only %s>%s", edges, demoDept, demoSGCo)
	}
	b.run("participant timeline", chromedp.Click(`a[data-page="timeline"]`, chromedp.ByQuery), chromedp.WaitVisible("#records-table", chromedp.ByQuery),
		chromedp.Sleep(300*time.Millisecond), b.shot("10-participant-timeline"))
	var kind, who string
	b.run("participant filters", chromedp.Value(`select[name="kind"]`, &kind, chromedp.ByQuery), chromedp.Value(`input[name="participant"]`, &who, chromedp.ByQuery))
	if kind != "" || who != "" {
		t.Errorf("the participant's timeline starts with the regulator's filters: kind %q, participant %q", kind, who)
	}
	rows := b.texts("#records-table tbody tr")
	if len(rows) == 0 {
		t.Error("the participant sees no records of its own")
	}
	for _, row := range rows {
		if !strings.Contains(row, demoSGCo) && !strings.Contains(row, "participant.registered") {
			t.Errorf("participant sees a record not its own: %q", row)
		}
	}
	if got := b.status("records/" + other); got != http.StatusNotFound {
		t.Errorf("participant GET %s: %d, want 404", other, got)
	}
	b.run("participant other record", chromedp.Navigate(base+"#/record/"+other), chromedp.WaitVisible(`main [role="alert"]`, chromedp.ByQuery),
		b.shot("11-participant-other-record"))
	b.run("participant logout", chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
}

// demoParticipantToken is a read token participant id signs itself with its
// key from the demo's directory, as its operator would.
func demoParticipantToken(t *testing.T, dir, id string) string {
	t.Helper()
	key, err := identity.LoadKey(filepath.Join(dir, "connectors", id, "participant.key"))
	if err != nil {
		t.Fatalf("%s's key: %v", id, err)
	}
	iss, err := identity.NewIssuer(id, key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.RoleToken(identity.RoleParticipant, id, "ledger", nil, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
