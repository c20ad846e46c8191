package chaincode

import (
	"testing"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// BenchmarkAppend runs what one endorser does for the Fabric bench's
// transactions: 20,000 records in batches of 500, two batches a transaction,
// each sent as the ledger/fabric client sends it (the batches' JSON,
// compressed, in the transient field) and decoded, checked and written by
// Append on world state in memory.
//
//	go test ./chaincode -run XXX -bench BenchmarkAppend -benchtime 5x
func BenchmarkAppend(b *testing.B) {
	s, w := ledgertest.MustWorkload(b, 20000, 500, 8)
	var txs []map[string][]byte
	add := func(bs []*ledger.Batch) {
		for k := 0; k < len(bs); k += 2 {
			var ws []*wire.Written
			for _, bt := range bs[k:min(len(bs), k+2)] {
				canon, err := bt.Canonical()
				if err != nil {
					b.Fatal(err)
				}
				ws = append(ws, wire.NewWritten(bt, canon))
			}
			p, err := wire.EncodeWritten(ws)
			if err != nil {
				b.Fatal(err)
			}
			z, err := wire.Deflate(p)
			if err != nil {
				b.Fatal(err)
			}
			txs = append(txs, map[string][]byte{wire.TransientBatchesDeflate: z})
		}
	}
	add(w.Setup)
	var rest []*ledger.Batch // the streams' batches in turn
	for i := range w.Streams[0] {
		for _, st := range w.Streams {
			if i < len(st) {
				rest = append(rest, st[i])
			}
		}
	}
	add(rest)
	b.ResetTimer()
	for range b.N {
		m := newMemState()
		for _, t := range txs {
			bs, in, err := appendArg("", t)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := appendBatches(m, s.Genesis, nil, bs, in); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*w.Records)/1000, "µs/record")
}
