// Package ledgertest is the conformance suite every ledger backend passes
// (Run), and a test data space (Space) that builds realistic, correctly
// signed records and batches for tests and benchmarks.
package ledgertest
