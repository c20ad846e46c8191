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
	"net/http"
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
	var org int
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
			h, l, err := fabricLedgerService(ctx, fabricServeOptions{Profile: profile, Chaincode: chaincode, Deploy: deploy,
				Genesis: g, NoteKeyFile: keyFile, Audience: audience, Org: org, Log: log})
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
	cmd.Flags().IntVar(&org, "org", 0, "which of the profile's organisations (0-based) this service speaks for: its peer gateway and identities")
	cmd.Flags().BoolVar(&deploy, "deploy", false, "define the chaincode on the channel first (a fresh world state)")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "genesis file (tdsc authority init): initialises the chaincode for the space")
	cmd.Flags().StringVar(&keyFile, "note-key", "", "checkpoint signer key file (default: fabric-<chaincode>.key beside the profile)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:7070", "listen address")
	cmd.Flags().StringVar(&audience, "audience", "ledger", "aud claim role tokens must carry")
	return cmd
}

// fabricServeOptions say which space's chaincode to serve and how.
type fabricServeOptions struct {
	Profile     string          // profile.json path
	Chaincode   string          // default: the profile's
	Deploy      bool            // define the chaincode on the channel first
	Genesis     *ledger.Genesis // initialise the chaincode with it; nil: it must hold one
	NoteKeyFile string          // default: fabric-<chaincode>.key beside the profile
	Audience    string          // of role tokens; default "ledger"
	Org         int             // index of the profile's organisation to act as
	Log         *slog.Logger
}

// fabricLedgerService opens the Fabric backend for a space and returns the
// ledger service's handler over it (what 'tdsc fabric serve' serves; the demo
// can mount it for --ledger fabric). Close the returned ledger when done.
func fabricLedgerService(ctx context.Context, o fabricServeOptions) (http.Handler, *fabric.Ledger, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Audience == "" {
		o.Audience = "ledger"
	}
	p, err := fabric.LoadProfile(o.Profile)
	if err != nil {
		return nil, nil, err
	}
	if o.Chaincode == "" {
		o.Chaincode = p.Chaincode
	}
	if o.Deploy {
		if err := fabric.Deploy(ctx, p, o.Chaincode); err != nil {
			return nil, nil, err
		}
	}
	if o.NoteKeyFile == "" {
		o.NoteKeyFile = filepath.Join(filepath.Dir(o.Profile), "fabric-"+o.Chaincode+".key")
	}
	skey, err := fabricNoteKey(ctx, o.NoteKeyFile, o.Genesis, p, o.Chaincode)
	if err != nil {
		return nil, nil, err
	}
	l, err := fabric.Open(ctx, fabric.Config{Profile: p, Org: o.Org, Chaincode: o.Chaincode, NoteKey: skey, Log: o.Log})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (http.Handler, *fabric.Ledger, error) {
		l.Close(context.Background())
		return nil, nil, err
	}
	if o.Genesis != nil {
		if err := l.Init(ctx, *o.Genesis); err != nil {
			return fail(err)
		}
	} else if _, err := (fabric.StateSource{L: l}).Genesis(ctx); err != nil {
		return fail(fmt.Errorf("chaincode %s: %w (initialise it with --genesis FILE)", o.Chaincode, err))
	}
	reg := identity.NewRegistry(l, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(l.Genesis().Authority.ID))
	if err != nil {
		return fail(err)
	}
	h, err := service.New(service.Config{Backend: l, Authorize: service.RoleTokens(v, o.Audience), Logger: o.Log})
	if err != nil {
		return fail(err)
	}
	return h, l, nil
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
