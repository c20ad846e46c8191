package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// grow appends rounds [first, first+rounds) of mixed traffic to the scenario's ledger: transfers
// under the four live agreements (one across the border), completed by the
// consumer, sometimes by the provider too, sometimes by the provider alone;
// denials under several rules (one with no rule); usage logs; duties
// fulfilled; objections filed, some resolved; hours to days apart.
func (sc *scenario) grow(t testing.TB, first, rounds int) {
	t.Helper()
	s := sc.space
	type agreement struct {
		prov, cons, ag, ds string
		class              policy.Classification
		category           string
	}
	live := []agreement{
		{"bj-transport", "bj-datex", "ag-traffic-datex", "traffic-flow", policy.Important, "traffic"},
		{"bj-transport", "sg-logistics", "ag-traffic-sg", "traffic-flow", policy.Important, "traffic"},
		{"sh-health", "bj-datex", "ag-clinic-datex", "clinic-visits", policy.Important, "health"},
		{"bj-datex", "gd-bank", "ag-credit-bank", "enterprise-credit", policy.General, "credit"},
	}
	// Batches go out writer by writer in this order, so every authorisation
	// precedes its completions; providers' own completions come last.
	order := []string{"bj-transport", "sh-health", "bj-datex", "gd-bank", "sg-logistics", "late"}
	for round := first; round < first+rounds; round++ {
		s.Now = s.Now.Add(time.Duration(1+round%7) * 97 * time.Minute)
		batches := map[string][]ledger.Record{}
		var late []ledger.Record // providers' completions, after the consumers'
		for a, ag := range live {
			for k := range 5 + (round+a)%4 {
				id := fmt.Sprintf("tr-grow-%d-%d-%d", round, a, k)
				r := s.Transfer(ag.prov, ag.cons, ag.ag, ag.ds, id)
				r.PolicyHash = "sha256:9f2c"
				if k%3 != 0 {
					// Some authorisations leave the level and category to the dataset's registration.
					r.Classification, r.Category = ag.class, ag.category
				}
				batches[ag.prov] = append(batches[ag.prov], r)
				size := int64(1000*(round+1) + 37*k + a)
				switch k % 5 {
				case 4: // only the provider records the completion
					late = append(late, s.Completed(ag.prov, id, size))
				case 2: // both do; the provider's count
					batches[ag.cons] = append(batches[ag.cons], s.Completed(ag.cons, id, size-1))
					late = append(late, s.Completed(ag.prov, id, size))
				default:
					batches[ag.cons] = append(batches[ag.cons], s.Completed(ag.cons, id, size))
				}
			}
		}
		deny := s.Record(ledger.KindNegotiationDenied, "sh-health")
		deny.Counterparty, deny.Dataset, deny.Decision = []string{"gd-bank", "sg-logistics", "bj-datex"}[round%3], "genome-panel", ledger.DecisionDeny
		deny.Rule, deny.Reason = policy.RuleNegativeList, fmt.Sprintf("category genetic is on the negative list (round %d)", round)
		if round%2 == 0 {
			deny.Category = "genetic"
		}
		td := s.Record(ledger.KindTransferDenied, "bj-transport")
		td.Counterparty, td.Agreement, td.Dataset, td.Transfer = "sg-logistics", "ag-traffic-sg", "traffic-flow", fmt.Sprintf("tr-refused-%d", round)
		td.Decision, td.Rule, td.Reason = ledger.DecisionDeny, []string{"transfer.agreement-max-uses", "", "space.cross-border"}[round%3], fmt.Sprintf("refused in round %d", round)
		use := s.Record(ledger.KindUsageLogged, "bj-datex")
		use.Agreement = "ag-traffic-datex"
		// Times written otherwise than RFC3339Nano would: the mirror keeps
		// their text; and one with nanoseconds it formats back.
		at, err := time.Parse(time.RFC3339Nano, use.Time)
		if err != nil {
			t.Fatal(err)
		}
		switch round % 4 {
		case 0:
			use.Time = at.UTC().Format("2006-01-02T15:04:05.000000+00:00")
			deny.Time = at.Format("2006-01-02T15:04:05.000Z07:00")
		case 1:
			use.Time = at.Add(123456 * time.Nanosecond).Format(time.RFC3339Nano)
			td.Time = at.UTC().Format(time.RFC3339)
			dt, _ := time.Parse(time.RFC3339Nano, deny.Time)
			deny.Time = dt.Add(654321 * time.Nanosecond).Format(time.RFC3339Nano)
		case 2:
			use.Time = at.In(time.FixedZone("", -5*3600-30*60)).Format(time.RFC3339Nano)
		}
		batches["sh-health"] = append(batches["sh-health"], deny)
		batches["bj-transport"] = append(batches["bj-transport"], td)
		batches["bj-datex"] = append(batches["bj-datex"], use)
		if round%4 == 1 {
			batches["gd-bank"] = append(batches["gd-bank"], s.ObjectionFiled("gd-bank", "enterprise-credit", fmt.Sprintf("obj-grow-%d", round)))
		}
		if round%8 == 5 {
			batches["bj-datex"] = append(batches["bj-datex"], s.ObjectionResolved("bj-datex", fmt.Sprintf("obj-grow-%d", round-4)))
		}
		if round == 20 {
			batches["bj-datex"] = append(batches["bj-datex"], s.DutyFulfilled("bj-datex", "ag-traffic-datex", "delete-after-30d"))
		}
		for _, w := range order {
			recs := batches[w]
			if w == "late" {
				recs = late
			}
			for len(recs) > 0 {
				writer := w
				if w == "late" {
					writer = recs[0].Actor
				}
				n := 1
				for n < len(recs) && recs[n].Actor == writer {
					n++
				}
				b, err := s.Batch(writer, recs[:n]...)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sc.store.Append(context.Background(), b); err != nil {
					t.Fatalf("round %d: append %s batch: %v", round, writer, err)
				}
				recs = recs[n:]
			}
		}
	}
}

