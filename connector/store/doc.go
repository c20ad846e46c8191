// Package store is the connector's durable state: datasets, offers,
// negotiations with the history of every transition, agreements, transfers,
// duties, the ledger outbox and the pending outgoing steps (tasks).
//
// It runs on SQLite through the pure-Go modernc.org/sqlite driver (WAL mode,
// busy timeout, one writer connection) with versioned migrations under
// migrations/. The SQL is kept portable so a PostgreSQL driver can follow:
// TEXT times, BIGINT counters, ON CONFLICT upserts, no AUTOINCREMENT.
//
// Writes happen in Update, which runs a function in one transaction: a state
// change, its history row, the ledger records it owes and the next step to
// run are committed together or not at all.
package store
