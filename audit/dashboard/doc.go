// Package dashboard is the web dashboard for auditors, regulators and
// participants: an http.Handler serving a small single-page application under
// /ui/ and the JSON endpoints it reads (/ui/api/…).
//
// Pages: Flows (a graph of participants sized by volume, edges coloured by the
// highest classification moved, cross-border edges marked, filterable by time,
// classification, region and dataset category), Timeline (records over time by
// kind, denials standing out, paged record lists), Record (every field, the
// batch and its signer, the inclusion proof checked by the server and again in
// the browser with WebCrypto against the latest signed checkpoint), Rules and
// exceptions (denials by rule, negative-list hits, cross-border flows with
// their legal basis, overdue duties, open objections, revocations) and Ledger
// health (checkpoint size and age, last full verification, append rate).
//
// Access. Every data endpoint needs a session. POST /ui/api/login exchanges a
// role token (verified by the Authenticate function the mounter passes, e.g.
// RoleTokens over identity.Verifier.VerifyRole) for an HMAC-signed session
// cookie (HttpOnly, SameSite=Strict, Secure under TLS) carrying the verified
// principal and an expiry no later than the token's. Without a session only the
// static login page is served. Auditors and regulators see the whole ledger; a
// participant sees only records where it is actor or counterparty and only
// flows where it is provider or consumer.
//
// Scale. The handler keeps an in-memory mirror of the ledger's records in
// compact form (a 48-byte row and an 8-byte time per record, its strings
// interned, about 8 MiB per 100,000 records), brought up to date
// incrementally from the backend's batches whenever the checkpoint grows, and
// aggregates on the server (audit.BuildReportFrom over the rows, cached per
// tree size, window and minute); lists are paged. The browser never receives
// more than one page of records.
//
// The front end lives in web/ (plain JavaScript, d3-force for the graph
// layout, Chart.js for the timeline, bundled by esbuild); its built output in
// web/dist is committed and embedded, so `go build` needs nothing but Go.
// Rebuild it with scripts/dashboard-build.sh.
package dashboard
