package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/client"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/identity"
)

func printTransfer(cmd *cobra.Command, o *apiOpts, x *api.Transfer) error {
	if o.output == "json" {
		return printOut(cmd.OutOrStdout(), o, x, nil, nil)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "transfer     %s (%s)\ncounterparty %s\nagreement    %s  dataset %s\nstate        %s\n", x.ID, x.Role, x.Counterparty, x.AgreementID, x.DatasetID, x.State)
	if addr, err := x.Address(); err == nil && addr.Endpoint != "" {
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
			ctx := cmd.Context()
			x, err := c.StartTransfer(ctx, api.StartTransfer{Agreement: agreement, Format: format})
			if err != nil {
				return err
			}
			if format == "HttpData-PUSH" {
				if wait {
					if x, err = c.WaitTransfer(ctx, x.ID, api.UntilDone, timeout); err != nil {
						return err
					}
				}
				if err := printTransfer(cmd, &o, x); err != nil {
					return err
				}
				if wait && x.State != dsp.TransferCompleted {
					return fmt.Errorf("push transfer %s is %s: %s", x.ID, x.State, x.Reason)
				}
				return nil
			}
			if wait || out != "" {
				if x, err = c.WaitTransfer(ctx, x.ID, api.UntilStarted, timeout); err != nil {
					return err
				}
			}
			if out == "" {
				if err := printTransfer(cmd, &o, x); err != nil {
					return err
				}
				if wait && x.State == dsp.TransferTerminated {
					return fmt.Errorf("transfer %s was terminated: %s", x.ID, x.Reason)
				}
				return nil
			}
			return pullStarted(cmd, c, &o, x, out, keyFile, resume)
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
			x, err := c.Transfer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printTransfer(cmd, &so, x)
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
			l, err := c.Transfers(cmd.Context(), "")
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, x := range l {
				rows = append(rows, []string{x.ID, string(x.Role), x.Counterparty, x.AgreementID, string(x.State), short(x.Reason, 50)})
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
				var x *api.Transfer
				switch verb {
				case "complete":
					x, err = c.Complete(cmd.Context(), args[0])
				case "suspend":
					x, err = c.Suspend(cmd.Context(), args[0], reason)
				default:
					x, err = c.Terminate(cmd.Context(), args[0], reason)
				}
				if err != nil {
					return err
				}
				return printTransfer(cmd, &ao, x)
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
			x, err := c.Transfer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return pullStarted(cmd, c, &po, x, pullOut, pullKey, pullResume)
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
			x, err := c.Resume(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !resumeWait && resumeOut == "" {
				return printTransfer(cmd, &ro, x)
			}
			// Wait until the provider's start (or refusal) arrives.
			if x, err = c.WaitTransfer(cmd.Context(), x.ID, api.UntilResumed, resumeTimeout); err != nil {
				return err
			}
			if resumeOut == "" {
				if err := printTransfer(cmd, &ro, x); err != nil {
					return err
				}
				if x.State != dsp.TransferStarted {
					return fmt.Errorf("transfer %s is %s after the resume: %s", x.ID, x.State, x.Reason)
				}
				return nil
			}
			_, statErr := os.Stat(resumeOut)
			return pullStarted(cmd, c, &ro, x, resumeOut, resumeKey, statErr == nil)
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
// key (continuing a partial file with resume), checked against the hash
// registered on the ledger, and records the consumer's receipt (its
// transfer.completed), also when the hash does not match (client.Pull).
func pullStarted(cmd *cobra.Command, c *client.Client, o *apiOpts, x *api.Transfer, out, keyFile string, resume bool) error {
	if x.State != dsp.TransferStarted {
		printTransfer(cmd, o, x)
		return fmt.Errorf("transfer %s is %s, not STARTED: %s", x.ID, x.State, x.Reason)
	}
	if keyFile == "" {
		return errors.New("--key: required with --out (the consumer's key file; it signs each request's proof of possession)")
	}
	key, err := identity.LoadKey(keyFile)
	if err != nil {
		return err
	}
	bar := newPullBar(os.Stderr, out)
	res, err := c.Pull(cmd.Context(), x.ID, out, key, client.PullOptions{Resume: resume, Progress: bar.update})
	bar.finish(res.Result, err)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pulled %d bytes to %s, %s %s\n", res.Size, res.Path, res.Algorithm, res.Sum)
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
			l, err := c.Duties(cmd.Context(), agreement)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, d := range l {
				state := string(d.State)
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
			l, err := c.FulfilDuty(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, d := range l {
				rows = append(rows, []string{d.AgreementID, d.DutyID, d.Action, d.Due, string(d.State)})
			}
			return printOut(cmd.OutOrStdout(), &fo, l, []string{"AGREEMENT", "DUTY", "ACTION", "DUE", "STATE"}, rows)
		},
	}
	addAPIFlags(fulfil, &fo)
	cmd.AddCommand(list, fulfil)
	return cmd
}
