// Package workload builds realistic, correctly signed ledger records and
// batches: a data space with its authority and participant keys (Space), and
// a load of independent provider/consumer streams (Workload). `tdsc bench`
// drives backends with it, and the tests (through ledger/ledgertest) build
// their records with it. It holds no ledger and imports no test code.
package workload
