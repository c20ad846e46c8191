package chaincode

import (
	"fmt"
	"strconv"

	"github.com/transparency-dev/merkle/compact"
)

// World-state layout. Plain keys carry a one-letter prefix; indexes are
// composite keys (object type, value, zero-padded index of a batch's first
// record) holding the offsets of the batch's records listed under the value,
// so a partial key lists one value's records in ledger order.
const (
	keyGenesis = "g"
	keyHead    = "h"
	keyRules   = "rules"
)

func keyHeadAt(size uint64) string           { return fmt.Sprintf("hh/%016x", size) }
func keyRecord(index uint64) string          { return fmt.Sprintf("r/%016x", index) }
func keyID(recordID string) string           { return "i/" + recordID }
func keyBatch(root string) string            { return "b/" + root }
func keyParticipant(id string) string        { return "p/" + id }
func keyDataset(id string) string            { return "d/" + id }
func keyAgreement(id string) string          { return "a/" + id }
func keyTransfer(id string) string           { return "t/" + id }
func keyObjection(id string) string          { return "o/" + id }
func keyHolder(thumbprint string) string     { return "pk/" + thumbprint }
func keyNode(id compact.NodeID) string       { return fmt.Sprintf("n/%02x%016x", id.Level, id.Index) }
func indexPosition(index uint64) string      { return fmt.Sprintf("%016x", index) }
func parsePosition(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

// Index object types.
const (
	ixParticipant = "participant"
	ixDataset     = "dataset"
	ixAgreement   = "agreement"
	ixTransfer    = "transfer"
	ixKind        = "kind"
	ixTime        = "time"
)
