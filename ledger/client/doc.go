// Package client is the HTTP client of the ledger service (ledger/service),
// built on go-resty. It implements the same methods as the embedded store, so
// connectors, the identity registry and the conformance suite can use a
// remote ledger exactly like a local one, and verify.Source, so `tdsc audit
// verify` can check a ledger over its URL. Errors come back as the ledger's
// sentinels and typed errors (errors.Is / errors.As work across the wire).
package client
