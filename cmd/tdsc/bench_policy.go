package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/policy"
)

// benchPolicyJSON is the five-constraint example policy: purpose =
// research, before 2027-01-01T00:00:00+08:00, at most 100 uses, consumer in
// CN, classification at most important; a delete duty and a log obligation.
const benchPolicyJSON = `{
  "@id": "urn:tdsc:bench:policy", "@type": "Offer", "target": "urn:tdsc:dataset:bench",
  "permission": [{"action": "use", "constraint": [
    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
    {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2027-01-01T00:00:00+08:00"},
    {"leftOperand": "count", "operator": "lteq", "rightOperand": 100},
    {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": "CN"},
    {"leftOperand": "classification", "operator": "lteq", "rightOperand": "important"}],
    "duty": [{"action": "delete", "constraint": [{"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"}]}]}],
  "obligation": [{"action": "log"}]}`

type policyBenchResult struct {
	Constraints int     `json:"constraints"`
	Decisions   int     `json:"decisions"`
	Cores       int     `json:"cores"`
	GoVersion   string  `json:"goVersion"`
	CompileNs   float64 `json:"compileNs"`
	// NsPerDecision is an allowed decision with every constraint explained,
	// reusing the Decision's slices (Compiled.EvaluateInto).
	NsPerDecision     float64 `json:"nsPerDecision"`
	AllocsPerDecision float64 `json:"allocsPerDecision"`
	// NsPerDecisionNew is Evaluate, which allocates a fresh Decision.
	NsPerDecisionNew     float64 `json:"nsPerDecisionNew"`
	AllocsPerDecisionNew float64 `json:"allocsPerDecisionNew"`
	NsPerDenied          float64 `json:"nsPerDenied"`
	// BaselineNs is the same five checks written by hand in Go, no
	// explanation, no duties: the floor a policy engine can approach.
	BaselineNs      float64 `json:"baselineNsPerDecision"`
	RatioToBaseline float64 `json:"ratioToBaseline"`
	BudgetNs        float64 `json:"budgetNs"`
	WithinBudget    bool    `json:"withinBudget"`
}

func newBenchPolicyCmd() *cobra.Command {
	var (
		n   int
		out string
	)
	cmd := &cobra.Command{
		Use:   "policy [-n N] [-o json]",
		Short: "Time policy decisions for a five-constraint policy against hand-written checks",
		Long: `Compiles the issue's five-constraint example policy once and decides N
allowed requests (every constraint explained, duties computed), N with a fresh
Decision each, and N denied ones; the baseline is the same five checks written
by hand in Go. The budget is 2 µs per decision.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 {
				return fmt.Errorf("flag -n: must be positive, got %d", n)
			}
			if out != "text" && out != "json" {
				return fmt.Errorf("flag -o: must be text or json, got %q", out)
			}
			res, err := benchPolicy(cmd.Context(), n)
			if err != nil {
				return err
			}
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "constraints\t%d\ndecisions\t%d\ncores\t%d\n", res.Constraints, res.Decisions, res.Cores)
			fmt.Fprintf(w, "compile\t%.0f ns\n", res.CompileNs)
			fmt.Fprintf(w, "ns/decision (reused Decision)\t%.1f\t%.1f allocs\n", res.NsPerDecision, res.AllocsPerDecision)
			fmt.Fprintf(w, "ns/decision (new Decision)\t%.1f\t%.1f allocs\n", res.NsPerDecisionNew, res.AllocsPerDecisionNew)
			fmt.Fprintf(w, "ns/denied decision\t%.1f\n", res.NsPerDenied)
			fmt.Fprintf(w, "baseline ns (hand-written checks)\t%.1f\n", res.BaselineNs)
			fmt.Fprintf(w, "ratio to baseline\t%.1f\n", res.RatioToBaseline)
			fmt.Fprintf(w, "budget\t%.0f ns\twithin: %v\n", res.BudgetNs, res.WithinBudget)
			return w.Flush()
		},
	}
	cmd.Flags().IntVarP(&n, "decisions", "n", 1_000_000, "decisions per measurement")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	return cmd
}

// measure runs f n times and returns nanoseconds and heap allocations per call.
func measure(n int, f func()) (ns, allocs float64) {
	f() // warm
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		f()
	}
	el := time.Since(start)
	runtime.ReadMemStats(&after)
	return float64(el.Nanoseconds()) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n)
}

func benchPolicy(ctx context.Context, n int) (*policyBenchResult, error) {
	start := time.Now()
	p, err := policy.Parse([]byte(benchPolicyJSON))
	if err != nil {
		return nil, err
	}
	c, err := policy.Compile(p)
	if err != nil {
		return nil, err
	}
	res := &policyBenchResult{Constraints: 5, Decisions: n, Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		CompileNs: float64(time.Since(start).Nanoseconds()), BudgetNs: 2000}
	req := policy.Request{
		Purpose:        "research",
		Time:           time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		AgreementStart: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		Uses:           42,
		Consumer:       policy.Party{ID: "did:web:uni.example", Region: "CN-BJ"},
		Dataset:        policy.DatasetInfo{Classification: policy.Important},
	}
	var d policy.Decision
	denied := 0
	res.NsPerDecision, res.AllocsPerDecision = measure(n, func() {
		if c.EvaluateInto(ctx, req, &d); !d.Allowed {
			denied++
		}
	})
	res.NsPerDecisionNew, res.AllocsPerDecisionNew = measure(n, func() {
		if !policy.Evaluate(ctx, c, req).Allowed {
			denied++
		}
	})
	if denied > 0 {
		return nil, fmt.Errorf("bench policy: the allowed request was denied: %s", d.Reason)
	}
	bad := req
	bad.Purpose = "marketing"
	res.NsPerDenied, _ = measure(n, func() {
		if c.EvaluateInto(ctx, bad, &d); d.Allowed {
			denied++
		}
	})
	bound := time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("", 8*3600))
	allowed := 0
	res.BaselineNs, _ = measure(n, func() {
		if plainDecide(&req, bound) {
			allowed++
		}
	})
	if denied > 0 || allowed != n+1 {
		return nil, fmt.Errorf("bench policy: engine and baseline disagree")
	}
	if res.BaselineNs > 0 {
		res.RatioToBaseline = res.NsPerDecision / res.BaselineNs
	}
	res.WithinBudget = res.NsPerDecision <= res.BudgetNs && res.NsPerDecisionNew <= res.BudgetNs
	return res, nil
}

// plainDecide is the baseline: the five constraints as hand-written Go.
func plainDecide(r *policy.Request, bound time.Time) bool {
	rank := r.Dataset.Classification.Rank()
	return r.Purpose == "research" && r.Time.Before(bound) && r.Uses+1 <= 100 &&
		policy.IsPartOf(r.Consumer.Region, "CN") && rank > 0 && rank <= policy.Important.Rank()
}
