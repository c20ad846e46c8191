// Package ledgerhttp assembles what a ledger serves over HTTP — the ledger API
// under /ledger/v1/ and the auditors' and regulators' dashboard under /ui/ —
// both behind role tokens verified against the participants and the authority
// registered on that ledger, for either backend: the embedded store or the
// tdsc chaincode on Fabric. `tdsc ledger serve`, `tdsc fabric serve` and
// `tdsc demo` serve these handlers.
package ledgerhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/service"
	"github.com/tdsc/tdsc/ledger/verify"
)

// Options say how to serve.
type Options struct {
	// Audience is the aud claim role tokens must carry; "ledger" if empty.
	Audience string
	// SecureCookies marks the dashboard's session cookie Secure (TLS ends in
	// front of the service).
	SecureCookies bool
	Log           *slog.Logger
	// Context is the service's life: until it ends, the registry that checks
	// readers' role tokens drops the entries of participants whose directory
	// entries change (ledger.FollowDirectory, every second), so a suspended
	// participant's reads are refused within about a second. Nil: within the
	// registry's TTL (30 s).
	Context context.Context
	// Metrics, if set, is the registry /metrics serves, with what the
	// backend adds to it (the Fabric backend's follower and committer).
	Metrics *prometheus.Registry
}

// Handler serves b: the ledger API and the dashboard. verifyAll re-verifies the
// whole ledger for the dashboard's health page.
func Handler(b service.Backend, verifyAll func(context.Context) (verify.Report, error), o Options) (http.Handler, error) {
	if o.Audience == "" {
		o.Audience = "ledger"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	reg := identity.NewRegistry(b, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	if o.Context != nil {
		read := func(ctx context.Context, since uint64, limit int) (ledger.DirectoryChanges, error) {
			return ledger.ReadDirectoryChanges(ctx, b, since, limit)
		}
		go ledger.FollowDirectory(o.Context, read, time.Second, reg.Invalidate, o.Log)
	}
	g := b.Genesis()
	if err := g.CheckSuite(); err != nil {
		return nil, err
	}
	v, err := identity.NewVerifier(reg, identity.WithAuthority(g.Authority.ID), identity.WithSuite(g.CryptoSuite()))
	if err != nil {
		return nil, err
	}
	api, err := service.New(service.Config{Backend: b, Authorize: service.RoleTokens(v, o.Audience), Logger: o.Log, Registry: o.Metrics})
	if err != nil {
		return nil, err
	}
	opts := []dashboard.Option{dashboard.WithLogger(o.Log), dashboard.WithVerify(verifyAll)}
	if o.SecureCookies {
		opts = append(opts, dashboard.WithSecureCookies())
	}
	dash, err := dashboard.New(b, b.VerifierKey(), dashboard.RoleTokens(v, o.Audience), opts...)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("/ui/", dash)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	return mux, nil
}

// Embedded serves the embedded store; the dashboard's verification replays it.
func Embedded(st *embedded.Store, o Options) (http.Handler, error) {
	return Handler(st, func(ctx context.Context) (verify.Report, error) {
		return verify.Ledger(ctx, dashboard.StoreSource(st), st.VerifierKey())
	}, o)
}
