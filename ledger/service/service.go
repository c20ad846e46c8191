package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
	"github.com/tdsc/tdsc/policy"
)

// Backend is what the service needs of a ledger.
type Backend interface {
	Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error)
	Record(ctx context.Context, id string) (ledger.Proven, error)
	Query(ctx context.Context, q ledger.Query) (ledger.Page, error)
	Checkpoint(ctx context.Context) ([]byte, error)
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
	Participant(ctx context.Context, id string) (identity.Participant, error)
	ParticipantByDID(ctx context.Context, did string) (identity.Participant, error)
	Rules(ctx context.Context) (policy.SpaceRules, error)
	Genesis() ledger.Genesis
	VerifierKey() string
	Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error
	CheckpointPage(ctx context.Context, q ledger.CheckpointQuery) (ledger.CheckpointPage, error)
}

// Principal is the verified reader of a request (identity.Principal: for
// identity.RoleParticipant, ID is whose records it may read).
type Principal = identity.Principal

// ReadAuthorizer verifies the request's role token. It returns an error for a
// missing or bad token; the service answers 401 and reads nothing.
type ReadAuthorizer func(r *http.Request) (Principal, error)

// ErrUnauthorized and ErrForbidden are api.ErrUnauthorized and
// api.ErrForbidden, named here for the service's callers.
var (
	ErrUnauthorized = api.ErrUnauthorized
	ErrForbidden    = api.ErrForbidden
)

// HealthChecker is a backend that can be unwell while the process runs
// (the Fabric backend: its follower, its gateway's peer). /healthz answers
// 503 with Health's error, and 200 "ok" when it returns nil; a backend
// without it is well while it serves.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// ReadinessChecker is a backend that can be well but not ready to serve
// reads yet (the Fabric backend catching up with the channel). /readyz
// answers 503 with Ready's error; a backend without it is ready when it is
// well (/healthz).
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}

// WritesReadinessChecker is a backend that can be ready to serve reads
// but not to write (the Fabric backend while fewer of its endorsers can
// endorse than a transaction asks). /readyz/writes answers 503 with
// WritesReady's error, so a load balancer can send appends to another
// service while this one serves reads; a backend without it is ready to
// write when it is ready (/readyz).
type WritesReadinessChecker interface {
	WritesReady(ctx context.Context) error
}

// HealthTimeout bounds a HealthChecker's, ReadinessChecker's or
// WritesReadinessChecker's check on /healthz, /readyz and /readyz/writes.
const HealthTimeout = 5 * time.Second

// Config configures the handler.
type Config struct {
	Backend   Backend
	Authorize ReadAuthorizer
	Logger    *slog.Logger
	// Registerer receives the service's metrics (default: a new registry,
	// served on /metrics).
	Registry *prometheus.Registry
}

