// Package fabric is the ledger backend on Hyperledger Fabric: it submits
// signed batches to the tdsc chaincode (package chaincode) through a peer's
// Fabric Gateway (github.com/hyperledger/fabric-gateway; fabric-sdk-go is
// deprecated and archived), waits for commit status and returns receipts
// with the transaction id and block number.
//
// The chaincode keeps no shared head: it writes each batch under its own
// keys and carries the records in its transaction's event. The order of the
// blocks assigns the records their indexes. Each Ledger follows the channel
// with block events (follow.go) and builds, from the blocks, the same RFC
// 6962 tree as the embedded ledger, its checkpoints, proofs, and the
// lookups its queries need; ReadChain, the audit, builds the same index from
// the same blocks, so an auditor gets the same roots and proofs. A receipt's
// indexes are known once the follower has read the transaction's block.
//
// Batches that arrive together are grouped into one Fabric transaction, with
// a bounded wait (Config.Linger) and a bounded size (Config.MaxRecords), and
// up to Config.InFlight transactions are in flight at once: they conflict
// only where their rules share state (an agreement's use count, a record id,
// a transfer), and a conflicting one is resubmitted. A group's batches stay
// all-or-nothing each: if an endorser refuses one, the transaction fails
// naming it, the backend returns that batch's error to its caller (after
// checking it once more against every earlier commit) and resubmits the rest.
//
// Errors are the ledger's (ledger.ErrRefused with the *ledger.RuleError the
// peer's rulebook returned, ledger.ErrBadSignature, ...), wrapped in a
// *StageError that names the Fabric stage that failed: endorse, submit or
// commit.
//
// Checkpoints: the backend signs its tree heads as C2SP checkpoint notes
// with its own key (VerifierKey), so the same verifiers work on both
// backends. BatchProof proves a record's place in its signed batch, and the
// block chain orders the batches.
package fabric
