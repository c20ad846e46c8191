package workload

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// Workload is a realistic load for a ledger: a setup phase (participants,
// rules, datasets, agreements), then independent streams, one per
// provider/consumer pair, of transfer.authorized batches by the provider each
// followed by the consumer's transfer.completed batch for the same
// transfers. Batches of one stream must be appended in order; streams may run
// concurrently.
type Workload struct {
	Setup   []*ledger.Batch
	Streams [][]*ledger.Batch
	Records int
}

// NewWorkload builds about n records in batches of batchSize over streams pairs.
func NewWorkload(s *Space, n, batchSize, streams int) (*Workload, error) {
	if batchSize < 1 || streams < 1 || batchSize > ledger.MaxBatchRecords {
		return nil, fmt.Errorf("workload: workload: need 1 <= batchSize <= %d and streams >= 1", ledger.MaxBatchRecords)
	}
	w := &Workload{Streams: make([][]*ledger.Batch, streams)}
	add := func(dst *[]*ledger.Batch, writer string, recs []ledger.Record) error {
		b, err := s.Batch(writer, recs...)
		if err != nil {
			return err
		}
		*dst = append(*dst, b)
		w.Records += len(recs)
		return nil
	}
	var reg []ledger.Record
	for i := 0; i < streams; i++ {
		for _, p := range []struct{ id, region string }{{fmt.Sprintf("prov-%d", i), "CN-BJ"}, {fmt.Sprintf("cons-%d", i), "CN-SH"}} {
			r, err := s.Participant(p.id, p.region)
			if err != nil {
				return nil, err
			}
			reg = append(reg, r)
		}
	}
	reg = append(reg, s.Rules(policy.SpaceRules{
		NegativeList: []policy.NegativeEntry{{Category: "genetic"}},
		CrossBorder:  []policy.CrossBorderEntry{{Destination: "SG", MaxClassification: policy.Important, LegalBasis: "PIPL-38-standard-contract"}},
	}))
	if err := add(&w.Setup, s.Authority(), reg); err != nil {
		return nil, err
	}
	for i := 0; i < streams; i++ {
		prov, cons := fmt.Sprintf("prov-%d", i), fmt.Sprintf("cons-%d", i)
		ds, ag := fmt.Sprintf("ds-%d", i), fmt.Sprintf("ag-%d", i)
		a, err := s.Agreement(prov, cons, ds, ag, &ledger.Terms{NotBefore: "2026-01-01T00:00:00+08:00", NotAfter: "2027-01-01T00:00:00+08:00",
			Duties: []ledger.Duty{{ID: "delete-after-use", Action: "delete"}}})
		if err != nil {
			return nil, err
		}
		if err := add(&w.Setup, prov, []ledger.Record{s.Dataset(prov, ds, policy.Important, "traffic"), a}); err != nil {
			return nil, err
		}
	}
	for t := 0; w.Records < n; t++ {
		i := t % streams
		prov, cons := fmt.Sprintf("prov-%d", i), fmt.Sprintf("cons-%d", i)
		ds, ag := fmt.Sprintf("ds-%d", i), fmt.Sprintf("ag-%d", i)
		half := min(batchSize, (n-w.Records+1)/2)
		auth, done := make([]ledger.Record, 0, half), make([]ledger.Record, 0, half)
		for k := 0; k < half; k++ {
			id := fmt.Sprintf("tr-%d-%d-%d", i, t, k)
			r := s.Transfer(prov, cons, ag, ds, id)
			r.Classification, r.Category, r.PolicyHash = policy.Important, "traffic", s.Suite.HashName()+":9f2c"
			auth = append(auth, r)
			done = append(done, s.Completed(cons, id, int64(1024+k)))
		}
		if err := add(&w.Streams[i], prov, auth); err != nil {
			return nil, err
		}
		if err := add(&w.Streams[i], cons, done); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Run appends the workload through appendBatch: the setup in order, then the
// streams concurrently, each in order. It returns how many batches it
// appended and how long that took, or the first error.
func (w *Workload) Run(ctx context.Context, appendBatch func(context.Context, *ledger.Batch) error) (int, time.Duration, error) {
	start := time.Now()
	for _, b := range w.Setup {
		if err := appendBatch(ctx, b); err != nil {
			return 0, 0, fmt.Errorf("setup: %w", err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(w.Streams))
	n := len(w.Setup)
	for _, stream := range w.Streams {
		n += len(stream)
		wg.Add(1)
		go func(bs []*ledger.Batch) {
			defer wg.Done()
			for _, b := range bs {
				if err := appendBatch(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}(stream)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return n, elapsed, nil
}
