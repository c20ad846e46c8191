package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/service"
)

func newFabricServeCmd() *cobra.Command {
	var profile, chaincode, genesisFile, keyFile, addr, audience string
	var deploy bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the ledger API (/ledger/v1/) over a space's chaincode on Fabric",
		Long: `The same HTTP API as 'tdsc ledger serve', backed by the tdsc chaincode on a
Fabric network instead of an embedded store, so connectors, the authority and
auditors use Fabric unchanged. --genesis initialises the chaincode for the
space (idempotent; --deploy first defines the chaincode on the channel).
Checkpoints are signed with the key in --note-key, created if missing (its
verifier key is written next to it with .vkey).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			p, err := fabric.LoadProfile(profile)
			if err != nil {
				return err
			}
			if chaincode == "" {
				chaincode = p.Chaincode
			}
			if deploy {
				if err := fabric.Deploy(ctx, p, chaincode); err != nil {
					return err
				}
			}
			var g *ledger.Genesis
			if genesisFile != "" {
				data, err := os.ReadFile(genesisFile)
				if err != nil {
					return err
				}
				g = new(ledger.Genesis)
				if err := json.Unmarshal(data, g); err != nil {
					return fmt.Errorf("genesis %s: %w", genesisFile, err)
				}
			}
			if keyFile == "" {
				keyFile = filepath.Join(filepath.Dir(profile), "fabric-"+chaincode+".key")
			}
			skey, err := fabricNoteKey(ctx, keyFile, g, p, chaincode)
			if err != nil {
				return err
			}
			l, err := fabric.Open(ctx, fabric.Config{Profile: p, Chaincode: chaincode, NoteKey: skey, Log: log})
			if err != nil {
				return err
			}
			defer l.Close(context.Background())
			if g != nil {
				if err := l.Init(ctx, *g); err != nil {
					return err
				}
			} else if _, err := (fabric.StateSource{L: l}).Genesis(ctx); err != nil {
				return fmt.Errorf("chaincode %s: %w (initialise it with --genesis FILE)", chaincode, err)
			}
			reg := identity.NewRegistry(l, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
			v, err := identity.NewVerifier(reg, identity.WithAuthority(l.Genesis().Authority.ID))
			if err != nil {
				return err
			}
			h, err := service.New(service.Config{Backend: l, Authorize: service.RoleTokens(v, audience), Logger: log})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := service.Server(addr, h)
			log.Info("ledger serving on fabric", "addr", ln.Addr().String(), "chaincode", chaincode, "space", l.Genesis().Space, "checkpointKey", l.VerifierKey())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVar(&profile, "profile", filepath.Join(".cache", "fabric", "net", "profile.json"), "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().StringVar(&chaincode, "chaincode", "", "the space's chaincode (default: the profile's)")
	cmd.Flags().BoolVar(&deploy, "deploy", false, "define the chaincode on the channel first (a fresh world state)")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "genesis file (tdsc authority init): initialises the chaincode for the space")
	cmd.Flags().StringVar(&keyFile, "note-key", "", "checkpoint signer key file (default: fabric-<chaincode>.key beside the profile)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:7070", "listen address")
	cmd.Flags().StringVar(&audience, "audience", "ledger", "aud claim role tokens must carry")
	return cmd
}

// fabricNoteKey loads the checkpoint signer key, or creates it (0600) with
// its verifier key beside it. The note's name is the space's origin, so a
// new key needs the genesis, or the chaincode's.
func fabricNoteKey(ctx context.Context, path string, g *ledger.Genesis, p *fabric.Profile, chaincode string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return string(bytes.TrimSpace(b)), nil
	} else if !os.IsNotExist(err) {
		return "", err
	}
	if g == nil {
		l, err := fabric.Open(ctx, fabric.Config{Profile: p, Chaincode: chaincode})
		if err != nil {
			return "", err
		}
		defer l.Close(ctx)
		gg, err := (fabric.StateSource{L: l}).Genesis(ctx)
		if err != nil {
			return "", err
		}
		g = &gg
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, fabric.Origin(g.Space))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".vkey", []byte(vkey+"\n"), 0o644); err != nil {
		return "", err
	}
	return skey, nil
}
