package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// audience is the service role tokens are addressed to in these tests.
const audience = "ledger"

// scenario is a live ledger populated with a realistic data space: Beijing
// and Shanghai departments, a data exchange, a Guangdong bank and a Singapore
// logistics company; datasets of three classification levels; agreements,
// transfers (one across the border), denials by the space rules, a usage log,
// duties (one overdue), an open objection and a revocation.
type scenario struct {
	space *ledgertest.Space
	store *embedded.Store
	// denied is the id of the negative-list denial; crossBorder of the
	// cross-border transfer's authorisation.
	denied, crossBorder string
	now                 time.Time
}

func must(r ledger.Record, err error) ledger.Record {
	if err != nil {
		panic(err)
	}
	return r
}

func newScenario(t testing.TB) *scenario { return newSuiteScenario(t, suite.Intl) }

// newSuiteScenario is the scenario in crypto suite cs (gm: SM2 keys, SM3 tree,
// SM2 checkpoints).
func newSuiteScenario(t testing.TB, cs *suite.Suite) *scenario {
	t.Helper()
	s, err := ledgertest.NewSuiteSpace(cs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(context.Background(), t.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	sc := &scenario{space: s, store: st, now: s.Now.Add(30 * 24 * time.Hour)}
	app := func(writer string, recs ...ledger.Record) {
		t.Helper()
		b, err := s.Batch(writer, recs...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(context.Background(), b); err != nil {
			t.Fatalf("append %s batch: %v", writer, err)
		}
	}
	names := map[string]string{
		"bj-transport": "北京市交通委员会 Beijing Transport Commission",
		"sh-health":    "上海市卫生健康委员会 Shanghai Health Commission",
		"bj-datex":     "北京国际大数据交易所 Beijing International Data Exchange",
		"gd-bank":      "广东某商业银行 Guangdong Commercial Bank",
		"sg-logistics": "Singapore Logistics Pte Ltd",
	}
	var reg []ledger.Record
	for _, p := range []struct{ id, region string }{
		{"bj-transport", "CN-BJ"}, {"sh-health", "CN-SH"}, {"bj-datex", "CN-BJ"}, {"gd-bank", "CN-GD"}, {"sg-logistics", "SG"},
	} {
		r := must(s.Participant(p.id, p.region))
		r.Participant.Name = names[p.id]
		reg = append(reg, r)
	}
	reg = append(reg, s.Rules(policy.SpaceRules{
		NegativeList: []policy.NegativeEntry{{Category: "genetic"}},
		CrossBorder:  []policy.CrossBorderEntry{{Destination: "SG", MaxClassification: policy.Important, LegalBasis: "PIPL-38-standard-contract"}},
	}))
	app(s.Authority(), reg...)
	later := func(d time.Duration) { s.Now = s.Now.Add(d) }
	later(2 * time.Hour)

	app("bj-transport", s.Dataset("bj-transport", "traffic-flow", policy.Important, "traffic"),
		s.Dataset("bj-transport", "bus-timetable", policy.General, "traffic"))
	app("sh-health", s.Dataset("sh-health", "clinic-visits", policy.Important, "health"),
		s.Dataset("sh-health", "patient-records", policy.Core, "health"),
		s.Dataset("sh-health", "genome-panel", policy.Important, "genetic"))
	app("bj-datex", s.Dataset("bj-datex", "enterprise-credit", policy.General, "credit"))
	later(20 * time.Hour)

	window := func(due string) *ledger.Terms {
		t := &ledger.Terms{NotBefore: "2026-01-01T00:00:00+08:00", NotAfter: "2027-01-01T00:00:00+08:00"}
		if due != "" {
			t.Duties = []ledger.Duty{{ID: "delete-after-30d", Action: "delete", Due: due}}
		}
		return t
	}
	agSG := must(s.Agreement("bj-transport", "sg-logistics", "traffic-flow", "ag-traffic-sg", window("")))
	agSG.FromRegion, agSG.ToRegion, agSG.CrossBorder, agSG.LegalBasis = "CN-BJ", "SG", true, "PIPL-38-standard-contract"
	app("bj-transport",
		must(s.Agreement("bj-transport", "bj-datex", "traffic-flow", "ag-traffic-datex", window("2026-03-05T00:00:00+08:00"))),
		agSG,
		must(s.Agreement("bj-transport", "sh-health", "bus-timetable", "ag-bus-sh", window(""))))
	app("sh-health", must(s.Agreement("sh-health", "bj-datex", "clinic-visits", "ag-clinic-datex", window("2026-03-10T00:00:00+08:00"))))
	app("bj-datex", must(s.Agreement("bj-datex", "gd-bank", "enterprise-credit", "ag-credit-bank", window("2026-03-03T00:00:00+08:00"))))

	transfer := func(prov, cons, ag, ds string, class policy.Classification, cat string, n int, size int64) {
		var auth, done []ledger.Record
		for i := 0; i < n; i++ {
			later(3*time.Hour + time.Duration(i)*17*time.Minute)
			id := fmt.Sprintf("tr-%s-%d", ag, i)
			r := s.Transfer(prov, cons, ag, ds, id)
			r.Classification, r.Category, r.PolicyHash = class, cat, s.Suite.HashName()+":9f2c"
			if r.CrossBorder && sc.crossBorder == "" {
				sc.crossBorder = r.ID
			}
			auth = append(auth, r)
			done = append(done, s.Completed(cons, id, size+int64(i)*1024))
		}
		app(prov, auth...)
		app(cons, done...)
	}
	transfer("bj-transport", "bj-datex", "ag-traffic-datex", "traffic-flow", policy.Important, "traffic", 6, 48<<20)
	transfer("bj-transport", "sg-logistics", "ag-traffic-sg", "traffic-flow", policy.Important, "traffic", 3, 12<<20)
	transfer("bj-transport", "sh-health", "ag-bus-sh", "bus-timetable", policy.General, "traffic", 4, 2<<20)
	transfer("sh-health", "bj-datex", "ag-clinic-datex", "clinic-visits", policy.Important, "health", 5, 96<<20)
	transfer("bj-datex", "gd-bank", "ag-credit-bank", "enterprise-credit", policy.General, "credit", 8, 8<<20)

	later(7 * time.Hour)
	neg := s.Record(ledger.KindNegotiationDenied, "sh-health")
	neg.Counterparty, neg.Dataset, neg.Category, neg.Classification = "sg-logistics", "genome-panel", "genetic", policy.Important
	neg.Decision, neg.Rule, neg.Reason = ledger.DecisionDeny, policy.RuleNegativeList, "category genetic is on the space's negative list"
	core := s.Record(ledger.KindNegotiationDenied, "sh-health")
	core.Counterparty, core.Dataset, core.Category, core.Classification = "gd-bank", "patient-records", "health", policy.Core
	core.Decision, core.Rule, core.Reason = ledger.DecisionDeny, policy.RuleCoreStaysInRegion, "core data may not leave CN-SH for CN-GD"
	app("sh-health", neg, core)
	sc.denied = neg.ID
	later(26 * time.Hour)
	td := s.Record(ledger.KindTransferDenied, "bj-transport")
	td.Counterparty, td.Agreement, td.Dataset, td.Transfer = "sg-logistics", "ag-traffic-sg", "traffic-flow", "tr-late"
	td.Decision, td.Rule, td.Reason = ledger.DecisionDeny, "transfer.agreement-max-uses", "agreement ag-traffic-sg allows 3 uses, all used"
	app("bj-transport", td)

	later(5 * time.Hour)
	use := s.Record(ledger.KindUsageLogged, "bj-datex")
	use.Agreement = "ag-traffic-datex"
	app("bj-datex", use, s.DutyFulfilled("bj-datex", "ag-clinic-datex", "delete-after-30d"))
	later(30 * time.Hour)
	app("gd-bank", s.ObjectionFiled("gd-bank", "enterprise-credit", "obj-credit-1"))
	later(9 * time.Hour)
	app("bj-transport", s.Revoked("bj-transport", "ag-bus-sh"))
	return sc
}

// tokens issues role tokens for the scenario's ledger.
func (sc *scenario) regulatorToken(t testing.TB) string {
	t.Helper()
	iss, err := identity.NewIssuer(sc.space.Authority(), sc.space.AuthorityKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.RoleToken(identity.RoleRegulator, "regulator-1", audience, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (sc *scenario) participantToken(t testing.TB, id string) string {
	t.Helper()
	iss, err := identity.NewIssuer(id, sc.space.Keys[id])
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.RoleToken(identity.RoleParticipant, id, audience, nil, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// handler is the dashboard over the scenario's ledger with the real role-token verifier.
func (sc *scenario) handler(t testing.TB, opts ...dashboard.Option) *dashboard.Handler {
	t.Helper()
	return sc.handlerOver(t, sc.store, opts...)
}

// handlerOver is handler over backend b, which serves the scenario's
// store (b wraps it, say with a ledger service's probes).
func (sc *scenario) handlerOver(t testing.TB, b dashboard.Backend, opts ...dashboard.Option) *dashboard.Handler {
	t.Helper()
	reg := identity.NewRegistry(sc.store, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(sc.space.Authority()), identity.WithSuite(sc.space.Suite))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]dashboard.Option{dashboard.WithVerify(func(ctx context.Context) (verify.Report, error) {
		return verify.Ledger(ctx, dashboard.StoreSource(sc.store), sc.store.VerifierKey())
	})}, opts...)
	h, err := dashboard.New(b, sc.store.VerifierKey(), dashboard.RoleTokens(v, audience), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// server is the dashboard mounted at /ui/ on a loopback test server.
func (sc *scenario) server(t testing.TB, opts ...dashboard.Option) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ui/", sc.handler(t, opts...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
