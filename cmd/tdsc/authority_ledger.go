package main

import (
	"context"
	"errors"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
)

// authorityLedger is what the authority commands need of a ledger: append a
// batch, read a participant's current state.
type authorityLedger interface {
	authority.Appender
	Participant(ctx context.Context, id string) (identity.Participant, error)
}

// openAuthorityLedger opens the ledger named by the flags: an embedded ledger
// directory (--ledger-dir), or the ledger service (--ledger URL).
func openAuthorityLedger(ctx context.Context, f *ledgerFlags, g ledger.Genesis) (authorityLedger, func(), error) {
	switch {
	case f.dir != "" && f.url != "":
		return nil, nil, errors.New("flags --ledger and --ledger-dir: give one, not both")
	case f.dir != "":
		st, err := embedded.Open(ctx, f.dir, g, embedded.Options{})
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close(context.Background()) }, nil
	case f.url != "":
		return openLedgerService(ctx, f.url, g)
	}
	return nil, nil, errors.New("flag --ledger: required, the ledger service URL (or --ledger-dir, or --dry-run)")
}
