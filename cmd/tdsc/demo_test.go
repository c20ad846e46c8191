package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/cmd/tdsc/internal/demo"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// TestDemo runs the demo's scenario, then asks the auditor's and the
// regulator's commands about its ledger and compares their JSON with what
// the scenario established — in each crypto suite (intl: Ed25519, SHA-256;
// gm: SM2, SM3).
func TestDemo(t *testing.T) {
	for _, cs := range []string{"intl", "gm"} {
		t.Run(cs, func(t *testing.T) { testDemo(t, cs) })
	}
}

func testDemo(t *testing.T, suiteName string) {
	var story strings.Builder
	d, err := demo.Run(t.Context(), demo.Options{Dir: t.TempDir(), Out: &story, Suite: suiteName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if len(d.Facts.Failures) > 0 {
		t.Fatalf("the story went wrong:\n%s\n%s", strings.Join(d.Facts.Failures, "\n"), story.String())
	}
	f := d.Facts
	led := []string{"--ledger", f.LedgerURL}
	vkey := filepath.Join(f.Dir, "ledger.vkey")

	t.Run("flows report", func(t *testing.T) {
		var rep audit.Report
		decode(t, mustRun(t, append([]string{"flows", "report", "--token", f.RegulatorTok, "-o", "json"}, led...)...), &rep)
		got := map[[2]string]int64{}
		for _, fl := range rep.Flows {
			got[[2]string{fl.Consumer, fl.Dataset}] += fl.Bytes
			if fl.Provider != demo.Dept {
				t.Errorf("flow from %s, want every flow from %s", fl.Provider, demo.Dept)
			}
		}
		for k, want := range f.Pulled {
			if got[k] != want {
				t.Errorf("report says %s moved %d bytes of %s; the consumer pulled %d", k[0], got[k], k[1], want)
			}
		}
		if len(got) != len(f.Pulled) {
			t.Errorf("report flows %v, pulled %v", got, f.Pulled)
		}
		if len(rep.CrossBorder) != 1 || rep.CrossBorder[0].Consumer != demo.SGCo || rep.CrossBorder[0].ToRegion != "SG" ||
			rep.CrossBorder[0].Classification != policy.Important || rep.CrossBorder[0].LegalBasis == "" {
			t.Errorf("cross-border flows = %+v, want one important flow to SG with its legal basis", rep.CrossBorder)
		}
		denials := map[string]int{}
		for _, dn := range rep.Denials {
			denials[dn.Rule] = dn.Count
		}
		for _, rule := range []string{policy.RuleNegativeList, policy.RuleLegalBasis, "agreement.revoked", rulebook.RuleComputeOnly} {
			if denials[rule] != 1 {
				t.Errorf("denials under %s = %d, want 1 (all: %v)", rule, denials[rule], denials)
			}
		}
		// The computations on the core grid under the compute-only
		// agreement: one run, two refused; the grid never appears as a flow.
		var runs []audit.ComputeTotal
		for _, c := range rep.Compute {
			if c.Agreement == f.Agreements["compute"] {
				runs = append(runs, c)
			}
		}
		if len(runs) != 1 || runs[0].Dataset != "ds-population-grid" || runs[0].Runs != 1 || runs[0].Denied != 2 || runs[0].BytesOut == 0 {
			t.Errorf("computations under the compute-only agreement = %+v", runs)
		}
		for _, fl := range rep.Flows {
			if fl.Dataset == "ds-population-grid" {
				t.Errorf("the core grid moved: %+v", fl)
			}
		}
		csv := mustRun(t, append([]string{"flows", "report", "--token", f.RegulatorTok, "-o", "csv", "--table", "compute"}, led...)...)
		if !strings.Contains(csv, f.Agreements["compute"]) || !strings.Contains(csv, "ds-population-grid") {
			t.Errorf("flows report --table compute:\n%s", csv)
		}
		if len(rep.NegativeListHits) != 1 || rep.NegativeListHits[0].Category != "health-records" {
			t.Errorf("negative-list hits = %+v", rep.NegativeListHits)
		}
		if len(rep.Revoked) != 1 || rep.Revoked[0].Agreement != f.Agreements["operation"] {
			t.Errorf("revoked = %+v, want the authorised-operation agreement %s", rep.Revoked, f.Agreements["operation"])
		}
		if len(rep.ObjectionsOpen) != 1 || rep.ObjectionsOpen[0].Objection != "obj-traffic-sensors" {
			t.Errorf("open objections = %+v", rep.ObjectionsOpen)
		}
		if len(rep.DutiesOverdue) != 0 {
			t.Errorf("overdue duties = %+v: every duty is due in 30 days", rep.DutiesOverdue)
		}
	})

	t.Run("audit records", func(t *testing.T) {
		var denied []ledger.Entry
		decode(t, mustRun(t, append([]string{"audit", "records", "--token", f.AuditorTok, "--kind", "negotiation.denied", "-o", "json"}, led...)...), &denied)
		if len(denied) != 3 {
			t.Fatalf("negotiation.denied records = %d, want 3 (purpose, legal basis, negative list)", len(denied))
		}
		var sg []ledger.Entry
		decode(t, mustRun(t, append([]string{"audit", "records", "--token", f.AuditorTok, "--participant", demo.SGCo, "--kind", "agreement.signed", "-o", "json"}, led...)...), &sg)
		if len(sg) != 1 || sg[0].Record.Agreement != f.Agreements["crossborder"] || sg[0].Record.LegalBasis == "" {
			t.Fatalf("agreements of %s = %+v", demo.SGCo, sg)
		}
		// Both parties record each completed transfer: the provider what it sent,
		// the consumer what it received (and hashed).
		var done []ledger.Entry
		decode(t, mustRun(t, append([]string{"audit", "records", "--token", f.AuditorTok, "--kind", "transfer.completed", "-o", "json"}, led...)...), &done)
		by := map[string][]string{}
		for _, e := range done {
			by[e.Record.Transfer] = append(by[e.Record.Transfer], e.Record.Actor)
		}
		if len(by) != 4 {
			t.Errorf("completed transfers = %d, want 4 (three pulls and a push): %v", len(by), by)
		}
		for tr, actors := range by {
			if len(actors) != 2 || actors[0] == actors[1] || actors[0] != demo.Dept && actors[1] != demo.Dept {
				t.Errorf("transfer %s completed by %v, want the provider and the consumer once each", tr, actors)
			}
		}
		csv := mustRun(t, append([]string{"audit", "records", "--token", f.AuditorTok, "--kind", "transfer.completed", "-o", "csv"}, led...)...)
		if lines := strings.Count(strings.TrimSpace(csv), "\n"); lines != len(done) {
			t.Errorf("transfer.completed CSV has %d rows, JSON %d records:\n%s", lines, len(done), csv)
		}
	})

	t.Run("record with proof", func(t *testing.T) {
		out := mustRun(t, append([]string{"audit", "record", "agreement.signed/" + f.Agreements["traffic"], "--proof", "--vkey", vkey, "--token", f.AuditorTok}, led...)...)
		if !strings.Contains(out, "verified: record agreement.signed/") {
			t.Errorf("no verdict:\n%s", out)
		}
	})

	t.Run("verify", func(t *testing.T) {
		out := mustRun(t, append([]string{"audit", "verify", "--token", f.AuditorTok, "--vkey", vkey}, led...)...)
		if !strings.HasPrefix(out, "ledger whole:") {
			t.Errorf("audit verify: %s", out)
		}
	})

	t.Run("dashboard mounted", func(t *testing.T) {
		resp, err := http.Get(f.LedgerURL + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
			t.Errorf("GET /ui/ = %d, %.200s", resp.StatusCode, body)
		}
		resp, err = http.Get(f.LedgerURL + "/ui/api/flows")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET /ui/api/flows without a session = %d, want 401", resp.StatusCode)
			}
		}
	})

	t.Run("refused without a proper role token", func(t *testing.T) {
		if _, err := runTDSC(t, append([]string{"flows", "report"}, led...)...); err == nil || !strings.Contains(err.Error(), "--token") {
			t.Errorf("flows report without a token: %v, want an error naming --token", err)
		}
		bad := filepath.Join(t.TempDir(), "bad.token")
		os.WriteFile(bad, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), 0o600)
		if _, err := runTDSC(t, append([]string{"audit", "records", "--token", bad}, led...)...); err == nil {
			t.Error("audit records with an alg-none token succeeded")
		}
		// A participant's own read token sees only the records it is party to.
		key, err := identity.LoadKey(filepath.Join(f.Dir, "connectors", demo.SGCo, "participant.key"))
		if err != nil {
			t.Fatal(err)
		}
		iss, err := identity.NewIssuer(demo.SGCo, key)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.RoleToken(identity.RoleParticipant, demo.SGCo, "ledger", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(t.TempDir(), "sg.token")
		os.WriteFile(own, []byte(tok), 0o600)
		var mine []ledger.Entry
		decode(t, mustRun(t, append([]string{"audit", "records", "--token", own, "-o", "json"}, led...)...), &mine)
		if len(mine) == 0 {
			t.Fatal("a participant sees none of its own records")
		}
		for _, e := range mine {
			r := e.Record
			if r.Actor != demo.SGCo && r.Counterparty != demo.SGCo {
				t.Errorf("%s sees record %s of %s → %s", demo.SGCo, r.ID, r.Actor, r.Counterparty)
			}
		}
	})
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}
