// Package fabric is the ledger backend on Hyperledger Fabric: it submits
// signed batches to the tdsc chaincode (package chaincode) through a peer's
// Fabric Gateway (github.com/hyperledger/fabric-gateway; fabric-sdk-go is
// deprecated and archived), evaluates queries, waits for commit status and
// returns receipts with the transaction id and block number.
//
// Batches that arrive together are grouped into one Fabric transaction, with
// a bounded wait (Config.Linger) and a bounded size (Config.MaxRecords), and
// one transaction is in flight at a time: every Append transaction reads and
// writes the ledger's tree head, so two in the same block would conflict.
// A group's batches stay all-or-nothing each: if an endorser refuses one, the
// transaction fails naming it, the backend returns that batch's error to its
// caller and resubmits the rest.
//
// Errors are the ledger's (ledger.ErrRefused with the *ledger.RuleError the
// peer's rulebook returned, ledger.ErrBadSignature, ...), wrapped in a
// *StageError that names the Fabric stage that failed: endorse, submit or
// commit.
//
// Proofs: the chaincode keeps the same RFC 6962 tree as the embedded ledger,
// so records carry inclusion proofs against a checkpoint and checkpoints are
// consistent. The tree head is computed and endorsed by the peers; the
// backend signs it as a C2SP checkpoint note with its own key (VerifierKey),
// so the same verifiers work on both backends. BatchProof proves a record's
// place in its signed batch, and the block chain orders the batches.
package fabric