// Validate checks the config and fills defaults. There is no open-by-default
// read path: Authorize is required.
func (c *Config) Validate() error {
	if c.Backend == nil {
		return errors.New("ledger service: config: Backend is required")
	}
	if c.Authorize == nil {
		return errors.New("ledger service: config: Authorize is required (reads need a role token)")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return nil
}

type handler struct {
	cfg     Config
	batches *prometheus.CounterVec
	records prometheus.Counter
	latency *prometheus.HistogramVec
}

// New returns the API handler, rooted at /ledger/v1/ plus /healthz, /readyz,
// /readyz/writes and /metrics.
func New(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg,
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tdsc_ledger_batches_total", Help: "Batches appended, by result."}, []string{"result"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "tdsc_ledger_records_appended_total", Help: "Records committed."}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tdsc_ledger_http_request_seconds", Help: "HTTP request latency.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route", "code"}),
	}
	cfg.Registry.MustRegister(h.batches, h.records, h.latency)
	if sz, ok := cfg.Backend.(interface{ Size() uint64 }); ok {
		cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tdsc_ledger_tree_size", Help: "Records committed (tree size of the latest checkpoint)."},
			func() float64 { return float64(sz.Size()) }))
	}
	mux := http.NewServeMux()
	route := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			code := http.StatusOK
			if err := fn(w, r); err != nil {
				code = h.writeError(w, r, err)
			}
			h.latency.WithLabelValues(pattern, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		})
	}
	route("POST /ledger/v1/batches", h.append)
	route("GET /ledger/v1/batches", h.listBatches)
	route("GET /ledger/v1/records/{id}", h.record)
	route("GET /ledger/v1/records", h.query)
	route("GET /ledger/v1/checkpoint", h.checkpoint)
	route("GET /ledger/v1/checkpoints", h.checkpoints)
	route("GET /ledger/v1/checkpoint/key", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := io.WriteString(w, cfg.Backend.VerifierKey()+"\n")
		return err
	})
	route("GET /ledger/v1/proof/consistency", h.consistency)
	route("GET /ledger/v1/participants/{id}", h.participant)
	route("GET /ledger/v1/directory/changes", h.directoryChanges)
	route("GET /ledger/v1/participants", h.participantByDID)
	route("GET /ledger/v1/datasets/{id}", h.dataset)
	route("GET /ledger/v1/participants/{id}/jwks", h.jwks)
	route("GET /ledger/v1/rules", func(w http.ResponseWriter, r *http.Request) error {
		rules, err := cfg.Backend.Rules(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, rules)
	})
	route("GET /ledger/v1/genesis", func(w http.ResponseWriter, r *http.Request) error { return writeJSON(w, cfg.Backend.Genesis()) })
	probe := func(pattern, unwell string, check func(ctx context.Context) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if check != nil {
				ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
				defer cancel()
				if err := check(ctx); err != nil {
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, unwell+": "+err.Error()+"\n")
					return
				}
			}
			io.WriteString(w, "ok\n")
		})
	}
	health, ready, writes := Probes(cfg.Backend)
	probe("GET /healthz", "unhealthy", health)
	probe("GET /readyz", "not ready", ready)
	probe("GET /readyz/writes", "not ready for writes", writes)
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	return mux, nil
}

// Probes returns the checks of /healthz, /readyz and /readyz/writes for
// backend b: its HealthChecker's, ReadinessChecker's and
// WritesReadinessChecker's, each falling back to the one before (ready to
// write when ready, ready when well); nil where b has none (always well).
// The dashboard's Ledger health page shows the same.
func Probes(b any) (health, ready, writes func(ctx context.Context) error) {
	if hc, ok := b.(HealthChecker); ok {
		health, ready = hc.Health, hc.Health
	}
	if rc, ok := b.(ReadinessChecker); ok {
		ready = rc.Ready
	}
	writes = ready
	if wc, ok := b.(WritesReadinessChecker); ok {
		writes = wc.WritesReady
	}
	return health, ready, writes
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

func (h *handler) append(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ledger.MaxBatchBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &ledger.MalformedError{Rule: ledger.RuleSize, Field: "batch", Reason: fmt.Sprintf("body exceeds the limit of %d bytes", ledger.MaxBatchBytes)}
		}
		return &ledger.MalformedError{Rule: ledger.RuleJSON, Field: "batch", Reason: "reading body: " + err.Error()}
	}
	b, err := ledger.DecodeBatch(body)
	if err != nil {
		h.batches.WithLabelValues("malformed").Inc()
		return err
	}
	rc, err := h.cfg.Backend.Append(r.Context(), b)
	if err != nil {
		h.batches.WithLabelValues(api.Kind(err)).Inc()
		return err
	}
	h.batches.WithLabelValues("ok").Inc()
	h.records.Add(float64(len(b.Records)))
	return writeJSON(w, rc)
}

// reader authorizes a read and returns the principal.
func (h *handler) reader(r *http.Request) (Principal, error) {
	p, err := h.cfg.Authorize(r)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if err := p.Validate(); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return p, nil
}

