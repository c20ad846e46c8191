package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/ledger/workload"
	"github.com/tdsc/tdsc/suite"
)

type ledgerBenchResult struct {
	Suite             string  `json:"suite"`
	Records           int     `json:"records"`
	Batches           int     `json:"batches"`
	BatchSize         int     `json:"batchSize"`
	Streams           int     `json:"streams"`
	Seconds           float64 `json:"seconds"`
	RecordsPerSecond  float64 `json:"recordsPerSecond"`
	InclusionVerifyNs float64 `json:"inclusionVerifyNs"`
	Dir               string  `json:"dir,omitempty"`
}

func newBenchLedgerCmd() *cobra.Command {
	var (
		n, batch, streams  int
		gateways, inFlight int
		dir, out, backend  string
		suiteName          string
	)
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Append N realistic records in signed batches through the embedded store, and time inclusion proofs",
		Long: `Builds a realistic workload (participants, rules, datasets, agreements, then
streams of transfer.authorized / transfer.completed batches), signs every batch
beforehand, and times appending them through the real embedded store in a fresh
directory (fsync on every group commit), with one goroutine per stream.

--suite gm runs it in a gm space: SM2-signed batches, an SM3 tree, SM2-signed
checkpoints, and inclusion proofs verified with SM3.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if n < 1 || batch < 1 || streams < 1 {
				return fmt.Errorf("--records %d, --batch %d, --streams %d: each must be at least 1", n, batch, streams)
			}
			if backend != "embedded" {
				return benchLedgerOnFabric(cmd, backend, n, batch, streams, gateways, inFlight, out)
			}
			cs, err := suite.Lookup(suiteName)
			if err != nil {
				return fmt.Errorf("flag --suite: %w", err)
			}
			s, err := workload.NewSuiteSpace(cs)
			if err != nil {
				return err
			}
			w, err := workload.NewWorkload(s, n, batch, streams)
			if err != nil {
				return err
			}
			keep := dir != ""
			if !keep {
				if dir, err = os.MkdirTemp("", "tdsc-bench-ledger-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			}
			st, err := embedded.Open(ctx, dir, s.Genesis, embedded.Options{})
			if err != nil {
				return err
			}
			defer st.Close(context.Background())
			nb, elapsed, err := w.Run(ctx, func(ctx context.Context, b *ledger.Batch) error {
				_, err := st.Append(ctx, b)
				return err
			})
			if err != nil {
				return err
			}
			ns, err := timeInclusion(ctx, st, w)
			if err != nil {
				return err
			}
			res := ledgerBenchResult{Suite: cs.Name(), Records: w.Records, Batches: nb, BatchSize: batch, Streams: streams, Seconds: elapsed.Seconds(),
				RecordsPerSecond: float64(w.Records) / elapsed.Seconds(), InclusionVerifyNs: ns}
			if keep {
				res.Dir = dir
			}
			if out == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s suite: %d records in %d batches (%d per batch, %d streams): %.2fs, %.0f records/s; inclusion proof verify %.0f ns\n",
				res.Suite, res.Records, res.Batches, batch, streams, res.Seconds, res.RecordsPerSecond, ns)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "records", 100000, "records to append")
	cmd.Flags().IntVar(&batch, "batch", 1000, "records per batch")
	cmd.Flags().IntVar(&streams, "streams", 8, "concurrent writers (provider/consumer pairs)")
	cmd.Flags().StringVar(&dir, "dir", "", "ledger directory to keep (default: a temporary one, removed)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	cmd.Flags().IntVar(&gateways, "gateways", 1, "with --ledger fabric: gateways writing at once, one per organisation")
	cmd.Flags().IntVar(&inFlight, "in-flight", 0, "with --ledger fabric: transactions in flight per gateway (0: the backend's default)")
	cmd.Flags().StringVar(&suiteName, "suite", "intl", "crypto suite of the space: intl or gm")
	cmd.Flags().StringVar(&backend, "ledger", "embedded", "backend: embedded, or fabric[:PROFILE] (a network from scripts/fabric.sh up; a fresh chaincode is deployed; default batch 500)")
	return cmd
}

// benchLedgerOnFabric runs the same workload through the Fabric backend
// (tdsc bench fabric has its finer knobs).
func benchLedgerOnFabric(cmd *cobra.Command, backend string, n, batch, streams, gateways, inFlight int, out string) error {
	rest, ok := strings.CutPrefix(backend, "fabric")
	if !ok || rest != "" && !strings.HasPrefix(rest, ":") {
		return fmt.Errorf("--ledger: %q: use embedded or fabric[:PROFILE]", backend)
	}
	profile := strings.TrimPrefix(rest, ":")
	if profile == "" {
		profile = defaultFabricProfile
	}
	if !cmd.Flags().Changed("batch") {
		batch = 500
	}
	res, err := benchFabric(cmd.Context(), profile, n, batch, streams, gateways, fabric.Config{InFlight: inFlight})
	if err != nil {
		return err
	}
	return printFabricBench(cmd, res, out)
}

// timeInclusion fetches proofs of up to 1000 random records and times their verification.
func timeInclusion(ctx context.Context, st *embedded.Store, w *workload.Workload) (float64, error) {
	v, err := suite.NewNoteVerifier(st.VerifierKey())
	if err != nil {
		return 0, err
	}
	var batches []*ledger.Batch
	for _, stream := range w.Streams {
		for _, b := range stream {
			if len(b.Records) > 0 {
				batches = append(batches, b)
			}
		}
	}
	if len(batches) == 0 {
		return 0, errors.New("--records: too few for one whole batch per stream (raise --records or lower --batch/--streams); nothing to prove")
	}
	var proofs []ledger.Proven
	for i := 0; i < 1000; i++ {
		b := batches[rand.IntN(len(batches))]
		p, err := st.Record(ctx, b.Records[rand.IntN(len(b.Records))].ID)
		if err != nil {
			return 0, err
		}
		proofs = append(proofs, p)
	}
	start := time.Now()
	for _, p := range proofs {
		if _, err := verify.Proven(p, v); err != nil {
			return 0, fmt.Errorf("record %s: %w", p.Record.ID, err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(len(proofs)), nil
}
