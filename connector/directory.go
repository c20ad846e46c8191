package connector

import (
	"context"

	"github.com/tdsc/tdsc/ledger"
)

// directoryFeed serves the participants whose directory entries changed
// (ledger.ReadDirectoryChanges): the ledger client and the embedded store.
// When the participant source (WithParticipants) serves them, the node drops
// its registry's entries of them every Config.DirectoryPoll
// (ledger.FollowDirectory); otherwise a change takes effect within the
// registry's TTL.
type directoryFeed interface {
	DirectoryChanges(ctx context.Context, since uint64, limit int) (ledger.DirectoryChanges, error)
}
