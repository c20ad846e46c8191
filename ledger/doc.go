// Package ledger is the audit ledger's record model and its wire contract:
// records (metadata and hashes only, never data), signed batches, receipts,
// queries and the errors every backend returns.
//
// A writer (a connector, or the space's authority) puts its records in a
// Batch, builds an RFC 6962 Merkle tree over their canonical encodings and
// signs the tree's root once (NewBatch). A backend checks the writer is
// registered, checks the signature, runs every record through the rulebook
// (package ledger/rulebook) and commits the batch whole or not at all.
// Appending the same batch twice returns the same Receipt.
//
// Decoders of untrusted input (DecodeRecord, DecodeBatch) are strict: unknown
// fields, other schema versions and oversized input are refused with a
// *MalformedError naming the field and the rule.
//
// JSON is decoded on the hot paths (DecodeRecord, DecodeBatch,
// DecodeCanonical, and the stores and followers of the backends) with
// internal/jsondec: encoding/json's behaviour on the encoding/json/v2
// decoder, in about a third less CPU. Encoding stays with encoding/json: a
// record's canonical encoding is json.Marshal's bytes, hashed into the tree.
//
// Backends: ledger/embedded (a bbolt file with a signed transparency-log
// checkpoint), ledger/client (the HTTP API of ledger/service), and the Fabric
// chaincode. ledger/ledgertest is the conformance suite they all pass.
package ledger
