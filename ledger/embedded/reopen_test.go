package embedded_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger/embedded"
)

// TestReopenTime opens the ledger directory named by TDSC_LEDGER_REOPEN_DIR
// (say one written by `tdsc bench ledger --dir`) twice and logs how long each
// Open took: the first also migrates a ledger written before the state was
// kept in bbolt, the second is a plain reopen.
func TestReopenTime(t *testing.T) {
	dir := os.Getenv("TDSC_LEDGER_REOPEN_DIR")
	if dir == "" {
		t.Skip("set TDSC_LEDGER_REOPEN_DIR to a ledger directory")
	}
	ctx := context.Background()
	raw, err := embedded.OpenRaw(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := raw.Genesis(ctx)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first open", "reopen"} {
		start := time.Now()
		st, err := embedded.Open(ctx, dir, g, embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		size := st.Size()
		if err := st.Close(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d records in %.3f s", name, size, took.Seconds())
	}
}
