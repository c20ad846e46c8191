package dashboard

import (
	"context"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/verify"
)

// StoreSource adapts a ledger store that reports its genesis without a
// context (ledger/embedded.Store) to verify.Source, for WithVerify:
//
//	dashboard.WithVerify(func(ctx context.Context) (verify.Report, error) {
//		return verify.Ledger(ctx, dashboard.StoreSource(store), store.VerifierKey())
//	})
func StoreSource(s interface {
	Genesis() ledger.Genesis
	Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error
	Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error
}) verify.Source {
	return storeSource{s}
}

type storeSource struct {
	s interface {
		Genesis() ledger.Genesis
		Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error
		Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error
	}
}

func (s storeSource) Genesis(ctx context.Context) (ledger.Genesis, error) { return s.s.Genesis(), nil }
func (s storeSource) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	return s.s.Batches(ctx, from, fn)
}
func (s storeSource) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	return s.s.Checkpoints(ctx, fn)
}
