package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/client"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// computeOffer lets the consumer use the dataset for research and run the
// aggregate (by hash) or any approved program on it, at most three uses,
// results only as aggregates of groups of at least ten.
const computeOffer = `{
  "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
  "@id": "offer-grid", "@type": "Offer",
  "permission": [
    {"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]},
    {"action": "compute", "constraint": [
      {"or": [{"leftOperand": "program", "operator": "isAnyOf", "rightOperand": ["%s"]},
              {"leftOperand": "programApproval", "operator": "eq", "rightOperand": "operator"}]},
      {"leftOperand": "count", "operator": "lteq", "rightOperand": 3},
      {"leftOperand": "groupSize", "operator": "gteq", "rightOperand": 10}]}]
}`

func gridCSV() string {
	var b strings.Builder
	b.WriteString("district,cell,residents\n")
	for d, n := range map[string]int{"Dongcheng": 12, "Xicheng": 10, "Yanqing": 3} {
		for i := range n {
			fmt.Fprintf(&b, "%s,%s-%02d,%d\n", d, d[:2], i, 1000+10*i)
		}
	}
	return b.String()
}

func TestComputeAtTheProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example programs with the Go toolchain")
	}
	ctx := context.Background()
	dir := t.TempDir()
	var wasm = map[string][]byte{}
	for _, name := range []string{programs.Aggregate, programs.RawRows} {
		p, err := programs.Build(ctx, name, dir)
		if err != nil {
			t.Fatal(err)
		}
		if wasm[name], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	// Programs, input and results are named by the space suite's hash
	// (sm3:<hex> in a gm space), as dataset content is.
	aggHash := contentHash(wasm[programs.Aggregate])

	s, prov, cons := twoNodes(t)
	grid := gridCSV()
	if err := os.WriteFile(filepath.Join(prov.dir, "grid.csv"), []byte(grid), 0o600); err != nil {
		t.Fatal(err)
	}
	// No content hash given: the node hashes the file in its space's suite.
	d, err := prov.AddDataset(ctx, connector.NewDataset{ID: "ds-grid", Title: "Population grid", Classification: "important",
		Category: "population", Source: "file:grid.csv"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := prov.AddOffer(ctx, connector.NewOffer{Dataset: d.ID, Policy: json.RawMessage(fmt.Sprintf(computeOffer, aggHash))})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: o.ID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	ag := waitNeg(t, cons, neg.ID, "FINALIZED").AgreementID

	// The aggregate: allowed, its result leaves, the run is on the ledger.
	res, err := cons.Compute(ctx, ag, wasm[programs.Aggregate])
	if err != nil {
		t.Fatal(err)
	}
	want := "district,count,mean_residents\nDongcheng,12,1055.0000\nXicheng,10,1045.0000\n"
	if string(res.Output) != want || res.Program != aggHash {
		t.Fatalf("result %q (program %s), want %q", res.Output, res.Program, want)
	}
	rec := s.onLedger(t, "compute.executed/"+res.Run)
	if rec.Decision != ledger.DecisionAllow || rec.Compute.Program != aggHash || rec.Bytes != int64(len(want)) ||
		rec.Compute.InputBytes != int64(len(grid)) || rec.Compute.InputHash != contentHash([]byte(grid)) || rec.Compute.OutputHash != contentHash([]byte(want)) {
		t.Fatalf("record %+v %+v", rec, rec.Compute)
	}

	// The raw-row program: not allowed by hash or approval.
	_, err = cons.Compute(ctx, ag, wasm[programs.RawRows])
	var pe *connector.PeerError
	if !errors.As(err, &pe) || pe.Err == nil || pe.Err.Code != "permission[1].constraint[0]" {
		t.Fatalf("unlisted program: %v", err)
	}

	// Approved by the operator, it runs, and the output rule refuses its
	// result: nothing leaves, the denial names the rule.
	prov.SetApprovedPrograms(contentHash(wasm[programs.RawRows]))
	_, err = cons.Compute(ctx, ag, wasm[programs.RawRows])
	if !errors.As(err, &pe) || pe.Err == nil || pe.Err.Code != "permission[1].constraint[2]" ||
		!strings.Contains(strings.Join(pe.Err.Reason, " "), "not an aggregate") {
		t.Fatalf("raw rows: %v", err)
	}
	eventually(t, "two denied runs on the ledger", func() (bool, string) {
		p, err := s.led.Query(ctx, ledger.Query{Kind: ledger.KindComputeExecuted, Agreement: ag})
		if err != nil {
			return false, err.Error()
		}
		denied := 0
		for _, r := range p.Records {
			if r.Record.Decision == ledger.DecisionDeny {
				denied++
				if r.Record.Bytes != 0 || r.Record.Rule == "" {
					return false, fmt.Sprintf("denial %+v", r.Record)
				}
			}
		}
		return denied == 2, fmt.Sprintf("%d denied", denied)
	})

	// Two more allowed runs use the agreement up (count lteq 3): one of
	// them through the management API, as tdsc compute run sends it.
	mc, err := client.New(cons.url(), opToken)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := mc.Compute(ctx, ag, wasm[programs.Aggregate]); err != nil || string(res.Output) != want {
		t.Fatalf("through the management API: %v", err)
	}
	if _, err := cons.Compute(ctx, ag, wasm[programs.Aggregate]); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Compute(ctx, ag, wasm[programs.Aggregate]); !errors.As(err, &pe) || pe.Err.Code != "permission[1].constraint[1]" {
		t.Fatalf("a fourth run: %v", err)
	}
}
