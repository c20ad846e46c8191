package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func newComputeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "compute", Short: "Run a program where the data is: only its result comes back (docs/sandbox.md)"}
	var (
		o                     apiOpts
		agreement, wasm, outF string
	)
	run := &cobra.Command{
		Use:   "run --agreement ID --wasm prog.wasm --out result",
		Short: "Submit a WASI module to the provider of a consumer agreement and save its result",
		Long: `Sends the module through this (consumer) node to the agreement's provider, which
checks the agreement and its compute permission, runs the module over the
dataset in its sandbox, judges the result against the output rule and records
compute.executed on the ledger. The result is written to --out only if the
provider let it leave; a refusal names the provider's rule.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if agreement == "" || wasm == "" || outF == "" {
				return fmt.Errorf("flags --agreement, --wasm and --out are required")
			}
			mod, err := os.ReadFile(wasm)
			if err != nil {
				return fmt.Errorf("flag --wasm: %w", err)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.Compute(cmd.Context(), agreement, mod)
			if err != nil {
				return err
			}
			if err := os.WriteFile(outF, res.Output, 0o600); err != nil {
				return fmt.Errorf("flag --out: %w", err)
			}
			return printOut(cmd.OutOrStdout(), &o, res, []string{"RUN", "PROGRAM", "OUTPUT HASH", "CPU MS", "BYTES"},
				[][]string{{res.Run, res.Program, res.OutputHash, fmt.Sprint(res.CPUMillis), fmt.Sprint(len(res.Output))}})
		},
	}
	addAPIFlags(run, &o)
	run.Flags().StringVar(&agreement, "agreement", "", "the agreement (this node its consumer)")
	run.Flags().StringVar(&wasm, "wasm", "", "the WASI preview 1 module")
	run.Flags().StringVar(&outF, "out", "", "file the result is written to")
	cmd.AddCommand(run)
	return cmd
}
