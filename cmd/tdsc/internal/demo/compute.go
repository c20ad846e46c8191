package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// The core population grid (核心数据) never leaves the department's region:
// no offer to use it is shown outside CN-BJ and the ledger refuses any
// agreement that would move it there. A compute-only offer lets the
// enterprise in CN-SH compute on it where it is: only aggregates of ten or
// more cells come back.
const gridID = "ds-population-grid"

// popGridCSV is a synthetic resident population grid: one row per 1 km
// cell. Yanqing has four cells, fewer than the offer's groups of ten.
func popGridCSV() string {
	var b strings.Builder
	b.WriteString("district,cell,residents,households\n")
	for _, d := range []struct {
		name, code string
		n, base    int
	}{{"Dongcheng", "DC", 14, 16000}, {"Haidian", "HD", 12, 9000}, {"Chaoyang", "CY", 11, 12000}, {"Yanqing", "YQ", 4, 800}} {
		for i := range d.n {
			r := d.base + (i*733)%2100
			fmt.Fprintf(&b, "%s,BJ-%s-%03d,%d,%d\n", d.name, d.code, i, r, r*10/27)
		}
	}
	return b.String()
}

// computeOffer grants compute and nothing else: the aggregate (by its hash)
// or a program the department's operator approved, for research, at most ten
// runs, results of at most 64 KiB in groups of at least ten cells.
func computeOffer(aggHash string) []byte {
	return []byte(fmt.Sprintf(`{
  "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
  "@id": "offer-population-compute", "@type": "Offer",
  "permission": [
    {"action": "compute", "constraint": [
      {"or": [{"leftOperand": "program", "operator": "isAnyOf", "rightOperand": [%q]},
              {"leftOperand": "programApproval", "operator": "eq", "rightOperand": "operator"}]},
      {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
      {"leftOperand": "count", "operator": "lteq", "rightOperand": 10},
      {"leftOperand": "outputBytes", "operator": "lteq", "rightOperand": 65536},
      {"leftOperand": "groupSize", "operator": "gteq", "rightOperand": 10}]}]
}`, aggHash))
}

