package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
)

// TestE2E drives the dashboard in headless Chromium against a live ledger
// populated with the realistic scenario. It runs only with TDSC_E2E=1 (see
// scripts/dashboard-e2e.sh, which installs Debian's chromium when missing).
// The browser is $TDSC_CHROMIUM or /usr/bin/chromium. Screenshots of every
// page go to $TDSC_E2E_SCREENSHOTS, default $TMPDIR/tdsc-dashboard-e2e.
func TestE2E(t *testing.T) {
	browser := chromium(t)
	shots := screenshotDir(t, "")

	sc := newScenario(t)
	// The dashboard at /ui/, and at /lying/ the same over a ledger server that
	// flips a byte of every inclusion proof it serves.
	reg := identity.NewRegistry(sc.store, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(sc.space.Authority()))
	if err != nil {
		t.Fatal(err)
	}
	liar, err := dashboard.New(lying{sc.store, func(p *ledger.Proven) { p.Proof[0][0] ^= 1 }}, sc.store.VerifierKey(),
		dashboard.RoleTokens(v, audience), dashboard.WithPrefix("/lying"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", sc.handler(t))
	mux.Handle("/lying/", liar)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL + "/ui/"

	b := newE2E(t, browser, shots)
	run, shot, status, texts, login := b.run, b.shot, b.status, b.texts, b.login
	var polled bool

	// No token: nothing but the login page, and every data endpoint refuses.
	run("open", chromedp.Navigate(base+"?lang=en"), chromedp.WaitVisible("#login-form", chromedp.ByQuery), shot("01-login"))
	var navHidden bool
	run("nav", chromedp.Evaluate(`document.getElementById('nav').hidden`, &navHidden))
	if !navHidden {
		t.Error("the navigation shows before login")
	}
	for _, p := range []string{"flows", "timeline", "records", "rules", "health", "records/" + sc.crossBorder} {
		if got := status(p); got != 401 {
			t.Errorf("without a session GET api/%s: %d, want 401", p, got)
		}
	}
	login("not-a-token")
	var loginErr string
	run("refused", chromedp.Poll(`document.getElementById('login-error').textContent.length > 0`, &polled),
		chromedp.Text("#login-error", &loginErr, chromedp.ByQuery))
	if !strings.Contains(loginErr, "refused") {
		t.Errorf("login error %q", loginErr)
	}

	// The regulator sees every participant and the cross-border edge.
	login(sc.regulatorToken(t))
	run("flows", chromedp.WaitVisible("#flow-graph", chromedp.ByQuery), shot("02-flows"))
	nodes := texts("[data-node]")
	slices.Sort(nodes)
	if want := []string{"bj-datex", "bj-transport", "gd-bank", "sg-logistics", "sh-health"}; !slices.Equal(nodes, want) {
		t.Errorf("graph nodes %v, want %v", nodes, want)
	}
	cross := texts(`[data-cross-border="true"]`)
	if !slices.Equal(cross, []string{"bj-transport>sg-logistics"}) {
		t.Errorf("cross-border edges %v, want bj-transport>sg-logistics", cross)
	}
	// Keyboard: Tab to a node and press Enter to read its totals.
	var detail string
	run("keyboard", chromedp.Focus(`[data-node="bj-transport"]`, chromedp.ByQuery), chromedp.KeyEvent("\r"),
		chromedp.Text("#node-detail", &detail, chromedp.ByQuery))
	if !strings.Contains(detail, "bj-transport") || !strings.Contains(detail, "sent") {
		t.Errorf("node detail after Enter: %q", detail)
	}
	// A filter: only the region SG keeps only the cross-border flow.
	run("filter", chromedp.SetValue(`select[name="region"]`, "SG", chromedp.ByQuery), chromedp.Click(`form.filters button[type="submit"]`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('[data-node]').length === 2`, &polled), shot("03-flows-region-SG"))
	// Chinese.
	run("zh", chromedp.Click("#lang", chromedp.ByQuery), chromedp.WaitVisible("#flow-graph", chromedp.ByQuery),
		chromedp.Poll(`document.documentElement.lang === 'zh-CN'`, &polled), shot("04-flows-zh"))
	var h1 string
	run("zh h1", chromedp.Text("h1", &h1, chromedp.ByQuery))
	if h1 != "数据流向" {
		t.Errorf("Chinese heading %q", h1)
	}
	run("en", chromedp.Click("#lang", chromedp.ByQuery), chromedp.Poll(`document.documentElement.lang === 'en'`, &polled),
		chromedp.Click(`form.filters button.secondary`, chromedp.ByQuery), chromedp.Poll(`document.querySelectorAll('[data-node]').length === 5`, &polled))

	// Timeline, then click through to a record and see its proof verified.
	run("timeline", chromedp.Click(`a[data-page="timeline"]`, chromedp.ByQuery), chromedp.WaitVisible("#timeline-chart", chromedp.ByQuery),
		chromedp.WaitVisible("#records-table", chromedp.ByQuery), chromedp.Sleep(300*time.Millisecond), shot("05-timeline"))
	// Keyboard: open the chart's table and list one interval's records.
	run("chart as table", chromedp.Click(".chart-data summary", chromedp.ByQuery), chromedp.Focus(".chart-data button", chromedp.ByQuery),
		chromedp.KeyEvent("\r"), chromedp.Poll(`document.activeElement && document.activeElement.id === 'records-heading'`, &polled),
		shot("05b-timeline-interval"))
	var intervalTotal string
	run("interval total", chromedp.Text("#records-total", &intervalTotal, chromedp.ByQuery))
	if intervalTotal == "" || strings.HasPrefix(intervalTotal, "76 ") {
		t.Errorf("interval lists %q, want a part of the 76 records", intervalTotal)
	}
	// Reset redraws the page: wait for the whole list, or the next click may land on the old form.
	run("reset", chromedp.Click(`form.filters button.secondary`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('records-total')?.textContent.startsWith('76 ')`, &polled))
	run("denials only", chromedp.Click(`input[name="denied"]`, chromedp.ByQuery), chromedp.Click(`form.filters button[type="submit"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('records-total')?.textContent.startsWith('3 ')`, &polled), shot("06-timeline-denials"))
	run("open record", chromedp.Click(`#records-table a`, chromedp.ByQuery), chromedp.WaitVisible("#verdict", chromedp.ByQuery))
	var verdict, browserOK string
	run("verdict", chromedp.AttributeValue("#verdict", "data-verdict", &verdict, nil, chromedp.ByQuery),
		chromedp.AttributeValue("#browser-check", "data-ok", &browserOK, nil, chromedp.ByQuery), shot("07-record-denial"))
	if verdict != "verified" || browserOK != "true" {
		t.Errorf("denial record: verdict %q, browser check %q", verdict, browserOK)
	}
	run("cross-border record", chromedp.Navigate(base+"#/record/"+sc.crossBorder), chromedp.WaitVisible("#verdict", chromedp.ByQuery),
		chromedp.AttributeValue("#verdict", "data-verdict", &verdict, nil, chromedp.ByQuery),
		chromedp.AttributeValue("#browser-check", "data-ok", &browserOK, nil, chromedp.ByQuery), shot("08-record-cross-border"))
	if verdict != "verified" || browserOK != "true" {
		t.Errorf("cross-border record: verdict %q, browser check %q", verdict, browserOK)
	}
	var browserMsg string
	run("browser check text", chromedp.Text("#browser-check", &browserMsg, chromedp.ByQuery))
	if !strings.Contains(browserMsg, "Ed25519 signature verifies under the ledger key tdsc/ledger/space-1+") {
		t.Errorf("the browser did not check the checkpoint signature itself: %q", browserMsg)
	}

	// Rules and exceptions; ledger health with a full verification.
	run("rules", chromedp.Click(`a[data-page="rules"]`, chromedp.ByQuery), chromedp.WaitVisible("#denials-table", chromedp.ByQuery), shot("09-rules"))
	if rules := strings.Join(texts("#denials-table code"), " "); !strings.Contains(rules, "space.negative-list") || !strings.Contains(rules, "space.core-stays-in-region") {
		t.Errorf("denials by rule: %s", rules)
	}
	run("health", chromedp.Click(`a[data-page="health"]`, chromedp.ByQuery), chromedp.WaitVisible("#verify-now", chromedp.ByQuery),
		chromedp.Click("#verify-now", chromedp.ByQuery), chromedp.WaitVisible(`#verify-result [data-ok="true"]`, chromedp.ByQuery), shot("10-health"))
	// The ledger service's probes (the embedded store: all ok).
	if probes := texts(`[id^="probe-"][data-ok="true"]`); len(probes) != 3 {
		t.Errorf("ledger service probes shown ok: %q, want 3", probes)
	}

	// The timeline and a record in Chinese.
	run("zh timeline", chromedp.Click("#lang", chromedp.ByQuery), chromedp.Click(`a[data-page="timeline"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#records-table", chromedp.ByQuery), chromedp.Poll(`document.documentElement.lang === 'zh-CN'`, &polled),
		chromedp.Sleep(200*time.Millisecond), shot("10b-timeline-zh"),
		chromedp.Click(`#records-table a`, chromedp.ByQuery), chromedp.WaitVisible("#verdict", chromedp.ByQuery), shot("10c-record-zh"),
		chromedp.Click("#lang", chromedp.ByQuery), chromedp.Poll(`document.documentElement.lang === 'en'`, &polled))

	// Log out: back to nothing but the login page.
	run("logout", chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
	if got := status("flows"); got != 401 {
		t.Errorf("after logout GET api/flows: %d, want 401", got)
	}

	// A participant sees only its own flows and records.
	login(sc.participantToken(t, "gd-bank"))
	run("participant flows", chromedp.WaitVisible("#flow-graph", chromedp.ByQuery), shot("11-participant-flows"))
	nodes = texts("[data-node]")
	slices.Sort(nodes)
	if want := []string{"bj-datex", "gd-bank"}; !slices.Equal(nodes, want) {
		t.Errorf("participant graph nodes %v, want %v", nodes, want)
	}
	if edges := texts("[data-edge]"); !slices.Equal(edges, []string{"bj-datex>gd-bank"}) {
		t.Errorf("participant edges %v", edges)
	}
	run("participant timeline", chromedp.Click(`a[data-page="timeline"]`, chromedp.ByQuery), chromedp.WaitVisible("#records-table", chromedp.ByQuery), shot("12-participant-timeline"))
	for _, who := range texts("#records-table tbody tr") {
		if !strings.Contains(who, "gd-bank") && !strings.Contains(who, "participant.registered") {
			t.Errorf("participant sees a record not its own: %q", who)
		}
	}
	if got := status("records/" + sc.crossBorder); got != 404 {
		t.Errorf("participant GET another's record: %d, want 404", got)
	}
	run("participant other record", chromedp.Navigate(base+"#/record/"+sc.crossBorder), chromedp.WaitVisible(`main [role="alert"]`, chromedp.ByQuery), shot("13-participant-other-record"))

	// A ledger server that lies about a proof: both the server's and the browser's checks say so.
	run("lying server", chromedp.Navigate(srv.URL+"/lying/"), chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SetValue("#token", sc.regulatorToken(t), chromedp.ByQuery), chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#flow-graph", chromedp.ByQuery),
		chromedp.Navigate(srv.URL+"/lying/#/record/"+sc.crossBorder), chromedp.WaitVisible("#verdict", chromedp.ByQuery),
		chromedp.AttributeValue("#verdict", "data-verdict", &verdict, nil, chromedp.ByQuery),
		chromedp.AttributeValue("#browser-check", "data-ok", &browserOK, nil, chromedp.ByQuery), shot("14-record-tampered-proof"))
	if verdict != "failed" || browserOK != "false" {
		t.Errorf("tampered proof: verdict %q, browser check %q; want failed, false", verdict, browserOK)
	}
}

// e2e is one headless Chromium tab and the steps the end-to-end tests take in
// it; a failing step ends the test.
type e2e struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func newE2E(t *testing.T, browser, shots string) *e2e {
	ctx := newBrowser(t, browser)
	// Start the browser now, on the tab's own context: a step's shorter
	// deadline must not end the browser with it.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}
	return &e2e{t: t, ctx: ctx, shots: shots}
}

// stepTimeout bounds one step, so a page that never shows fails in a minute.
const stepTimeout = time.Minute

// run runs the actions, failing the test with what on an error.
func (b *e2e) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// shot checks the page reads as text and writes its screenshot as name.png.
func (b *e2e) shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		// Every page must read as text: no "[object …]", "undefined" or "null" leaking from the code.
		var leak string
		if err := chromedp.Evaluate(`(document.querySelector('main').innerText.match(/\[object \w+\]|\bundefined\b|\bnull\b|NaN/) || [''])[0]`, &leak).Do(ctx); err != nil {
			return err
		}
		if leak != "" {
			b.t.Errorf("page %s shows %q", name, leak)
		}
		var buf []byte
		if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644)
	})
}

