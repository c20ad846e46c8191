package service_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/service"
	"github.com/tdsc/tdsc/policy"
)

// BenchmarkDirectoryPoll is what connectors' directory polls
// (ledger.FollowDirectory, one a second per connector by default) cost the
// ledger service, against GET /healthz over the same HTTP client as the
// floor of any request. The ledger holds 1,000 participants, 100 of them
// suspended since (the directory's changes), and 10,000 dataset records
// beside them. "nothing new" is the common poll (from the cursor the last
// one returned); "from the start" is a connector's first, reading all 100
// changes. Polls run from 64 goroutines at once, as many connectors would.
// cpu-µs/op is the process's CPU time (server and client both) per poll:
// at 1,000 connectors polling once a second, the service spends at most
// that many milliseconds of CPU each second.
func BenchmarkDirectoryPoll(b *testing.B) {
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		b.Fatal(err)
	}
	st, err := embedded.Open(ctx, b.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(ctx)
	add := func(writer string, recs []ledger.Record) {
		for len(recs) > 0 {
			n := min(len(recs), 500)
			batch, err := sp.Batch(writer, recs[:n]...)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
			recs = recs[n:]
		}
	}
	var recs []ledger.Record
	for i := range 1000 {
		r, err := sp.Participant(fmt.Sprintf("org-%04d", i), "CN-BJ")
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	add(sp.Authority(), recs)
	for i := range 10 {
		owner := fmt.Sprintf("org-%04d", i)
		recs = recs[:0]
		for k := range 1000 {
			recs = append(recs, sp.Dataset(owner, fmt.Sprintf("ds-%d-%d", i, k), policy.General, "population"))
		}
		add(owner, recs)
	}
	recs = recs[:0]
	for i := 0; i < 1000; i += 10 {
		recs = append(recs, sp.Suspend(fmt.Sprintf("org-%04d", i)))
	}
	add(sp.Authority(), recs)

	h, err := service.New(service.Config{Backend: st, Authorize: authorize})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	c, err := client.New(srv.URL, client.WithHTTPClient(hc))
	if err != nil {
		b.Fatal(err)
	}
	first, err := c.DirectoryChanges(ctx, 0, 0)
	if err != nil || len(first.Changes) != 100 {
		b.Fatalf("directory changes %d, %v: want 100", len(first.Changes), err)
	}
	run := func(name string, poll func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(32) // 64 goroutines on 2 cores
			before := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := poll(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
	run("healthz", func() error {
		r, err := hc.Get(srv.URL + "/healthz")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, r.Body) // drained, so the connection is reused
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: HTTP %d", r.StatusCode)
		}
		return nil
	})
	run("nothing new", func() error {
		ch, err := c.DirectoryChanges(ctx, first.Next, 0)
		if err == nil && len(ch.Changes) != 0 {
			err = fmt.Errorf("%d changes after the last", len(ch.Changes))
		}
		return err
	})
	run("from the start", func() error {
		ch, err := c.DirectoryChanges(ctx, 0, 0)
		if err == nil && len(ch.Changes) != 100 {
			err = fmt.Errorf("%d changes from the start, want 100", len(ch.Changes))
		}
		return err
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
