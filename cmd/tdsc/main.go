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

// groups are the parent commands subcommands hang under: "tdsc bench ledger",
// "tdsc audit verify", and so on.
var groups = map[string]*cobra.Command{
	"bench":     {Use: "bench", Short: "End-to-end benchmarks, each against a plain baseline in the same run"},
	"audit":     {Use: "audit", Short: "The auditor: query records, fetch proofs, verify the ledger"},
	"flows":     {Use: "flows", Short: "The regulator: data flows by participant, classification, region and border"},
	"authority": {Use: "authority", Short: "The space's authority: participants, keys, space-wide rules, role tokens"},
	"keys":      {Use: "keys", Short: "Participant keys"},
	"ledger":    {Use: "ledger", Short: "The embedded ledger service"},
	"policy":    {Use: "policy", Short: "Check and lint usage policies"},
}

// registered holds the constructors each command file adds in its init, keyed
// by parent group ("" for top level). Files own their commands; main wires them.
var registered = map[string][]func() *cobra.Command{}

// register adds a command constructor under a group ("" for the root).
func register(group string, mk func() *cobra.Command) {
	registered[group] = append(registered[group], mk)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tdsc",
		Short:         "tdsc: a trusted data space connector with an audit ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for name, g := range groups {
		parent := &cobra.Command{Use: g.Use, Short: g.Short}
		for _, mk := range registered[name] {
			parent.AddCommand(mk())
		}
		if parent.HasSubCommands() {
			root.AddCommand(parent)
		}
	}
	for _, mk := range registered[""] {
		root.AddCommand(mk())
	}
	return root
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
