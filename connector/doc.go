// Package connector is a data space connector node's control plane: the DSP
// 2025-1 catalogue, contract negotiation and transfer process (provider and
// consumer sides), the policy checks at each step, the ledger writer with
// its durable outbox, and the operator's management API.
//
// A Node is built with New from a Config and Options (the ledger, the
// participant registry, the space rules, the key); Handler serves the DSP
// endpoints at the root, the management API under /api/v1/ and the data plane
// under /data/. State lives in a SQLite file (package connector/store); every
// state change, its history row, the ledger records it owes and the next
// outgoing step are committed in one transaction, and the outgoing steps are
// driven by in-process queues, so two idle connectors finish a negotiation in
// milliseconds and a restarted node resumes where it stopped.
//
// Ledger writes. Authorisation records (agreement.signed, transfer.authorized)
// are strict: the state does not advance, and no access token leaves the node,
// until the ledger has committed them. Every other record goes through the
// same durable outbox without waiting: committed at least once, idempotent by
// record id (a batch that may have been committed is re-sent byte for byte).
package connector
