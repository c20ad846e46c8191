package dashboard_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestE2EInjection is scripts/attack.sh's dashboard check: a participant
// filed an objection whose subject is markup and script
// (TDSC_E2E_ATTACK_TEXT, record id TDSC_E2E_ATTACK_RECORD) on the ledger
// at TDSC_E2E_ATTACK_URL. A regulator opening the timeline and the record
// in headless Chromium must see it as text, and no script of it may run
// (each payload sets window.__tdscXSS). Runs with TDSC_E2E=1.
func TestE2EInjection(t *testing.T) {
	browser := chromium(t)
	url, text, token := strings.TrimSuffix(os.Getenv("TDSC_E2E_ATTACK_URL"), "/"), os.Getenv("TDSC_E2E_ATTACK_TEXT"), os.Getenv("TDSC_E2E_ATTACK_TOKEN")
	if url == "" || text == "" || token == "" {
		t.Skip("set TDSC_E2E_ATTACK_URL, _TEXT and _TOKEN (scripts/attack.sh)")
	}
	b := newE2E(t, browser, screenshotDir(t, "attack"))
	var polled bool
	fired := func(where string) {
		t.Helper()
		var x bool
		b.run("probe "+where, chromedp.Evaluate(`window.__tdscXSS === 1`, &x))
		if x {
			t.Fatalf("%s: the injected script ran", where)
		}
	}
	b.run("open", chromedp.Navigate(url+"/ui/?lang=en"), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
	b.login(token)
	b.run("timeline", chromedp.Click(`a[data-page="timeline"]`, chromedp.ByQuery), chromedp.WaitVisible("#records-table", chromedp.ByQuery))
	b.run("objections", chromedp.SetValue(`select[name="kind"]`, "objection.filed", chromedp.ByQuery),
		chromedp.Click(`form.filters button[type="submit"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('records-total')?.textContent.startsWith('1 ')`, &polled))
	fired("timeline")
	b.run("open record", chromedp.Click(`#records-table a`, chromedp.ByQuery), chromedp.WaitVisible("#verdict", chromedp.ByQuery))
	var page string
	b.run("record text", chromedp.Text("main", &page, chromedp.ByQuery))
	fired("record page")
	if !strings.Contains(page, text) {
		t.Errorf("the record page does not show the objection's subject as text %q:\n%s", text, page)
	}
	var injected int
	b.run("count elements", chromedp.Evaluate(`document.querySelectorAll('main img[src="x"], main script:not([src]), main svg[onload]').length`, &injected))
	if injected != 0 {
		t.Errorf("the subject became %d live elements", injected)
	}
}
