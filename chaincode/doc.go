// Package chaincode is the tdsc contract for Hyperledger Fabric: the audit
// ledger kept in a channel's world state and checked by the same rulebook
// (package ledger/rulebook) as the embedded ledger, on every endorsing peer.
//
// An Append transaction carries one or more signed batches (the client groups
// batches that arrive together). For each batch the contract checks the
// writer's key against the participant registry in world state, the root and
// the signature, and runs every record through the rulebook. It writes a
// marker for the batch and each record id, and the state the records change
// (use counts, transfers, duties, the registry, and its key index: "pk/" + a
// key's thumbprint names the one participant holding the key), each under
// its own key, and emits one chaincode event (wire.EventBatches) carrying
// the batches themselves. There is no tree head or log index in world state:
// the block order assigns the records their indexes and readers build the
// tree from the blocks (package ledger/fabric). So transactions conflict only
// where their rules compete: two transfers can never both take an
// agreement's last use, because the second one's endorsement read a version
// of the agreement the first one's commit replaced. A batch is all or
// nothing; a refused batch is reported in the transaction's result and
// leaves no trace.
//
// The contract's wire shapes and error encoding are in package
// chaincode/wire; cmd/tdsc-chaincode runs it as a chaincode service.
package chaincode
