package ledger

import (
	"context"
	"fmt"
)

// RegisteredDataset is the dataset.registered record of dataset id, read
// with q (any backend's Query): its owner (actor), classification,
// category, registration code and registered content hash. It carries no
// flow data, so the ledger service serves it without a role token (the
// space's unified dataset catalogue). A dataset never registered is
// ErrNotFound.
func RegisteredDataset(ctx context.Context, q interface {
	Query(ctx context.Context, q Query) (Page, error)
}, id string) (Entry, error) {
	if id == "" {
		return Entry{}, &MalformedError{Rule: RuleFormat, Field: "dataset", Reason: "required"}
	}
	p, err := q.Query(ctx, Query{Kind: KindDatasetRegistered, Dataset: id, Limit: 1})
	if err != nil {
		return Entry{}, err
	}
	if len(p.Records) == 0 {
		return Entry{}, fmt.Errorf("%w: dataset %s is not registered", ErrNotFound, id)
	}
	return p.Records[0], nil
}
