package main

import (
	"context"
	"fmt"

	"github.com/tdsc/tdsc/ledger"
)

// openLedgerService connects to the ledger service over HTTP and checks that
// it serves the authority's space.
func openLedgerService(ctx context.Context, url string, g ledger.Genesis) (authorityLedger, func(), error) {
	c, err := newLedgerClient(url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("flag --ledger: %w", err)
	}
	lg, err := c.Genesis(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger %s: read genesis: %w", url, err)
	}
	if lg.Space != g.Space || lg.Authority.ID != g.Authority.ID {
		return nil, nil, fmt.Errorf("ledger %s serves space %q (authority %q), this authority is of space %q (%q)",
			url, lg.Space, lg.Authority.ID, g.Space, g.Authority.ID)
	}
	return c, func() {}, nil
}