// ledgerRecords reads every record and the batch count from the store
// itself, decoded whole: the reference the compact mirror is checked against.
func ledgerRecords(t *testing.T, sc *scenario) ([]ledger.Record, int) {
	t.Helper()
	var recs []ledger.Record
	batches := 0
	err := sc.store.Batches(context.Background(), 0, func(b *ledger.StoredBatch) error {
		batches++
		for _, raw := range b.Records {
			var r ledger.Record
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, batches
}

// viewer is a principal the expectations are computed for.
type viewer struct {
	id  string // "" for the regulator
	all bool
}

// sees is the ledger's rule (issue 13: the dashboard used to show a
// participant its own registration, which the ledger API answers 404 for).
func (v viewer) sees(r *ledger.Record) bool {
	return v.all || ledger.PartyTo(v.id, r.Actor, r.Counterparty)
}

func (v viewer) mine(a, b string) bool { return v.all || a == v.id || b == v.id }

func denial(r *ledger.Record) bool {
	return r.Kind == ledger.KindNegotiationDenied || r.Kind == ledger.KindTransferDenied || r.Decision == ledger.DecisionDeny
}

// selectRecords is what the timeline and record list must select, from the
// whole records: query parameters kind, participant, denied, from, to.
func selectRecords(recs []ledger.Record, v viewer, q url.Values) []int {
	var from, to time.Time
	if s := q.Get("from"); s != "" {
		from, _ = time.Parse(time.RFC3339Nano, s)
	}
	if s := q.Get("to"); s != "" {
		to, _ = time.Parse(time.RFC3339Nano, s)
	}
	var out []int
	for i := range recs {
		r := &recs[i]
		if !v.sees(r) || q.Get("kind") != "" && string(r.Kind) != q.Get("kind") || q.Get("denied") == "1" && !denial(r) {
			continue
		}
		if p := q.Get("participant"); p != "" && r.Actor != p && r.Counterparty != p {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if (!from.IsZero() || !to.IsZero()) && err != nil {
			continue
		}
		if !from.IsZero() && t.UnixMilli() < from.UnixMilli() || !to.IsZero() && t.UnixMilli() >= to.UnixMilli() {
			continue
		}
		out = append(out, i)
	}
	return out
}

// wantTimeline counts the selected records into n buckets over the window,
// its open ends the selected records' first and last times.
func wantTimeline(recs []ledger.Record, sel []int, q url.Values, n int) dashboard.TimelineView {
	ms := func(i int) int64 {
		t, _ := time.Parse(time.RFC3339Nano, recs[i].Time)
		return t.UnixMilli()
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, i := range sel {
		lo, hi = min(lo, ms(i)), max(hi, ms(i)+1)
	}
	if s := q.Get("from"); s != "" {
		t, _ := time.Parse(time.RFC3339Nano, s)
		lo = t.UnixMilli()
	}
	if s := q.Get("to"); s != "" {
		t, _ := time.Parse(time.RFC3339Nano, s)
		hi = t.UnixMilli()
	}
	width := max((hi-lo+int64(n)-1)/int64(n), 1)
	v := dashboard.TimelineView{From: time.UnixMilli(lo).UTC().Format(time.RFC3339Nano), To: time.UnixMilli(hi).UTC().Format(time.RFC3339Nano),
		BucketMS: width, Kinds: []string{}}
	for b := range n {
		v.Buckets = append(v.Buckets, dashboard.Bucket{Start: time.UnixMilli(lo + int64(b)*width).UTC().Format(time.RFC3339Nano), Counts: map[string]int{}})
	}
	kinds := map[ledger.Kind]bool{}
	for _, i := range sel {
		b := min(int((ms(i)-lo)/width), n-1)
		v.Buckets[b].Counts[string(recs[i].Kind)]++
		kinds[recs[i].Kind] = true
		v.Total++
		if denial(&recs[i]) {
			v.Denials++
		}
	}
	for _, k := range ledger.Kinds {
		if kinds[k] {
			v.Kinds = append(v.Kinds, string(k))
		}
	}
	return v
}

func wantRow(i int, r *ledger.Record) dashboard.RecordRow {
	return dashboard.RecordRow{Index: uint64(i), ID: r.ID, Kind: r.Kind, Time: r.Time, Actor: r.Actor, Counterparty: r.Counterparty,
		Dataset: r.Dataset, Classification: r.Classification, Rule: r.Rule, Reason: r.Reason, Bytes: r.Bytes,
		CrossBorder: r.CrossBorder, Denied: denial(r)}
}

// wantRules is the rules page from the whole-record report, as the viewer sees it.
func wantRules(recs []ledger.Record, rep audit.Report, v viewer, window url.Values) dashboard.RulesView {
	out := dashboard.RulesView{Denials: []audit.DenialTotal{}, NegativeListHits: []audit.Denial{}, CrossBorder: []audit.Flow{},
		DutiesOverdue: []audit.OverdueDuty{}, ObjectionsOpen: []audit.OpenObjection{}, Revoked: []audit.Revocation{}}
	if v.all {
		out.Denials = append(out.Denials, rep.Denials...)
	} else {
		by := map[string]*audit.DenialTotal{}
		for _, i := range selectRecords(recs, v, window) {
			r := &recs[i]
			if !denial(r) {
				continue
			}
			rule := r.Rule
			if rule == "" {
				rule = "unspecified"
			}
			if by[rule] == nil {
				by[rule] = &audit.DenialTotal{Rule: rule}
			}
			by[rule].Count++
			by[rule].Example = r.Reason
		}
		for _, d := range by {
			out.Denials = append(out.Denials, *d)
		}
		sort.Slice(out.Denials, func(i, j int) bool {
			a, b := out.Denials[i], out.Denials[j]
			return a.Count > b.Count || a.Count == b.Count && a.Rule < b.Rule
		})
	}
	for _, d := range rep.NegativeListHits {
		if v.mine(d.Provider, d.Consumer) {
			out.NegativeListTotal++
			out.NegativeListHits = append(out.NegativeListHits, d)
		}
	}
	for _, f := range rep.CrossBorder {
		if v.mine(f.Provider, f.Consumer) {
			out.CrossBorder = append(out.CrossBorder, f)
		}
	}
	for _, d := range rep.DutiesOverdue {
		if v.mine(d.Provider, d.Consumer) {
			out.DutiesOverdue = append(out.DutiesOverdue, d)
		}
	}
	for _, o := range rep.ObjectionsOpen {
		if v.mine(o.Filer, "") {
			out.ObjectionsOpen = append(out.ObjectionsOpen, o)
		}
	}
	for _, rv := range rep.Revoked {
		if v.mine(rv.Provider, rv.Consumer) {
			out.Revoked = append(out.Revoked, rv)
		}
	}
	return out
}

// wantFlows is the report's flows the viewer sees, filtered, and the nodes and totals over them.
func wantFlows(rep audit.Report, v viewer, class policy.Classification, region string) (flows []audit.Flow, nodes []dashboard.Node, levels []audit.LevelTotal) {
	byNode := map[string]*dashboard.Node{}
	byLevel := map[policy.Classification]*audit.LevelTotal{}
	for _, f := range rep.Flows {
		if !v.mine(f.Provider, f.Consumer) || class != "" && f.Classification != class ||
			region != "" && !policy.IsPartOf(f.FromRegion, region) && !policy.IsPartOf(f.ToRegion, region) {
			continue
		}
		flows = append(flows, f)
		for _, id := range []string{f.Provider, f.Consumer} {
			if byNode[id] == nil {
				byNode[id] = &dashboard.Node{ID: id}
			}
		}
		byNode[f.Provider].BytesSent += f.Bytes
		byNode[f.Provider].Transfers += f.Transfers
		byNode[f.Consumer].BytesReceived += f.Bytes
		byNode[f.Consumer].Transfers += f.Transfers
		if byLevel[f.Classification] == nil {
			byLevel[f.Classification] = &audit.LevelTotal{Classification: f.Classification}
		}
		byLevel[f.Classification].Transfers += f.Transfers
		byLevel[f.Classification].Bytes += f.Bytes
	}
	for _, n := range byNode {
		nodes = append(nodes, *n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	for _, l := range byLevel {
		levels = append(levels, *l)
	}
	sort.Slice(levels, func(i, j int) bool { return levels[i].Classification.Rank() > levels[j].Classification.Rank() })
	return flows, nodes, levels
}

// TestCompactMirrorAgreesWithTheRecords checks every page's answers from the
// compact mirror against the same answers computed from the ledger's whole
// decoded records (audit.BuildReport over all of them, and plain scans), for
// the regulator and for a participant, after a first load and again after
// the mirror read more batches incrementally.
func TestCompactMirrorAgreesWithTheRecords(t *testing.T) {
	sc := newScenario(t)
	sc.grow(t, 0, 40)
	var mu sync.Mutex
	var now time.Time
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
	setNow(sc.space.Now.Add(30 * time.Minute))
	srv := sc.server(t, dashboard.WithClock(clock), dashboard.WithSessionTTL(365*24*time.Hour))
	reg := login(t, srv, sc.regulatorToken(t), http.StatusOK)
	bank := login(t, srv, sc.participantToken(t, "bj-datex"), http.StatusOK)

	check := func(t *testing.T) {
		recs, batches := ledgerRecords(t, sc)
		if len(recs) < 2000 {
			t.Fatalf("the grown ledger has %d records, want a few thousand", len(recs))
		}
		first, _ := time.Parse(time.RFC3339Nano, recs[0].Time)
		mid, _ := time.Parse(time.RFC3339Nano, recs[len(recs)/2].Time)
		windows := []url.Values{{}, {"from": {first.Add(50 * time.Hour).Format(time.RFC3339)}, "to": {mid.Format(time.RFC3339Nano)}}}
		// A window ending exactly at a denial stamped to the nanosecond: the
		// report leaves it out, and would not if the mirror lost the nanoseconds.
		for i := len(recs) / 3; i < len(recs); i++ {
			if recs[i].Kind == ledger.KindNegotiationDenied && strings.HasSuffix(strings.TrimSuffix(recs[i].Time, "+08:00"), "654321") {
				windows = append(windows, url.Values{"from": {first.Format(time.RFC3339Nano)}, "to": {recs[i].Time}})
				break
			}
		}
		if len(windows) != 3 {
			t.Fatal("no denial stamped to the nanosecond")
		}
		for _, vw := range []struct {
			name   string
			cookie *http.Cookie
			v      viewer
		}{{"regulator", reg, viewer{all: true}}, {"bj-datex", bank, viewer{id: "bj-datex"}}} {
			t.Run(vw.name, func(t *testing.T) {
				for _, w := range windows {
					var since, until time.Time
					if s := w.Get("from"); s != "" {
						since, _ = time.Parse(time.RFC3339Nano, s)
						until, _ = time.Parse(time.RFC3339Nano, w.Get("to"))
					}
					rep := audit.BuildReport(recs, audit.Window{Since: since, Until: until, Now: clock()})
					for _, f := range []struct {
						class  policy.Classification
						region string
					}{{"", ""}, {policy.Important, ""}, {"", "SG"}, {policy.General, "CN-BJ"}} {
						q := url.Values{"from": w["from"], "to": w["to"]}
						if f.class != "" {
							q.Set("classification", string(f.class))
						}
						if f.region != "" {
							q.Set("region", f.region)
						}
						var got dashboard.FlowsView
						call(t, srv, "GET", vw.cookie, "/ui/api/flows?"+q.Encode(), &got)
						flows, nodes, levels := wantFlows(rep, vw.v, f.class, f.region)
						if got.FlowsTotal != len(flows) || len(flows) == 0 && f.class == "" && f.region == "" {
							t.Errorf("flows %v: %d flows, want %d", q, got.FlowsTotal, len(flows))
						}
						if diff := cmp.Diff(flows, got.Flows, cmpopts.EquateEmpty()); diff != "" {
							t.Errorf("flows %v (-want +got):\n%s", q, diff)
						}
						if diff := cmp.Diff(nodes, got.Nodes, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(dashboard.Node{}, "Name", "Region")); diff != "" {
							t.Errorf("flow nodes %v (-want +got):\n%s", q, diff)
						}
						if diff := cmp.Diff(levels, got.ByClassification, cmpopts.EquateEmpty()); diff != "" {
							t.Errorf("totals by classification %v (-want +got):\n%s", q, diff)
						}
						if vw.v.all && f.class == "" && f.region == "" {
							if diff := cmp.Diff(rep.ByRegion, got.ByRegion, cmpopts.EquateEmpty()); diff != "" {
								t.Errorf("totals by region %v (-want +got):\n%s", q, diff)
							}
						}
					}

					var rules dashboard.RulesView
					call(t, srv, "GET", vw.cookie, "/ui/api/rules?"+w.Encode(), &rules)
					byDue := cmpopts.SortSlices(func(a, b audit.OverdueDuty) bool { return a.Due+a.Agreement+a.Duty < b.Due+b.Agreement+b.Duty })
					if diff := cmp.Diff(wantRules(recs, rep, vw.v, w), rules, cmpopts.EquateEmpty(), byDue); diff != "" {
						t.Errorf("rules %v (-want +got):\n%s", w, diff)
					}
					if vw.v.all && (len(rules.Denials) < 3 || len(rules.NegativeListHits) == 0 || len(rules.CrossBorder) == 0) && w.Get("from") == "" {
						t.Errorf("rules: the grown ledger should show denials, negative-list hits and cross-border flows: %+v", rules)
					}

					for _, q := range []url.Values{{}, {"kind": {"transfer.completed"}}, {"denied": {"1"}}, {"participant": {"gd-bank"}},
						{"kind": {"negotiation.denied"}, "participant": {"sg-logistics"}}, {"participant": {"nobody"}}} {
						for k, v := range w {
							q[k] = v
						}
						sel := selectRecords(recs, vw.v, q)
						for _, n := range []int{1, 48} {
							qn := url.Values{"buckets": {strconv.Itoa(n)}}
							for k, v := range q {
								qn[k] = v
							}
							var tl dashboard.TimelineView
							call(t, srv, "GET", vw.cookie, "/ui/api/timeline?"+qn.Encode(), &tl)
							if len(sel) == 0 && w.Get("from") == "" {
								if tl.Total != 0 {
									t.Errorf("timeline %v: %d records, want none", qn, tl.Total)
								}
								continue
							}
							if diff := cmp.Diff(wantTimeline(recs, sel, q, n), tl); diff != "" {
								t.Errorf("timeline %v (-want +got):\n%s", qn, diff)
							}
						}
						// Every page of the list, newest first.
						var got []dashboard.RecordRow
						cursor := ""
						for {
							ql := url.Values{"limit": {"97"}}
							for k, v := range q {
								ql[k] = v
							}
							if cursor != "" {
								ql.Set("cursor", cursor)
							}
							var page dashboard.RecordsView
							call(t, srv, "GET", vw.cookie, "/ui/api/records?"+ql.Encode(), &page)
							if page.Total != len(sel) {
								t.Fatalf("records %v: total %d, want %d", ql, page.Total, len(sel))
							}
							got = append(got, page.Records...)
							if cursor = page.Next; cursor == "" {
								break
							}
						}
						var want []dashboard.RecordRow
						for k := len(sel) - 1; k >= 0; k-- {
							want = append(want, wantRow(sel[k], &recs[sel[k]]))
						}
						if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
							t.Errorf("records %v (-want +got):\n%s", q, diff)
						}
					}
				}
			})
		}

		var hv dashboard.HealthView
		call(t, srv, "GET", reg, "/ui/api/health", &hv)
		participants := map[string]bool{}
		firstT, lastT := recs[0].Time, recs[0].Time
		lastHour := 0
		for i := range recs {
			r := &recs[i]
			if r.Participant != nil {
				participants[r.Participant.ID] = true
			}
			tt, _ := time.Parse(time.RFC3339Nano, r.Time)
			ft, _ := time.Parse(time.RFC3339Nano, firstT)
			lt, _ := time.Parse(time.RFC3339Nano, lastT)
			if tt.Before(ft) {
				firstT = r.Time
			}
			if tt.After(lt) {
				lastT = r.Time
			}
			if !tt.Before(clock().Add(-time.Hour)) && !tt.After(clock()) {
				lastHour++
			}
		}
		utc := func(s string) string {
			tt, _ := time.Parse(time.RFC3339Nano, s)
			return tt.UTC().Format(time.RFC3339Nano)
		}
		if hv.Checkpoint.Size != uint64(len(recs)) || hv.Batches != batches || hv.Participants != len(participants) ||
			hv.FirstRecord != utc(firstT) || hv.LastRecord != utc(lastT) || hv.Rate.LastHour != lastHour || lastHour == 0 {
			t.Errorf("health: size %d batches %d participants %d first %s last %s last hour %d; want %d %d %d %s %s %d",
				hv.Checkpoint.Size, hv.Batches, hv.Participants, hv.FirstRecord, hv.LastRecord, hv.Rate.LastHour,
				len(recs), batches, len(participants), utc(firstT), utc(lastT), lastHour)
		}
	}
	t.Run("first load", check)

	// More rounds, a suspension and a second round of reading: the mirror
	// appends to what it holds.
	sc.grow(t, 40, 6)
	b, err := sc.space.Batch(sc.space.Authority(), sc.space.Suspend("sg-logistics"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.store.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	setNow(sc.space.Now.Add(20 * time.Minute))
	t.Run("after more batches", check)
}
