package chaincode

import "github.com/tdsc/tdsc/chaincode/wire"

// World-state layout. Keys carry a one-letter prefix. Every key an Append
// writes belongs to one batch (its header and records), one record id, or one
// object of the rulebook's state (a participant, dataset, agreement with its
// use counts, transfer, objection, registered key): there is no head, no
// counter and no index shared by all batches, so two transactions conflict
// only where their rules really compete.
const (
	keyGenesis = wire.KeyGenesis
	keyRules   = "rules"
)

func keyID(recordID string) string       { return "i/" + recordID }
func keyBatch(root string) string        { return wire.KeyBatch + root }
func keyParticipant(id string) string    { return "p/" + id }
func keyDataset(id string) string        { return "d/" + id }
func keyAgreement(id string) string      { return "a/" + id }
func keyTransfer(id string) string       { return "t/" + id }
func keyObjection(id string) string      { return "o/" + id }
func keyHolder(thumbprint string) string { return "pk/" + thumbprint }
