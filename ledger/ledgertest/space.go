package ledgertest

import (
	"testing"

	"github.com/tdsc/tdsc/ledger/workload"
	"github.com/tdsc/tdsc/suite"
)

// The test data space and workload are ledger/workload's (tdsc bench uses
// them, so they live outside this test-only package); these names keep the
// tests' spelling.
type (
	Space    = workload.Space
	Workload = workload.Workload
)

// NewSpace is workload.NewSpace.
func NewSpace() (*Space, error) { return workload.NewSpace() }

// NewSuiteSpace is workload.NewSuiteSpace: the space in crypto suite cs.
func NewSuiteSpace(cs *suite.Suite) (*Space, error) { return workload.NewSuiteSpace(cs) }

// Suites are the crypto suites the conformance suite runs in.
var Suites = workload.Suites

// NewWorkload is workload.NewWorkload.
func NewWorkload(s *Space, n, batchSize, streams int) (*Workload, error) {
	return workload.NewWorkload(s, n, batchSize, streams)
}

// MustWorkload is a fresh space and a workload of records in batches of
// batch records, in streams writers at once; it fails t if either cannot be
// made.
func MustWorkload(t testing.TB, records, batch, streams int) (*Space, *Workload) {
	t.Helper()
	s, err := NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorkload(s, records, batch, streams)
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}
