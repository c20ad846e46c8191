// Package api holds the ledger's wire types shared by the ledger service
// (ledger/service), its HTTP client (ledger/client) and the chaincode's wire
// (chaincode/wire): no server code, no metrics.
//
// An error crosses every wire as an [Error] — kind, rule, field, record and
// reason as separate fields — and is turned back into the ledger's typed
// error by [Error.Err], the one decoder every client uses. The reason never
// repeats the kind's text, so the decoded error reads each fact once.
package api
