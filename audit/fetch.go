package audit

import (
	"context"

	"github.com/tdsc/tdsc/ledger"
)

// Querier is what reading a ledger's records needs: the ledger service's
// client (ledger/client) or a backend itself.
type Querier interface {
	Query(ctx context.Context, q ledger.Query) (ledger.Page, error)
}

// Entries follows the pages of q to the end, or until limit entries (0: all).
func Entries(ctx context.Context, src Querier, q ledger.Query, limit int) ([]ledger.Entry, error) {
	var all []ledger.Entry
	q.Limit = ledger.MaxPageSize
	for {
		page, err := src.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Records...)
		if limit > 0 && len(all) >= limit {
			return all[:limit], nil
		}
		if page.Next == "" {
			return all, nil
		}
		q.Cursor = page.Next
	}
}

// Records is Entries without the ledger positions: the input of BuildReport
// and BuildHistory.
func Records(ctx context.Context, src Querier, q ledger.Query) ([]ledger.Record, error) {
	entries, err := Entries(ctx, src, q, 0)
	if err != nil {
		return nil, err
	}
	recs := make([]ledger.Record, len(entries))
	for i, e := range entries {
		recs[i] = e.Record
	}
	return recs, nil
}
