// Package service is the ledger's HTTP API under /ledger/v1/, as an
// http.Handler over any backend (the embedded store in `tdsc ledger serve`).
//
// Writes are authenticated by the batch signature itself. Reads of records
// and batches need a role token, checked by a ReadAuthorizer: auditors and
// regulators see everything, a participant only records where it is actor or
// counterparty. The latest checkpoint, proofs, the genesis, the space rules
// and the participant registry (with JWKS) are public: they carry no flow
// data. The list of stored checkpoints needs a role token.
//
// Lists come a page at a time: records by an opaque cursor, batches by record
// index, stored checkpoints by tree size (from, limit, next). A bad page
// parameter is a 400 naming the parameter and the rule.
//
// Every error answer is JSON {"error", "code", "field", "rule", "recordId"}
// with a status chosen in one place (status).
package service
