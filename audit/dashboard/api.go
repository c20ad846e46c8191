package dashboard

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// window reads the from/to query parameters (RFC 3339).
func window(q url.Values) (from, to time.Time, err error) {
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return time.Time{}, time.Time{}, fmt.Errorf("%w: parameter %s: %q is not RFC 3339 (2026-03-01T08:00:00+08:00)", ErrBadRequest, f.name, v)
			}
			*f.dst = t
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: parameters from, to: from must be before to", ErrBadRequest)
	}
	return from, to, nil
}

// intParam reads an integer parameter in [lo, hi], def when absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: parameter %s: %q must be an integer in [%d, %d]", ErrBadRequest, name, v, lo, hi)
	}
	return n, nil
}

// report is the flow report for the principal over the window, from the cache.
func (h *Handler) report(s snapshot, from, to time.Time) audit.Report {
	now := h.now()
	key := reportKey{size: s.cp.Size, from: from.UnixNano(), to: to.UnixNano(), now: now.Truncate(time.Minute).Unix()}
	if from.IsZero() {
		key.from = 0
	}
	if to.IsZero() {
		key.to = 0
	}
	return h.reports.get(key, func() audit.Report {
		return audit.BuildReportFrom(&s, audit.Window{Since: from, Until: to, Now: now})
	})
}

// Node is a participant in the flow graph.
type Node struct {
	ID            string `json:"id"`
	Name          string `json:"name,omitempty"`
	Region        string `json:"region,omitempty"`
	BytesSent     int64  `json:"bytesSent"`
	BytesReceived int64  `json:"bytesReceived"`
	Transfers     int    `json:"transfers"`
}

// Edge is the data moved from one provider to one consumer, over all datasets.
type Edge struct {
	Provider       string                `json:"provider"`
	Consumer       string                `json:"consumer"`
	Bytes          int64                 `json:"bytes"`
	Transfers      int                   `json:"transfers"`
	Classification policy.Classification `json:"classification"` // the highest level moved
	CrossBorder    bool                  `json:"crossBorder"`
	FromRegion     string                `json:"fromRegion,omitempty"`
	ToRegion       string                `json:"toRegion,omitempty"`
	LegalBasis     []string              `json:"legalBasis,omitempty"`
	Datasets       []string              `json:"datasets"`
}

// FlowsView is the Flows page's data.
type FlowsView struct {
	TreeSize         uint64              `json:"treeSize"`
	Nodes            []Node              `json:"nodes"`
	Edges            []Edge              `json:"edges"`
	Flows            []audit.Flow        `json:"flows"`
	FlowsTotal       int                 `json:"flowsTotal"`
	ByClassification []audit.LevelTotal  `json:"byClassification"`
	ByRegion         []audit.RegionTotal `json:"byRegion"`
	Options          FilterOptions       `json:"options"`
	// Compute and ComputeByParticipant meter the computations run at
	// providers (compute.executed) in the window, those the viewer may see.
	Compute              []audit.ComputeTotal     `json:"compute"`
	ComputeByParticipant []audit.ParticipantMeter `json:"computeByParticipant"`
}

// FilterOptions are the values the filters can take on this ledger.
type FilterOptions struct {
	Classifications []policy.Classification `json:"classifications"`
	Regions         []string                `json:"regions"`
	Categories      []string                `json:"categories"`
}

// maxFlowRows bounds the flow table sent to the browser; the graph has every edge.
const maxFlowRows = 200

func (h *Handler) flows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := window(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	class := policy.Classification(q.Get("classification"))
	if class != "" {
		if err := class.Validate(); err != nil {
			h.writeError(w, r, fmt.Errorf("%w: parameter %w", ErrBadRequest, err))
			return
		}
	}
	sel := flowFilter{p: principalFrom(r.Context()), class: class, region: q.Get("region"), category: q.Get("category")}
	s, err := h.mirror.snapshot(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, flowsView(s, h.report(s, from, to), sel))
}

// flowFilter selects the flows a page shows.
type flowFilter struct {
	p                Principal
	class            policy.Classification
	region, category string
}

