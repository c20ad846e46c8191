package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/service"
)

// TestDashboardAndAPIAgreeOnVisibility drives the dashboard and the ledger
// service over the same ledger with the same role tokens and checks they
// show each principal the same records — in lists and one by one — as
// ledger.Visible says. (The dashboard used to show a participant its own
// registration, which the API answered 404 for.)
func TestDashboardAndAPIAgreeOnVisibility(t *testing.T) {
	sc := newScenario(t)
	ctx := context.Background()
	dash := sc.server(t)
	reg := identity.NewRegistry(sc.store, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(sc.space.Authority()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := service.New(service.Config{Backend: sc.store, Authorize: service.RoleTokens(v, audience)})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(h)
	t.Cleanup(api.Close)

	var all []ledger.Record
	if err := sc.store.Batches(ctx, 0, func(b *ledger.StoredBatch) error {
		for _, raw := range b.Records {
			r, err := ledger.DecodeRecord(raw)
			if err != nil {
				return err
			}
			all = append(all, *r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		name  string
		p     identity.Principal
		token string
	}{
		{"regulator", identity.Principal{ID: "regulator-1", Role: identity.RoleRegulator}, sc.regulatorToken(t)},
		{"gd-bank", identity.Principal{ID: "gd-bank", Role: identity.RoleParticipant}, sc.participantToken(t, "gd-bank")},
		{"sg-logistics", identity.Principal{ID: "sg-logistics", Role: identity.RoleParticipant}, sc.participantToken(t, "sg-logistics")},
	} {
		t.Run(who.name, func(t *testing.T) {
			cookie := login(t, dash, who.token, http.StatusOK)
			lc, err := client.New(api.URL, client.WithToken(who.token))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range all {
				if ledger.Visible(who.p, &all[i]) {
					want = append(want, all[i].ID)
				}
			}
			if len(want) == 0 || len(want) == len(all) && !who.p.SeesAll() {
				t.Fatalf("%s sees %d of %d records: the scenario does not tell the rule apart", who.name, len(want), len(all))
			}

			var viaAPI []string
			for q := (ledger.Query{Limit: 500}); ; {
				page, err := lc.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page.Records {
					viaAPI = append(viaAPI, r.Record.ID)
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			var viaDashboard []string
			for cursor := ""; ; {
				var rs dashboardRecords
				call(t, dash, "GET", cookie, "/ui/api/records?limit=500&cursor="+url.QueryEscape(cursor), &rs)
				for _, r := range rs.Records {
					viaDashboard = append(viaDashboard, r.ID)
				}
				if rs.Next == "" {
					break
				}
				cursor = rs.Next
			}
			if diff := cmp.Diff(set(want), set(viaAPI)); diff != "" {
				t.Errorf("API list (-ledger.Visible +API):\n%s", diff)
			}
			if diff := cmp.Diff(set(want), set(viaDashboard)); diff != "" {
				t.Errorf("dashboard list (-ledger.Visible +dashboard):\n%s", diff)
			}
			for i := range all {
				id := all[i].ID
				_, err := lc.Record(ctx, id)
				apiSees := err == nil
				if err != nil && !errors.Is(err, ledger.ErrNotFound) {
					t.Fatalf("API record %s: %v", id, err)
				}
				dashSees := call(t, dash, "GET", cookie, "/ui/api/records/"+url.PathEscape(id), nil) == http.StatusOK
				if apiSees != dashSees || apiSees != ledger.Visible(who.p, &all[i]) {
					t.Errorf("record %s (%s by %s for %s): API sees %v, dashboard sees %v", id, all[i].Kind, all[i].Actor, all[i].Counterparty, apiSees, dashSees)
				}
			}
		})
	}
}

// dashboardRecords is the part of dashboard.RecordsView this test reads.
type dashboardRecords struct {
	Records []struct {
		ID string `json:"id"`
	} `json:"records"`
	Next string `json:"next"`
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
