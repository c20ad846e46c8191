package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/policy"
)

// nodeLedger is what a connector node and the authority commands need of a
// ledger; the embedded store and the ledger service's client both are one.
type nodeLedger interface {
	Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error)
	Participant(ctx context.Context, id string) (identity.Participant, error)
	Rules(ctx context.Context) (policy.SpaceRules, error)
	RegisteredDataset(ctx context.Context, id string) (ledger.Entry, error)
}

// ledgerSource says where a command's ledger is: the ledger service at URL,
// or an embedded ledger in Dir. openLedger is the one place in tdsc that
// chooses between them (a Fabric network is reached through the ledger
// service that `tdsc fabric serve` runs).
type ledgerSource struct {
	URL string
	Dir string
	// URLFlag and DirFlag name the flags or config keys, for the errors.
	URLFlag, DirFlag string
	// Genesis, when set, is the space the ledger must serve: a Dir is
	// opened (or created) with it, a URL's genesis is checked against it.
	// Without it a Dir is opened with GenesisFile's, or the one it stores.
	Genesis     *ledger.Genesis
	GenesisFile string
	TLS         *tls.Config // for URL; nil: the CLI's defaults (cliTLS)
	Client      []client.Option
	Logger      *slog.Logger
}

// openLedger opens the ledger src names. close releases it.
func openLedger(ctx context.Context, src ledgerSource) (l nodeLedger, close func(), err error) {
	switch {
	case src.URL != "" && src.Dir != "":
		return nil, nil, fmt.Errorf("%s and %s: give one, not both", src.URLFlag, src.DirFlag)
	case src.Dir != "":
		g := src.Genesis
		if g == nil {
			read, err := serveGenesis(src.Dir, src.GenesisFile)
			if err != nil {
				return nil, nil, err
			}
			g = &read
		}
		st, err := embedded.Open(ctx, src.Dir, *g, embedded.Options{Logger: src.Logger})
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close(context.Background()) }, nil
	case src.URL != "":
		c, err := newLedgerClient(src.URL, src.TLS, src.Client...)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src.URLFlag, err)
		}
		if g := src.Genesis; g != nil {
			lg, err := c.Genesis(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("ledger %s: read genesis: %w", src.URL, err)
			}
			if lg.Space != g.Space || lg.Authority.ID != g.Authority.ID {
				return nil, nil, fmt.Errorf("%w: ledger %s serves space %q (authority %q), this authority is of space %q (%q)",
					ledger.ErrGenesisMismatch, src.URL, lg.Space, lg.Authority.ID, g.Space, g.Authority.ID)
			}
		}
		return c, func() {}, nil
	}
	return nil, nil, errors.New(src.URLFlag + " or " + src.DirFlag + ": one is required (the ledger service, or an embedded ledger)")
}
