package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector/api"
)

func newDatasetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dataset", Short: "Register and list the node's datasets"}
	var o apiOpts
	var in api.NewDataset
	var rights string
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a dataset (records dataset.registered on the ledger)",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if rights != "" {
				in.Rights = strings.Split(rights, ",")
			}
			d, err := c.AddDataset(cmd.Context(), in)
			if err != nil {
				return err
			}
			return printDatasets(cmd, &o, d, []*api.Dataset{d})
		},
	}
	addAPIFlags(add, &o)
	f := add.Flags()
	f.StringVar(&in.ID, "id", "", "dataset id (default: a new urn:uuid)")
	f.StringVar(&in.Title, "title", "", "title (required)")
	f.StringVar(&in.Description, "description", "", "description")
	f.StringVar(&in.Classification, "classification", "general", "general, important or core")
	f.StringVar(&in.Category, "category", "", "catalogue category (required; checked against the space's negative list)")
	f.StringVar(&rights, "rights", "holding", "rights held, comma-separated: holding,use,operation")
	f.StringVar(&in.ContentHash, "content-hash", "", "sha256:<hex> (sm3:<hex> in a gm space) of the content; for a file: source the node hashes the file, checks this against it, and takes the file's hash when it is left out")
	f.StringVar(&in.Source, "source", "", "where the data plane reads it: file:PATH, dir:PATH or an http(s) URL")
	f.StringVar(&in.RegistrationCode, "registration-code", "", "data registration number, if issued")
	f.BoolVar(&in.ManualApproval, "manual-approval", false, "negotiations for this dataset wait for the operator's approval")

	var lo apiOpts
	list := &cobra.Command{
		Use:   "list",
		Short: "List the node's datasets",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := lo.client()
			if err != nil {
				return err
			}
			ds, err := c.Datasets(cmd.Context())
			if err != nil {
				return err
			}
			return printDatasets(cmd, &lo, ds, ds)
		},
	}
	addAPIFlags(list, &lo)
	cmd.AddCommand(add, list)
	return cmd
}

func printDatasets(cmd *cobra.Command, o *apiOpts, v any, ds []*api.Dataset) error {
	rows := make([][]string, 0, len(ds))
	for _, d := range ds {
		approval := ""
		if d.ManualApproval {
			approval = "manual"
		}
		rows = append(rows, []string{d.ID, short(d.Title, 40), d.Classification, d.Category, strings.Join(d.Rights, ","), approval})
	}
	return printOut(cmd.OutOrStdout(), o, v, []string{"ID", "TITLE", "CLASS", "CATEGORY", "RIGHTS", "APPROVAL"}, rows)
}

func newOfferCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "offer", Short: "Offer datasets under ODRL usage policies"}
	var o apiOpts
	var id, dataset, policyFile string
	add := &cobra.Command{
		Use:   "add",
		Short: "Offer a dataset under the policy in --policy FILE (records offer.published)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if policyFile == "" || dataset == "" {
				return fmt.Errorf("--dataset and --policy are required")
			}
			pol, err := os.ReadFile(policyFile)
			if err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if !json.Valid(pol) {
				return fmt.Errorf("--policy %s: not JSON", policyFile)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			off, err := c.AddOffer(cmd.Context(), api.NewOffer{ID: id, Dataset: dataset, Policy: pol})
			if err != nil {
				return err
			}
			return printOffers(cmd, &o, off, []*api.Offer{off})
		},
	}
	addAPIFlags(add, &o)
	add.Flags().StringVar(&id, "id", "", "offer id (default: the policy's @id)")
	add.Flags().StringVar(&dataset, "dataset", "", "dataset id (required)")
	add.Flags().StringVar(&policyFile, "policy", "", "ODRL Offer JSON file (required)")
	var lo apiOpts
	list := &cobra.Command{
		Use:   "list",
		Short: "List the node's offers",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := lo.client()
			if err != nil {
				return err
			}
			l, err := c.Offers(cmd.Context())
			if err != nil {
				return err
			}
			return printOffers(cmd, &lo, l, l)
		},
	}
	addAPIFlags(list, &lo)
	cmd.AddCommand(add, list)
	return cmd
}

func printOffers(cmd *cobra.Command, o *apiOpts, v any, l []*api.Offer) error {
	rows := make([][]string, 0, len(l))
	for _, x := range l {
		rows = append(rows, []string{x.ID, x.DatasetID, short(x.PolicyHash, 24)})
	}
	return printOut(cmd.OutOrStdout(), o, v, []string{"ID", "DATASET", "POLICY HASH"}, rows)
}
