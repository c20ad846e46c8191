// Package policy is tdsc's usage-policy engine: an ODRL 2.2 profile as carried in
// DSP 2025-1 offers and agreements, parsed strictly, compiled once and evaluated
// many times with an explanation for every constraint, plus the space-wide rules
// the authority sets (negative list, cross-border white-list, classification
// ceilings) that win over any offer, and the region and classification vocabulary
// both the policy engine and the ledger's rulebook use.
//
// The contract:
//
//   - Parse accepts only the documented profile (docs/policy.md) and refuses
//     anything else with a *ParseError naming the JSON path of the offending
//     node; malformed, oversized or over-deep input is an error, never a panic.
//   - Compile prepares a policy; Evaluate (or Compiled.EvaluateInto, which
//     allocates nothing for an allowed request) decides a Request and reports
//     every constraint's result with a reason, the refusing rule's path, and
//     the duties owed. EvaluateWithRules adds the space rules, which win.
//   - Match says whether a consumer's request is the offer in meaning or
//     narrower, and where it differs otherwise; Hash digests the usage terms'
//     canonical form, equal for policies that mean the same.
//   - Limits gives an agreement's window, use limit and duties for the ledger.
//   - DepartmentSharing, OpenData and AuthorisedOperation build the public-data
//     modes' policies.
package policy
