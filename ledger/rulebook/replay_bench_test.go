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
// and transfers UUID URNs (urn:uuid:…); "connector-ids" the ids a connector
// makes: transfers urn:uuid:…, records their kind and a UUID URN
// (transfer.authorized/urn:uuid:…), a completion also its participant
// (transfer.completed/urn:uuid:…/did:web:…). The signatures are not
// checked here, so the ids are changed after signing.
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
	encode := func(b *testing.B, rename func(r *ledger.Record)) [][]byte {
		var raw [][]byte
		for _, bt := range batches {
			c := *bt
			c.Records = append([]ledger.Record(nil), bt.Records...)
			for i := range c.Records {
				rename(&c.Records[i])
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
	urn := func(id string) string {
		if urns[id] == "" {
			urns[id] = uuid.New().URN()
		}
		return urns[id]
	}
	transfer := func(r *ledger.Record) bool {
		return r.Kind == ledger.KindTransferAuthorized || r.Kind == ledger.KindTransferCompleted
	}
	for _, c := range []struct {
		name   string
		rename func(r *ledger.Record)
	}{
		{"workload-ids", func(*ledger.Record) {}},
		{"urn-uuids", func(r *ledger.Record) {
			r.ID = urn(r.ID)
			if transfer(r) {
				r.Transfer = urn(r.Transfer)
			}
		}},
		{"connector-ids", func(r *ledger.Record) {
			if transfer(r) {
				r.Transfer = urn(r.Transfer)
			}
			if r.Kind == ledger.KindTransferCompleted {
				r.ID = string(r.Kind) + "/" + r.Transfer + "/" + r.Actor
			} else {
				r.ID = string(r.Kind) + "/" + urn(r.ID)
			}
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
