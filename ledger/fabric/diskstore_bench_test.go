package fabric

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// BenchmarkIndexAdd builds the index of 20,000 records (transactions of
// about 500 records, four a block, as the follower adds them) in memory and
// in a file, one block an update; and in a file 32 transactions an update,
// as a catch-up takes blocks (maxBlocksAtOnce): the file's cost per record
// against memory's, in one run.
//
//	go test ./ledger/fabric -run XXX -bench BenchmarkIndexAdd -benchtime 3x
func BenchmarkIndexAdd(b *testing.B) {
	txs, _, records := benchTxs(b, 20000)
	for _, c := range []struct {
		name string
		disk bool
		per  int // transactions an update
	}{{"memory", false, 4}, {"file", true, 4}, {"file-catch-up", true, 32}} {
		disk, per := c.disk, c.per
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				x := emptyIndex(b, disk)
				b.StartTimer()
				addTxs(b, x, txs, 0, len(txs), per)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records)/1000, "µs/record")
		})
	}
}

// BenchmarkIndexKeepUp: an index file already holding 200,000 records
// takes 10,000 more as a follower keeping up does, a transaction of 500
// records an update (each decoded by addTx, as in BenchmarkIndexAdd). An
// update's cost that grows with what the file holds (pages all over a
// bucket) shows here against BenchmarkIndexAdd/file, not in it.
//
//	go test ./ledger/fabric -run XXX -bench BenchmarkIndexKeepUp -benchtime 3x
func BenchmarkIndexKeepUp(b *testing.B) {
	const held, added = 200000, 10000
	txs, sizes, _ := benchTxs(b, held+added)
	first, n := 0, 0 // the transactions the file holds
	for first < len(txs) && n < held {
		n, first = n+sizes[first], first+1
	}
	records := 0
	for _, sz := range sizes[first:] {
		records += sz
	}
	dir := b.TempDir()
	base := filepath.Join(dir, "base")
	x, st, err := openIndexFile(base, "ch", "cc")
	if err != nil {
		b.Fatal(err)
	}
	addTxs(b, x, txs, 0, first, 32)
	if err := st.close(); err != nil {
		b.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	var elapsed time.Duration
	for range b.N {
		raw, err := os.ReadFile(base)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(run, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		x, st, err := openIndexFile(run, "ch", "cc")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		addTxs(b, x, txs, first, len(txs), 1)
		elapsed += time.Since(t0)
		if err := st.close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*records)/1000, "µs/record")
}

// benchTxs is a workload of about n records as Append transactions of five
// 100-record batches (the setup's, then each stream's): the transactions,
// each one's records, and the records in all.
func benchTxs(b *testing.B, n int) (txs []*endorsedWrites, sizes []int, records int) {
	_, w := ledgertest.MustWorkload(b, n, 100, 4)
	for _, bs := range append([][]*ledger.Batch{w.Setup}, w.Streams...) {
		for k := 0; k < len(bs); k += 5 {
			group := bs[k:min(len(bs), k+5)]
			txs = append(txs, committed(b, group))
			size := 0
			for _, bt := range group {
				size += len(bt.Records)
			}
			sizes = append(sizes, size)
		}
	}
	return txs, sizes, w.Records
}

// addTxs adds txs[from:to] to x, per transactions an update, as blocks
// from+1 on.
func addTxs(b *testing.B, x *index, txs []*endorsedWrites, from, to, per int) {
	for k := from; k < to; k += per {
		err := x.update(func() error {
			for j := k; j < min(to, k+per); j++ {
				if err := x.addTx(uint64(j+1), fmt.Sprintf("tx-%d", j), txs[j]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
