package connector_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// ExampleNew starts a connector node for a registered participant, with an
// embedded ledger, and serves it on loopback.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tdsc-example-")
	defer os.RemoveAll(dir)
	space, _ := ledgertest.NewSpace()
	led, err := embedded.Open(ctx, dir+"/ledger", space.Genesis, embedded.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer led.Close(ctx)
	reg, _ := space.Participant("did:tdsc:bureau", "CN-BJ")
	batch, _ := space.Batch(space.Authority(), reg)
	if _, err := led.Append(ctx, batch); err != nil {
		fmt.Println(err)
		return
	}

	node, err := connector.New(ctx, connector.Config{ParticipantID: "did:tdsc:bureau", Space: space.Genesis.Space,
		Listen: "127.0.0.1:18990", DataDir: dir + "/node"},
		connector.WithKey(space.Keys["did:tdsc:bureau"]), connector.WithLedger(led),
		connector.WithParticipants(led), connector.WithRules(led), connector.WithRegisteredDatasets(led),
		connector.WithOperatorToken("an-operator-token-0123"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close(ctx)
	srv := &http.Server{Addr: "127.0.0.1:18990", Handler: node.Handler(), ReadHeaderTimeout: 10 * time.Second}
	_ = srv // srv.ListenAndServe() in a real process
	ds, err := node.AddDataset(ctx, connector.NewDataset{ID: "ds-1", Title: "Traffic counts", Classification: "general", Category: "transport"})
	fmt.Println(ds.ID, err)
	// Output: ds-1 <nil>
}
