package embedded_test

import (
	"context"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// TestBatchesFromInsideABatch checks Batches starts at the batch that holds
// the index asked for, also when it is not the batch's first record.
func TestBatchesFromInsideABatch(t *testing.T) {
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, t.TempDir(), sp.Genesis)
	p1, _ := sp.Participant("p1", "CN-BJ")
	p2, _ := sp.Participant("p2", "CN-SH")
	p3, _ := sp.Participant("p3", "CN-GD")
	batches := [][]ledger.Record{{p1, p2, p3}, {sp.Dataset("p1", "ds-1", policy.General, "traffic"), sp.Dataset("p1", "ds-2", policy.General, "traffic")}}
	writers := []string{sp.Authority(), "p1"}
	for i, recs := range batches {
		b, err := sp.Batch(writers[i], recs...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		from       uint64
		wantFirsts []uint64
	}{{0, []uint64{0, 3}}, {1, []uint64{0, 3}}, {2, []uint64{0, 3}}, {3, []uint64{3}}, {4, []uint64{3}}, {5, nil}, {99, nil}} {
		var got []uint64
		if err := s.Batches(ctx, tc.from, func(sb *ledger.StoredBatch) error {
			got = append(got, sb.FirstIndex)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.wantFirsts) {
			t.Errorf("Batches(from %d) visited batches at %v, want %v", tc.from, got, tc.wantFirsts)
			continue
		}
		for i := range got {
			if got[i] != tc.wantFirsts[i] {
				t.Errorf("Batches(from %d) visited batches at %v, want %v", tc.from, got, tc.wantFirsts)
				break
			}
		}
	}
}
