package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// readerFlags are the flags of every command that reads a ledger service with a role token.
type readerFlags struct {
	url, tokenFile string
}

func (f *readerFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "ledger", os.Getenv("TDSC_LEDGER"), "ledger service URL (env TDSC_LEDGER)")
	cmd.Flags().StringVar(&f.tokenFile, "token", "", "file holding a role token (auditor, regulator, or a participant's read token); env TDSC_TOKEN holds the token itself")
}

func (f *readerFlags) client() (*client.Client, error) {
	if f.url == "" {
		return nil, fmt.Errorf("--ledger: a ledger service URL is required (or set TDSC_LEDGER)")
	}
	tok := os.Getenv("TDSC_TOKEN")
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		return nil, fmt.Errorf("--token: reading the ledger needs a role token (tdsc authority token --role auditor|regulator …)")
	}
	return newLedgerClient(f.url, nil, client.WithToken(tok))
}

// parseWhen accepts RFC 3339 or a date (YYYY-MM-DD, midnight UTC).
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s: %q is not RFC 3339 (2026-11-23T10:00:00+08:00) or a date (2026-11-23)", flag, s)
}

func checkOutput(out string, allowed ...string) error {
	for _, a := range allowed {
		if out == a {
			return nil
		}
	}
	return fmt.Errorf("-o: must be one of %s, got %q", strings.Join(allowed, ", "), out)
}

func newAuditRecordsCmd() *cobra.Command {
	var (
		rf                                      readerFlags
		q                                       ledger.Query
		kind, classification, since, until, out string
		limit                                   int
	)
	cmd := &cobra.Command{
		Use:   "records",
		Short: "List ledger records, filtered (by participant, dataset, agreement, transfer, kind, time, classification, region)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(out, "table", "json", "csv"); err != nil {
				return err
			}
			if kind != "" && !ledger.Kind(kind).Known() {
				return fmt.Errorf("--kind: unknown kind %q", kind)
			}
			if classification != "" {
				if err := policy.Classification(classification).Validate(); err != nil {
					return fmt.Errorf("--classification: %w", err)
				}
			}
			s, err := parseWhen("since", since)
			if err != nil {
				return err
			}
			u, err := parseWhen("until", until)
			if err != nil {
				return err
			}
			if !s.IsZero() {
				q.From = s.Format(time.RFC3339Nano)
			}
			if !u.IsZero() {
				q.To = u.Format(time.RFC3339Nano)
			}
			q.Kind, q.Classification = ledger.Kind(kind), policy.Classification(classification)
			c, err := rf.client()
			if err != nil {
				return err
			}
			entries, err := audit.Entries(cmd.Context(), c, q, limit)
			if err != nil {
				return err
			}
			return writeEntries(cmd.OutOrStdout(), out, entries)
		},
	}
	rf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&q.Participant, "participant", "", "records where this participant is actor or counterparty")
	f.StringVar(&q.Dataset, "dataset", "", "dataset id")
	f.StringVar(&q.Agreement, "agreement", "", "agreement id")
	f.StringVar(&q.Transfer, "transfer", "", "transfer id")
	f.StringVar(&q.Region, "region", "", "source or destination region")
	f.StringVar(&kind, "kind", "", "record kind, e.g. transfer.completed")
	f.StringVar(&classification, "classification", "", "general, important or core")
	f.StringVar(&since, "since", "", "from this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&until, "until", "", "before this time (RFC 3339 or YYYY-MM-DD)")
	f.IntVar(&limit, "limit", 0, "at most this many records (0: all)")
	f.StringVarP(&out, "output", "o", "table", "output: table, json or csv")
	return cmd
}

var recordColumns = []string{"index", "time", "kind", "actor", "counterparty", "dataset", "agreement", "transfer", "classification", "bytes", "decision", "rule", "reason"}

func recordRow(e ledger.Entry) []string {
	r := e.Record
	bytes := ""
	if r.Bytes != 0 {
		bytes = strconv.FormatInt(r.Bytes, 10)
	}
	return []string{strconv.FormatUint(e.Index, 10), r.Time, string(r.Kind), r.Actor, r.Counterparty, r.Dataset, r.Agreement,
		r.Transfer, string(r.Classification), bytes, r.Decision, r.Rule, r.Reason}
}

func writeEntries(w io.Writer, out string, entries []ledger.Entry) error {
	switch out {
	case "json":
		if entries == nil {
			entries = []ledger.Entry{}
		}
		return writeJSON(w, entries)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(recordColumns)
		for _, e := range entries {
			_ = cw.Write(recordRow(e))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(recordColumns, "\t")))
	for _, e := range entries {
		fmt.Fprintln(tw, strings.Join(recordRow(e), "\t"))
	}
	return tw.Flush()
}