func (h *handler) record(w http.ResponseWriter, r *http.Request) error {
	p, err := h.reader(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	pr, err := h.cfg.Backend.Record(r.Context(), id)
	if err != nil {
		return err
	}
	if !ledger.Visible(p, &pr.Record) {
		// Not found rather than forbidden: a participant does not learn what others recorded.
		return fmt.Errorf("%w: record %s", ledger.ErrNotFound, id)
	}
	return writeJSON(w, pr)
}

// QueryFromURL reads a ledger.Query from URL parameters.
func QueryFromURL(r *http.Request) (ledger.Query, error) {
	v := r.URL.Query()
	q := ledger.Query{Participant: v.Get("participant"), Dataset: v.Get("dataset"), Agreement: v.Get("agreement"),
		Transfer: v.Get("transfer"), Kind: ledger.Kind(v.Get("kind")), Classification: policy.Classification(v.Get("classification")),
		Region: v.Get("region"), From: v.Get("from"), To: v.Get("to"), Cursor: v.Get("cursor")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return q, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "limit", Reason: "must be a non-negative integer"}
		}
		q.Limit = n
	}
	return q, nil
}

func (h *handler) query(w http.ResponseWriter, r *http.Request) error {
	p, err := h.reader(r)
	if err != nil {
		return err
	}
	q, err := QueryFromURL(r)
	if err != nil {
		return err
	}
	if !p.SeesAll() {
		// A participant's query is narrowed to what ledger.Visible lets it see.
		if q.Participant != "" && q.Participant != p.ID {
			return fmt.Errorf("%w: participant %s may query only its own records", ErrForbidden, p.ID)
		}
		q.Participant = p.ID
	}
	page, err := h.cfg.Backend.Query(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, page)
}

func (h *handler) listBatches(w http.ResponseWriter, r *http.Request) error {
	p, err := h.reader(r)
	if err != nil {
		return err
	}
	if !p.SeesAll() {
		return fmt.Errorf("%w: whole batches are for auditors and regulators", ErrForbidden)
	}
	from, err := uintParam(r, "from", 0)
	if err != nil {
		return err
	}
	limit, err := uintParam(r, "limit", 64)
	if err != nil {
		return err
	}
	limit = min(max(limit, 1), 256)
	page := api.BatchPage{Batches: []*ledger.StoredBatch{}}
	errStop := errors.New("page full")
	err = h.cfg.Backend.Batches(r.Context(), from, func(sb *ledger.StoredBatch) error {
		if uint64(len(page.Batches)) == limit {
			page.Next = sb.FirstIndex
			return errStop
		}
		cp := *sb
		cp.Records = append(cp.Records[:0:0], sb.Records...)
		for i := range cp.Records {
			cp.Records[i] = append(json.RawMessage(nil), sb.Records[i]...)
		}
		cp.Leaves = make([][]byte, len(sb.Leaves))
		for i := range sb.Leaves {
			cp.Leaves[i] = append([]byte(nil), sb.Leaves[i]...)
		}
		page.Batches = append(page.Batches, &cp)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return writeJSON(w, page)
}

// CheckpointQueryFromURL reads a ledger.CheckpointQuery from URL parameters:
// from (the smallest tree size to list) and limit (the page size, 1 to
// ledger.MaxCheckpointPageSize; absent or 0 is ledger.DefaultCheckpointPageSize).
func CheckpointQueryFromURL(r *http.Request) (ledger.CheckpointQuery, error) {
	from, err := uintParam(r, "from", 0)
	if err != nil {
		return ledger.CheckpointQuery{}, err
	}
	limit, err := uintParam(r, "limit", 0)
	if err != nil {
		return ledger.CheckpointQuery{}, err
	}
	if limit > ledger.MaxCheckpointPageSize {
		return ledger.CheckpointQuery{}, &ledger.MalformedError{Rule: ledger.RuleSize, Field: "limit",
			Reason: fmt.Sprintf("must be at most %d checkpoints a page, got %d", ledger.MaxCheckpointPageSize, limit)}
	}
	q := ledger.CheckpointQuery{From: from, Limit: int(limit)}
	return q, q.Normalize()
}

// checkpoints serves one page of stored checkpoints; the page's next is the
// from of the following page, absent on the last one.
func (h *handler) checkpoints(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.reader(r); err != nil {
		return err
	}
	q, err := CheckpointQueryFromURL(r)
	if err != nil {
		return err
	}
	page, err := h.cfg.Backend.CheckpointPage(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, page)
}

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := h.cfg.Backend.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write(cp)
	return err
}

func uintParam(r *http.Request, name string, def uint64) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, &ledger.MalformedError{Rule: ledger.RuleFormat, Field: name, Reason: "must be a non-negative integer"}
	}
	return n, nil
}

