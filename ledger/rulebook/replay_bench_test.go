package rulebook_test

import (
	"encoding/json"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/ledger/workload"
)

// BenchmarkReplayHeap replays a workload's batches, decoded from their JSON
// as an audit reads them, into a Mem and reports the heap the Mem keeps a
// record (after a collection, with the batches gone): what an audit's
// rulebook state costs as the ledger grows. "workload-ids" keeps the
// workload's short ids (rec-00000001, tr-0-1-2); "urn-uuids" gives records
// and transfers the ids a connector makes (urn:uuid:…). The signatures are
// not checked here, so the ids are changed after signing.
func BenchmarkReplayHeap(b *testing.B) {
	const n = 100_000
	s, err := workload.NewSpace()
	if err != nil {
		b.Fatal(err)
	}
	w, err := workload.NewWorkload(s, n, 500, 8)
	if err != nil {
		b.Fatal(err)
	}
	batches := w.Setup
	for _, st := range w.Streams {
		// One stream after another keeps each transfer's authorisation
		// before its completion.
		batches = append(batches, st...)
	}
	encode := func(b *testing.B, rename func(string) string) [][]byte {
		var raw [][]byte
		for _, bt := range batches {
			c := *bt
			c.Records = append([]ledger.Record(nil), bt.Records...)
			for i := range c.Records {
				r := &c.Records[i]
				r.ID = rename(r.ID)
				if r.Kind == ledger.KindTransferAuthorized || r.Kind == ledger.KindTransferCompleted {
					r.Transfer = rename(r.Transfer)
				}
			}
			data, err := json.Marshal(&c)
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, data)
		}
		return raw
	}
	urns := map[string]string{}
	for _, c := range []struct {
		name   string
		rename func(string) string
	}{
		{"workload-ids", func(id string) string { return id }},
		{"urn-uuids", func(id string) string {
			if urns[id] == "" {
				urns[id] = uuid.New().URN()
			}
			return urns[id]
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			raw := encode(b, c.rename)
			var kept float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				m := rulebook.NewMem(s.Genesis)
				for _, data := range raw {
					bt, err := ledger.DecodeBatch(data)
					if err != nil {
						b.Fatal(err)
					}
					ov := rulebook.NewOverlay(m)
					if err := rulebook.ApplyRecords(ov, s.Genesis, bt); err != nil {
						b.Fatal(err)
					}
					m.Put(ov.Changes()...)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				kept = float64(after.HeapAlloc-before.HeapAlloc) / float64(w.Records)
				runtime.KeepAlive(m)
			}
			b.ReportMetric(kept, "heap-B/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*w.Records), "ns/record")
		})
	}
}
