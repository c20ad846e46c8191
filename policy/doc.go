// Package policy is tdsc's usage-policy engine: an ODRL 2.2 profile as carried in
// DSP offers and agreements, parsed strictly, compiled once and evaluated many
// times with an explanation for every constraint, plus the space-wide rules the
// authority sets (negative list, cross-border white-list, classification
// ceilings) that win over any offer, and the region and classification vocabulary
// both the policy engine and the ledger's rulebook use.
package policy
