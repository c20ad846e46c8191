package dashboard

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/service"
	"github.com/tdsc/tdsc/ledger/verify"
)

// RulesView is the Rules and exceptions page's data.
type RulesView struct {
	Denials           []audit.DenialTotal   `json:"denials"`
	NegativeListHits  []audit.Denial        `json:"negativeListHits"`
	NegativeListTotal int                   `json:"negativeListTotal"`
	CrossBorder       []audit.Flow          `json:"crossBorder"`
	DutiesOverdue     []audit.OverdueDuty   `json:"dutiesOverdue"`
	ObjectionsOpen    []audit.OpenObjection `json:"objectionsOpen"`
	Revoked           []audit.Revocation    `json:"revoked"`
}

// maxListRows bounds each list of the rules page.
const maxListRows = 500

func (h *Handler) rules(w http.ResponseWriter, r *http.Request) {
	from, to, err := window(r.URL.Query())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	s, err := h.mirror.snapshot(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	rep := h.report(s, from, to)
	v := RulesView{Denials: []audit.DenialTotal{}, NegativeListHits: []audit.Denial{}, CrossBorder: []audit.Flow{},
		DutiesOverdue: []audit.OverdueDuty{}, ObjectionsOpen: []audit.OpenObjection{}, Revoked: []audit.Revocation{}}
	mine := func(a, b string) bool { return p.SeesAll() || ledger.PartyTo(p.ID, a, b) }
	if p.SeesAll() {
		v.Denials = append(v.Denials, rep.Denials...)
	} else {
		v.Denials = h.denialsOf(s, p, from, to)
	}
	for _, d := range rep.NegativeListHits {
		if mine(d.Provider, d.Consumer) {
			v.NegativeListTotal++
			if len(v.NegativeListHits) < maxListRows {
				v.NegativeListHits = append(v.NegativeListHits, d)
			}
		}
	}
	for _, f := range rep.CrossBorder {
		if mine(f.Provider, f.Consumer) && len(v.CrossBorder) < maxListRows {
			v.CrossBorder = append(v.CrossBorder, f)
		}
	}
	for _, d := range rep.DutiesOverdue {
		if mine(d.Provider, d.Consumer) && len(v.DutiesOverdue) < maxListRows {
			v.DutiesOverdue = append(v.DutiesOverdue, d)
		}
	}
	for _, o := range rep.ObjectionsOpen {
		if mine(o.Filer, "") && len(v.ObjectionsOpen) < maxListRows {
			v.ObjectionsOpen = append(v.ObjectionsOpen, o)
		}
	}
	for _, rv := range rep.Revoked {
		if mine(rv.Provider, rv.Consumer) && len(v.Revoked) < maxListRows {
			v.Revoked = append(v.Revoked, rv)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// denialsOf counts the refusals a participant is party to, by rule.
func (h *Handler) denialsOf(s snapshot, p Principal, from, to time.Time) []audit.DenialTotal {
	by := map[string]*audit.DenialTotal{}
	f := recordFilter{p: p, denied: true}
	if !from.IsZero() {
		f.from = from.UnixMilli()
	}
	if !to.IsZero() {
		f.to = to.UnixMilli()
	}
	rf := f.on(&s)
	for i := range s.rows {
		if !rf.match(i) {
			continue
		}
		a := &s.attrs[s.rows[i].attrs]
		rule := s.names[a.rule]
		if rule == "" {
			rule = "unspecified"
		}
		d := by[rule]
		if d == nil {
			d = &audit.DenialTotal{Rule: rule}
			by[rule] = d
		}
		d.Count++
		d.Example = s.names[a.reason]
	}
	out := []audit.DenialTotal{}
	for _, d := range by {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// HealthView is the Ledger health page's data.
type HealthView struct {
	Checkpoint struct {
		Origin    string  `json:"origin"`
		Size      uint64  `json:"size"`
		Root      string  `json:"root"`
		Signed    bool    `json:"signed"` // verified under the ledger's key
		FirstSeen string  `json:"firstSeen,omitempty"`
		AgeSec    float64 `json:"ageSeconds"`
	} `json:"checkpoint"`
	Batches      int    `json:"batches"`
	Participants int    `json:"participants"`
	FirstRecord  string `json:"firstRecord,omitempty"`
	LastRecord   string `json:"lastRecord,omitempty"`
	Rate         struct {
		// Observed is records per second appended while this server watched (over its last samples).
		Observed float64 `json:"observed"`
		// LastHour is the number of records stamped in the hour before now.
		LastHour int `json:"lastHour"`
		// PerHour is the average number of records per hour between the first
		// and the last record, over at least an hour.
		PerHour float64 `json:"perHour"`
	} `json:"rate"`
	Verification VerificationView `json:"verification"`
	// Service is what the ledger service's probes answer now.
	Service ServiceView `json:"service"`
}

// ServiceView is what the ledger service's probes answer now, asked as
// /healthz, /readyz and /readyz/writes ask them (service.Probes): on
// Fabric, whether the follower and the gateway's peer are well, whether
// the index has caught up with the channel, and whether enough endorsers
// can endorse for a transaction; a backend without such checks is always
// well.
type ServiceView struct {
	Healthy     ProbeView `json:"healthy"`
	Ready       ProbeView `json:"ready"`
	WritesReady ProbeView `json:"writesReady"`
}

// ProbeView is one probe's answer: OK, or why not.
type ProbeView struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// probe asks check (nil: always well) within service.HealthTimeout.
func probe(ctx context.Context, check func(context.Context) error) ProbeView {
	if check == nil {
		return ProbeView{OK: true}
	}
	ctx, cancel := context.WithTimeout(ctx, service.HealthTimeout)
	defer cancel()
	if err := check(ctx); err != nil {
		return ProbeView{Error: err.Error()}
	}
	return ProbeView{OK: true}
}

// VerificationView is the last full verification of the ledger.
type VerificationView struct {
	Available bool           `json:"available"`
	At        string         `json:"at,omitempty"`
	OK        bool           `json:"ok"`
	Report    *verify.Report `json:"report,omitempty"`
	Error     string         `json:"error,omitempty"`
	Duration  float64        `json:"durationSeconds,omitempty"`
}

type verifyState struct {
	mu   sync.Mutex // serialises runs and guards last
	last VerificationView
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	s, err := h.mirror.snapshot(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	now := h.now()
	var v HealthView
	v.Checkpoint.Origin, v.Checkpoint.Size, v.Checkpoint.Root = s.cp.Origin, s.cp.Size, hex.EncodeToString(s.cp.Root)
	v.Checkpoint.Signed = s.cp.Note != nil
	if !s.cp.FirstSeen.IsZero() {
		v.Checkpoint.FirstSeen = s.cp.FirstSeen.UTC().Format(time.RFC3339)
		v.Checkpoint.AgeSec = now.Sub(s.cp.FirstSeen).Seconds()
	}
	v.Batches, v.Participants = s.batches, len(s.participants)
	first, last := int64(0), int64(0)
	hourAgo := now.Add(-time.Hour).UnixMilli()
	for _, t := range s.times {
		if t == noTime {
			continue
		}
		if first == 0 || t < first {
			first = t
		}
		if t > last {
			last = t
		}
		if t >= hourAgo && t <= now.UnixMilli() {
			v.Rate.LastHour++
		}
	}
	if first != 0 {
		v.FirstRecord, v.LastRecord = time.UnixMilli(first).UTC().Format(time.RFC3339Nano), time.UnixMilli(last).UTC().Format(time.RFC3339Nano)
		// Over at least an hour: a ledger written within seconds (a demo's)
		// did not append a million records an hour.
		span := max(time.Duration(last-first)*time.Millisecond, time.Hour)
		v.Rate.PerHour = float64(len(s.rows)) / span.Hours()
	}
	if n := len(s.samples); n >= 2 {
		a, b := s.samples[0], s.samples[n-1]
		if d := b.At.Sub(a.At).Seconds(); d > 0 {
			v.Rate.Observed = float64(b.Size-a.Size) / d
		}
	}
	h.checks.mu.Lock()
	v.Verification = h.checks.last
	h.checks.mu.Unlock()
	v.Verification.Available = h.verifyFn != nil
	health, ready, writes := service.Probes(h.b)
	v.Service = ServiceView{Healthy: probe(r.Context(), health), Ready: probe(r.Context(), ready), WritesReady: probe(r.Context(), writes)}
	writeJSON(w, http.StatusOK, v)
}

// verifyTimeout bounds one full verification run.
const verifyTimeout = 5 * time.Minute

// runVerify re-verifies the whole ledger (signatures, rulebook replay, tree,
// checkpoints) and keeps the result for the health page. Auditors and regulators only.
func (h *Handler) runVerify(w http.ResponseWriter, r *http.Request) {
	if !principalFrom(r.Context()).SeesAll() {
		h.writeError(w, r, fmt.Errorf("%w: only auditors and regulators run a full verification", ErrForbidden))
		return
	}
	if h.verifyFn == nil {
		h.writeError(w, r, fmt.Errorf("%w: this server has no ledger verification configured", ErrBadRequest))
		return
	}
	h.checks.mu.Lock()
	defer h.checks.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), verifyTimeout)
	defer cancel()
	start := h.now()
	rep, err := h.verifyFn(ctx)
	v := VerificationView{Available: true, At: start.UTC().Format(time.RFC3339), OK: err == nil, Duration: time.Since(start).Seconds()}
	if err != nil {
		v.Error = err.Error()
	} else {
		v.Report = &rep
	}
	h.checks.last = v
	writeJSON(w, http.StatusOK, v)
}
