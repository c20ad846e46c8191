package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// ledgerAppender is what the node needs of the ledger to write: append one
// signed batch. A repeated batch returns the same receipt.
type ledgerAppender interface {
	Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error)
}

// rulesSource yields the space's current rules (the last rules.updated).
type rulesSource interface {
	Rules(ctx context.Context) (policy.SpaceRules, error)
}

// Node is one connector: DSP endpoint, management API, data plane mount,
// store, and ledger writer.
type Node struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	newID    func() string
	key      *identity.Key
	cs       *suite.Suite // the space's crypto suite: its key's (SM2 keys live only in gm spaces)
	issuer   *identity.Issuer
	verifier *identity.Verifier
	registry *identity.Registry
	rules    rulesSource
	st       *store.Store
	lw       *ledgerWriter
	tasks    *taskRunner
	peers    *peerClient
	opToken  string
	data     http.Handler
	dp       *dataplane.Server // hashes file sources at registration, even under WithDataPlane
	// pushClient carries this node's pushes to consumers (TLS as configured).
	pushClient *http.Client
	// datasets reads dataset.registered from the ledger (nil: not configured).
	datasets interface {
		RegisteredDataset(ctx context.Context, id string) (ledger.Entry, error)
	}
	push    http.Handler
	handler http.Handler

	compiled sync.Map // offer id -> *policy.Compiled
	watch    watchers
	metrics  *metrics
	promReg  prometheus.Registerer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
	// compute is the sandbox computations run in, started on first use.
	compute computeRoom
	// dcp is the node's DCP side (WithDCP); nil speaks tdsc tokens only.
	dcp *dcp.Node
}

type options struct {
	key        *identity.Key
	ledger     ledgerAppender
	source     identity.Source
	registry   *identity.Registry
	rules      rulesSource
	now        func() time.Time
	newID      func() string
	log        *slog.Logger
	httpClient *http.Client
	datasets   interface {
		RegisteredDataset(ctx context.Context, id string) (ledger.Entry, error)
	}
	opToken  string
	data     http.Handler
	verifier []identity.VerifierOption
	metrics  prometheus.Registerer
	dcp      *dcp.Node
}

// Option configures New.
type Option func(*options)

// WithKey sets the participant's signing key (else Config.KeyFile is loaded).
func WithKey(k *identity.Key) Option { return func(o *options) { o.key = k } }

// WithLedger sets the ledger the node writes to (required): the embedded
// store, or the ledger service's client.
func WithLedger(l interface {
	Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error)
}) Option {
	return func(o *options) { o.ledger = l }
}

// WithParticipants sets where participants' keys and attributes come from
// (required unless WithRegistry): the ledger's registered participants.
func WithParticipants(src identity.Source) Option { return func(o *options) { o.source = src } }

// WithRegistry sets a shared participant registry (instead of WithParticipants).
// Its owner drops changed participants from it (ledger.FollowDirectory); a
// node drops them from the registry it builds from WithParticipants.
func WithRegistry(r *identity.Registry) Option { return func(o *options) { o.registry = r } }

// WithRules sets where the space's rules come from; without it the node
// applies no space rules of its own (the ledger's rulebook still does).
func WithRules(r interface {
	Rules(ctx context.Context) (policy.SpaceRules, error)
}) Option {
	return func(o *options) { o.rules = r }
}

// WithRegisteredDatasets sets where the consumer reads the content hash a
// provider registered for a dataset (dataset.registered on the ledger: the
// embedded store or the ledger service's client): received bytes are checked
// against it rather than against the hash the provider names at transfer
// time. Without it, the provider's stated hash is the reference.
func WithRegisteredDatasets(r interface {
	RegisteredDataset(ctx context.Context, id string) (ledger.Entry, error)
}) Option {
	return func(o *options) { o.datasets = r }
}

