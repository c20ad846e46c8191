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
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// The travel survey is household-level data: the enterprise computes on it
// at the department, and only aggregates of ten or more trips come back.
const surveyID = "ds-trip-survey"

// surveyCSV is a synthetic household travel survey: one row per trip.
func surveyCSV() string {
	var b strings.Builder
	b.WriteString("district,household,trips,minutes\n")
	for _, d := range []struct {
		name string
		n    int
	}{{"Chaoyang", 14}, {"Haidian", 12}, {"Dongcheng", 10}, {"Yanqing", 4}} {
		for i := range d.n {
			fmt.Fprintf(&b, "%s,%s-%03d,%d,%d\n", d.name, d.name[:2], i, 1+i%4, 18+(i*7)%40)
		}
	}
	return b.String()
}

func computeOffer(aggHash string) []byte {
	return []byte(fmt.Sprintf(`{
  "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
  "@id": "offer-survey-compute", "@type": "Offer",
  "permission": [
    {"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]},
    {"action": "compute", "constraint": [
      {"or": [{"leftOperand": "program", "operator": "isAnyOf", "rightOperand": [%q]},
              {"leftOperand": "programApproval", "operator": "eq", "rightOperand": "operator"}]},
      {"leftOperand": "count", "operator": "lteq", "rightOperand": 10},
      {"leftOperand": "outputBytes", "operator": "lteq", "rightOperand": 65536},
      {"leftOperand": "groupSize", "operator": "gteq", "rightOperand": 10}]}]
}`, aggHash))
}

// compute is the sandbox step: the enterprise's aggregate runs at the
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
	agg, raw := sandbox.HashModule(mods[programs.Aggregate]), sandbox.HashModule(mods[programs.RawRows])
	s.say("programs built from sandbox/programs with GOOS=wasip1: aggregate %s…, rawrows %s…", agg[:19], raw[:19])

	survey := surveyCSV()
	if err := os.WriteFile(filepath.Join(dept.dir, surveyID+".csv"), []byte(survey), 0o600); err != nil {
		return err
	}
	if _, err := dept.AddDataset(ctx, connector.NewDataset{ID: surveyID, Title: "Household travel survey (one row per trip)",
		Classification: "important", Category: "transport", Rights: []string{ledger.RightHolding, ledger.RightUse},
		ContentHash: digest.Of(d.hashAlg(), []byte(survey)).String(), Source: "file:" + surveyID + ".csv"}); err != nil {
		return fmt.Errorf("dataset %s: %w", surveyID, err)
	}
	if _, err := dept.AddOffer(ctx, connector.NewOffer{ID: "offer-survey-compute", Dataset: surveyID, Policy: computeOffer(agg)}); err != nil {
		return fmt.Errorf("offer-survey-compute: %w", err)
	}
	s.say("%s (important, %d rows) offered for research and for computation: the aggregate's hash or an operator-approved program, results of at most 64 KiB in groups of ≥ 10", surveyID, strings.Count(survey, "\n")-1)
	neg := d.negotiate(ctx, s, firm, dept, "offer-survey-compute", "research", "")
	if !s.expect(neg.State == "FINALIZED", "%s agreed to compute on %s: agreement %s", Firm, surveyID, short(neg.AgreementID)) {
		return nil
	}
	d.Facts.Agreements["compute"] = neg.AgreementID

	res, err := firm.Compute(ctx, neg.AgreementID, mods[programs.Aggregate])
	if s.expect(err == nil, "the aggregate ran at %s: %v", Dept, errOr(err, fmt.Sprintf("run %s, %d ms CPU, %d bytes back", short(res.Run), res.CPUMillis, len(res.Output)))) {
		for line := range strings.Lines(string(res.Output)) {
			s.say("   %s", strings.TrimRight(line, "\n"))
		}
		s.expect(!strings.Contains(string(res.Output), "Yanqing") && !strings.Contains(string(res.Output), "-0"),
			"only groups of ten or more came back (Yanqing's 4 trips suppressed), not one row of the survey")
	}

	_, err = firm.Compute(ctx, neg.AgreementID, mods[programs.RawRows])
	var pe *connector.PeerError
	s.expect(errors.As(err, &pe) && pe.Err != nil && pe.Err.Code == "permission[1].constraint[0]",
		"rawrows refused before it ran: not the allowed program (%v)", err)
	dept.SetApprovedPrograms(raw)
	_, err = firm.Compute(ctx, neg.AgreementID, mods[programs.RawRows])
	s.expect(errors.As(err, &pe) && pe.Err != nil && pe.Err.Code == "permission[1].constraint[3]",
		"approved by %s's operator, rawrows ran and its result was refused by the output rule, nothing left: %v", Dept, err)

	// The denials go to the ledger through the department's outbox; the
	// report reads the ledger, so wait until all three runs are on it.
	auditor, _, err := d.space.roleClient("auditor", "auditor-cac-bj")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := auditor.Query(ctx, ledger.Query{Kind: ledger.KindComputeExecuted, Agreement: neg.AgreementID})
		if err == nil && len(p.Records) == 3 {
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
