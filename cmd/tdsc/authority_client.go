package main

import (
	"context"
	"errors"
)

// openLedgerService connects to the ledger service over HTTP.
func openLedgerService(ctx context.Context, url string) (authorityLedger, func(), error) {
	return nil, nil, errors.New("flag --ledger: the ledger HTTP client is not built yet; use --ledger-dir or --dry-run")
}
