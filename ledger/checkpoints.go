package ledger

import "fmt"

// CheckpointQuery selects a page of the stored signed checkpoints, one per
// group commit (embedded) or Append transaction (Fabric), in order of tree
// size. Checkpoints are keyed by the tree size they sign, so a page starts at
// a size, not at a position in the list.
type CheckpointQuery struct {
	// From is the smallest tree size to return; 0 starts at the first
	// checkpoint. A page's Next is the From of the page after it.
	From uint64 `json:"from,omitempty"`
	// Limit is the page size: 0 means DefaultCheckpointPageSize; it may not
	// be negative or more than MaxCheckpointPageSize.
	Limit int `json:"limit,omitempty"`
}

// Checkpoint page sizes.
const (
	DefaultCheckpointPageSize = 100
	MaxCheckpointPageSize     = 1000
)

// StoredCheckpoint is a signed checkpoint (a C2SP signed note) with the tree
// size it signs.
type StoredCheckpoint struct {
	Size uint64 `json:"size"`
	Note []byte `json:"note"`
}

// CheckpointPage is one page of stored checkpoints in order of tree size.
// Next is the tree size of the first checkpoint after the page (pass it as
// CheckpointQuery.From); 0 on the last page. A Next is always larger than
// the sizes on its page, so a 0 cannot be mistaken for a continuation.
type CheckpointPage struct {
	Checkpoints []StoredCheckpoint `json:"checkpoints"`
	Next        uint64             `json:"next,omitempty"`
}

// Normalize bounds the query's limit (0 becomes DefaultCheckpointPageSize)
// and refuses a negative limit or one over MaxCheckpointPageSize with a
// *MalformedError naming the field "limit". Every backend calls it, so a bad
// limit is refused alike everywhere.
func (q *CheckpointQuery) Normalize() error {
	switch {
	case q.Limit < 0:
		return &MalformedError{Rule: RuleFormat, Field: "limit", Reason: fmt.Sprintf("must not be negative, got %d", q.Limit)}
	case q.Limit > MaxCheckpointPageSize:
		return &MalformedError{Rule: RuleSize, Field: "limit", Reason: fmt.Sprintf("must be at most %d checkpoints a page, got %d", MaxCheckpointPageSize, q.Limit)}
	case q.Limit == 0:
		q.Limit = DefaultCheckpointPageSize
	}
	return nil
}