// status is the HTTP status of GET api/path from the page, with its cookies.
func (b *e2e) status(path string) int {
	b.t.Helper()
	var code int
	b.run("fetch "+path, chromedp.Evaluate(fmt.Sprintf(`fetch(%q, {credentials: 'same-origin'}).then(r => r.status)`, "api/"+path), &code, awaitPromise))
	return code
}

// fetchJSON decodes GET api/path, fetched by the page with its cookies, into v.
func (b *e2e) fetchJSON(path string, v any) {
	b.t.Helper()
	b.run("fetch "+path, chromedp.Evaluate(fmt.Sprintf(`fetch(%q, {credentials: 'same-origin'}).then(r => { if (!r.ok) throw new Error('status ' + r.status); return r.json(); })`, "api/"+path), v, awaitPromise))
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// texts are the graph ids (data-node, data-edge) or else the text of the elements sel selects.
func (b *e2e) texts(sel string) []string {
	b.t.Helper()
	var out []string
	b.run("read "+sel, chromedp.Evaluate(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.getAttribute('data-node') || e.getAttribute('data-edge') || e.textContent)`, sel), &out))
	return out
}

// login submits token on the login page.
func (b *e2e) login(token string) {
	b.t.Helper()
	b.run("log in", chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SetValue("#token", token, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery))
}

// screenshotDir is $TDSC_E2E_SCREENSHOTS (default $TMPDIR/tdsc-dashboard-e2e)
// joined with sub, emptied of earlier screenshots.
func screenshotDir(t *testing.T, sub string) string {
	t.Helper()
	root := os.Getenv("TDSC_E2E_SCREENSHOTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "tdsc-dashboard-e2e")
	}
	dir := filepath.Join(root, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// newBrowser starts headless Chromium with a fresh profile and no background
// network traffic, and returns a tab's context, closed with the test.
func newBrowser(t *testing.T, browser string) context.Context {
	t.Helper()
	// A fresh profile; removed after the browser exits (Chromium's helpers may
	// still be writing to it for a moment, so not with t.TempDir).
	profile, err := os.MkdirTemp("", "tdsc-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() {
		cancel()
		cancelB()
		cancelA()
		for i := 0; i < 10 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return ctx
}

// chromium is the browser the end-to-end tests drive, or a skip.
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("TDSC_E2E") != "1" {
		t.Skip("set TDSC_E2E=1 to drive headless Chromium (scripts/dashboard-e2e.sh)")
	}
	browser := os.Getenv("TDSC_CHROMIUM")
	if browser == "" {
		browser = "/usr/bin/chromium"
	}
	if _, err := os.Stat(browser); err != nil {
		t.Fatalf("no Chromium at %s (install Debian's chromium package: scripts/dashboard-e2e.sh): %v", browser, err)
	}
	return browser
}

// TestE2EScale times the pages in Chromium over a ledger of
// TDSC_DASHBOARD_SCALE records (with TDSC_E2E=1): from navigation to the
// page's content being drawn. Figures are in docs/dashboard.md.
func TestE2EScale(t *testing.T) {
	browser := chromium(t)
	n, _ := strconv.Atoi(os.Getenv("TDSC_DASHBOARD_SCALE"))
	if n <= 0 {
		t.Skip("set TDSC_DASHBOARD_SCALE=100000 as well")
	}
	bl := newBigLedger(t, n)
	mux := http.NewServeMux()
	mux.Handle("/ui/", bl.h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := newBrowser(t, browser)
	base := srv.URL + "/ui/"
	if err := chromedp.Run(ctx, chromedp.Navigate(base), chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SetValue("#token", bl.token, chromedp.ByQuery), chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#flow-graph", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	for _, pg := range []struct{ name, hash, ready string }{
		{"flows", "#/flows", "#flow-graph"},
		{"timeline", "#/timeline", "#records-table"},
		{"record with proof", "#/record/" + fmt.Sprintf("rec-%08d", bl.n/2), "#verdict"},
		{"rules", "#/rules", "h1"},
		{"health", "#/health", "#cp-size"},
	} {
		var ds []time.Duration
		for i := 0; i < 5; i++ {
			// A full page load each time: script, session, the page's data, drawing.
			start := time.Now()
			if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s?load=%d%s", base, i, pg.hash)), chromedp.WaitVisible(pg.ready, chromedp.ByQuery)); err != nil {
				t.Fatalf("%s: %v", pg.name, err)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		t.Logf("%-22s median %v, max %v", pg.name, ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
}
