package main

import (
	"context"
	"errors"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
)

// authorityLedger is what the authority commands need of a ledger: append a
// batch, read a participant's current state.
type authorityLedger interface {
	authority.Appender
	Participant(ctx context.Context, id string) (identity.Participant, error)
}

// openAuthorityLedger opens the ledger named by the flags: an embedded ledger
// directory (--ledger-dir), or the ledger service (--ledger URL), which must
// serve g's space.
func openAuthorityLedger(ctx context.Context, f *ledgerFlags, g ledger.Genesis) (authorityLedger, func(), error) {
	if f.dir == "" && f.url == "" {
		return nil, nil, errors.New("flag --ledger: required, the ledger service URL (or --ledger-dir, or --dry-run)")
	}
	return openLedger(ctx, ledgerSource{URL: f.url, Dir: f.dir, URLFlag: "flag --ledger", DirFlag: "flag --ledger-dir", Genesis: &g})
}
