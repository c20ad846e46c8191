// Package audit answers the auditor's and the regulator's questions from the
// ledger's records: the regulator's flow report (data moved by provider and
// consumer, by classification level, by region and across borders with the
// legal basis of each, denials by rule, negative-list hits, revocations,
// overdue duties, open objections) and one participant's history in circulation.
//
// It reads records only; it never trusts a record it was handed without the
// ledger's proof — fetching and verifying is the caller's (ledger/client) job.
package audit
