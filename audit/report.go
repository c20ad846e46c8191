package audit

import (
	"sort"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// Report is the regulator's view of the data flows on a ledger.
type Report struct {
	Since            string          `json:"since,omitempty"`
	Until            string          `json:"until,omitempty"`
	Records          int             `json:"records"`
	Flows            []Flow          `json:"flows"`
	ByClassification []LevelTotal    `json:"byClassification"`
	ByRegion         []RegionTotal   `json:"byRegion"`
	CrossBorder      []Flow          `json:"crossBorder"`
	Denials          []DenialTotal   `json:"denials"`
	NegativeListHits []Denial        `json:"negativeListHits"`
	Revoked          []Revocation    `json:"revoked"`
	DutiesOverdue    []OverdueDuty   `json:"dutiesOverdue"`
	ObjectionsOpen   []OpenObjection `json:"objectionsOpen"`
	// Compute meters the computations run at providers (compute.executed),
	// per agreement and per participant (可计量).
	Compute              []ComputeTotal     `json:"compute"`
	ComputeByParticipant []ParticipantMeter `json:"computeByParticipant"`
}

// ComputeTotal sums the runs under one agreement.
type ComputeTotal struct {
	Agreement string `json:"agreement"`
	Provider  string `json:"provider"`
	Consumer  string `json:"consumer"`
	Dataset   string `json:"dataset,omitempty"`
	// Runs were allowed and their results left; Denied were refused (a
	// program not allowed, a limit hit, an output rule broken).
	Runs      int   `json:"runs"`
	Denied    int   `json:"denied"`
	CPUMillis int64 `json:"cpuMillis"`
	// BytesOut is the results that left; BytesIn the dataset bytes the
	// programs read.
	BytesOut int64 `json:"bytesOut"`
	BytesIn  int64 `json:"bytesIn"`
}

// ParticipantMeter is one participant's computations: as the consumer whose
// programs ran, or as the provider that ran them.
type ParticipantMeter struct {
	Participant string `json:"participant"`
	Role        string `json:"role"` // "consumer" or "provider"
	Runs        int    `json:"runs"`
	Denied      int    `json:"denied"`
	CPUMillis   int64  `json:"cpuMillis"`
	BytesOut    int64  `json:"bytesOut"`
}

// Flow is data moved from a provider to a consumer at one classification level
// between two regions, summed over completed transfers.
type Flow struct {
	Provider       string                `json:"provider"`
	Consumer       string                `json:"consumer"`
	Dataset        string                `json:"dataset,omitempty"`
	Category       string                `json:"category,omitempty"`
	Classification policy.Classification `json:"classification"`
	FromRegion     string                `json:"fromRegion"`
	ToRegion       string                `json:"toRegion"`
	CrossBorder    bool                  `json:"crossBorder"`
	LegalBasis     string                `json:"legalBasis,omitempty"`
	Transfers      int                   `json:"transfers"`
	Bytes          int64                 `json:"bytes"`
}

// LevelTotal sums completed transfers of one classification level.
type LevelTotal struct {
	Classification policy.Classification `json:"classification"`
	Transfers      int                   `json:"transfers"`
	Bytes          int64                 `json:"bytes"`
}

// RegionTotal sums completed transfers from one region to another.
type RegionTotal struct {
	FromRegion  string `json:"fromRegion"`
	ToRegion    string `json:"toRegion"`
	CrossBorder bool   `json:"crossBorder"`
	Transfers   int    `json:"transfers"`
	Bytes       int64  `json:"bytes"`
}

// DenialTotal counts refusals (negotiation.denied, transfer.denied, denied
// compute.executed) by rule.
type DenialTotal struct {
	Rule  string `json:"rule"`
	Count int    `json:"count"`
	// Example is the reason given by the latest denial under this rule.
	Example string `json:"example"`
}

// Denial is one refusal on the ledger.
type Denial struct {
	Record   string `json:"record"`
	Kind     string `json:"kind"`
	Time     string `json:"time"`
	Provider string `json:"provider"`
	Consumer string `json:"consumer"`
	Dataset  string `json:"dataset,omitempty"`
	Category string `json:"category,omitempty"`
	Rule     string `json:"rule"`
	Reason   string `json:"reason"`
}

// Revocation is one agreement.revoked record.
type Revocation struct {
	Agreement string `json:"agreement"`
	Provider  string `json:"provider"`
	Consumer  string `json:"consumer"`
	Time      string `json:"time"`
	Reason    string `json:"reason"`
}

// OverdueDuty is a duty owed under an agreement, due before the report's time,
// with no duty.fulfilled on the ledger.
type OverdueDuty struct {
	Agreement string `json:"agreement"`
	Consumer  string `json:"consumer"`
	Provider  string `json:"provider"`
	Duty      string `json:"duty"`
	Action    string `json:"action"`
	Due       string `json:"due"`
}

// OpenObjection is an objection filed and not yet resolved.
type OpenObjection struct {
	Objection string `json:"objection"`
	Filer     string `json:"filer"`
	Dataset   string `json:"dataset,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Filed     string `json:"filed"`
}

// index is the registrations a participant's history names: datasets by id
// and participants by id, the latest of each.
type index struct {
	datasets     map[string]*ledger.Record
	participants map[string]*ledger.Participant
}

func newIndex(recs []ledger.Record) *index {
	ix := &index{datasets: map[string]*ledger.Record{}, participants: map[string]*ledger.Participant{}}
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case ledger.KindDatasetRegistered:
			ix.datasets[r.Dataset] = r
		case ledger.KindParticipantRegistered, ledger.KindParticipantUpdated:
			if r.Participant != nil {
				ix.participants[r.Participant.ID] = r.Participant
			}
		}
	}
	return ix
}

// Source is the records a report is built over, all of the ledger in ledger
// order (joins need the registrations before the window too). BuildReport
// reads a slice of decoded records; the dashboard reads its compact mirror.
type Source interface {
	// Len is the number of records.
	Len() int
	// Kind is record i's kind: the report reads only the records of the kinds it uses.
	Kind(i int) ledger.Kind
	// Time is record i's time as time.Parse(time.RFC3339Nano, r.Time) gives
	// it; ok is false when it does not parse.
	Time(i int) (t time.Time, ok bool)
	// TimeText is record i's Time field, as written.
	TimeText(i int) string
	// Read fills *r with record i, except that r.Time may be left empty (the
	// report reads times through Time and TimeText). The report reads Kind,
	// ID, Actor, Counterparty, Dataset, Category, Classification, Agreement,
	// Transfer, Decision, Rule, Reason, Bytes, FromRegion, ToRegion, LegalBasis
	// and the Participant, Terms, Duty, Objection and Compute sub-objects; it keeps strings and
	// sub-objects, never r, which it reuses between calls.
	Read(i int, r *ledger.Record)
}

// records is a slice of decoded records as a Source.
type records []ledger.Record

func (rs records) Len() int                     { return len(rs) }
func (rs records) Kind(i int) ledger.Kind       { return rs[i].Kind }
func (rs records) Read(i int, r *ledger.Record) { *r = rs[i] }
func (rs records) TimeText(i int) string        { return rs[i].Time }

func (rs records) Time(i int) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, rs[i].Time)
	return t, err == nil
}

// joined is what a flow or an exception takes from a dataset's registration
// or an agreement it refers to.
type joined struct {
	actor, counterparty, dataset, category, legalBasis string
	classification                                     policy.Classification
	terms                                              *ledger.Terms
}

func joinedOf(r *ledger.Record) joined {
	return joined{actor: r.Actor, counterparty: r.Counterparty, dataset: r.Dataset, category: r.Category,
		legalBasis: r.LegalBasis, classification: r.Classification, terms: r.Terms}
}

// transfer is what the joins know of one transfer id: where its
// authorisation is and who wrote it, and which completion counts.
type transfer struct {
	auth      int // index of its transfer.authorized record, or -1
	authActor string
	// counted is the index of the transfer.completed record whose bytes
	// count, or -1; byProvider whether that record is the provider's.
	counted    int
	byProvider bool
}

// joins are the records a flow is spread over: a completion names its
// transfer; the authorisation names the agreement; the agreement the
// dataset; a participant's registration its region. The latest record of
// each id counts.
type joins struct {
	src        Source
	datasets   map[string]joined
	agreements map[string]joined
	regions    map[string]string // participant id → region
	// transfers index byTransfer: one map lookup per record finds all.
	transfers  []transfer
	byTransfer map[string]int
}

// newJoins reads src twice: the registrations, agreements and
// authorisations, then the completion counted per transfer.
func newJoins(src Source) *joins {
	auths := 0
	for i := range src.Len() {
		if src.Kind(i) == ledger.KindTransferAuthorized {
			auths++
		}
	}
	j := &joins{src: src, datasets: map[string]joined{}, agreements: map[string]joined{}, regions: map[string]string{},
		transfers: make([]transfer, 0, auths), byTransfer: make(map[string]int, auths)}
	var r ledger.Record
	for i := range src.Len() {
		switch src.Kind(i) {
		case ledger.KindDatasetRegistered, ledger.KindAgreementSigned, ledger.KindTransferAuthorized,
			ledger.KindParticipantRegistered, ledger.KindParticipantUpdated:
			src.Read(i, &r)
		default:
			continue
		}
		switch r.Kind {
		case ledger.KindDatasetRegistered:
			j.datasets[r.Dataset] = joinedOf(&r)
		case ledger.KindAgreementSigned:
			j.agreements[r.Agreement] = joinedOf(&r)
		case ledger.KindTransferAuthorized:
			t := j.transfer(r.Transfer)
			t.auth, t.authActor = i, r.Actor
		case ledger.KindParticipantRegistered, ledger.KindParticipantUpdated:
			if r.Participant != nil {
				j.regions[r.Participant.ID] = r.Participant.Region
			}
		}
	}
	// Both parties record a completion (the provider what it sent, the
	// consumer what it received), and the bytes moved once: the provider's
	// record counts, the consumer's when the provider's is missing.
	for i := range src.Len() {
		if src.Kind(i) != ledger.KindTransferCompleted {
			continue
		}
		src.Read(i, &r)
		t := j.transfer(r.Transfer)
		if bp := j.byProvider(&r, t); t.counted < 0 || bp && !t.byProvider {
			t.counted, t.byProvider = i, bp
		}
	}
	return j
}

// transfer is the joins' entry for a transfer id, added if new.
func (j *joins) transfer(id string) *transfer {
	k, ok := j.byTransfer[id]
	if !ok {
		k = len(j.transfers)
		j.byTransfer[id] = k
		j.transfers = append(j.transfers, transfer{auth: -1, counted: -1})
	}
	return &j.transfers[k]
}

// byProvider reports whether a completion of t is the provider's: the actor
// of the transfer's authorisation, or else the owner of its dataset.
func (j *joins) byProvider(r *ledger.Record, t *transfer) bool {
	if t.auth >= 0 {
		return r.Actor == t.authActor
	}
	if ds, ok := j.datasets[r.Dataset]; ok {
		return r.Actor == ds.actor
	}
	return true
}

// flowOf fills a flow's fields from the completion r of transfer t and, where
// it is silent, from the transfer's authorisation (read into auth), its
// agreement, its dataset and the parties' regions.
func (j *joins) flowOf(r *ledger.Record, t *transfer, auth *ledger.Record) Flow {
	f := Flow{Dataset: r.Dataset, Category: r.Category, Classification: r.Classification,
		FromRegion: r.FromRegion, ToRegion: r.ToRegion, LegalBasis: r.LegalBasis}
	provider, consumer := r.Actor, r.Counterparty
	if !t.byProvider {
		provider, consumer = r.Counterparty, r.Actor
	}
	if t.auth >= 0 {
		j.src.Read(t.auth, auth)
		provider, consumer = auth.Actor, auth.Counterparty
		fill(&f.Dataset, auth.Dataset)
		fill(&f.Category, auth.Category)
		fill(&f.FromRegion, auth.FromRegion)
		fill(&f.ToRegion, auth.ToRegion)
		fill(&f.LegalBasis, auth.LegalBasis)
		if f.Classification == "" {
			f.Classification = auth.Classification
		}
		if ag, ok := j.agreements[auth.Agreement]; ok {
			fill(&f.LegalBasis, ag.legalBasis)
			fill(&f.Dataset, ag.dataset)
		}
	}
	if ds, ok := j.datasets[f.Dataset]; ok {
		fill(&f.Category, ds.category)
		if f.Classification == "" {
			f.Classification = ds.classification
		}
		provider = ds.actor
	}
	if provider == consumer && r.Counterparty != "" {
		consumer = r.Counterparty
	}
	f.Provider, f.Consumer = provider, consumer
	if region, ok := j.regions[provider]; ok {
		fill(&f.FromRegion, region)
	}
	if region, ok := j.regions[consumer]; ok {
		fill(&f.ToRegion, region)
	}
	f.CrossBorder = f.FromRegion != "" && f.ToRegion != "" && policy.CrossBorder(f.FromRegion, f.ToRegion)
	return f
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// Window limits a report to records whose time lies in [Since, Until); zero
// times are open ends. Now is the time duties are judged overdue against.
type Window struct {
	Since, Until time.Time
	Now          time.Time
}

func (w Window) contains(t time.Time) bool {
	return (w.Since.IsZero() || !t.Before(w.Since)) && (w.Until.IsZero() || t.Before(w.Until))
}

// BuildReport computes the flow report over records (all of the ledger, in
// ledger order: joins need the registrations before the window too).
func BuildReport(recs []ledger.Record, w Window) Report {
	return BuildReportFrom(records(recs), w)
}

// filedObjection is an objection.filed record as the report lists it.
type filedObjection struct {
	objection             *ledger.Objection
	filer, dataset, filed string
}

// BuildReportFrom computes the flow report over src, going through it three
// times in order: the joins, the completion counted per transfer, the totals
// (reading only the records of the kinds each needs).
func BuildReportFrom(src Source, w Window) Report {
	ix := newJoins(src)
	rep := Report{}
	if !w.Since.IsZero() {
		rep.Since = w.Since.Format(time.RFC3339)
	}
	if !w.Until.IsZero() {
		rep.Until = w.Until.Format(time.RFC3339)
	}
	flows := map[Flow]*Flow{}
	levels := map[policy.Classification]*LevelTotal{}
	regions := map[[2]string]*RegionTotal{}
	denials := map[string]*DenialTotal{}
	computes := map[string]*ComputeTotal{}
	meters := map[[2]string]*ParticipantMeter{}
	revoked := map[string]bool{}
	fulfilled := map[[2]string]bool{}
	resolved := map[string]bool{}
	var filed []filedObjection
	var rec, auth ledger.Record
	r := &rec
	for i := range src.Len() {
		kind := src.Kind(i)
		t, ok := src.Time(i)
		inWindow := ok && w.contains(t)
		switch kind {
		case ledger.KindDutyFulfilled, ledger.KindObjectionResolved, ledger.KindObjectionFiled:
			src.Read(i, r)
		case ledger.KindTransferCompleted, ledger.KindNegotiationDenied, ledger.KindTransferDenied, ledger.KindAgreementRevoked,
			ledger.KindComputeExecuted:
			if inWindow {
				src.Read(i, r)
			}
		}
		switch kind {
		case ledger.KindDutyFulfilled:
			if r.Duty != nil {
				fulfilled[[2]string{r.Agreement, r.Duty.ID}] = true
			}
		case ledger.KindObjectionResolved:
			if r.Objection != nil {
				resolved[r.Objection.ID] = true
			}
		case ledger.KindObjectionFiled:
			filed = append(filed, filedObjection{objection: r.Objection, filer: r.Actor, dataset: r.Dataset, filed: src.TimeText(i)})
		}
		if !inWindow {
			continue
		}
		rep.Records++
		switch kind {
		case ledger.KindTransferCompleted:
			tr := &ix.transfers[ix.byTransfer[r.Transfer]]
			if tr.counted != i {
				continue // the other party's record of the same transfer
			}
			f := ix.flowOf(r, tr, &auth)
			key := f
			key.Transfers, key.Bytes = 0, 0
			agg := flows[key]
			if agg == nil {
				agg = new(Flow) // not &key: key would escape, one allocation per transfer
				*agg = key
				flows[key] = agg
			}
			agg.Transfers++
			agg.Bytes += r.Bytes
			lt := levels[f.Classification]
			if lt == nil {
				lt = &LevelTotal{Classification: f.Classification}
				levels[f.Classification] = lt
			}
			lt.Transfers++
			lt.Bytes += r.Bytes
			rk := [2]string{f.FromRegion, f.ToRegion}
			rt := regions[rk]
			if rt == nil {
				rt = &RegionTotal{FromRegion: f.FromRegion, ToRegion: f.ToRegion, CrossBorder: f.CrossBorder}
				regions[rk] = rt
			}
			rt.Transfers++
			rt.Bytes += r.Bytes
		case ledger.KindComputeExecuted:
			meterCompute(computes, meters, r)
			if r.Decision == ledger.DecisionDeny {
				countDenial(denials, r)
			}
		case ledger.KindNegotiationDenied, ledger.KindTransferDenied:
			countDenial(denials, r)
			if r.Rule == policy.RuleNegativeList {
				cat := r.Category
				if ds, ok := ix.datasets[r.Dataset]; ok && cat == "" {
					cat = ds.category
				}
				rep.NegativeListHits = append(rep.NegativeListHits, Denial{Record: r.ID, Kind: string(r.Kind), Time: src.TimeText(i),
					Provider: r.Actor, Consumer: r.Counterparty, Dataset: r.Dataset, Category: cat, Rule: r.Rule, Reason: r.Reason})
			}
		case ledger.KindAgreementRevoked:
			revoked[r.Agreement] = true
			rv := Revocation{Agreement: r.Agreement, Provider: r.Actor, Consumer: r.Counterparty, Time: src.TimeText(i), Reason: r.Reason}
			if ag, ok := ix.agreements[r.Agreement]; ok {
				rv.Provider, rv.Consumer = ag.actor, ag.counterparty
			}
			rep.Revoked = append(rep.Revoked, rv)
		}
	}
	now := w.Now
	if now.IsZero() {
		now = time.Now()
	}
	for id, ag := range ix.agreements {
		if ag.terms == nil || revoked[id] {
			continue
		}
		for _, d := range ag.terms.Duties {
			due, err := time.Parse(time.RFC3339Nano, d.Due)
			if d.Due == "" || err != nil || !due.Before(now) || fulfilled[[2]string{id, d.ID}] {
				continue
			}
			rep.DutiesOverdue = append(rep.DutiesOverdue, OverdueDuty{Agreement: id, Consumer: ag.counterparty,
				Provider: ag.actor, Duty: d.ID, Action: d.Action, Due: d.Due})
		}
	}
	for _, o := range filed {
		if o.objection == nil || resolved[o.objection.ID] {
			continue
		}
		rep.ObjectionsOpen = append(rep.ObjectionsOpen, OpenObjection{Objection: o.objection.ID, Filer: o.filer,
			Dataset: o.dataset, Subject: o.objection.Subject, Filed: o.filed})
	}
	for _, f := range flows {
		rep.Flows = append(rep.Flows, *f)
		if f.CrossBorder {
			rep.CrossBorder = append(rep.CrossBorder, *f)
		}
	}
	sortFlows(rep.Flows)
	sortFlows(rep.CrossBorder)
	for _, l := range levels {
		rep.ByClassification = append(rep.ByClassification, *l)
	}
	sort.Slice(rep.ByClassification, func(i, j int) bool {
		return rep.ByClassification[i].Classification.Rank() > rep.ByClassification[j].Classification.Rank()
	})
	for _, rt := range regions {
		rep.ByRegion = append(rep.ByRegion, *rt)
	}
	sort.Slice(rep.ByRegion, func(i, j int) bool {
		a, b := rep.ByRegion[i], rep.ByRegion[j]
		if a.FromRegion != b.FromRegion {
			return a.FromRegion < b.FromRegion
		}
		return a.ToRegion < b.ToRegion
	})
	for _, d := range denials {
		rep.Denials = append(rep.Denials, *d)
	}
	sort.Slice(rep.Denials, func(i, j int) bool {
		if rep.Denials[i].Count != rep.Denials[j].Count {
			return rep.Denials[i].Count > rep.Denials[j].Count
		}
		return rep.Denials[i].Rule < rep.Denials[j].Rule
	})
	sort.Slice(rep.DutiesOverdue, func(i, j int) bool { return rep.DutiesOverdue[i].Due < rep.DutiesOverdue[j].Due })
	for _, c := range computes {
		if ag, ok := ix.agreements[c.Agreement]; ok {
			fill(&c.Dataset, ag.dataset)
		}
		rep.Compute = append(rep.Compute, *c)
	}
	sort.Slice(rep.Compute, func(i, j int) bool { return rep.Compute[i].Agreement < rep.Compute[j].Agreement })
	for _, m := range meters {
		rep.ComputeByParticipant = append(rep.ComputeByParticipant, *m)
	}
	sort.Slice(rep.ComputeByParticipant, func(i, j int) bool {
		a, b := rep.ComputeByParticipant[i], rep.ComputeByParticipant[j]
		if a.Participant != b.Participant {
			return a.Participant < b.Participant
		}
		return a.Role < b.Role
	})
	return rep
}

// meterCompute adds a compute.executed record to the per-agreement and
// per-participant totals. The provider writes it and names the consumer.
func meterCompute(computes map[string]*ComputeTotal, meters map[[2]string]*ParticipantMeter, r *ledger.Record) {
	c := computes[r.Agreement]
	if c == nil {
		c = &ComputeTotal{Agreement: r.Agreement, Provider: r.Actor, Consumer: r.Counterparty, Dataset: r.Dataset}
		computes[r.Agreement] = c
	}
	var cpu, in int64
	if r.Compute != nil {
		cpu, in = r.Compute.CPUMillis, r.Compute.InputBytes
	}
	allowed := r.Decision == ledger.DecisionAllow
	add := func(runs, denied *int, cpuMs, out *int64) {
		if allowed {
			*runs++
		} else {
			*denied++
		}
		*cpuMs += cpu
		*out += r.Bytes
	}
	add(&c.Runs, &c.Denied, &c.CPUMillis, &c.BytesOut)
	c.BytesIn += in
	for _, who := range [][2]string{{r.Counterparty, "consumer"}, {r.Actor, "provider"}} {
		m := meters[who]
		if m == nil {
			m = &ParticipantMeter{Participant: who[0], Role: who[1]}
			meters[who] = m
		}
		add(&m.Runs, &m.Denied, &m.CPUMillis, &m.BytesOut)
	}
}

// countDenial adds a refusal to the denials by rule.
func countDenial(denials map[string]*DenialTotal, r *ledger.Record) {
	rule := r.Rule
	if rule == "" {
		rule = "unspecified"
	}
	d := denials[rule]
	if d == nil {
		d = &DenialTotal{Rule: rule}
		denials[rule] = d
	}
	d.Count++
	d.Example = r.Reason
}

func sortFlows(fs []Flow) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Consumer != b.Consumer {
			return a.Consumer < b.Consumer
		}
		return a.Dataset < b.Dataset
	})
}
