// Package rulebook is the one set of rules every ledger backend runs over
// every record: the embedded store and the Fabric chaincode call the same
// Apply. It does no I/O: it reads ledger state through the small State
// interface and returns the changes a record makes, which the caller writes
// (to bbolt, to world state) only when the whole batch passes.
//
// Every refusal is a *ledger.RuleError naming the rule (the Rule* constants
// here and policy's space.* rules) and the field at fault.
package rulebook
