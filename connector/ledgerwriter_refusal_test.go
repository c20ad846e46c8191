package connector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
)

// TestRefusalKeptStructured: a refusal settled in the outbox is read back —
// by a later wait, as after a restart — as the ledger's typed error, wrapped
// with %w: the rule comes from errors.As, not from parsing the message, and
// the message reads as the ledger wrote it.
func TestRefusalKeptStructured(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := newLedgerWriter(writerDeps{st: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}, nil)
	if err := st.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.Enqueue("rec-1", []byte(`{}`)); err != nil {
			return err
		}
		return tx.PutBatch("root-1", []byte(`{}`), []string{"rec-1"})
	}); err != nil {
		t.Fatal(err)
	}
	sent := &ledger.RuleError{Rule: "transfer.agreement-live", Field: "agreement", RecordID: "rec-1", Reason: "agreement a1 is revoked"}
	if _, err := w.settleRefused(ctx, []string{"rec-1"}, "root-1", sent); err != nil {
		t.Fatal(err)
	}
	err = w.wait(ctx, "rec-1")
	var re *ledger.RuleError
	if !errors.Is(err, ErrLedgerRefused) || !errors.As(err, &re) || *re != *sent {
		t.Fatalf("wait = %v, want ErrLedgerRefused wrapping %v", err, sent)
	}
	if rule, reason := refusal(err); rule != sent.Rule || reason != "field agreement: agreement a1 is revoked" {
		t.Errorf("refusal = %q, %q", rule, reason)
	}
}
