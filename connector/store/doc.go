// Package store is the connector's durable state: datasets, offers,
// negotiations with the history of every transition, agreements, transfers,
// duties, the ledger outbox and the pending outgoing steps (tasks).
//
// It runs on SQLite through the pure-Go modernc.org/sqlite driver (WAL mode,
// busy timeout, one writer connection), or on PostgreSQL through pgx when
// Open is given a postgres:// URL, with the same versioned migrations under
// migrations/ and the same SQL: TEXT times, BIGINT counters, ON CONFLICT
// upserts, no AUTOINCREMENT, $n parameters. On PostgreSQL, migrations take an
// advisory lock and a node holds another for as long as the store is open:
// one node process per database (its steps and outbox assume one writer).
// storetest runs the store's and the connector's tests against either.
//
// Writes happen in Update, which runs a function in one transaction: a state
// change, its history row, the ledger records it owes and the next step to
// run are committed together or not at all. Concurrent updates share one
// SQLite commit (group commit, a savepoint each).
//
// Reads through View see every committed Update. Datasets and offers are
// insert-only and cached once read; negotiations and agreements are cached
// write-through by the committer after each commit (see negcache.go), so
// the steps of a negotiation do not each start a SQLite read transaction on
// a cold page cache.
package store
