package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector/api"
)

// newOutboxCmd is `tdsc outbox`: the node's ledger records not yet committed
// (pending) and refused by the ledger, with counts by state.
func newOutboxCmd() *cobra.Command {
	var o apiOpts
	var state string
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Show the node's outbox: ledger records pending (not yet committed) and refused, with counts",
		Long: `Every ledger record a node writes goes through its outbox, in the same
database transaction as the state change it records, and is sent to the
ledger in batches. During a ledger outage records wait here as pending and
drain once the ledger is back; a record the ledger's rules refused stays here
as refused, with the ledger's reason. Lists up to 100 of each (GET /api/v1/outbox);
--state lists every record in one state, oldest first, read page by page
(GET /api/v1/outbox/records).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if state != "" {
				l, err := c.OutboxRecords(cmd.Context(), state)
				if err != nil {
					return err
				}
				if o.output == "json" {
					return printJSON(cmd, l)
				}
				return printOutbox(cmd.OutOrStdout(), &o, l)
			}
			st, err := c.Outbox(cmd.Context())
			if err != nil {
				return err
			}
			if o.output == "json" {
				return printJSON(cmd, st)
			}
			w := cmd.OutOrStdout()
			states := make([]string, 0, len(st.Counts))
			for s := range st.Counts {
				states = append(states, s)
			}
			sort.Strings(states)
			fmt.Fprintf(w, "ledger reachable: %v\n", st.LedgerHealthy)
			for _, s := range states {
				fmt.Fprintf(w, "%-10s %d\n", s, st.Counts[s])
			}
			l := append(st.Refused, st.Pending...)
			if len(l) == 0 {
				return nil
			}
			fmt.Fprintln(w)
			return printOutbox(w, &o, l)
		},
	}
	addAPIFlags(cmd, &o)
	cmd.Flags().StringVar(&state, "state", "", "list every record in this state: pending, batched, committed or refused")
	return cmd
}

// printOutbox prints outbox records as a table, a row each.
func printOutbox(w io.Writer, o *apiOpts, l []*api.OutboxRecord) error {
	rows := make([][]string, 0, len(l))
	for _, r := range l {
		rows = append(rows, []string{r.State, strconv.FormatInt(r.Seq, 10), r.RecordID, r.UpdatedAt, short(r.Error, 70)})
	}
	return printOut(w, o, nil, []string{"STATE", "SEQ", "RECORD", "UPDATED", "ERROR"}, rows)
}
