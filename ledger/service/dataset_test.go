package service_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// TestRegisteredDatasetIsPublic: a dataset's dataset.registered record is
// served without a role token (the space's catalogue entry), by the client
// and the embedded store alike; an unregistered dataset is not found.
func TestRegisteredDatasetIsPublic(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	st, srv := serve(t, s.Genesis)
	ctx := context.Background()
	populate(t, s, newClient(t, srv, "auditor-token"))
	noToken, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func(context.Context, string) (ledger.Entry, error){
		"client, no token": noToken.RegisteredDataset, "embedded": st.RegisteredDataset,
	} {
		e, err := get(ctx, "ds-1")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := e.Record; r.Kind != ledger.KindDatasetRegistered || r.Dataset != "ds-1" || r.Actor != "p1" || r.RegistrationCode != "REG-ds-1" {
			t.Errorf("%s: %+v", name, r)
		}
		if _, err := get(ctx, "ds-unknown"); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("%s: unregistered dataset: %v, want ErrNotFound", name, err)
		}
	}
	resp, err := http.Get(srv.URL + "/ledger/v1/datasets/ds-unknown")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET an unregistered dataset: %s, want 404", resp.Status)
	}
}
