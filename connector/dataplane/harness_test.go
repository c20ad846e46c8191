package dataplane_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/identity"
)

// clock is a settable clock shared by issuer, verifier and proofs.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// agreement is the live state of one agreement as the connector would hold it.
type agreement struct {
	dataset             string
	notBefore, notAfter time.Time
	maxUses, uses       int
	revoked             bool
}

// liveAgreements is the test's LiveCheck: the connector's store is another
// room, so the rules it applies are modelled here from the agreement terms.
type liveAgreements struct {
	mu    sync.Mutex
	now   func() time.Time
	byAgr map[string]*agreement
}

func (l *liveAgreements) CheckTransfer(ctx context.Context, g dataplane.Grant) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.byAgr[g.Agreement]
	if !ok {
		return fmt.Errorf("%w: agreement %q", dataplane.ErrUnknownTransfer, g.Agreement)
	}
	now := l.now()
	switch {
	case a.revoked:
		return fmt.Errorf("%w: agreement %q", dataplane.ErrRevoked, g.Agreement)
	case g.Dataset != a.dataset:
		return fmt.Errorf("%w: agreement %q covers %q, token names %q", dataplane.ErrWrongDataset, g.Agreement, a.dataset, g.Dataset)
	case now.Before(a.notBefore) || now.After(a.notAfter):
		return fmt.Errorf("%w: agreement %q", dataplane.ErrOutsideWindow, g.Agreement)
	case a.maxUses > 0 && a.uses >= a.maxUses:
		return fmt.Errorf("%w: %d of %d", dataplane.ErrUseCountExceeded, a.uses, a.maxUses)
	}
	return nil
}

func (l *liveAgreements) set(id string, f func(a *agreement)) {
	l.mu.Lock()
	f(l.byAgr[id])
	l.mu.Unlock()
}

// records is the test's Recorder: what the connector would put in its outbox.
type records struct {
	mu        sync.Mutex
	completed []dataplane.TransferResult
	denied    []dataplane.DenialInfo
	changed   chan struct{}
}

func newRecords() *records { return &records{changed: make(chan struct{}, 1)} }

func (r *records) Completed(_ context.Context, t dataplane.TransferResult) error {
	r.mu.Lock()
	r.completed = append(r.completed, t)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

// waitCompleted waits until n completions are recorded: the provider records
// after its last write, which may be after the client has read every byte.
func (r *records) waitCompleted(t *testing.T, n int) []dataplane.TransferResult {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		c, _ := r.snapshot()
		if len(c) >= n {
			return c
		}
		select {
		case <-r.changed:
		case <-timeout:
			t.Fatalf("%d completions recorded after 5 s, want %d", len(c), n)
		}
	}
}

func (r *records) Denied(_ context.Context, d dataplane.DenialInfo) error {
	r.mu.Lock()
	r.denied = append(r.denied, d)
	r.mu.Unlock()
	return nil
}

func (r *records) snapshot() ([]dataplane.TransferResult, []dataplane.DenialInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dataplane.TransferResult(nil), r.completed...), append([]dataplane.DenialInfo(nil), r.denied...)
}

const (
	providerID = "provider-a"
	consumerID = "consumer-b"
	thiefID    = "thief-c"
	audience   = "provider-a/data"
)

// env is a provider's data plane on httptest with a real identity space.
type env struct {
	t        testing.TB
	clock    *clock
	provider *identity.Issuer
	consumer *identity.Key
	thief    *identity.Key
	src      *identity.MemorySource
	live     *liveAgreements
	rec      *records
	datasets dataplane.DatasetMap
	srv      *httptest.Server
	server   *dataplane.Server
	file     string
	hash     string
	tls      bool // serve over TLS (set by an option)
}

func newKey(t testing.TB, gen func() (*identity.Key, error)) *identity.Key {
	t.Helper()
	k, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeRandom makes a file of n random bytes and returns its path and hex SHA-256.
func writeRandom(t testing.TB, dir string, n int) (string, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type envOption func(*dataplane.Config, *env)

func newEnv(t *testing.T, size int, opts ...envOption) *env { return newEnvB(t, size, opts...) }

func newEnvB(t testing.TB, size int, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().Truncate(time.Second)}, rec: newRecords()}
	provKey := newKey(t, identity.GenerateEd25519)
	e.consumer = newKey(t, identity.GenerateES256)
	e.thief = newKey(t, identity.GenerateEd25519)
	e.src = identity.NewMemorySource(
		identity.Participant{ID: providerID, Keys: []identity.JWK{provKey.JWK()}, Region: "CN-BJ", Status: identity.StatusActive},
		identity.Participant{ID: consumerID, Keys: []identity.JWK{e.consumer.JWK()}, Region: "CN-SH", Status: identity.StatusActive},
		identity.Participant{ID: thiefID, Keys: []identity.JWK{e.thief.JWK()}, Region: "CN-SH", Status: identity.StatusActive},
	)
	var err error
	if e.provider, err = identity.NewIssuer(providerID, provKey, identity.WithIssuerClock(e.clock.Now)); err != nil {
		t.Fatal(err)
	}
	reg := identity.NewRegistry(e.src, identity.WithRegistryClock(e.clock.Now))
	ver, err := identity.NewVerifier(reg, identity.WithClock(e.clock.Now), identity.WithSelf(providerID))
	if err != nil {
		t.Fatal(err)
	}
	e.file, e.hash = writeRandom(t, t.TempDir(), size)
	e.datasets = dataplane.DatasetMap{
		"ds-1": {ID: "ds-1", Source: dataplane.FileSource{Path: e.file}, ContentHash: "sha256:" + e.hash},
		"ds-2": {ID: "ds-2", Source: dataplane.FileSource{Path: e.file}},
	}
	e.live = &liveAgreements{now: e.clock.Now, byAgr: map[string]*agreement{
		"agr-1": {dataset: "ds-1", notBefore: e.clock.Now().Add(-time.Hour), notAfter: e.clock.Now().Add(24 * time.Hour)},
	}}
	cfg := dataplane.DefaultConfig()
	cfg.Audience = audience
	cfg.Now = e.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	for _, o := range opts {
		o(&cfg, e)
	}
	s, err := dataplane.NewServer(cfg, dataplane.IdentityVerifier{V: ver}, e.live, e.datasets, e.rec)
	if err != nil {
		t.Fatal(err)
	}
	e.server = s
	if e.tls {
		e.srv = httptest.NewTLSServer(s.Handler())
	} else {
		e.srv = httptest.NewServer(s.Handler())
	}
	t.Cleanup(e.srv.Close)
	return e
}

// token issues an access token for transfer t1 of ds-1 under agr-1, bound to
// the consumer's key, unless changed by mod.
func (e *env) token(mod func(g *identity.AccessGrant)) string {
	e.t.Helper()
	g := identity.AccessGrant{Consumer: consumerID, Audience: audience, Agreement: "agr-1", Dataset: "ds-1",
		Transfer: "t1", ConsumerKeyThumbprint: e.consumer.KeyID()}
	if mod != nil {
		mod(&g)
	}
	tok, err := e.provider.AccessToken(g)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// proof signs DPoP proofs with key at the env's clock.
func (e *env) proof(key *identity.Key, tok string) dataplane.ProofFunc {
	return func(method, url string) (string, error) {
		return identity.DPoPProofAt(key, method, url, tok, e.clock.Now())
	}
}

func (e *env) url(transfer string) string { return dataplane.DataURL(e.srv.URL, transfer, "") }