// WithClock injects the clock.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithIDs injects the generator of process, agreement and record ids.
func WithIDs(f func() string) Option { return func(o *options) { o.newID = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithHTTPClient sets the client used for DSP calls to peers.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithOperatorToken sets the management API's bearer token (else it is read
// from Config.OperatorTokenFile or TDSC_OPERATOR_TOKEN).
func WithOperatorToken(t string) Option { return func(o *options) { o.opToken = t } }

// WithDataPlane mounts h under /data/ instead of the node's own pull data
// plane (connector/dataplane over the node's store and outbox).
func WithDataPlane(h http.Handler) Option { return func(o *options) { o.data = h } }

// WithVerifierOptions passes options to the protocol token verifier (e.g. a clock).
func WithVerifierOptions(vo ...identity.VerifierOption) Option {
	return func(o *options) { o.verifier = append(o.verifier, vo...) }
}

// hashAlg is the content-hash algorithm of the node's suite: "sha256" or "sm3".
func (n *Node) hashAlg() string { return n.cs.HashName() }

// NewUUID returns a random RFC 4122 version 4 URN, "urn:uuid:…".
func NewUUID() string { return uuid.New().URN() }

// NewUUIDv7 returns a time-ordered RFC 9562 version 7 URN, "urn:uuid:…":
// 48 bits of Unix milliseconds from now (the node's clock, so a fake clock
// in tests orders ids too), then google/uuid's version-7 random bits. A
// node's ids default to these: rows made close in time sit together in the
// store's indexes, so a commit of several negotiations' steps touches a few
// index pages rather than one per row.
func NewUUIDv7(now time.Time) string {
	u, err := uuid.NewV7()
	if err != nil {
		panic(err) // crypto/rand failed: nothing sensible can continue
	}
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	return u.URN()
}

// New opens the node's store, resumes pending steps and starts the ledger
// writer. Close stops it.
func New(ctx context.Context, cfg Config, opts ...Option) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{now: time.Now, log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	if o.newID == nil {
		now := o.now
		o.newID = func() string { return NewUUIDv7(now()) }
	}
	if o.ledger == nil {
		return nil, errors.New("connector: no ledger: pass WithLedger (the embedded store or the ledger client)")
	}
	if o.registry == nil {
		if o.source == nil {
			return nil, errors.New("connector: no participant registry: pass WithParticipants or WithRegistry")
		}
		o.registry = identity.NewRegistry(o.source, identity.WithRegistryClock(o.now),
			identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	}
	if o.key == nil {
		if cfg.KeyFile == "" {
			return nil, errors.New("connector: no key: set keyFile or pass WithKey")
		}
		k, err := identity.LoadKey(cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		o.key = k
	}
	if o.opToken == "" {
		t, err := operatorToken(cfg)
		if err != nil {
			return nil, err
		}
		o.opToken = t
	}
	clientTLS, err := cfg.ClientTLS()
	if err != nil {
		return nil, err
	}
	if o.httpClient == nil {
		// No redirects: a peer (or a callbackAddress) must not bounce the
		// node's calls to another address (see checkCallback).
		o.httpClient = &http.Client{Timeout: cfg.PeerTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, TLSClientConfig: clientTLS,
		}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	// Pushes stream whole datasets: no overall timeout, only one for the
	// consumer's answer once the body is sent.
	pushClient := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second,
		WriteBufferSize: 256 << 10, TLSClientConfig: clientTLS}}
	if o.dcp == nil && cfg.DID != "" {
		if o.dcp, err = newDCP(cfg, o.key, o.httpClient); err != nil {
			return nil, err
		}
	}
	issuer, err := identity.NewIssuer(cfg.ParticipantID, o.key, identity.WithIssuerClock(o.now))
	if err != nil {
		return nil, err
	}
	cs := o.key.JWK().Suite()
	vopts := append([]identity.VerifierOption{identity.WithSelf(cfg.ParticipantID), identity.WithClock(o.now), identity.WithSuite(cs)}, o.verifier...)
	verifier, err := identity.NewVerifier(o.registry, vopts...)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("connector: dataDir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "connector.db")
	if cfg.DatabaseURL != "" {
		dbPath = cfg.DatabaseURL
	}
	st, err := store.Open(ctx, dbPath, store.WithClock(o.now))
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: o.log.With("participant", cfg.ParticipantID), now: o.now, newID: o.newID, key: o.key, cs: cs,
		issuer: issuer, verifier: verifier, registry: o.registry, rules: o.rules, st: st, opToken: o.opToken, data: o.data, promReg: o.metrics,
		dcp: o.dcp}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.lw = newLedgerWriter(writerDeps{st: st, space: cfg.Space, participant: cfg.ParticipantID, key: o.key, now: o.now,
		batch: cfg.OutboxBatch, retryMin: cfg.RetryMin, retryMax: cfg.RetryMax, log: n.log}, o.ledger)
	n.peers = &peerClient{n: n, hc: o.httpClient}
	n.pushClient = pushClient
	n.datasets = o.datasets
	n.tasks = newTaskRunner(runnerDeps{st: st, life: n.ctx, workers: cfg.Workers, maxAttempts: cfg.MaxAttempts,
		retryMin: cfg.RetryMin, retryMax: cfg.RetryMax, log: n.log})
	n.registerTasks(n.tasks)
	if o.metrics != nil {
		if err := n.registerMetrics(o.metrics); err != nil {
			st.Close()
			return nil, fmt.Errorf("connector: metrics: %w", err)
		}
	}
	dp, err := n.newDataPlane()
	if err != nil {
		st.Close()
		return nil, err
	}
	n.dp = dp
	if n.data == nil {
		n.data = dp.Handler()
	}
	rv, err := n.newReceiver()
	if err != nil {
		st.Close()
		return nil, err
	}
	n.push = rv.Handler()
	n.handler = n.routes()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.lw.run(n.ctx) }()
	if f, ok := o.source.(directoryFeed); ok {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ledger.FollowDirectory(n.ctx, f.DirectoryChanges, cfg.DirectoryPoll, n.registry.Invalidate, n.log)
		}()
	}
	if n.dcp != nil && cfg.CredentialIssuer != "" {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.keepCredential() }()
	}
	n.tasks.start(n.ctx, &n.wg)
	if err := n.tasks.resume(ctx); err != nil {
		n.Close(ctx)
		return nil, err
	}
	return n, nil
}

