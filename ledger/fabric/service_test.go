package fabric

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/service"
)

// TestConformanceOverHTTP runs the backend suite through the ledger service
// and its client, with the Fabric backend behind them (tdsc fabric serve).
func TestConformanceOverHTTP(t *testing.T) {
	p := network(t)
	auditor := func(r *http.Request) (service.Principal, error) {
		return service.Principal{Role: identity.RoleAuditor}, nil
	}
	ledgertest.Run(t, func(t *testing.T, g ledger.Genesis) (ledgertest.Backend, string) {
		l := open(t, p, g, nil)
		h, err := service.New(service.Config{Backend: l, Authorize: auditor})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		c, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()), client.WithToken("auditor"))
		if err != nil {
			t.Fatal(err)
		}
		return c, l.VerifierKey()
	})
}
