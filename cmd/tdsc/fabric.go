package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/ledger/fabric"
)

func newFabricCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fabric",
		Short: "Work with the ledger on a Hyperledger Fabric network: a local one (up, down, status), the ledger service over it, the audit from its blocks",
	}
	cmd.AddCommand(newFabricVerifyCmd(), newFabricServeCmd())
	cmd.AddCommand(newFabricNetCmds()...)
	return cmd
}

func newFabricVerifyCmd() *cobra.Command {
	var profile, chaincode, out string
	var org int
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Audit a space's ledger from the channel's blocks",
		Long: `Reads every block of the channel through qscc, checks the block hash chain
and each block's data hash and every valid transaction's endorsements, takes
the batches the valid transactions of the space's chaincode committed, in
block order (as the ledger service does: same root, same proofs), and
re-verifies the ledger from them with the same checks as 'tdsc audit verify':
every batch signature under the writer's key as registered at that point,
the rulebook replayed from genesis, and the tree rebuilt from the records
against the tree head after every transaction. One reading: each batch is
checked as its block is read and not kept, so memory holds the rulebook's
state, not the ledger.
Exits non-zero naming the block, batch or record where it breaks.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := fabric.LoadProfile(profile)
			if err != nil {
				return err
			}
			if chaincode == "" {
				chaincode = p.Chaincode
			}
			if org < 0 || org >= len(p.Orgs) {
				return fmt.Errorf("--org %d: the profile has %d organisations (0 to %d)", org, len(p.Orgs), len(p.Orgs)-1)
			}
			ch, err := fabric.OpenChannel(p, org)
			if err != nil {
				return err
			}
			defer ch.Close()
			res, err := fabric.VerifyChain(ctx, ch, chaincode, nil)
			if err != nil {
				return err
			}
			if out == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d blocks chained; chaincode %s: %d valid transactions (%d invalid, ignored), %d batches, %d records, %d tree heads (one per transaction); root %s\n",
				res.Blocks, chaincode, res.Txs, res.InvalidTxs, res.Batches, res.Records, res.Checkpoints, res.Root)
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", filepath.Join(".cache", "fabric", "net", "profile.json"), "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().StringVar(&chaincode, "chaincode", "", "the space's chaincode (default: the profile's)")
	cmd.Flags().IntVar(&org, "org", 0, "which of the profile's organisations (0-based) reads the blocks: its peer, as its user (an auditor reads from the peer it trusts)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}
