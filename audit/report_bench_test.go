package audit

import (
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// BenchmarkBuildReport builds the flow report over the ledgertest workload's
// 100,000 records (transfers authorised and completed over 8 pairs).
func BenchmarkBuildReport(b *testing.B) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		b.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, 100_000, 500, 8)
	if err != nil {
		b.Fatal(err)
	}
	var recs []ledger.Record
	for _, bt := range w.Setup {
		recs = append(recs, bt.Records...)
	}
	for _, stream := range w.Streams {
		for _, bt := range stream {
			recs = append(recs, bt.Records...)
		}
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		rep := BuildReport(recs, Window{Now: now})
		if len(rep.Flows) != 8 {
			b.Fatalf("%d flows, want 8", len(rep.Flows))
		}
	}
}
