// Package ledgerhttp assembles what the embedded ledger serves over HTTP — the
// ledger API under /ledger/v1/ and the auditors' and regulators' dashboard
// under /ui/ — both behind role tokens verified against the participants and
// the authority registered on that ledger. `tdsc ledger serve` and `tdsc demo`
// serve the same handler.
package ledgerhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/service"
	"github.com/tdsc/tdsc/ledger/verify"
)

// Handler serves st: the ledger API and the dashboard. audience is the aud
// claim role tokens must carry; secureCookies marks the dashboard's session
// cookie Secure (set it when TLS ends in front of the service).
func Handler(st *embedded.Store, audience string, secureCookies bool, log *slog.Logger) (http.Handler, error) {
	reg := identity.NewRegistry(st, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(st.Genesis().Authority.ID))
	if err != nil {
		return nil, err
	}
	api, err := service.New(service.Config{Backend: st, Authorize: service.RoleTokens(v, audience), Logger: log})
	if err != nil {
		return nil, err
	}
	opts := []dashboard.Option{dashboard.WithLogger(log), dashboard.WithVerify(func(ctx context.Context) (verify.Report, error) {
		return verify.Ledger(ctx, dashboard.StoreSource(st), st.VerifierKey())
	})}
	if secureCookies {
		opts = append(opts, dashboard.WithSecureCookies())
	}
	dash, err := dashboard.New(st, st.VerifierKey(), dashboard.RoleTokens(v, audience), opts...)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("/ui/", dash)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	return mux, nil
}