// flowsView builds the graph, the table and the totals from the report's
// flows the principal may see that pass the filter; the filter options come
// from every flow the principal may see.
func flowsView(s snapshot, rep audit.Report, sel flowFilter) FlowsView {
	p, class, region, category := sel.p, sel.class, sel.region, sel.category
	v := FlowsView{TreeSize: s.cp.Size, Nodes: []Node{}, Edges: []Edge{}, Flows: []audit.Flow{},
		Compute: []audit.ComputeTotal{}, ComputeByParticipant: []audit.ParticipantMeter{}}
	for _, c := range rep.Compute {
		if p.SeesAll() || ledger.PartyTo(p.ID, c.Provider, c.Consumer) {
			v.Compute = append(v.Compute, c)
		}
	}
	for _, m := range rep.ComputeByParticipant {
		if p.SeesAll() || p.ID == m.Participant {
			v.ComputeByParticipant = append(v.ComputeByParticipant, m)
		}
	}
	opts := map[string]map[string]bool{"c": {}, "r": {}, "k": {}}
	var kept []audit.Flow
	for _, f := range rep.Flows {
		if !p.SeesAll() && !ledger.PartyTo(p.ID, f.Provider, f.Consumer) {
			continue
		}
		opts["c"][string(f.Classification)] = true
		opts["r"][f.FromRegion], opts["r"][f.ToRegion] = true, true
		opts["k"][f.Category] = true
		if class != "" && f.Classification != class ||
			category != "" && f.Category != category ||
			region != "" && !(f.FromRegion != "" && policy.IsPartOf(f.FromRegion, region) || f.ToRegion != "" && policy.IsPartOf(f.ToRegion, region)) {
			continue
		}
		kept = append(kept, f)
	}
	nodes := map[string]*Node{}
	node := func(id string) *Node {
		n := nodes[id]
		if n == nil {
			n = &Node{ID: id}
			if pp, ok := s.participants[id]; ok {
				n.Name, n.Region = pp.Name, pp.Region
			}
			nodes[id] = n
		}
		return n
	}
	edges := map[[2]string]*Edge{}
	levels := map[policy.Classification]*audit.LevelTotal{}
	regions := map[[2]string]*audit.RegionTotal{}
	for _, f := range kept {
		pn, cn := node(f.Provider), node(f.Consumer)
		pn.BytesSent += f.Bytes
		pn.Transfers += f.Transfers
		cn.BytesReceived += f.Bytes
		cn.Transfers += f.Transfers
		k := [2]string{f.Provider, f.Consumer}
		e := edges[k]
		if e == nil {
			e = &Edge{Provider: f.Provider, Consumer: f.Consumer, FromRegion: f.FromRegion, ToRegion: f.ToRegion}
			edges[k] = e
		}
		e.Bytes += f.Bytes
		e.Transfers += f.Transfers
		if f.Classification.Rank() > e.Classification.Rank() {
			e.Classification = f.Classification
		}
		e.CrossBorder = e.CrossBorder || f.CrossBorder
		addUnique(&e.LegalBasis, f.LegalBasis)
		addUnique(&e.Datasets, f.Dataset)
		lt := levels[f.Classification]
		if lt == nil {
			lt = &audit.LevelTotal{Classification: f.Classification}
			levels[f.Classification] = lt
		}
		lt.Transfers += f.Transfers
		lt.Bytes += f.Bytes
		rk := [2]string{f.FromRegion, f.ToRegion}
		rt := regions[rk]
		if rt == nil {
			rt = &audit.RegionTotal{FromRegion: f.FromRegion, ToRegion: f.ToRegion, CrossBorder: f.CrossBorder}
			regions[rk] = rt
		}
		rt.Transfers += f.Transfers
		rt.Bytes += f.Bytes
	}
	for _, n := range nodes {
		v.Nodes = append(v.Nodes, *n)
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i].ID < v.Nodes[j].ID })
	for _, e := range edges {
		v.Edges = append(v.Edges, *e)
	}
	sort.Slice(v.Edges, func(i, j int) bool {
		if v.Edges[i].Bytes != v.Edges[j].Bytes {
			return v.Edges[i].Bytes > v.Edges[j].Bytes
		}
		return v.Edges[i].Provider+"\x00"+v.Edges[i].Consumer < v.Edges[j].Provider+"\x00"+v.Edges[j].Consumer
	})
	v.FlowsTotal = len(kept)
	if len(kept) > maxFlowRows {
		kept = kept[:maxFlowRows]
	}
	if kept != nil {
		v.Flows = kept
	}
	for _, l := range levels {
		v.ByClassification = append(v.ByClassification, *l)
	}
	sort.Slice(v.ByClassification, func(i, j int) bool {
		return v.ByClassification[i].Classification.Rank() > v.ByClassification[j].Classification.Rank()
	})
	for _, rt := range regions {
		v.ByRegion = append(v.ByRegion, *rt)
	}
	sort.Slice(v.ByRegion, func(i, j int) bool {
		return v.ByRegion[i].FromRegion+"\x00"+v.ByRegion[i].ToRegion < v.ByRegion[j].FromRegion+"\x00"+v.ByRegion[j].ToRegion
	})
	for c := range opts["c"] {
		if c != "" {
			v.Options.Classifications = append(v.Options.Classifications, policy.Classification(c))
		}
	}
	sort.Slice(v.Options.Classifications, func(i, j int) bool {
		return v.Options.Classifications[i].Rank() < v.Options.Classifications[j].Rank()
	})
	v.Options.Regions, v.Options.Categories = sortedKeys(opts["r"]), sortedKeys(opts["k"])
	return v
}

