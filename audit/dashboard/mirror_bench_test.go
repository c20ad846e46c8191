package dashboard

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// BenchmarkReportFromMirror builds the flow report from the compact mirror
// of a real embedded ledger of TDSC_DASHBOARD_SCALE records (default 10000)
// of the ledgertest workload; audit's BenchmarkBuildReport builds it from
// decoded records.
//
//	TDSC_DASHBOARD_SCALE=100000 go test ./audit/dashboard -run '^$' -bench ReportFromMirror -benchmem
func BenchmarkReportFromMirror(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("TDSC_DASHBOARD_SCALE"))
	if n <= 0 {
		n = 10000
	}
	s, err := ledgertest.NewSpace()
	if err != nil {
		b.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, n, 500, 8)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := embedded.Open(ctx, b.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close(ctx) })
	for _, bt := range w.Setup {
		if _, err := st.Append(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	for _, stream := range w.Streams {
		for _, bt := range stream {
			if _, err := st.Append(ctx, bt); err != nil {
				b.Fatal(err)
			}
		}
	}
	v, err := note.NewVerifier(st.VerifierKey())
	if err != nil {
		b.Fatal(err)
	}
	snap, err := newMirror(st, v, time.Now).snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for b.Loop() {
		if rep := audit.BuildReportFrom(&snap, audit.Window{Now: now}); len(rep.Flows) != 8 {
			b.Fatalf("%d flows, want 8", len(rep.Flows))
		}
	}
}
