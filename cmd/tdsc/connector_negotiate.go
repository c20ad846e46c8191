package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dsp"
)

func newCatalogCmd() *cobra.Command {
	var o apiOpts
	var from, provider string
	cmd := &cobra.Command{
		Use:   "catalog --from URL",
		Short: "Show another connector's catalogue as this node may see it",
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return fmt.Errorf("--from: required (the provider's DSP base URL)")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			cat, err := c.Catalog(cmd.Context(), from, provider)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, d := range cat.Dataset {
				for _, p := range d.HasPolicy {
					rules := fmt.Sprintf("%d permission(s), %d prohibition(s), %d duty(ies)", len(p.Permission), len(p.Prohibition), len(p.Obligation))
					rows = append(rows, []string{d.ID, short(d.Title, 32), d.Classification, d.Category, p.ID, rules})
				}
			}
			return printOut(cmd.OutOrStdout(), &o, cat, []string{"DATASET", "TITLE", "CLASS", "CATEGORY", "OFFER", "POLICY"}, rows)
		},
	}
	addAPIFlags(cmd, &o)
	cmd.Flags().StringVar(&from, "from", "", "the provider's DSP base URL")
	cmd.Flags().StringVar(&provider, "provider", "", "the provider's participant id (default: from its /.well-known/dspace-version)")
	return cmd
}

func newNegotiateCmd() *cobra.Command {
	var o apiOpts
	var in api.StartNegotiation
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "negotiate --from URL --offer ID",
		Short: "Negotiate a contract for an offer in another connector's catalogue",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			neg, err := c.StartNegotiation(cmd.Context(), in)
			if err != nil {
				return err
			}
			if wait {
				if neg, err = c.Negotiation(cmd.Context(), neg.ID, timeout); err != nil {
					return err
				}
			}
			if err := printNegotiation(cmd, &o, neg); err != nil {
				return err
			}
			if wait && neg.State == dsp.NegTerminated {
				return fmt.Errorf("negotiation %s was terminated: %s", neg.ID, neg.Reason)
			}
			if wait && neg.State != dsp.NegFinalized {
				return fmt.Errorf("negotiation %s is still %s after %v", neg.ID, neg.State, timeout)
			}
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	cmd.Flags().StringVar(&in.ProviderURL, "from", "", "the provider's DSP base URL (required)")
	cmd.Flags().StringVar(&in.Offer, "offer", "", "offer @id from the provider's catalogue (required)")
	cmd.Flags().StringVar(&in.Provider, "provider", "", "the provider's participant id (default: discovered)")
	cmd.Flags().StringVar(&in.Purpose, "purpose", "", "the purpose of use the policy is judged against")
	cmd.Flags().StringVar(&in.LegalBasis, "legal-basis", "", "legal basis of a cross-border flow")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until FINALIZED or TERMINATED")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long --wait waits")
	return cmd
}

func printNegotiation(cmd *cobra.Command, o *apiOpts, n *api.Negotiation) error {
	if o.output == "json" {
		return printOut(cmd.OutOrStdout(), o, n, nil, nil)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "negotiation  %s (%s)\ncounterparty %s\ndataset      %s  offer %s\nstate        %s\n", n.ID, n.Role, n.Counterparty, n.DatasetID, n.OfferID, n.State)
	if n.AgreementID != "" {
		fmt.Fprintf(w, "agreement    %s\n", n.AgreementID)
	}
	if n.Awaiting != "" {
		fmt.Fprintf(w, "awaiting     %s\n", n.Awaiting)
	}
	if n.Reason != "" {
		fmt.Fprintf(w, "reason       %s", n.Reason)
		if n.Rule != "" {
			fmt.Fprintf(w, " (rule %s)", n.Rule)
		}
		fmt.Fprintln(w)
	}
	if len(n.History) > 0 {
		fmt.Fprintln(w, "history:")
		rows := make([][]string, 0, len(n.History))
		for _, t := range n.History {
			rows = append(rows, []string{t.At, t.From + "→" + t.To, t.Actor, t.Reason})
		}
		return printOut(w, o, nil, []string{"  AT", "TRANSITION", "BY", "REASON"}, rows)
	}
	return nil
}

func newNegotiationCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "negotiation", Short: "List and inspect negotiations; approve, reject or counter requests waiting for the operator; terminate any"}
	var lo apiOpts
	var state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List negotiations, newest first",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := lo.client()
			if err != nil {
				return err
			}
			l, err := c.Negotiations(cmd.Context(), state)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, n := range l {
				note := n.Reason
				if n.Awaiting != "" {
					note = "awaiting " + n.Awaiting
				}
				rows = append(rows, []string{n.ID, string(n.Role), n.Counterparty, n.DatasetID, string(n.State), short(note, 60)})
			}
			return printOut(cmd.OutOrStdout(), &lo, l, []string{"ID", "ROLE", "COUNTERPARTY", "DATASET", "STATE", "REASON"}, rows)
		},
	}
	addAPIFlags(list, &lo)
	list.Flags().StringVar(&state, "state", "", "only negotiations in this state")
	var so apiOpts
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a negotiation with the history and reason of every transition",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := so.client()
			if err != nil {
				return err
			}
			n, err := c.Negotiation(cmd.Context(), args[0], 0)
			if err != nil {
				return err
			}
			return printNegotiation(cmd, &so, n)
		},
	}
	addAPIFlags(show, &so)
	decide := func(verb string) *cobra.Command {
		var o apiOpts
		var reason string
		c := &cobra.Command{
			Use:   verb + " ID",
			Short: verb + " a request waiting for the operator's approval",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := o.client()
				if err != nil {
					return err
				}
				act := c.Approve
				if verb == "reject" {
					act = c.Reject
				}
				n, err := act(cmd.Context(), args[0], reason)
				if err != nil {
					return err
				}
				return printNegotiation(cmd, &o, n)
			},
		}
		addAPIFlags(c, &o)
		c.Flags().StringVar(&reason, "reason", "", "reason (recorded and sent to the consumer on reject)")
		return c
	}
	var co apiOpts
	var counterPolicy, counterReason string
	counter := &cobra.Command{
		Use:   "counter ID --policy FILE",
		Short: "Answer a request waiting for approval with a narrower counter-offer (fewer uses, a shorter window, ...); the consumer accepts it or terminates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if counterPolicy == "" {
				return errors.New("--policy: required (an ODRL Offer: the request or narrower)")
			}
			pol, err := readPolicyFile(counterPolicy)
			if err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if !json.Valid(pol) {
				return fmt.Errorf("--policy %s: not JSON", counterPolicy)
			}
			c, err := co.client()
			if err != nil {
				return err
			}
			n, err := c.Counter(cmd.Context(), args[0], api.CounterOffer{Policy: pol, Reason: counterReason})
			if err != nil {
				return err
			}
			return printNegotiation(cmd, &co, n)
		},
	}
	addAPIFlags(counter, &co)
	counter.Flags().StringVar(&counterPolicy, "policy", "", "the counter-offer: an ODRL Offer file, the consumer's request or narrower")
	counter.Flags().StringVar(&counterReason, "reason", "", "why (kept in the negotiation's history)")
	var to apiOpts
	var termReason string
	terminate := &cobra.Command{
		Use:   "terminate ID",
		Short: "Terminate a negotiation in any state that is not final, as provider or consumer; the counterparty is told",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := to.client()
			if err != nil {
				return err
			}
			n, err := c.TerminateNegotiation(cmd.Context(), args[0], termReason)
			if err != nil {
				return err
			}
			return printNegotiation(cmd, &to, n)
		},
	}
	addAPIFlags(terminate, &to)
	terminate.Flags().StringVar(&termReason, "reason", "", "reason (recorded and sent to the counterparty)")
	var ao apiOpts
	accept := &cobra.Command{
		Use:   "accept ID",
		Short: "As a consumer with manualOffers: accept the offer (OFFERED) or the agreement (AGREED) the negotiation rests on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := ao.client()
			if err != nil {
				return err
			}
			n, err := c.Accept(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printNegotiation(cmd, &ao, n)
		},
	}
	addAPIFlags(accept, &ao)
	cmd.AddCommand(list, show, decide("approve"), decide("reject"), counter, terminate, accept)
	return cmd
}

func newAgreementCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agreement", Short: "List and revoke contract agreements"}
	var lo apiOpts
	list := &cobra.Command{
		Use:   "list",
		Short: "List agreements, newest first",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := lo.client()
			if err != nil {
				return err
			}
			l, err := c.Agreements(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(l))
			for _, a := range l {
				rows = append(rows, []string{a.ID, string(a.Role), a.Provider, a.Consumer, a.DatasetID, string(a.State), fmt.Sprint(a.Uses), short(a.Reason, 40)})
			}
			return printOut(cmd.OutOrStdout(), &lo, l, []string{"ID", "ROLE", "PROVIDER", "CONSUMER", "DATASET", "STATE", "USES", "REASON"}, rows)
		},
	}
	addAPIFlags(list, &lo)
	var ro apiOpts
	var reason string
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an active agreement (records agreement.revoked; running transfers are terminated)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := ro.client()
			if err != nil {
				return err
			}
			a, err := c.Revoke(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return printOut(cmd.OutOrStdout(), &ro, a, []string{"ID", "STATE", "REASON"}, [][]string{{a.ID, string(a.State), a.Reason}})
		},
	}
	addAPIFlags(revoke, &ro)
	revoke.Flags().StringVar(&reason, "reason", "", "why (recorded on the ledger)")
	cmd.AddCommand(list, revoke)
	return cmd
}
