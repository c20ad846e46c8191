package embedded_test

import (
	"context"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// open makes a store in a temp dir, closed at cleanup.
func open(t *testing.T, dir string, g ledger.Genesis) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(context.Background(), dir, g, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T, g ledger.Genesis) (ledgertest.Backend, string) {
		s := open(t, t.TempDir(), g)
		return s, s.VerifierKey()
	})
}
