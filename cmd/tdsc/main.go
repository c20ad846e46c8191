// Command tdsc is the one CLI of the trusted data space connector: connector
// node, embedded ledger service, authority, auditor and regulator tools, demo
// and benchmarks. It only wires packages together; the work lives in them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// newRoot builds the command tree. Every command is listed here, by its
// constructor: nothing registers itself.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tdsc",
		Short:         "tdsc: a trusted data space connector with an audit ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(), newDemoCmd(), newFabricCmd(), newOutboxCmd(), newIdentityCmd(),
		newDatasetCmd(), newOfferCmd(), newCatalogCmd(), newNegotiateCmd(), newNegotiationCmd(), newAgreementCmd(),
		newTransferCmd(), newDutyCmd(), newComputeCmd(),
		group("authority", "The space's authority: participants, keys, space-wide rules, role tokens",
			newAuthorityInitCmd, newAuthorityRegisterCmd, newAuthoritySuspendCmd,
			newAuthorityUpdateCmd, newAuthorityRulesCmd, newAuthorityTokenCmd, newAuthorityCredentialsCmd),
		group("audit", "The auditor: query records, fetch proofs, verify the ledger",
			newAuditRecordsCmd, newAuditRecordCmd, newAuditVerifyCmd),
		group("flows", "The regulator: data flows by participant, classification, region and border",
			newFlowsReportCmd, newFlowsParticipantCmd),
		group("keys", "Participant keys", newKeysGenerateCmd, newKeysPublicCmd, newKeysDIDCmd, newKeysCredentialCmd),
		group("ledger", "The embedded ledger service", newLedgerServeCmd),
		group("policy", "Check and lint usage policies", newPolicyCheckCmd, newPolicyLintCmd),
		group("bench", "End-to-end benchmarks, each against a plain baseline in the same run",
			newBenchLedgerCmd, newBenchNegotiationCmd, newBenchPolicyCmd, newBenchTokensCmd,
			newBenchDataplaneCmd, newBenchFabricCmd, newBenchComputeCmd),
	)
	return root
}

// group is a parent command ("tdsc bench …") holding the given commands.
func group(use, short string, cmds ...func() *cobra.Command) *cobra.Command {
	parent := &cobra.Command{Use: use, Short: short}
	for _, mk := range cmds {
		parent.AddCommand(mk())
	}
	return parent
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tdsc:", err)
		os.Exit(1)
	}
}