func newAuditRecordCmd() *cobra.Command {
	var (
		rf        readerFlags
		withProof bool
		vkeyFile  string
		out       string
	)
	cmd := &cobra.Command{
		Use:   "record ID",
		Short: "Show one record; with --proof, its inclusion proof verified against the ledger's signed checkpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out, "text", "json"); err != nil {
				return err
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			p, err := c.Record(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			verdict := ""
			if withProof {
				if vkeyFile == "" {
					return fmt.Errorf("--vkey: the ledger's checkpoint key is needed to verify a proof (pin the key you were given)")
				}
				b, err := os.ReadFile(vkeyFile)
				if err != nil {
					return fmt.Errorf("--vkey: %w", err)
				}
				v, err := verify.NoteVerifier(strings.TrimSpace(string(b)))
				if err != nil {
					return err
				}
				cp, err := verify.Proven(p, v)
				if err != nil {
					return err
				}
				verdict = fmt.Sprintf("verified: record %s is leaf %d of the %d-leaf tree signed by %s (root %x)", p.Record.ID, p.Index, cp.Size, v.Name(), cp.Hash)
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, struct {
					ledger.Proven
					Verdict string `json:"verdict,omitempty"`
				}{p, verdict})
			}
			body, _ := json.MarshalIndent(p.Record, "", "  ")
			fmt.Fprintf(w, "%s\nindex %d in batch %s\n", body, p.Index, p.BatchRoot)
			if withProof {
				fmt.Fprintf(w, "inclusion proof: %d hashes for tree size %d\n%s\n", len(p.Proof), p.TreeSize, verdict)
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&withProof, "proof", false, "fetch and verify the record's inclusion proof")
	cmd.Flags().StringVar(&vkeyFile, "vkey", "", "file holding the ledger's checkpoint verifier key (note format)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

func newFlowsReportCmd() *cobra.Command {
	var (
		rf                       readerFlags
		since, until, out, table string
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Data flows: provider → consumer, by classification, by region and across borders, denials by rule, revocations, duties, objections",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(out, "table", "json", "csv"); err != nil {
				return err
			}
			if table != "flows" && table != "compute" && table != "compute-participants" {
				return fmt.Errorf("flag --table: must be flows, compute or compute-participants, got %q", table)
			}
			s, err := parseWhen("since", since)
			if err != nil {
				return err
			}
			u, err := parseWhen("until", until)
			if err != nil {
				return err
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			recs, err := audit.Records(cmd.Context(), c, ledger.Query{})
			if err != nil {
				return err
			}
			rep := audit.BuildReport(recs, audit.Window{Since: s, Until: u, Now: time.Now()})
			return writeReport(cmd.OutOrStdout(), out, table, rep)
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&table, "table", "flows", "with -o csv, which table: flows, compute (per agreement) or compute-participants")
	cmd.Flags().StringVar(&since, "since", "", "from this time (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&until, "until", "", "before this time (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output: table, json or csv (csv: the flows)")
	return cmd
}

func writeReport(w io.Writer, out, table string, rep audit.Report) error {
	switch {
	case out == "json":
		return writeJSON(w, rep)
	case out == "csv" && table == "compute":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"agreement", "provider", "consumer", "dataset", "runs", "denied", "cpuMillis", "bytesOut", "bytesIn"})
		for _, c := range rep.Compute {
			_ = cw.Write([]string{c.Agreement, c.Provider, c.Consumer, c.Dataset, strconv.Itoa(c.Runs), strconv.Itoa(c.Denied),
				strconv.FormatInt(c.CPUMillis, 10), strconv.FormatInt(c.BytesOut, 10), strconv.FormatInt(c.BytesIn, 10)})
		}
		cw.Flush()
		return cw.Error()
	case out == "csv" && table == "compute-participants":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"participant", "role", "runs", "denied", "cpuMillis", "bytesOut"})
		for _, m := range rep.ComputeByParticipant {
			_ = cw.Write([]string{m.Participant, m.Role, strconv.Itoa(m.Runs), strconv.Itoa(m.Denied),
				strconv.FormatInt(m.CPUMillis, 10), strconv.FormatInt(m.BytesOut, 10)})
		}
		cw.Flush()
		return cw.Error()
	case out == "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"provider", "consumer", "dataset", "category", "classification", "fromRegion", "toRegion", "crossBorder", "legalBasis", "transfers", "bytes"})
		for _, f := range rep.Flows {
			_ = cw.Write([]string{f.Provider, f.Consumer, f.Dataset, f.Category, string(f.Classification), f.FromRegion, f.ToRegion,
				strconv.FormatBool(f.CrossBorder), f.LegalBasis, strconv.Itoa(f.Transfers), strconv.FormatInt(f.Bytes, 10)})
		}
		cw.Flush()
		return cw.Error()
	}
	audit.WriteReportText(w, rep)
	return nil
}

func newFlowsParticipantCmd() *cobra.Command {
	var (
		rf  readerFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "participant ID",
		Short: "One participant's history in circulation: datasets, agreements, bytes moved, denials, revocations, duties, objections",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out, "table", "json"); err != nil {
				return err
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			recs, err := audit.Records(cmd.Context(), c, ledger.Query{})
			if err != nil {
				return err
			}
			h := audit.BuildHistory(recs, args[0], time.Now())
			if out == "json" {
				return writeJSON(cmd.OutOrStdout(), h)
			}
			audit.WriteHistoryText(cmd.OutOrStdout(), h)
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output: table or json")
	return cmd
}
