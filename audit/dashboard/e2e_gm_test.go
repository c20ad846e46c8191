package dashboard_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/suite"
)

// TestE2EGM drives the dashboard in headless Chromium over a gm (SM2, SM3)
// ledger: the record page's browser check folds the proof with SM3 and
// verifies the SM2 checkpoint signature with the bundled sm-crypto, and a
// server that flips a proof byte fails both checks. TDSC_E2E=1, as TestE2E.
func TestE2EGM(t *testing.T) {
	browser := chromium(t)
	shots := screenshotDir(t, "gm")
	sc := newSuiteScenario(t, suite.GM)
	reg := identity.NewRegistry(sc.store, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(sc.space.Authority()), identity.WithSuite(suite.GM))
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

	b := newE2E(t, browser, shots)
	b.run("open", chromedp.Navigate(srv.URL+"/ui/?lang=en"))
	b.login(sc.regulatorToken(t))
	var verdict, browserOK, msg string
	b.run("cross-border record", chromedp.WaitVisible("#flow-graph", chromedp.ByQuery),
		chromedp.Navigate(srv.URL+"/ui/#/record/"+sc.crossBorder), chromedp.WaitVisible("#verdict", chromedp.ByQuery),
		chromedp.AttributeValue("#verdict", "data-verdict", &verdict, nil, chromedp.ByQuery),
		chromedp.AttributeValue("#browser-check", "data-ok", &browserOK, nil, chromedp.ByQuery),
		chromedp.Text("#browser-check", &msg, chromedp.ByQuery), b.shot("gm-record"))
	if verdict != "verified" || browserOK != "true" || !strings.Contains(msg, "SM2 signature (SM3withSM2) verifies") {
		t.Errorf("gm record: verdict %q, browser check %q: %q", verdict, browserOK, msg)
	}
	b.run("lying server", chromedp.Navigate(srv.URL+"/lying/"), chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SetValue("#token", sc.regulatorToken(t), chromedp.ByQuery), chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#flow-graph", chromedp.ByQuery),
		chromedp.Navigate(srv.URL+"/lying/#/record/"+sc.crossBorder), chromedp.WaitVisible("#verdict", chromedp.ByQuery),
		chromedp.AttributeValue("#verdict", "data-verdict", &verdict, nil, chromedp.ByQuery),
		chromedp.AttributeValue("#browser-check", "data-ok", &browserOK, nil, chromedp.ByQuery), b.shot("gm-record-tampered"))
	if verdict != "failed" || browserOK != "false" {
		t.Errorf("gm tampered proof: verdict %q, browser check %q; want failed, false", verdict, browserOK)
	}
}
