// Package dsptck is the Dataspace Protocol 2025-1 conformance tier: the 67
// test cases of the Eclipse Dataspace TCK (github.com/eclipse-dataspacetck/
// dsp-tck), ported case by case. Its tests play the TCK's counterparty — a
// standard DSP peer that sends only DSP terms — over HTTP against a real tdsc
// node with an embedded ledger, drive the node under test through its
// management API where the TCK needs it to act, and validate every message in
// both directions against the official DSP 2025-1 JSON schemas and after
// JSON-LD expansion. docs/dsp-conformance.md has the case table and results.
//
// The package has no non-test code.
package dsptck
