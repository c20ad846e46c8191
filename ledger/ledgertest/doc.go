// Package ledgertest is the conformance suite every ledger backend passes
// (Run). It imports testing; only tests import it. The test data space it
// runs on is ledger/workload's Space.
package ledgertest
