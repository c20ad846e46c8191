package fabric

import (
	"fmt"
	"testing"

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
	s, err := ledgertest.NewSpace()
	if err != nil {
		b.Fatal(err)
	}
	w, err := ledgertest.NewWorkload(s, 20000, 100, 4)
	if err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}
	var txs []*endorsedWrites
	for k := 0; k < len(w.Setup); k += 5 {
		txs = append(txs, committed(t, w.Setup[k:min(len(w.Setup), k+5)]))
	}
	for _, st := range w.Streams {
		for k := 0; k < len(st); k += 5 {
			txs = append(txs, committed(t, st[k:min(len(st), k+5)]))
		}
	}
	records := w.Records
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
				for k := 0; k < len(txs); k += per {
					err := x.update(func() error {
						for j := k; j < min(len(txs), k+per); j++ {
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
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records)/1000, "µs/record")
		})
	}
}
