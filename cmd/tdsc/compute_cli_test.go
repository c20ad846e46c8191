package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// TestComputeRunCLI: tdsc compute run at the consumer's node gets the
// aggregate's result into --out; a raw-row program is refused by the
// provider's rule and writes nothing.
func TestComputeRunCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example programs with the Go toolchain")
	}
	ctx := context.Background()
	dir := t.TempDir()
	agg, err := programs.Build(ctx, programs.Aggregate, dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := programs.Build(ctx, programs.RawRows, dir)
	if err != nil {
		t.Fatal(err)
	}
	aggBytes, err := os.ReadFile(agg)
	if err != nil {
		t.Fatal(err)
	}

	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	led, err := embedded.Open(ctx, t.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(context.Background()) })
	prov := cliNode(t, sp, led, "did:tdsc:bureau", "CN-BJ")
	cons := cliNode(t, sp, led, "did:tdsc:lab", "CN-SH")

	var csv strings.Builder
	csv.WriteString("district,residents\n")
	for i := range 12 {
		fmt.Fprintf(&csv, "Haidian,%d\n", 100+i)
	}
	src := filepath.Join(t.TempDir(), "grid.csv")
	if err := os.WriteFile(src, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := prov.AddDataset(ctx, connector.NewDataset{ID: "ds-grid", Title: "Grid", Classification: "important", Category: "population",
		Source: "file:" + src})
	if err != nil {
		t.Fatal(err)
	}
	offer, err := prov.AddOffer(ctx, connector.NewOffer{Dataset: ds.ID, Policy: json.RawMessage(fmt.Sprintf(
		`{"@id":"offer-grid","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}]},
		 {"action":"compute","constraint":[{"leftOperand":"program","operator":"isAnyOf","rightOperand":[%q,%q]},
		  {"leftOperand":"groupSize","operator":"gteq","rightOperand":10}]}]}`, sandbox.HashModule(aggBytes), hashFile(t, raw)))})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.PublicURL(), Offer: offer.ID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if neg, err = cons.WaitNegotiation(wctx, neg.ID); err != nil || neg.State != "FINALIZED" {
		t.Fatalf("negotiation: %+v %v", neg, err)
	}
	t.Setenv("TDSC_OPERATOR_TOKEN", cliOpToken)

	result := filepath.Join(t.TempDir(), "result.csv")
	out, err := runLedgerCLI(t, "compute", "run", "--api", cons.PublicURL(), "--agreement", neg.AgreementID, "--wasm", agg, "--out", result)
	if err != nil || !strings.Contains(out, sandbox.HashModule(aggBytes)) {
		t.Fatalf("compute run: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(result); string(got) != "district,count,mean_residents\nHaidian,12,105.5000\n" {
		t.Fatalf("result %q", got)
	}

	refused := filepath.Join(t.TempDir(), "raw.csv")
	out, err = runLedgerCLI(t, "compute", "run", "--api", cons.PublicURL(), "--agreement", neg.AgreementID, "--wasm", raw, "--out", refused)
	if err == nil || !strings.Contains(err.Error(), "permission[1].constraint[1]") {
		t.Fatalf("raw rows: %v\n%s", err, out)
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Fatalf("a refused run wrote its result: %v", err)
	}
}

func hashFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.HashModule(b)
}
