// Package authority is the space's authority (统一身份登记): it creates the
// space (its key and the ledger.Genesis that pins that key), registers,
// updates and suspends participants, sets the space-wide rules, and issues
// auditor and regulator role tokens.
//
// Every change is a ledger record (participant.registered,
// participant.updated, rules.updated) in a batch signed by the authority key;
// the ledger accepts such records only from the authority pinned at genesis.
// The authority validates its inputs first (credit code check digit, region
// code format, keys) and names the field at fault, so a bad registration never
// reaches the ledger.
package authority
