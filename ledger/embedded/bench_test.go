package embedded_test

import (
	"context"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/suite"
)

// BenchmarkAppend appends a realistic workload of b.N records (8 streams,
// 1000-record batches) and reports records/s.
// BenchmarkAppend appends the workload in each crypto suite (gm: SM2
// batches, SM3 tree, SM2 checkpoints).
func BenchmarkAppend(b *testing.B) {
	for _, cs := range ledgertest.Suites {
		b.Run(cs.Name(), func(b *testing.B) { benchAppend(b, cs) })
	}
}

func benchAppend(b *testing.B, cs *suite.Suite) {
	s, err := ledgertest.NewSuiteSpace(cs)
	if err != nil {
		b.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, max(b.N, 2000), 1000, 8)
	if err != nil {
		b.Fatal(err)
	}
	st, err := embedded.Open(context.Background(), b.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	ctx := context.Background()
	b.ResetTimer()
	for _, bt := range w.Setup {
		if _, err := st.Append(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, stream := range w.Streams {
		wg.Add(1)
		go func(bs []*ledger.Batch) {
			defer wg.Done()
			for _, bt := range bs {
				if _, err := st.Append(ctx, bt); err != nil {
					b.Error(err)
					return
				}
			}
		}(stream)
	}
	wg.Wait()
	b.ReportMetric(float64(w.Records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkVerifyInclusion times verifying one record's proof against its
// signed checkpoint (note signature, leaf hash, RFC 6962 path) in a 100k-record tree.
func BenchmarkVerifyInclusion(b *testing.B) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		b.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, 100000, 1000, 4)
	if err != nil {
		b.Fatal(err)
	}
	st, err := embedded.Open(context.Background(), b.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	ctx := context.Background()
	for _, bt := range append(w.Setup, w.Streams[0]...) {
		if _, err := st.Append(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	p, err := st.Record(ctx, w.Streams[0][3].Records[17].ID)
	if err != nil {
		b.Fatal(err)
	}
	v, err := note.NewVerifier(st.VerifierKey())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ledgertest.VerifyProven(p, v); err != nil {
			b.Fatal(err)
		}
	}
}