func (h *handler) consistency(w http.ResponseWriter, r *http.Request) error {
	from, err := uintParam(r, "from", 0)
	if err != nil {
		return err
	}
	to, err := uintParam(r, "to", 0)
	if err != nil {
		return err
	}
	pr, err := h.cfg.Backend.ConsistencyProof(r.Context(), from, to)
	if err != nil {
		return err
	}
	if pr == nil {
		pr = [][]byte{}
	}
	return writeJSON(w, api.ConsistencyResponse{From: from, To: to, Proof: pr})
}

func (h *handler) participant(w http.ResponseWriter, r *http.Request) error {
	p, err := h.cfg.Backend.Participant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, p)
}

// participantByDID is the participant registered with the DID of ?did=
// (public, like the directory): an Issuer Service finds a credential
// request's holder by it.
func (h *handler) participantByDID(w http.ResponseWriter, r *http.Request) error {
	did := r.URL.Query().Get("did")
	if !strings.HasPrefix(did, "did:") {
		return &ledger.MalformedError{Rule: ledger.RuleFormat, Field: "did", Reason: "required: a DID (did:<method>:…)"}
	}
	p, err := h.cfg.Backend.ParticipantByDID(r.Context(), did)
	if err != nil {
		return err
	}
	return writeJSON(w, p)
}

// directoryChanges lists the participants whose directory entries changed
// (ledger.ReadDirectoryChanges) from record index since on. Like the
// directory itself it needs no role token: it names participants and record
// indexes, nothing of the records, which stay visible only to their readers.
// A connector drops its cached entries of the participants named, so a
// suspension or a removed key takes effect on every connector within its
// poll, not its cache's TTL.
func (h *handler) directoryChanges(w http.ResponseWriter, r *http.Request) error {
	since, err := uintParam(r, "since", 0)
	if err != nil {
		return err
	}
	limit, err := uintParam(r, "limit", 0)
	if err != nil {
		return err
	}
	ch, err := ledger.ReadDirectoryChanges(r.Context(), h.cfg.Backend, since, int(min(limit, ledger.MaxPageSize)))
	if err != nil {
		return err
	}
	return writeJSON(w, ch)
}

// dataset is the public catalogue entry of a dataset: its dataset.registered
// record (no role token; it carries no flow data).
func (h *handler) dataset(w http.ResponseWriter, r *http.Request) error {
	e, err := ledger.RegisteredDataset(r.Context(), h.cfg.Backend, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, e)
}

func (h *handler) jwks(w http.ResponseWriter, r *http.Request) error {
	p, err := h.cfg.Backend.Participant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	keys := p.Keys
	if keys == nil {
		keys = []identity.JWK{}
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	return json.NewEncoder(w).Encode(struct {
		Keys []identity.JWK `json:"keys"`
	}{keys})
}

// status is the one place mapping error kinds to HTTP status codes.
var status = map[string]int{
	api.KindMalformed:     http.StatusBadRequest,
	api.KindRefused:       http.StatusUnprocessableEntity,
	api.KindUnknownWriter: http.StatusForbidden,
	api.KindBadSignature:  http.StatusUnauthorized,
	api.KindNotFound:      http.StatusNotFound,
	api.KindGenesis:       http.StatusConflict,
	api.KindUnauthorized:  http.StatusUnauthorized,
	api.KindForbidden:     http.StatusForbidden,
	api.KindUnavailable:   http.StatusServiceUnavailable,
	api.KindInternal:      http.StatusInternalServerError,
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	body := api.FromError(err)
	if errors.Is(err, context.Canceled) || body.Kind == api.KindInternal {
		h.cfg.Logger.ErrorContext(r.Context(), "ledger request failed", "path", r.URL.Path, "err", err)
		body = &api.Error{Kind: api.KindInternal, Reason: "internal error"}
	}
	st := status[body.Kind]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(body)
	return st
}

// Server wraps the handler in an http.Server with timeouts.
func Server(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
}
