package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/workload"
)

type fabricBenchResult struct {
	Records          int     `json:"records"`
	Batches          int     `json:"batches"`
	BatchSize        int     `json:"batchSize"`
	Streams          int     `json:"streams"`
	Orgs             int     `json:"orgs"`
	Transactions     int     `json:"transactions"`
	Seconds          float64 `json:"seconds"`
	RecordsPerSecond float64 `json:"recordsPerSecond"`
	Chaincode        string  `json:"chaincode"`
}

func newBenchFabricCmd() *cobra.Command {
	var (
		n, batch, streams, maxRecords int
		profile, out                  string
		linger                        time.Duration
		verbose                       bool
		cpuprofile                    string
	)
	cmd := &cobra.Command{
		Use:   "fabric",
		Short: "Append N realistic records in signed batches through the Fabric backend on a local network",
		Long: `The same workload as 'tdsc bench ledger', appended through ledger/fabric to a
fresh tdsc chaincode on the network of --profile (scripts/fabric.sh up writes
it). Batches are grouped into one Fabric transaction while the previous one
commits.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := fabric.Config{MaxRecords: maxRecords, Linger: linger}
			if verbose {
				cfg.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			res, err := benchFabric(cmd.Context(), profile, n, batch, streams, cfg)
			if err != nil {
				return err
			}
			if out == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fabric (%d orgs, chaincode %s): %d records in %d batches (%d per batch, %d streams) in %d transactions: %.2fs, %.0f records/s\n",
				res.Orgs, res.Chaincode, res.Records, res.Batches, batch, streams, res.Transactions, res.Seconds, res.RecordsPerSecond)
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", filepath.Join(".cache", "fabric", "net", "profile.json"), "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().IntVar(&n, "records", 50000, "records to append")
	cmd.Flags().IntVar(&batch, "batch", 500, "records per signed batch")
	cmd.Flags().IntVar(&streams, "streams", 8, "concurrent writers (provider/consumer pairs)")
	cmd.Flags().IntVar(&maxRecords, "max-records", 0, "records per Fabric transaction (0: the backend's default)")
	cmd.Flags().DurationVar(&linger, "linger", 0, "how long a transaction waits for more batches (0: the backend's default)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every transaction's stage timings to stderr")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write the client's CPU profile to this file")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

// benchFabric runs the ledgertest workload through a fresh chaincode. The
// ledger bench command can call it for --ledger fabric:<profile>.
func benchFabric(ctx context.Context, profilePath string, n, batch, streams int, cfg fabric.Config) (*fabricBenchResult, error) {
	p, err := fabric.LoadProfile(profilePath)
	if err != nil {
		return nil, err
	}
	s, err := workload.NewSpace()
	if err != nil {
		return nil, err
	}
	w, err := workload.NewWorkload(s, n, batch, streams)
	if err != nil {
		return nil, err
	}
	cfg.Profile = p
	cfg.Chaincode = fmt.Sprintf("bench%d", time.Now().Unix())
	if err := fabric.Deploy(ctx, p, cfg.Chaincode); err != nil {
		return nil, err
	}
	l, err := fabric.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close(context.Background())
	if err := l.Init(ctx, s.Genesis); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	txs := map[string]bool{}
	submit := func(b *ledger.Batch) error {
		r, err := l.Submit(ctx, b)
		if err != nil {
			return err
		}
		mu.Lock()
		txs[r.TxID] = true
		mu.Unlock()
		return nil
	}
	nb, elapsed, err := w.Run(ctx, func(_ context.Context, b *ledger.Batch) error { return submit(b) })
	if err != nil {
		return nil, err
	}
	return &fabricBenchResult{Records: w.Records, Batches: nb, BatchSize: batch, Streams: streams, Orgs: len(p.Orgs),
		Transactions: len(txs), Seconds: elapsed.Seconds(), RecordsPerSecond: float64(w.Records) / elapsed.Seconds(), Chaincode: cfg.Chaincode}, nil
}
