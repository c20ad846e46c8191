package dashboard_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/verify"
)

// ExampleNew mounts the dashboard at /ui/ beside a ledger API, over an
// embedded store, letting in role tokens addressed to "ledger".
func ExampleNew() {
	ctx := context.Background()
	var g ledger.Genesis // from `tdsc authority init`
	st, err := embedded.Open(ctx, "/var/lib/tdsc/ledger", g, embedded.Options{})
	if err != nil {
		log.Fatal(err)
	}
	reg := identity.NewRegistry(st, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(g.Authority.ID))
	if err != nil {
		log.Fatal(err)
	}
	dash, err := dashboard.New(st, st.VerifierKey(), dashboard.RoleTokens(v, "ledger"),
		dashboard.WithVerify(func(ctx context.Context) (verify.Report, error) {
			return verify.Ledger(ctx, dashboard.StoreSource(st), st.VerifierKey())
		}))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", dash)
	srv := &http.Server{Addr: "127.0.0.1:8443", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServeTLS("cert.pem", "key.pem"))
}
