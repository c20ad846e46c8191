// Package service is the ledger's HTTP API under /ledger/v1/, as an
// http.Handler over any backend (the embedded store in `tdsc ledger serve`).
//
// Writes are authenticated by the batch signature itself. Reads of records
// and batches need a role token, checked by a ReadAuthorizer: auditors and
// regulators see everything, a participant only records where it is actor or
// counterparty. Checkpoints, proofs, the genesis, the space rules and the
// participant registry (with JWKS) are public: they carry no flow data.
//
// Every error answer is JSON {"error", "code", "field", "rule", "recordId"}
// with a status chosen in one place (status).
package service
