package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/policy"
)

// Exit codes of tdsc policy check and lint, beside 0 (allowed / no errors)
// and 1 (the command could not run: unreadable file, bad flags).
const exitDeniedOrProblems = 2

// readPolicyFile reads a policy: a bare ODRL policy object, or a DSP message
// carrying one under "offer" or "agreement".
func readPolicyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(data, &msg) == nil {
		for _, k := range []string{"offer", "agreement"} {
			if inner, ok := msg[k]; ok && len(msg["@id"]) == 0 {
				return inner, nil
			}
		}
	}
	return data, nil
}

type policyCheckOutput struct {
	policy.Decision
	PolicyHash string        `json:"policyHash"`
	Limits     policy.Limits `json:"limits"`
}

func newPolicyCheckCmd() *cobra.Command {
	var policyFile, requestFile, rulesFile, out string
	cmd := &cobra.Command{
		Use:   "check --policy FILE --request FILE [--rules FILE] [-o json]",
		Short: "Decide a request against a policy (and the space rules) and explain every constraint",
		Long: `Parses the policy (an ODRL policy object, or a DSP message carrying one under
"offer" or "agreement"), compiles it and evaluates the request (JSON: action,
purpose, time, agreementStart, uses, consumer {id, region, industry, orgType,
member}, dataset {id, category, classification, region}, legalBasis). With
--rules the space-wide rules are evaluated too and win over the policy. A
request without a time is decided at the current time.

Exit status: 0 allowed, 2 denied, 1 the check could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			allowed, err := runPolicyCheck(cmd, policyFile, requestFile, rulesFile, out, time.Now)
			if err != nil {
				return err
			}
			if !allowed {
				os.Exit(exitDeniedOrProblems)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file (required)")
	cmd.Flags().StringVar(&requestFile, "request", "", "request file (required)")
	cmd.Flags().StringVar(&rulesFile, "rules", "", "space rules file (optional)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("policy")
	_ = cmd.MarkFlagRequired("request")
	return cmd
}

func runPolicyCheck(cmd *cobra.Command, policyFile, requestFile, rulesFile, out string, now func() time.Time) (bool, error) {
	if out != "text" && out != "json" {
		return false, fmt.Errorf("flag -o: must be text or json, got %q", out)
	}
	data, err := readPolicyFile(policyFile)
	if err != nil {
		return false, fmt.Errorf("flag --policy: %w", err)
	}
	p, err := policy.Parse(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", policyFile, err)
	}
	c, err := policy.Compile(p)
	if err != nil {
		return false, fmt.Errorf("%s: %w", policyFile, err)
	}
	rdata, err := os.ReadFile(requestFile)
	if err != nil {
		return false, fmt.Errorf("flag --request: %w", err)
	}
	var req policy.Request
	dec := json.NewDecoder(bytes.NewReader(rdata))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return false, fmt.Errorf("%s: %w", requestFile, err)
	}
	if req.Time.IsZero() {
		req.Time = now()
	}
	var d policy.Decision
	if rulesFile != "" {
		rd, err := os.ReadFile(rulesFile)
		if err != nil {
			return false, fmt.Errorf("flag --rules: %w", err)
		}
		rules, err := policy.ParseSpaceRules(rd)
		if err != nil {
			return false, fmt.Errorf("%s: %w", rulesFile, err)
		}
		d = policy.EvaluateWithRules(cmd.Context(), c, rules, req)
	} else {
		d = policy.Evaluate(cmd.Context(), c, req)
	}
	res := policyCheckOutput{Decision: d, PolicyHash: p.Hash(), Limits: c.Limits()}
	if out == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return d.Allowed, enc.Encode(res)
	}
	return d.Allowed, printDecision(cmd.OutOrStdout(), res)
}

func printDecision(out io.Writer, res policyCheckOutput) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if res.Allowed {
		fmt.Fprintf(w, "decision:\tallow (%s)\n", res.Rule)
	} else {
		fmt.Fprintf(w, "decision:\tdeny\nrule:\t%s\nreason:\t%s\n", res.Rule, res.Reason)
	}
	fmt.Fprintf(w, "policy hash:\t%s\n\nconstraints:\n", res.PolicyHash)
	for _, r := range res.Results {
		mark := "no "
		if r.Satisfied {
			mark = "yes"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", mark, r.Path, r.Constraint, r.Reason)
	}
	if len(res.Duties) > 0 {
		fmt.Fprintf(w, "\nduties owed:\n")
		for _, d := range res.Duties {
			when := "each use"
			if !d.Due.IsZero() {
				when = "by " + d.Due.Format(time.RFC3339)
			}
			if d.Within > 0 {
				when += fmt.Sprintf(" (within %s)", d.Within)
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\n", d.Action, when, d.ID)
		}
	}
	return w.Flush()
}

func newPolicyLintCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "lint FILE [-o json]",
		Short: "Report problems in a policy: terms outside the profile, contradictions, expired bounds",
		Long: `Parses the policy (an ODRL policy object, or a DSP message carrying one) and
reports, one per line as "severity path: message": anything outside the
profile (unknown terms, operators, values), contradictory constraints (lt 5
and gt 10), dateTime bounds already past, count limits allowing no use,
permissions without constraints, duplicate rules, and a missing target.

Exit status: 0 no errors (warnings may be printed), 2 errors found, 1 the
file could not be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			errs, err := runPolicyLint(cmd.OutOrStdout(), args[0], out, time.Now())
			if err != nil {
				return err
			}
			if errs > 0 {
				os.Exit(exitDeniedOrProblems)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	return cmd
}

func runPolicyLint(w io.Writer, file, out string, now time.Time) (int, error) {
	if out != "text" && out != "json" {
		return 0, fmt.Errorf("flag -o: must be text or json, got %q", out)
	}
	data, err := readPolicyFile(file)
	if err != nil {
		return 0, err
	}
	problems := policy.Lint(data, now)
	errs := 0
	for _, p := range problems {
		if p.Severity == "error" {
			errs++
		}
	}
	if out == "json" {
		if problems == nil {
			problems = []policy.Problem{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return errs, enc.Encode(problems)
	}
	for _, p := range problems {
		path := p.Path
		if path == "" {
			path = "(policy)"
		}
		fmt.Fprintf(w, "%s %s: %s\n", p.Severity, path, p.Message)
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "%s: no problems\n", file)
	}
	return errs, nil
}
