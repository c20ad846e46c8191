package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
)

func printTransfer(cmd *cobra.Command, o *apiOpts, x *store.Transfer) error {
	if o.output == "json" {
		return printOut(cmd.OutOrStdout(), o, x, nil, nil)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "transfer     %s (%s)\ncounterparty %s\nagreement    %s  dataset %s\nstate        %s\n", x.ID, x.Role, x.Counterparty, x.AgreementID, x.DatasetID, x.State)
	var addr dsp.DataAddress
	if len(x.DataAddress) > 0 && json.Unmarshal(x.DataAddress, &addr) == nil && addr.Endpoint != "" {
		fmt.Fprintf(w, "endpoint     %s\n", addr.Endpoint)
	}
	if x.Reason != "" {
		fmt.Fprintf(w, "reason       %s\n", x.Reason)
	}
	for _, t := range x.History {
		fmt.Fprintf(w, "  %s  %s→%s  %s  %s\n", t.At, t.From, t.To, t.Actor, t.Reason)
	}
	return nil
}

func newTransferCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "transfer", Short: "Start and follow transfers under agreements"}
	var o apiOpts
	var agreement, out, keyFile string
	var wait, resume, push bool
	var format string
	var timeout time.Duration
	start := &cobra.Command{
		Use:   "start --agreement ID",
		Short: "Ask the provider for a transfer; with --out, pull the data once it starts; with --push, have the provider push it to this node",
		RunE: func(cmd *cobra.Command, args []string) error {
			if push {
				if format != "" && format != "HttpData-PUSH" {
					return fmt.Errorf("--push and --format %s: pick one", format)
				}
				format = "HttpData-PUSH"
			}
			if format == "HttpData-PUSH" && out != "" {
				return errors.New("--out: a push lands in the consumer node's data directory (received/<transfer>/dataset), not in a local file")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var x store.Transfer
			if err := c.call(cmd.Context(), http.MethodPost, "/transfers", connector.StartTransferRequest{Agreement: agreement, Format: format}, &x); err != nil {
				return err
			}
			if format == "HttpData-PUSH" {
				if wait {
					if err := c.call(cmd.Context(), http.MethodGet, "/transfers/"+url.PathEscape(x.ID)+"?until=done&wait="+timeout.String(), nil, &x); err != nil {
						return err
					}
				}
				if err := printTransfer(cmd, &o, &x); err != nil {
					return err
				}
				if wait && x.State != string(dsp.TransferCompleted) {
					return fmt.Errorf("push transfer %s is %s: %s", x.ID, x.State, x.Reason)
				}
				return nil
			}
			if wait || out != "" {
				if err := c.call(cmd.Context(), http.MethodGet, "/transfers/"+url.PathEscape(x.ID)+"?wait="+timeout.String(), nil, &x); err != nil {
					return err
				}
			}
			if out == "" {
				if err := printTransfer(cmd, &o, &x); err != nil {
					return err
				}
				if wait && x.State == string(dsp.TransferTerminated) {
					return fmt.Errorf("transfer %s was terminated: %s", x.ID, x.Reason)
				}
				return nil
			}
			return pullStarted(cmd, c, &o, &x, out, keyFile, resume)
		},
	}
	addAPIFlags(start, &o)
	start.Flags().StringVar(&agreement, "agreement", "", "agreement id (required)")
	start.Flags().BoolVar(&wait, "wait", false, "wait until the provider starts or refuses the transfer")
	start.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait")
	start.Flags().StringVar(&out, "out", "", "pull the data into this file once started")
	start.Flags().StringVar(&keyFile, "key", "", "the consumer's key file, for --out")
	start.Flags().BoolVar(&resume, "resume", false, "with --out: continue a partial download")
	start.Flags().BoolVar(&push, "push", false, "have the provider push the data to this node's receiver (format HttpData-PUSH)")
	start.Flags().StringVar(&format, "format", "", "transfer format: HttpData-PULL (default) or HttpData-PUSH")

	var so apiOpts
	status := &cobra.Command{
		Use:   "status ID",
		Short: "Show a transfer with its history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := so.client()
			if err != nil {
				return err
			}
			var x store.Transfer
			if err := c.call(cmd.Context(), http.MethodGet, "/transfers/"+url.PathEscape(args[0]), nil, &x); err != nil {
				return err
			}
			return printTransfer(cmd, &so, &x)
		},
	}
	addAPIFlags(status, &so)
	var lo apiOpts
	list := &cobra.Command{
		Use:   "list",
		Short: "List transfers, newest first",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := lo.client()
			if err != nil {
				return err
			}
			var l []*store.Transfer
			if err := c.call(cmd.Context(), http.MethodGet, "/transfers", nil, &l); err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, x := range l {
				rows = append(rows, []string{x.ID, x.Role, x.Counterparty, x.AgreementID, x.State, short(x.Reason, 50)})
			}
			return printOut(cmd.OutOrStdout(), &lo, l, []string{"ID", "ROLE", "COUNTERPARTY", "AGREEMENT", "STATE", "REASON"}, rows)
		},
	}
	addAPIFlags(list, &lo)
	action := func(verb, short string) *cobra.Command {
		var ao apiOpts
		var reason string
		c := &cobra.Command{
			Use:   verb + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := ao.client()
				if err != nil {
					return err
				}
				var x store.Transfer
				if err := c.call(cmd.Context(), http.MethodPost, "/transfers/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"reason": reason}, &x); err != nil {
					return err
				}
				return printTransfer(cmd, &ao, &x)
			},
		}
		addAPIFlags(c, &ao)
		c.Flags().StringVar(&reason, "reason", "", "reason sent to the counterparty")
		return c
	}
	var po apiOpts
	var pullOut, pullKey string
	var pullResume bool
	pullCmd := &cobra.Command{
		Use:   "pull ID --out FILE --key KEY",
		Short: "Pull a started transfer's data again (after a cut connection, say) without starting a new transfer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pullOut == "" {
				return errors.New("--out: required (the file to pull into)")
			}
			c, err := po.client()
			if err != nil {
				return err
			}
			var x store.Transfer
			if err := c.call(cmd.Context(), http.MethodGet, "/transfers/"+url.PathEscape(args[0]), nil, &x); err != nil {
				return err
			}
			return pullStarted(cmd, c, &po, &x, pullOut, pullKey, pullResume)
		},
	}
	addAPIFlags(pullCmd, &po)
	pullCmd.Flags().StringVar(&pullOut, "out", "", "file to pull into (required)")
	pullCmd.Flags().StringVar(&pullKey, "key", "", "the consumer's key file (required)")
	pullCmd.Flags().BoolVar(&pullResume, "resume", false, "continue a partial download in --out")

	var ro apiOpts
	var resumeOut, resumeKey string
	var resumeWait bool
	var resumeTimeout time.Duration
	resumeCmd := &cobra.Command{
		Use:   "resume ID [--wait] [--out FILE --key KEY]",
		Short: "Resume a suspended transfer: the provider evaluates the agreement again and issues a fresh access token; with --out, continue pulling into FILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := ro.client()
			if err != nil {
				return err
			}
			var x store.Transfer
			if err := c.call(cmd.Context(), http.MethodPost, "/transfers/"+url.PathEscape(args[0])+"/resume", map[string]string{}, &x); err != nil {
				return err
			}
			if !resumeWait && resumeOut == "" {
				return printTransfer(cmd, &ro, &x)
			}
			// Wait until the provider's start (or refusal) arrives.
			if err := c.call(cmd.Context(), http.MethodGet, "/transfers/"+url.PathEscape(x.ID)+"?until=resumed&wait="+resumeTimeout.String(), nil, &x); err != nil {
				return err
			}
			if resumeOut == "" {
				if err := printTransfer(cmd, &ro, &x); err != nil {
					return err
				}
				if x.State != string(dsp.TransferStarted) {
					return fmt.Errorf("transfer %s is %s after the resume: %s", x.ID, x.State, x.Reason)
				}
				return nil
			}
			_, statErr := os.Stat(resumeOut)
			return pullStarted(cmd, c, &ro, &x, resumeOut, resumeKey, statErr == nil)
		},
	}
	addAPIFlags(resumeCmd, &ro)
	resumeCmd.Flags().BoolVar(&resumeWait, "wait", false, "wait until the provider has resumed (or refused) the transfer")
	resumeCmd.Flags().DurationVar(&resumeTimeout, "timeout", 60*time.Second, "how long to wait")
	resumeCmd.Flags().StringVar(&resumeOut, "out", "", "then pull into this file, continuing it if it exists")
	resumeCmd.Flags().StringVar(&resumeKey, "key", "", "the consumer's key file, for --out")

	cmd.AddCommand(start, status, list, pullCmd, resumeCmd,
		action("complete", "Complete a started transfer (the consumer records usage.logged)"),
		action("suspend", "Suspend a started transfer"),
		action("terminate", "Terminate a transfer"))
	return cmd
}

