package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/cmd/tdsc/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var (
		keep      bool
		dir       string
		backend   string
		verbose   bool
		profile   string
		suiteName string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole data space on loopback and tell a circulation story through it",
		Long: `Starts, on loopback, the authority, the embedded ledger service and three
connectors — a city government department holding public data, a domestic
enterprise, and an enterprise registered outside the border — and runs the
story: registration and space rules; datasets of every classification level
offered under policies; catalogue, negotiation and a pull with its hash
checked; refusals with their reasons; use, duties and objections; the
auditor's verification and the regulator's flow report. Exits 0 only if every
step behaved as expected. --keep leaves everything running.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if backend != demo.BackendEmbedded && backend != demo.BackendFabric {
				return fmt.Errorf("--ledger: %q: use embedded or fabric", backend)
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			temp := dir == ""
			if temp {
				var err error
				if dir, err = os.MkdirTemp("", "tdsc-demo-"); err != nil {
					return err
				}
			} else if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if !verbose {
				logger = nil
			}
			d, err := demo.Run(ctx, demo.Options{Dir: dir, Out: out, Logger: logger, Ledger: backend, FabricProfile: profile, Suite: suiteName})
			if err != nil {
				return err
			}
			defer func() {
				d.Close()
				if temp && !keep {
					os.RemoveAll(dir)
				}
			}()
			if n := len(d.Facts.Failures); n > 0 {
				return fmt.Errorf("demo: %d step(s) did not behave as expected:\n  %s", n, strings.Join(d.Facts.Failures, "\n  "))
			}
			fmt.Fprintln(out, "Every step behaved as expected.")
			if !keep {
				return nil
			}
			printKeep(out, d.Facts)
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&suiteName, "suite", "intl", "the space's crypto suite: intl (Ed25519, SHA-256) or gm (SM2 with SM3, 国密)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the space running and print its URLs and ready-to-paste CLI commands")
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the space's files (a temporary one when empty)")
	cmd.Flags().StringVar(&backend, "ledger", demo.BackendEmbedded, "ledger backend: embedded, or fabric (a network started with scripts/fabric.sh up; the demo deploys a fresh chaincode on it)")
	cmd.Flags().StringVar(&profile, "fabric-profile", defaultFabricProfile, "with --ledger fabric: the network profile scripts/fabric.sh up wrote")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the components' warnings")
	return cmd
}

func printKeep(w interface{ Write([]byte) (int, error) }, f demo.Facts) {
	fmt.Fprintf(w, `
The space keeps running (Ctrl-C to stop). Files: %s
  ledger service   %s   (checkpoint key in %s/ledger.vkey)
  %-20s %s
  %-20s %s
  %-20s %s

Try, in another terminal:
  tdsc audit records --ledger %s --token %s
  tdsc audit records --ledger %s --token %s --kind negotiation.denied -o json
  tdsc audit record agreement.signed/%s --proof --vkey %s/ledger.vkey --ledger %s --token %s
  tdsc audit verify --ledger %s --token %s --vkey %s/ledger.vkey
  tdsc flows report --ledger %s --token %s
  tdsc flows participant %s --ledger %s --token %s
`, f.Dir, f.LedgerURL, f.Dir,
		demo.Dept, f.Connectors[demo.Dept], demo.Firm, f.Connectors[demo.Firm], demo.SGCo, f.Connectors[demo.SGCo],
		f.LedgerURL, f.AuditorTok,
		f.LedgerURL, f.AuditorTok,
		f.Agreements["traffic"], f.Dir, f.LedgerURL, f.AuditorTok,
		f.LedgerURL, f.AuditorTok, f.Dir,
		f.LedgerURL, f.RegulatorTok,
		demo.Firm, f.LedgerURL, f.RegulatorTok)
}
