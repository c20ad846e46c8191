package audit

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteReportText prints the report as a person reads it: one table a section.
func WriteReportText(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	window := "all time"
	if rep.Since != "" || rep.Until != "" {
		window = fmt.Sprintf("%s … %s", orDash(rep.Since), orDash(rep.Until))
	}
	fmt.Fprintf(tw, "Flow report (%s, %d records)\n", window, rep.Records)

	fmt.Fprintln(tw, "\nData moved, provider → consumer")
	fmt.Fprintln(tw, "  PROVIDER\tCONSUMER\tDATASET\tCLASS\tFROM\tTO\tTRANSFERS\tBYTES")
	for _, f := range rep.Flows {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", f.Provider, f.Consumer, f.Dataset, f.Classification, f.FromRegion, f.ToRegion, f.Transfers, f.Bytes)
	}
	none(tw, len(rep.Flows))

	fmt.Fprintln(tw, "\nBy classification level")
	for _, l := range rep.ByClassification {
		fmt.Fprintf(tw, "  %s\t%d transfers\t%d bytes\n", l.Classification, l.Transfers, l.Bytes)
	}
	none(tw, len(rep.ByClassification))

	fmt.Fprintln(tw, "\nBy region")
	for _, r := range rep.ByRegion {
		mark := ""
		if r.CrossBorder {
			mark = "  (cross-border)"
		}
		fmt.Fprintf(tw, "  %s → %s\t%d transfers\t%d bytes%s\n", r.FromRegion, r.ToRegion, r.Transfers, r.Bytes, mark)
	}
	none(tw, len(rep.ByRegion))

	fmt.Fprintln(tw, "\nAcross borders, with legal basis")
	for _, f := range rep.CrossBorder {
		fmt.Fprintf(tw, "  %s → %s\t%s (%s)\t%s → %s\tbasis: %s\t%d bytes\n", f.Provider, f.Consumer, f.Dataset, f.Classification, f.FromRegion, f.ToRegion, orDash(f.LegalBasis), f.Bytes)
	}
	none(tw, len(rep.CrossBorder))

	fmt.Fprintln(tw, "\nDenials by rule")
	for _, d := range rep.Denials {
		fmt.Fprintf(tw, "  %s\t%d\te.g. %s\n", d.Rule, d.Count, d.Example)
	}
	none(tw, len(rep.Denials))

	fmt.Fprintln(tw, "\nNegative-list hits")
	for _, d := range rep.NegativeListHits {
		fmt.Fprintf(tw, "  %s\t%s asked %s for %s (category %s)\n", d.Time, d.Consumer, d.Provider, d.Dataset, d.Category)
	}
	none(tw, len(rep.NegativeListHits))

	fmt.Fprintln(tw, "\nAgreements revoked")
	for _, r := range rep.Revoked {
		fmt.Fprintf(tw, "  %s\t%s → %s\t%s\t%s\n", r.Agreement, r.Provider, r.Consumer, r.Time, r.Reason)
	}
	none(tw, len(rep.Revoked))

	fmt.Fprintln(tw, "\nDuties overdue")
	for _, d := range rep.DutiesOverdue {
		fmt.Fprintf(tw, "  %s\t%s owes %s (%s)\tdue %s\n", d.Agreement, d.Consumer, d.Action, d.Duty, d.Due)
	}
	none(tw, len(rep.DutiesOverdue))

	fmt.Fprintln(tw, "\nObjections open")
	for _, o := range rep.ObjectionsOpen {
		fmt.Fprintf(tw, "  %s\t%s on %s\t%s\tfiled %s\n", o.Objection, o.Filer, o.Dataset, o.Subject, o.Filed)
	}
	none(tw, len(rep.ObjectionsOpen))

	fmt.Fprintln(tw, "\nComputations at the provider, by agreement (data used, not moved)")
	fmt.Fprintln(tw, "  AGREEMENT\tPROVIDER\tCONSUMER\tDATASET\tRUNS\tDENIED\tCPU MS\tBYTES OUT")
	for _, c := range rep.Compute {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", c.Agreement, c.Provider, c.Consumer, c.Dataset, c.Runs, c.Denied, c.CPUMillis, c.BytesOut)
	}
	none(tw, len(rep.Compute))
	fmt.Fprintln(tw, "\nComputations by participant")
	for _, m := range rep.ComputeByParticipant {
		fmt.Fprintf(tw, "  %s\tas %s\t%d runs, %d denied\t%d CPU ms\t%d bytes out\n", m.Participant, m.Role, m.Runs, m.Denied, m.CPUMillis, m.BytesOut)
	}
	none(tw, len(rep.ComputeByParticipant))
}

// WriteHistoryText prints one participant's history.
func WriteHistoryText(w io.Writer, h History) {
	fmt.Fprintf(w, "Participant %s (%s), region %s, %s\n", h.Participant, orDash(h.Name), orDash(h.Region), orDash(h.Status))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  datasets owned\t%d\n", h.DatasetsOwned)
	fmt.Fprintf(tw, "  agreements\t%d as provider, %d as consumer\n", h.AgreementsAsProvider, h.AgreementsAsConsumer)
	fmt.Fprintf(tw, "  sent\t%d transfers, %d bytes\n", h.TransfersSent, h.BytesSent)
	fmt.Fprintf(tw, "  received\t%d transfers, %d bytes\n", h.TransfersReceived, h.BytesReceived)
	fmt.Fprintf(tw, "  uses logged\t%d\n", h.UsesLogged)
	fmt.Fprintf(tw, "  duties\t%d fulfilled, %d overdue\n", h.DutiesFulfilled, len(h.DutiesOverdue))
	fmt.Fprintf(tw, "  records\t%d\n", len(h.Records))
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "\nDenials (%d)\n", len(h.Denials))
	for _, d := range h.Denials {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.Time, d.Kind, d.Rule, d.Reason)
	}
	fmt.Fprintf(tw, "\nRevocations (%d)\n", len(h.Revoked))
	for _, r := range h.Revoked {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Agreement, r.Time, r.Reason)
	}
	fmt.Fprintf(tw, "\nDuties overdue (%d)\n", len(h.DutiesOverdue))
	for _, d := range h.DutiesOverdue {
		fmt.Fprintf(tw, "  %s\t%s (%s)\tdue %s\n", d.Agreement, d.Action, d.Duty, d.Due)
	}
	fmt.Fprintf(tw, "\nObjections open (%d)\n", len(h.ObjectionsOpen))
	for _, o := range h.ObjectionsOpen {
		fmt.Fprintf(tw, "  %s\t%s on %s\t%s\tfiled %s\n", o.Objection, o.Filer, o.Dataset, o.Subject, o.Filed)
	}
}

func none(w io.Writer, n int) {
	if n == 0 {
		fmt.Fprintln(w, "  (none)")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
