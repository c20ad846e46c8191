// Package chaincode is the tdsc contract for Hyperledger Fabric: the audit
// ledger kept in a channel's world state and checked by the same rulebook
// (package ledger/rulebook) as the embedded ledger, on every endorsing peer.
//
// An Append transaction carries one or more signed batches (the client groups
// batches that arrive together). For each batch the contract checks the
// writer's key against the participant registry in world state, the root and
// the signature, runs every record through the rulebook, and writes the
// records, their indexes (by participant, dataset, agreement, transfer, kind
// and time), the state they change (use counts, transfers, duties, the
// registry, and its key index: "pk/" + a key's thumbprint names the one
// participant holding the key) and the nodes of the ledger's RFC 6962 Merkle tree, all in the
// same transaction: two transfers can never both take an agreement's last
// use, because the second one's endorsement read a version the first one's
// commit replaced. A batch is all or nothing; a refused batch is reported in
// the transaction's result and leaves no trace. The transaction emits one
// chaincode event (wire.EventBatches) naming the batches it committed.
//
// The contract's wire shapes and error encoding are in package
// chaincode/wire; cmd/tdsc-chaincode runs it as a chaincode service.
package chaincode