func operatorToken(cfg Config) (string, error) {
	if t := os.Getenv("TDSC_OPERATOR_TOKEN"); t != "" {
		return t, nil
	}
	if cfg.OperatorTokenFile == "" {
		return "", errors.New("connector: no operator token: set operatorTokenFile or TDSC_OPERATOR_TOKEN (or pass WithOperatorToken)")
	}
	b, err := os.ReadFile(cfg.OperatorTokenFile)
	if err != nil {
		return "", fmt.Errorf("connector: operatorTokenFile: %w", err)
	}
	t := string(trimSpace(b))
	if len(t) < 16 {
		return "", fmt.Errorf("connector: operatorTokenFile %s: token must be at least 16 characters", cfg.OperatorTokenFile)
	}
	return t, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// ID is the node's participant id.
func (n *Node) ID() string { return n.cfg.ParticipantID }

// PublicURL is the base URL of the node's DSP endpoint.
func (n *Node) PublicURL() string { return n.cfg.PublicURL }

// Handler serves DSP at the root, the management API under /api/v1/, the
// data plane under /data/ (if mounted), and /healthz.
func (n *Node) Handler() http.Handler { return n.handler }

// Close stops the queues and the ledger writer and closes the store.
// Pending steps and outbox records stay in the store and resume on the next New.
func (n *Node) Close(ctx context.Context) error {
	var err error
	n.closed.Do(func() {
		n.cancel()
		done := make(chan struct{})
		go func() { n.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if cerr := n.st.Close(); err == nil {
			err = cerr
		}
		if n.compute.runner != nil {
			if cerr := n.compute.runner.Close(ctx); err == nil {
				err = cerr
			}
		}
	})
	return err
}
