package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/cmd/tdsc/internal/ledgerhttp"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/service"
)

func newLedgerServeCmd() *cobra.Command {
	var (
		dir, addr, genesisFile, audience string
		secure, rebuild                  bool
	)
	var tlsFlags serverTLSFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the embedded ledger in DIR over HTTP under /ledger/v1/",
		Long: `Opens (or, with --genesis, creates) the embedded ledger in --dir and serves its
API: POST /ledger/v1/batches; GET records/{id}, records?query, batches,
checkpoint(s), proof/consistency, participants/{id}[/jwks], rules, genesis;
/healthz and /metrics. Reads of records need a role token (Authorization:
Bearer), verified against the participants registered on this ledger:
auditor and regulator tokens from the authority, participant tokens
self-signed. The auditors' and regulators' dashboard is at /ui/ (log in with
the same role token). Stops cleanly on SIGINT/SIGTERM.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			serverTLS, err := tlsFlags.load()
			if err != nil {
				return err
			}
			secure = secure || serverTLS != nil
			g, err := serveGenesis(dir, genesisFile)
			if err != nil {
				return err
			}
			st, err := embedded.Open(ctx, dir, g, embedded.Options{Logger: log, RebuildState: rebuild})
			if err != nil {
				return err
			}
			defer st.Close(context.Background())
			h, err := ledgerhttp.Embedded(st, ledgerhttp.Options{Audience: audience, SecureCookies: secure, Log: log, Context: ctx})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := service.Server(addr, h)
			srv.TLSConfig = serverTLS
			log.Info("ledger serving", "addr", ln.Addr().String(), "dir", dir, "space", g.Space, "checkpointKey", st.VerifierKey())
			return serveUntilDone(ctx, srv, ln)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "ledger directory (created with --genesis)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:7070", "listen address")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "genesis file (tdsc authority init); required to create a ledger, checked when reopening")
	cmd.Flags().StringVar(&audience, "audience", "ledger", "aud claim role tokens must carry")
	cmd.Flags().BoolVar(&secure, "secure-cookies", false, "mark the dashboard's session cookie Secure (TLS ends in front of this service)")
	tlsFlags.add(cmd)
	cmd.Flags().BoolVar(&rebuild, "rebuild-state", false, "rebuild the rulebook state from the stored records before serving (repair, if the state is reported damaged)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// serveGenesis reads the genesis file, or the genesis stored in an existing ledger.
func serveGenesis(dir, file string) (ledger.Genesis, error) {
	var g ledger.Genesis
	if file != "" {
		return authority.ReadGenesis(file)
	}
	raw, err := embedded.OpenRaw(dir)
	if err != nil {
		return g, fmt.Errorf("no ledger in %s: create one with --genesis FILE (%w)", dir, err)
	}
	defer raw.Close()
	return raw.Genesis(context.Background())
}
