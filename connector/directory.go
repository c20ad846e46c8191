package connector

import (
	"context"

	"github.com/tdsc/tdsc/ledger"
)

// directoryFeed serves the participants whose directory entries changed
// (ledger.ReadDirectoryChanges): the ledger client and the embedded store.
// The node drops its registry's entries of them every Config.DirectoryPoll
// (ledger.FollowDirectory).
type directoryFeed interface {
	DirectoryChanges(ctx context.Context, since uint64, limit int) (ledger.DirectoryChanges, error)
}
