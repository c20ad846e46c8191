package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/cmd/tdsc/internal/ledgerhttp"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/service"
)

func newFabricServeCmd() *cobra.Command {
	var profile, chaincode, genesisFile, keyFile, indexFile, addr, audience string
	var deploy, secure bool
	var org int
	var tlsFlags serverTLSFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the ledger API (/ledger/v1/) over a space's chaincode on Fabric",
		Long: `The same HTTP API as 'tdsc ledger serve', backed by the tdsc chaincode on a
Fabric network instead of an embedded store, so connectors, the authority and
auditors use Fabric unchanged; the dashboard is at /ui/. --genesis initialises the chaincode for the
space (idempotent; --deploy first defines the chaincode on the channel).
Checkpoints are signed with the key in --note-key, created if missing (its
verifier key is written next to it with .vkey). The index of the channel's
blocks the service reads from is kept in --index, so a restart resumes from
the last block it read instead of reading the channel from block 0.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			serverTLS, err := tlsFlags.load()
			if err != nil {
				return err
			}
			secure = secure || serverTLS != nil
			var g *ledger.Genesis
			if genesisFile != "" {
				read, err := authority.ReadGenesis(genesisFile)
				if err != nil {
					return err
				}
				g = &read
			}
			if !cmd.Flags().Changed("index") {
				cc := chaincode
				if cc == "" {
					p, err := fabric.LoadProfile(profile)
					if err != nil {
						return fmt.Errorf("--profile %s: %w (start a network with scripts/fabric.sh up)", profile, err)
					}
					cc = p.Chaincode
				}
				indexFile = defaultIndexFile(profile, cc, org)
			}
			h, l, err := ledgerhttp.Fabric(ctx, ledgerhttp.FabricOptions{Options: ledgerhttp.Options{Audience: audience, SecureCookies: secure, Log: log, Context: ctx},
				Profile: profile, Chaincode: chaincode, Deploy: deploy, Genesis: g, NoteKeyFile: keyFile, IndexFile: indexFile, Org: org})
			if err != nil {
				return err
			}
			defer l.Close(context.Background())
			chaincode = l.Chaincode()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := service.Server(addr, h)
			srv.TLSConfig = serverTLS
			log.Info("ledger serving on fabric", "addr", ln.Addr().String(), "chaincode", chaincode, "space", l.Genesis().Space, "checkpointKey", l.VerifierKey(),
				"index", cmp.Or(indexFile, "memory"), "fromBlock", l.Stats().FromBlock)
			return serveUntilDone(ctx, srv, ln)
		},
	}
	cmd.Flags().StringVar(&profile, "profile", defaultFabricProfile, "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().StringVar(&chaincode, "chaincode", "", "the space's chaincode (default: the profile's)")
	cmd.Flags().IntVar(&org, "org", 0, "which of the profile's organisations (0-based) this service speaks for: its peer gateway and identities")
	cmd.Flags().BoolVar(&deploy, "deploy", false, "define the chaincode on the channel first (a fresh world state)")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "genesis file (tdsc authority init): initialises the chaincode for the space")
	cmd.Flags().StringVar(&keyFile, "note-key", "", "checkpoint signer key file (default: fabric-<chaincode>.key beside the profile)")
	cmd.Flags().StringVar(&indexFile, "index", "", `index file of the channel's blocks (default: fabric-<chaincode>.org<N>.index beside the profile; "" keeps it in memory)`)
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:7070", "listen address")
	cmd.Flags().StringVar(&audience, "audience", "ledger", "aud claim role tokens must carry")
	cmd.Flags().BoolVar(&secure, "secure-cookies", false, "mark the dashboard's session cookie Secure (TLS ends in front of this service)")
	tlsFlags.add(cmd)
	return cmd
}

// defaultIndexFile is where `tdsc fabric serve` keeps the index of
// chaincode's ledger for organisation org: beside the profile.
func defaultIndexFile(profile, chaincode string, org int) string {
	return filepath.Join(filepath.Dir(profile), fmt.Sprintf("fabric-%s.org%d.index", chaincode, org))
}