func addUnique(dst *[]string, v string) {
	if v == "" {
		return
	}
	for _, x := range *dst {
		if x == v {
			return
		}
	}
	*dst = append(*dst, v)
}

func sortedKeys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// isDenial reports whether a record is a refusal.
func isDenial(r *ledger.Record) bool {
	return r.Kind == ledger.KindNegotiationDenied || r.Kind == ledger.KindTransferDenied || r.Decision == ledger.DecisionDeny
}

// Bucket is one interval of the timeline.
type Bucket struct {
	Start  string         `json:"start"`
	Counts map[string]int `json:"counts"`
}

// TimelineView is the Timeline page's chart data.
type TimelineView struct {
	From     string   `json:"from,omitempty"`
	To       string   `json:"to,omitempty"`
	BucketMS int64    `json:"bucketMs"`
	Kinds    []string `json:"kinds"`
	Buckets  []Bucket `json:"buckets"`
	Total    int      `json:"total"`
	Denials  int      `json:"denials"`
}

// recordFilter is what the timeline and record list select on.
type recordFilter struct {
	p           Principal
	from, to    int64 // unix ms; 0 for open
	kind        ledger.Kind
	participant string
	denied      bool
}

func readFilter(r *http.Request) (recordFilter, error) {
	q := r.URL.Query()
	from, to, err := window(q)
	if err != nil {
		return recordFilter{}, err
	}
	f := recordFilter{p: principalFrom(r.Context()), kind: ledger.Kind(q.Get("kind")), participant: q.Get("participant"), denied: q.Get("denied") == "1"}
	if f.kind != "" && !f.kind.Known() {
		return recordFilter{}, fmt.Errorf("%w: parameter kind: unknown kind %q", ErrBadRequest, f.kind)
	}
	if !from.IsZero() {
		f.from = from.UnixMilli()
	}
	if !to.IsZero() {
		f.to = to.UnixMilli()
	}
	return f, nil
}

// rowFilter is a recordFilter over one snapshot's rows: its strings as the
// snapshot's names (noName when no row has them).
type rowFilter struct {
	s                *snapshot
	all              bool // the principal sees every record
	who              uint32
	whoID            string
	kind, party      uint32
	anyKind, anyPart bool
	denied           bool
	from, to         int64
}

func (f *recordFilter) on(s *snapshot) rowFilter {
	return rowFilter{s: s, all: f.p.SeesAll(), who: s.name(f.p.ID), whoID: f.p.ID,
		kind: s.name(string(f.kind)), anyKind: f.kind == "", party: s.name(f.participant), anyPart: f.participant == "",
		denied: f.denied, from: f.from, to: f.to}
}

// match reports whether row i passes the filter: what recordFilter says of
// the record (ledger.Visible through ledger.PartyTo, kind, isDenial, actor or counterparty, time).
func (f *rowFilter) match(i int) bool {
	w := &f.s.rows[i]
	if !f.all && !ledger.PartyTo(f.who, w.actor, w.counterparty) ||
		!f.anyKind && w.kind != f.kind ||
		f.denied && w.flags&flagDenied == 0 ||
		!f.anyPart && w.actor != f.party && w.counterparty != f.party {
		return false
	}
	t := f.s.times[i]
	if f.from != 0 && (t == noTime || t < f.from) || f.to != 0 && (t == noTime || t >= f.to) {
		return false
	}
	return true
}

