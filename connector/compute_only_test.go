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
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// computeOnlyOffer grants compute and nothing else: the aggregate (by hash)
// or an operator-approved program, for research, three runs, results as
// aggregates of groups of at least ten.
const computeOnlyOffer = `{
  "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
  "@id": "offer-core-compute", "@type": "Offer",
  "permission": [{"action": "compute", "constraint": [
    {"or": [{"leftOperand": "program", "operator": "isAnyOf", "rightOperand": ["%s"]},
            {"leftOperand": "programApproval", "operator": "eq", "rightOperand": "operator"}]},
    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
    {"leftOperand": "count", "operator": "lteq", "rightOperand": 3},
    {"leftOperand": "groupSize", "operator": "gteq", "rightOperand": 10}]}]
}`

// TestComputeOnlyAgreement: core data held in CN-BJ, a consumer in CN-SH.
// An offer to use it is hidden from the consumer (the core-data rule); a
// compute-only offer is shown and agreed, its terms on the ledger
// say compute-only (signed by the consumer), a transfer under it is refused
// and recorded as denied with its rule, a run under it is allowed; the
// negative list, a group-size floor above its k and a suspended consumer
// still stop runs.
func TestComputeOnlyAgreement(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example programs with the Go toolchain")
	}
	ctx := context.Background()
	wasm := map[string][]byte{}
	dir := t.TempDir()
	for _, name := range []string{programs.Aggregate, programs.RawRows} {
		p, err := programs.Build(ctx, name, dir)
		if err != nil {
			t.Fatal(err)
		}
		if wasm[name], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	s, prov, cons := twoNodes(t)
	grid := gridCSV()
	if err := os.WriteFile(filepath.Join(prov.dir, "core.csv"), []byte(grid), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := prov.AddDataset(ctx, connector.NewDataset{ID: "ds-core-grid", Title: "Population grid", Classification: "core",
		Category: "population", Source: "file:core.csv"})
	if err != nil {
		t.Fatal(err)
	}
	for id, pol := range map[string]string{
		"offer-core-compute": fmt.Sprintf(computeOnlyOffer, contentHash(wasm[programs.Aggregate])),
		"offer-core-use":     `{"@context":"https://w3id.org/dspace/2025/1/context.jsonld","@id":"offer-core-use","@type":"Offer","permission":[{"action":"use"}]}`,
	} {
		if _, err := prov.AddOffer(ctx, connector.NewOffer{ID: id, Dataset: d.ID, Policy: json.RawMessage(pol)}); err != nil {
			t.Fatal(err)
		}
	}

	cat, err := cons.RemoteCatalog(ctx, prov.url(), "")
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, ds := range cat.Dataset {
		for _, p := range ds.HasPolicy {
			shown = append(shown, p.ID)
		}
	}
	if strings.Join(shown, ",") != "offer-core-compute" {
		t.Fatalf("catalogue shows %v, want the compute-only offer alone", shown)
	}

	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: "offer-core-compute", Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	ag := waitNeg(t, cons, neg.ID, "FINALIZED").AgreementID
	signed := s.onLedger(t, "agreement.signed/"+ag)
	if tm := signed.Terms; !tm.ComputeOnly || tm.GroupSize != 10 || tm.MaxUses != 3 || tm.ConsumerSignature == "" ||
		!strings.Contains(string(ledger.TermsMessage(&signed)), "computeOnly=true\ngroupSize=10\n") {
		t.Fatalf("agreement.signed terms %+v", tm)
	}

	// A transfer: refused by the provider, recorded as denied with the rule.
	x, err := cons.StartTransfer(ctx, ag, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "TERMINATED")
	px := waitTransfer(t, prov, cx.PeerPID, "TERMINATED")
	if px.Rule != rulebook.RuleComputeOnly || !strings.Contains(px.Reason, "compute-only") {
		t.Fatalf("provider's transfer: rule %q (%s), want %s", px.Rule, px.Reason, rulebook.RuleComputeOnly)
	}
	if r := s.onLedger(t, "transfer.denied/"+cx.PeerPID); r.Rule != rulebook.RuleComputeOnly || r.Decision != ledger.DecisionDeny {
		t.Fatalf("transfer.denied %+v", r)
	}

	// A run: allowed, counted as a use, its hashes in the space's suite.
	res, err := cons.Compute(ctx, ag, wasm[programs.Aggregate])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Output), "Yanqing") || !strings.HasPrefix(string(res.Output), "district,count,") {
		t.Fatalf("result %q", res.Output)
	}
	run := s.onLedger(t, "compute.executed/"+res.Run)
	if run.Decision != ledger.DecisionAllow || run.Compute.Program != contentHash(wasm[programs.Aggregate]) ||
		run.Compute.InputHash != contentHash([]byte(grid)) || run.Compute.OutputHash != contentHash(res.Output) {
		t.Fatalf("compute.executed %+v %+v", run, run.Compute)
	}
	// The raw rows, approved by the operator: the output rule keeps them in.
	prov.SetApprovedPrograms(contentHash(wasm[programs.RawRows]))
	var pe *connector.PeerError
	if _, err := cons.Compute(ctx, ag, wasm[programs.RawRows]); !errors.As(err, &pe) || pe.Err == nil || pe.Err.Code != "permission[0].constraint[3]" {
		t.Fatalf("raw rows under a compute-only agreement: %v", err)
	}

	// The space negative-lists the category: the next run is refused by
	// that rule, before it runs, and the denial is on the ledger.
	setRules := func(r policy.SpaceRules) {
		t.Helper()
		b, err := s.sp.Batch(s.sp.Authority(), s.sp.Rules(r))
		if err == nil {
			_, err = s.led.Append(ctx, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	setRules(policy.SpaceRules{NegativeList: []policy.NegativeEntry{{Category: "population", Reason: "under review"}}})
	if _, err := cons.Compute(ctx, ag, wasm[programs.Aggregate]); !errors.As(err, &pe) || pe.Err == nil || pe.Err.Code != policy.RuleNegativeList {
		t.Fatalf("a run on a negative-listed category: %v", err)
	}
	setRules(policy.SpaceRules{})

	// The space raises its group-size floor above the agreement's k: the
	// next run is refused by that rule, before it runs, and recorded.
	setRules(policy.SpaceRules{GroupFloors: []policy.GroupFloor{{Classification: policy.General, MinGroupSize: 1000}}})
	if _, err := cons.Compute(ctx, ag, wasm[programs.Aggregate]); !errors.As(err, &pe) || pe.Err == nil || pe.Err.Code != policy.RuleGroupFloor {
		t.Fatalf("a run under a k below the space's group-size floor: %v", err)
	}
	setRules(policy.SpaceRules{})

	// The consumer is suspended: no run.
	b, err := s.sp.Batch(s.sp.Authority(), s.sp.Suspend(cons.id))
	if err == nil {
		_, err = s.led.Append(ctx, b)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Compute(ctx, ag, wasm[programs.Aggregate]); !errors.As(err, &pe) {
		t.Fatalf("a run for a suspended consumer: %v", err)
	}

	eventually(t, "one allowed run and three denied on the ledger", func() (bool, string) {
		p, err := s.led.Query(ctx, ledger.Query{Kind: ledger.KindComputeExecuted, Agreement: ag})
		if err != nil {
			return false, err.Error()
		}
		var allowed, denied []string
		for _, e := range p.Records {
			if e.Record.Decision == ledger.DecisionAllow {
				allowed = append(allowed, e.Record.ID)
			} else {
				denied = append(denied, e.Record.Rule)
			}
		}
		return len(allowed) == 1 && strings.Join(denied, ",") == "permission[0].constraint[3],"+policy.RuleNegativeList+","+policy.RuleGroupFloor,
			fmt.Sprintf("allowed %v, denied %v", allowed, denied)
	})
}

// TestDataPlaneRefusesComputeOnly: the data plane checks each pull against
// its agreement's terms; under terms that say compute-only it serves no
// byte and records the refusal, whatever transfer the token names. (The
// control plane never starts such a transfer; this is the second lock.)
func TestDataPlaneRefusesComputeOnly(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	cx, _ := startedPull(t, prov, cons)
	err := prov.Store().Update(ctx, func(tx *store.Tx) error {
		ag, err := tx.Agreement(cx.AgreementID)
		if err != nil {
			return err
		}
		var terms map[string]any
		if err := json.Unmarshal(ag.Terms, &terms); err != nil {
			return err
		}
		terms["computeOnly"], terms["groupSize"] = true, 10
		ag.Terms, _ = json.Marshal(terms)
		return tx.PutAgreement(ag)
	})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := client.New(cons.url(), opToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mc.Pull(ctx, cx.ID, filepath.Join(cons.dir, "out.csv"), cons.key, client.PullOptions{})
	if err == nil || !strings.Contains(err.Error(), dataplane.ReasonComputeOnly) {
		t.Fatalf("pull under compute-only terms: %v", err)
	}
	eventually(t, "the refusal on the ledger", func() (bool, string) {
		p, err := s.led.Query(ctx, ledger.Query{Kind: ledger.KindTransferDenied, Agreement: cx.AgreementID})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range p.Records {
			if e.Record.Rule == "dataplane."+dataplane.ReasonComputeOnly {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d denials", len(p.Records))
	})
}

// TestConsumerRefusesComputeOnlyTermsNotInThePolicy: compute-only is what
// the agreement's policy grants, not the provider's word: an agreement whose
// policy grants use but whose terms say compute-only (or the reverse) is
// refused by the consumer before it signs anything.
func TestConsumerRefusesComputeOnlyTermsNotInThePolicy(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	dsID, offerID := provider(t, prov, true) // manual: the provider waits for its operator
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	var pneg *store.Negotiation
	eventually(t, "the provider has the request", func() (bool, string) {
		pneg = peerNegotiation(t, prov, neg.ID)
		return pneg != nil, ""
	})
	// The provider's agreement as it writes one (the engine's wire form),
	// with forged terms.
	pol, err := policy.Parse([]byte(researchOffer))
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := json.Marshal(pol)
	var p dsp.Policy
	if err := json.Unmarshal(wire, &p); err != nil {
		t.Fatal(err)
	}
	p.ID, p.Type, p.Target, p.Assigner, p.Assignee = "urn:uuid:forged-agreement", dsp.TypeAgreement, dsID, prov.id, cons.id
	p.Timestamp = "2026-12-01T00:00:00Z"
	p.Terms = &dsp.Terms{PolicyHash: pol.HashWith(testSuite.HashName()), MaxUses: 5, ComputeOnly: true, GroupSize: 10}
	msg := &dsp.ContractAgreementMessage{Header: dsp.NewHeader(dsp.TypeContractAgreementMessage), ProviderPID: pneg.ID, ConsumerPID: neg.ID, Agreement: p}
	status, resp := prov.sendDSP(t, cons, "/callback/negotiations/"+neg.ID+"/agreement", msg)
	if status < 400 || !strings.Contains(resp, "agreement.mismatch") || !strings.Contains(resp, "computeOnly") {
		t.Fatalf("compute-only terms on a use policy: %d %s", status, resp)
	}
	if n := waitNeg(t, cons, neg.ID, "TERMINATED"); n.Code != "agreement.mismatch" || !strings.Contains(n.Reason, "computeOnly") {
		t.Fatalf("consumer's negotiation: %s %s", n.Code, n.Reason)
	}
}