// pullStarted pulls a STARTED transfer's data into out with the consumer's
// key (continuing a partial file with resume), then records the consumer's
// receipt (its transfer.completed), also when the hash does not match.
func pullStarted(cmd *cobra.Command, c *apiClient, o *apiOpts, x *store.Transfer, out, keyFile string, resume bool) error {
	if x.State != string(dsp.TransferStarted) {
		printTransfer(cmd, o, x)
		return fmt.Errorf("transfer %s is %s, not STARTED: %s", x.ID, x.State, x.Reason)
	}
	var addr dsp.DataAddress
	if err := json.Unmarshal(x.DataAddress, &addr); err != nil {
		return fmt.Errorf("transfer %s: data address: %w", x.ID, err)
	}
	if keyFile == "" {
		return errors.New("--key: required with --out (the consumer's key file; it signs each request's proof of possession)")
	}
	key, err := identity.LoadKey(keyFile)
	if err != nil {
		return err
	}
	// Check the download against the hash registered on the ledger, which
	// the node reads, rather than the provider's word in the data address.
	expected := addr.Property("contentHash")
	var eh connector.ExpectedHashAnswer
	if err := c.call(cmd.Context(), http.MethodGet, "/transfers/"+url.PathEscape(x.ID)+"/expected-hash", nil, &eh); err == nil && eh.ContentHash != "" {
		expected = eh.ContentHash
	}
	res, err := pullTransfer(cmd.Context(), pullOptions{URL: addr.Endpoint, Token: addr.Property("authorization"), Key: key,
		Out: out, Resume: resume, ExpectedHash: expected, Progress: os.Stderr})
	if err == nil || errors.Is(err, dataplane.ErrHashMismatch) {
		// The consumer's own transfer.completed: what it received.
		rerr := c.call(cmd.Context(), http.MethodPost, "/transfers/"+url.PathEscape(x.ID)+"/receipt",
			connector.Receipt{Bytes: res.Size, SHA256: res.SHA256}, nil)
		if err == nil && rerr != nil {
			return fmt.Errorf("pulled %d bytes to %s, but recording the receipt failed: %w", res.Size, out, rerr)
		}
	}
	if err != nil {
		if errors.Is(err, dataplane.ErrHashMismatch) {
			return fmt.Errorf("pulled %d bytes to %s but the content hash does not match the registered one: %w", res.Size, out, err)
		}
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pulled %d bytes to %s, sha256 %s\n", res.Size, res.Path, res.SHA256)
	return nil
}

func newDutyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "duty", Short: "Duties owed under agreements"}
	var lo apiOpts
	var agreement string
	list := &cobra.Command{
		Use:   "list",
		Short: "List duties and their state",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := lo.client()
			if err != nil {
				return err
			}
			var l []*store.Duty
			if err := c.call(cmd.Context(), http.MethodGet, "/duties?agreement="+url.QueryEscape(agreement), nil, &l); err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, d := range l {
				state := d.State
				if d.Overdue {
					state += " (overdue)"
				}
				rows = append(rows, []string{d.AgreementID, d.DutyID, d.Action, d.Due, state})
			}
			return printOut(cmd.OutOrStdout(), &lo, l, []string{"AGREEMENT", "DUTY", "ACTION", "DUE", "STATE"}, rows)
		},
	}
	addAPIFlags(list, &lo)
	list.Flags().StringVar(&agreement, "agreement", "", "only this agreement's duties")
	var fo apiOpts
	fulfil := &cobra.Command{
		Use:   "fulfil AGREEMENT DUTY",
		Short: "Mark a duty fulfilled (records duty.fulfilled)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fo.client()
			if err != nil {
				return err
			}
			var l []*store.Duty
			if err := c.call(cmd.Context(), http.MethodPost, "/duties/fulfil", map[string]string{"agreement": args[0], "duty": args[1]}, &l); err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, d := range l {
				rows = append(rows, []string{d.AgreementID, d.DutyID, d.Action, d.Due, d.State})
			}
			return printOut(cmd.OutOrStdout(), &fo, l, []string{"AGREEMENT", "DUTY", "ACTION", "DUE", "STATE"}, rows)
		},
	}
	addAPIFlags(fulfil, &fo)
	cmd.AddCommand(list, fulfil)
	return cmd
}