func (h *Handler) timeline(w http.ResponseWriter, r *http.Request) {
	f, err := readFilter(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	n, err := intParam(r.URL.Query(), "buckets", 60, 1, 500)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	s, err := h.mirror.snapshot(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rf := f.on(&s)
	lo, hi := f.from, f.to
	if lo == 0 || hi == 0 {
		// The open ends are the visible records' extremes.
		min, max := int64(math.MaxInt64), int64(math.MinInt64)
		for i := range s.rows {
			t := s.times[i]
			if t != noTime && rf.match(i) {
				min, max = minInt(min, t), maxInt(max, t)
			}
		}
		if max == math.MinInt64 {
			min, max = 0, 1
		}
		if lo == 0 {
			lo = min
		}
		if hi == 0 {
			hi = max + 1
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	width := (hi - lo + int64(n) - 1) / int64(n)
	if width < 1 {
		width = 1
	}
	v := TimelineView{From: time.UnixMilli(lo).UTC().Format(time.RFC3339Nano), To: time.UnixMilli(hi).UTC().Format(time.RFC3339Nano),
		BucketMS: width, Buckets: make([]Bucket, n), Kinds: []string{}}
	for i := range v.Buckets {
		v.Buckets[i] = Bucket{Start: time.UnixMilli(lo + int64(i)*width).UTC().Format(time.RFC3339Nano), Counts: map[string]int{}}
	}
	kinds := map[string]bool{}
	for i := range s.rows {
		w := &s.rows[i]
		t := s.times[i]
		if t == noTime || t < lo || t >= hi || !rf.match(i) {
			continue
		}
		b := int((t - lo) / width)
		if b >= n {
			b = n - 1
		}
		kind := s.names[w.kind]
		v.Buckets[b].Counts[kind]++
		kinds[kind] = true
		v.Total++
		if w.flags&flagDenied != 0 {
			v.Denials++
		}
	}
	for _, k := range ledger.Kinds {
		if kinds[string(k)] {
			v.Kinds = append(v.Kinds, string(k))
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func minInt(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// RecordRow is one line of a record list.
type RecordRow struct {
	Index          uint64                `json:"index"`
	ID             string                `json:"id"`
	Kind           ledger.Kind           `json:"kind"`
	Time           string                `json:"time"`
	Actor          string                `json:"actor"`
	Counterparty   string                `json:"counterparty,omitempty"`
	Dataset        string                `json:"dataset,omitempty"`
	Classification policy.Classification `json:"classification,omitempty"`
	Rule           string                `json:"rule,omitempty"`
	Reason         string                `json:"reason,omitempty"`
	Bytes          int64                 `json:"bytes,omitempty"`
	CrossBorder    bool                  `json:"crossBorder,omitempty"`
	Denied         bool                  `json:"denied,omitempty"`
}

// RecordsView is one page of records, newest first.
type RecordsView struct {
	Records []RecordRow `json:"records"`
	Total   int         `json:"total"`
	// Next continues the list (the cursor parameter); empty on the last page.
	Next string `json:"next,omitempty"`
}

func (h *Handler) records(w http.ResponseWriter, r *http.Request) {
	f, err := readFilter(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 50, 1, 500)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	s, err := h.mirror.snapshot(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// The cursor is the ledger index the next page starts below.
	start := len(s.rows)
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > len(s.rows) {
			h.writeError(w, r, fmt.Errorf("%w: parameter cursor: %q is not a cursor this dashboard returned", ErrBadRequest, c))
			return
		}
		start = n
	}
	v := RecordsView{Records: []RecordRow{}}
	rf := f.on(&s)
	var rec ledger.Record
	for i := len(s.rows) - 1; i >= 0; i-- {
		if !rf.match(i) {
			continue
		}
		v.Total++
		if i >= start {
			continue
		}
		if len(v.Records) == limit {
			if v.Next == "" {
				v.Next = strconv.Itoa(int(v.Records[limit-1].Index))
			}
			continue
		}
		s.Read(i, &rec)
		v.Records = append(v.Records, RecordRow{Index: uint64(i), ID: rec.ID, Kind: rec.Kind, Time: s.TimeText(i), Actor: rec.Actor,
			Counterparty: rec.Counterparty, Dataset: rec.Dataset, Classification: rec.Classification, Rule: rec.Rule,
			Reason: rec.Reason, Bytes: rec.Bytes, CrossBorder: rec.CrossBorder, Denied: s.rows[i].flags&flagDenied != 0})
	}
	writeJSON(w, http.StatusOK, v)
}
