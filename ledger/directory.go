package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// DirectoryChange says that a participant's directory entry changed: the
// authority's participant.updated record at Index suspended or reinstated
// it, added or removed keys, or changed its attributes. Verifiers that cache
// directory entries drop the participant's entry on it (see
// identity.Registry.Invalidate).
type DirectoryChange struct {
	Participant string `json:"participant"`
	Index       uint64 `json:"index"`
}

// DirectoryChanges is one page of the directory's changes in ledger order.
// Next is the since of the following call: it moves past every record
// looked at, so polling with it returns each change once.
type DirectoryChanges struct {
	Changes []DirectoryChange `json:"changes"`
	Next    uint64            `json:"next"`
}

// ReadDirectoryChanges returns the directory changes at record index since
// or later, at most limit of them (0 means DefaultPageSize, more than
// MaxPageSize is capped), read with q (any backend's Query, over every
// record: a participant's own view through the ledger service holds no
// participant.updated records; the service serves this read instead). A
// change names only the participant and the index; the entry itself is the
// directory's (Participant).
func ReadDirectoryChanges(ctx context.Context, q interface {
	Query(ctx context.Context, q Query) (Page, error)
}, since uint64, limit int) (DirectoryChanges, error) {
	p, err := q.Query(ctx, Query{Kind: KindParticipantUpdated, Cursor: strconv.FormatUint(since, 10), Limit: limit})
	if err != nil {
		return DirectoryChanges{}, err
	}
	out := DirectoryChanges{Changes: make([]DirectoryChange, 0, len(p.Records)), Next: since}
	for _, e := range p.Records {
		if e.Record.Participant == nil {
			return DirectoryChanges{}, fmt.Errorf("record %d (%s): %s without a participant", e.Index, e.Record.ID, e.Record.Kind)
		}
		out.Changes = append(out.Changes, DirectoryChange{Participant: e.Record.Participant.ID, Index: e.Index})
		out.Next = e.Index + 1
	}
	if p.Next != "" {
		n, err := strconv.ParseUint(p.Next, 10, 64)
		if err != nil {
			return DirectoryChanges{}, fmt.Errorf("the ledger's cursor %q is not a record index", p.Next)
		}
		out.Next = n
	}
	return out, nil
}

// FollowDirectory calls drop with every participant whose directory entry
// changes, reading the changes with read (a ledger's DirectoryChanges) every
// poll until ctx ends: a cache of directory entries (identity.Registry)
// passes its Invalidate, so that a suspension, a removed key or a changed
// attribute is what its next lookup reads. It starts from the ledger's first
// record, so the changes made before it started drop entries a cache shared
// with earlier readers may hold. A failed read is logged once and tried
// again at the next poll; the cache's TTL still bounds what it serves.
func FollowDirectory(ctx context.Context, read func(ctx context.Context, since uint64, limit int) (DirectoryChanges, error),
	poll time.Duration, drop func(participant string), log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	var since uint64
	var last string // the last error logged, so an outage logs once
	for {
		for {
			ch, err := read(ctx, since, MaxPageSize)
			if err != nil {
				if ctx.Err() == nil && err.Error() != last {
					log.Warn("ledger: reading the directory's changes", "since", since, "err", err)
					last = err.Error()
				}
				break
			}
			last = ""
			for _, c := range ch.Changes {
				drop(c.Participant)
			}
			done := len(ch.Changes) < MaxPageSize || ch.Next <= since // the last page, or no progress
			since = max(since, ch.Next)
			if done {
				break
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
