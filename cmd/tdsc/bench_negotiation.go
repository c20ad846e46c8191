package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/workload"
)

type negotiationBenchResult struct {
	Negotiations int     `json:"negotiations"`
	Concurrency  int     `json:"concurrency"`
	Failed       int     `json:"failed"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"perSecond"`
	P50Ms        float64 `json:"p50Ms"`
	P90Ms        float64 `json:"p90Ms"`
	P99Ms        float64 `json:"p99Ms"`
	MaxMs        float64 `json:"maxMs"`
	// Idle is one negotiation at a time: the latency two idle connectors see.
	IdleP50Ms float64 `json:"idleP50Ms"`
	// CPUMsPerNegotiation is the process's CPU time (user+system: both nodes,
	// the ledger and the client) per loaded negotiation; with the machine to
	// itself, CPUs*1000/CPUMsPerNegotiation bounds perSecond.
	CPUMsPerNegotiation float64 `json:"cpuMsPerNegotiation"`
	CPUs                int     `json:"cpus"`
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newBenchNegotiationCmd() *cobra.Command {
	var (
		n, conc, idle   int
		out, cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "negotiation",
		Short: "Negotiate N contracts to FINALIZED between two real connectors on loopback with the embedded ledger",
		Long: `Starts an embedded ledger in a temp dir, registers a provider and a consumer,
and runs two real connector nodes (SQLite stores, DSP over loopback HTTP,
protocol tokens on every call). The consumer reads the provider's catalogue
once, then negotiates the offer N times with the given concurrency. Each
latency is from the contract request to FINALIZED at the consumer, which the
provider sends only after agreement.signed is committed (fsync) on the
ledger. Reports p50/p90/p99 and negotiations per second, plus the p50 of
--idle negotiations run one at a time.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			res, err := benchNegotiation(cmd.Context(), n, conc, idle)
			if err != nil {
				return err
			}
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "negotiations  %d (concurrency %d, %d failed) on %d CPUs\n", res.Negotiations, res.Concurrency, res.Failed, res.CPUs)
			fmt.Fprintf(w, "throughput    %.0f negotiations/s (%.2fs)\n", res.PerSecond, res.Seconds)
			fmt.Fprintf(w, "latency       p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs)
			fmt.Fprintf(w, "idle latency  p50 %.2f ms (one at a time)\n", res.IdleP50Ms)
			fmt.Fprintf(w, "cpu           %.2f ms per negotiation (both nodes and the ledger)\n", res.CPUMsPerNegotiation)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "count", "n", 2000, "negotiations to run under load")
	cmd.Flags().IntVar(&conc, "concurrency", 8, "negotiations in flight at once")
	cmd.Flags().IntVar(&idle, "idle", 50, "negotiations run one at a time for the idle latency")
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output: table or json")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	return cmd
}

// benchNode is a connector on a loopback listener.
type benchNode struct {
	*connector.Node
	url string
	srv *http.Server
}

func startBenchNode(ctx context.Context, dir, id, space string, key *identity.Key, led *embedded.Store) (*benchNode, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := connector.Config{ParticipantID: id, Space: space, Listen: ln.Addr().String(), DataDir: filepath.Join(dir, id[len("did:tdsc:"):]),
		RetryMin: 5 * time.Millisecond, RetryMax: time.Second}
	node, err := connector.New(ctx, cfg, connector.WithKey(key), connector.WithLedger(led), connector.WithParticipants(led),
		connector.WithRules(led), connector.WithOperatorToken("bench-operator-token"),
		connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: node.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go srv.Serve(ln)
	return &benchNode{Node: node, url: "http://" + ln.Addr().String(), srv: srv}, nil
}

func (b *benchNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
	b.Node.Close(ctx)
}

func benchNegotiation(ctx context.Context, n, conc, idle int) (*negotiationBenchResult, error) {
	if n <= 0 || conc <= 0 || idle < 0 {
		return nil, errors.New("bench negotiation: --count and --concurrency must be positive")
	}
	dir, err := os.MkdirTemp("", "tdsc-bench-negotiation-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sp, err := workload.NewSpace()
	if err != nil {
		return nil, err
	}
	led, err := embedded.Open(ctx, filepath.Join(dir, "ledger"), sp.Genesis, embedded.Options{})
	if err != nil {
		return nil, err
	}
	defer led.Close(context.Background())
	const provID, consID = "did:tdsc:provider", "did:tdsc:consumer"
	for _, p := range []struct{ id, region string }{{provID, "CN-BJ"}, {consID, "CN-SH"}} {
		rec, err := sp.Participant(p.id, p.region)
		if err != nil {
			return nil, err
		}
		b, err := sp.Batch(sp.Authority(), rec)
		if err != nil {
			return nil, err
		}
		if _, err := led.Append(ctx, b); err != nil {
			return nil, err
		}
	}
	prov, err := startBenchNode(ctx, dir, provID, sp.Genesis.Space, sp.Keys[provID], led)
	if err != nil {
		return nil, err
	}
	defer prov.stop()
	cons, err := startBenchNode(ctx, dir, consID, sp.Genesis.Space, sp.Keys[consID], led)
	if err != nil {
		return nil, err
	}
	defer cons.stop()
	ds, err := prov.AddDataset(ctx, connector.NewDataset{ID: "ds-bench", Title: "Bench dataset", Classification: "general", Category: "transport"})
	if err != nil {
		return nil, err
	}
	offer := `{"@id":"offer-bench","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}]}]}`
	if _, err := prov.AddOffer(ctx, connector.NewOffer{Dataset: ds.ID, Policy: json.RawMessage(offer)}); err != nil {
		return nil, err
	}
	cat, err := cons.RemoteCatalog(ctx, prov.url, provID)
	if err != nil {
		return nil, err
	}
	if len(cat.Dataset) != 1 || len(cat.Dataset[0].HasPolicy) != 1 {
		return nil, fmt.Errorf("bench negotiation: unexpected catalogue %+v", cat)
	}
	req := connector.NegotiateOffer{ProviderURL: prov.url, Provider: provID, Dataset: ds.ID, Offer: cat.Dataset[0].HasPolicy[0], Purpose: "research"}
	one := func() (time.Duration, error) {
		t0 := time.Now()
		neg, err := cons.Negotiate(ctx, req)
		if err != nil {
			return 0, err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		final, err := cons.WaitNegotiation(wctx, neg.ID)
		if err != nil {
			return 0, err
		}
		if final.State != string(dsp.NegFinalized) {
			return 0, fmt.Errorf("negotiation %s ended %s: %s", neg.ID, final.State, final.Reason)
		}
		return time.Since(t0), nil
	}
	// Warm up (connections, the dataset and offer records on the ledger).
	for i := 0; i < 10; i++ {
		if _, err := one(); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	idleLat := make([]time.Duration, 0, idle)
	for i := 0; i < idle; i++ {
		d, err := one()
		if err != nil {
			return nil, fmt.Errorf("idle run: %w", err)
		}
		idleLat = append(idleLat, d)
	}
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				d, err := one()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					d = -1
				}
				lat[i] = d
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("bench negotiation: %d of %d negotiations failed; first: %v", f, n, firstErr.Load())
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(idleLat, func(i, j int) bool { return idleLat[i] < idleLat[j] })
	q := func(l []time.Duration, p float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		return l[min(len(l)-1, int(p*float64(len(l))))]
	}
	return &negotiationBenchResult{Negotiations: n, Concurrency: conc, Seconds: elapsed.Seconds(),
		PerSecond: float64(n) / elapsed.Seconds(), P50Ms: ms(q(lat, 0.5)), P90Ms: ms(q(lat, 0.9)), P99Ms: ms(q(lat, 0.99)),
		MaxMs: ms(lat[len(lat)-1]), IdleP50Ms: ms(q(idleLat, 0.5)), CPUMsPerNegotiation: ms(cpu) / float64(n), CPUs: runtime.NumCPU()}, nil
}