// compute is the sandbox step: a compute-only agreement on the core grid;
// a transfer under it is refused; the enterprise's aggregate runs at the
// department and its result comes back; a program printing raw rows runs
// too (the operator approved it) and is refused by the output rule.
func (d *Demo) compute(ctx context.Context, s *story, dept, firm *node) error {
	dir := filepath.Join(d.space.dir, "programs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	mods := map[string][]byte{}
	for _, name := range []string{programs.Aggregate, programs.RawRows} {
		p, err := programs.Build(ctx, name, dir)
		if err != nil {
			return err
		}
		if mods[name], err = os.ReadFile(p); err != nil {
			return err
		}
	}
	// Programs are named by the space suite's hash (SM3 in a gm space).
	agg, raw := sandbox.HashModuleWith(d.hashAlg(), mods[programs.Aggregate]), sandbox.HashModuleWith(d.hashAlg(), mods[programs.RawRows])
	s.say("programs built from sandbox/programs with GOOS=wasip1: aggregate %s…, rawrows %s…", agg[:min(len(agg), 19)], raw[:min(len(raw), 19)])

	if _, err := dept.AddOffer(ctx, connector.NewOffer{ID: "offer-population-compute", Dataset: gridID, Policy: computeOffer(agg)}); err != nil {
		return fmt.Errorf("offer-population-compute: %w", err)
	}
	s.say("%s (core, %d cells) offered for computation only: the aggregate's hash or an operator-approved program, for research, results of at most 64 KiB in groups of ≥ 10 cells", gridID, strings.Count(popGridCSV(), "\n")-1)
	cat, err := firm.RemoteCatalog(ctx, dept.url, Dept)
	if err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	seen := map[string]bool{}
	for _, ds := range cat.Dataset {
		for _, p := range ds.HasPolicy {
			seen[p.ID] = true
		}
	}
	s.expect(seen["offer-population-compute"] && !seen["offer-population-research"],
		"%s's catalogue now shows the compute-only offer on the core grid, and still not the one to use it: the data stays in CN-BJ", Firm)
	neg := d.negotiate(ctx, s, firm, dept, "offer-population-compute", "research", "")
	if !s.expect(neg.State == "FINALIZED", "%s agreed to compute on the core grid: agreement %s (%s)", Firm, short(neg.AgreementID), lastReason(neg)) {
		return nil
	}
	d.Facts.Agreements["compute"] = neg.AgreementID
	auditor, _, err := d.space.roleClient("auditor", "auditor-cac-bj")
	if err != nil {
		return err
	}
	if p, err := auditor.Record(ctx, "agreement.signed/"+neg.AgreementID); err == nil {
		t := p.Record.Terms
		s.expect(t != nil && t.ComputeOnly && t.GroupSize == 10 && t.ConsumerSignature != "",
			"the ledger's agreement.signed says compute-only, groups of ≥ %d, in the terms %s counter-signed: the core-data rule lets it through because no row leaves", t.GroupSize, Firm)
	} else {
		s.expect(false, "reading agreement.signed/%s: %v", short(neg.AgreementID), err)
	}

	x := d.transfer(ctx, firm, neg.AgreementID)
	s.expect(x != nil && x.State == "TERMINATED" && strings.Contains(reasonOf(x), "compute-only"),
		"a transfer under the compute-only agreement is refused: %s", reasonOf(x))

	res, err := firm.Compute(ctx, neg.AgreementID, mods[programs.Aggregate])
	if s.expect(err == nil, "the aggregate ran at %s: %v", Dept, errOr(err, fmt.Sprintf("run %s, %d ms CPU, %d bytes back", short(res.Run), res.CPUMillis, len(res.Output)))) {
		for line := range strings.Lines(string(res.Output)) {
			s.say("   %s", strings.TrimRight(line, "\n"))
		}
		s.expect(!strings.Contains(string(res.Output), "Yanqing") && !strings.Contains(string(res.Output), "BJ-"),
			"only districts of ten or more cells came back (Yanqing's 4 suppressed), not one row of the core grid")
	}

	_, err = firm.Compute(ctx, neg.AgreementID, mods[programs.RawRows])
	var pe *connector.PeerError
	s.expect(errors.As(err, &pe) && pe.Err != nil && pe.Err.Code == "permission[0].constraint[0]",
		"rawrows refused before it ran: not the allowed program (%v)", err)
	dept.SetApprovedPrograms(raw)
	_, err = firm.Compute(ctx, neg.AgreementID, mods[programs.RawRows])
	s.expect(errors.As(err, &pe) && pe.Err != nil && pe.Err.Code == "permission[0].constraint[4]",
		"approved by %s's operator, rawrows ran and its result was refused by the output rule, nothing left: %v", Dept, err)

	// The denials go to the ledger through the department's outbox; the
	// report reads the ledger, so wait until all three runs and the refused
	// transfer are on it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := auditor.Query(ctx, ledger.Query{Kind: ledger.KindComputeExecuted, Agreement: neg.AgreementID})
		td, terr := auditor.Query(ctx, ledger.Query{Kind: ledger.KindTransferDenied, Agreement: neg.AgreementID})
		if err == nil && terr == nil && len(p.Records) == 3 && len(td.Records) == 1 {
			s.expect(td.Records[0].Record.Rule == rulebook.RuleComputeOnly, "the ledger holds the refused transfer as transfer.denied, rule %s", td.Records[0].Record.Rule)
			denied := 0
			for _, e := range p.Records {
				if e.Record.Decision == ledger.DecisionDeny {
					denied++
				}
			}
			s.expect(denied == 2, "the ledger holds the three runs as compute.executed: one allowed, %d denied with their rules", denied)
			return nil
		}
		if time.Now().After(deadline) {
			s.expect(false, "the three runs on the ledger (%v, %d records)", err, len(p.Records))
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errOr(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}
