package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
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
	Gateways         int     `json:"gateways"`
	Endorsers        int     `json:"endorsers"` // asked a transaction at the end (0: the profile lists none, the gateway finds them)
	InFlight         int     `json:"inFlight"`
	Transactions     int     `json:"transactions"`
	Conflicts        int64   `json:"conflicts"`
	Retries          int64   `json:"retries"`
	Rechecks         int64   `json:"rechecks"`
	Resent           int64   `json:"resent"`
	ResendAfter      float64 `json:"resendAfterSeconds"` // the longest a gateway's transaction waited for its status at the end before it is sent again (learned on a Raft channel, else 5)
	UnableMarks      int64   `json:"unableMarks"`        // endorsers marked unable to endorse (a proposal failed on their peer)
	Seconds          float64 `json:"seconds"`
	RecordsPerSecond float64 `json:"recordsPerSecond"`
	Chaincode        string  `json:"chaincode"`
	// CatchUp is what a ledger opened on the channel afterwards took to
	// read it all (--catch-up): what a restarted ledger service without an
	// index file does; CatchUpFile the same into an index file, and
	// Restart a ledger opened again on that file.
	CatchUp     *fabricCatchUp `json:"catchUp,omitempty"`
	CatchUpFile *fabricCatchUp `json:"catchUpFile,omitempty"`
	Restart     *fabricCatchUp `json:"restart,omitempty"`
}

// fabricCatchUp is a fresh follower reading the whole channel.
type fabricCatchUp struct {
	Seconds          float64 `json:"seconds"`
	RecordsPerSecond float64 `json:"recordsPerSecond"`
	// HeapBytesPerRecord is the live heap the follower's index holds, per
	// record (after a collection).
	HeapBytesPerRecord float64 `json:"heapBytesPerRecord"`
	// BlocksRead from the peer; FileBytes is the index file's size.
	BlocksRead int64 `json:"blocksRead"`
	FileBytes  int64 `json:"fileBytes,omitempty"`
}

func newBenchFabricCmd() *cobra.Command {
	var (
		n, batch, streams, maxRecords int
		gateways, inFlight            int
		profile, out                  string
		linger                        time.Duration
		verbose, catchUp, indexFile   bool
		cpuprofile                    string
	)
	cmd := &cobra.Command{
		Use:   "fabric",
		Short: "Append N realistic records in signed batches through the Fabric backend on a local network",
		Long: `The same workload as 'tdsc bench ledger', appended through ledger/fabric to a
fresh tdsc chaincode on the network of --profile (scripts/fabric.sh up writes
it). Batches that arrive together are grouped into one Fabric transaction,
several transactions in flight per gateway (--in-flight); --gateways deals the
streams among gateways of different organisations, all writing at once.
Reports transactions, conflicts, retries and rechecks.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := fabric.Config{MaxRecords: maxRecords, Linger: linger, InFlight: inFlight}
			if indexFile {
				dir, err := os.MkdirTemp("", "tdsc-fabric-index")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				cfg.IndexFile = filepath.Join(dir, "index.db")
			}
			// Retries and outages are said on stderr (why a run has
			// retries); -v adds every transaction's stage timings.
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
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
			res, err := benchFabric(cmd.Context(), profile, n, batch, streams, gateways, cfg)
			if err != nil {
				return err
			}
			if catchUp {
				dir, err := os.MkdirTemp("", "tdsc-fabric-index")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				file := filepath.Join(dir, "index.db")
				for _, c := range []struct {
					to   **fabricCatchUp
					file string
				}{{&res.CatchUp, ""}, {&res.CatchUpFile, file}, {&res.Restart, file}} {
					if *c.to, err = benchFabricCatchUp(cmd.Context(), profile, res.Chaincode, res.Records, c.file); err != nil {
						return err
					}
				}
			}
			return printFabricBench(cmd, res, out)
		},
	}
	cmd.Flags().StringVar(&profile, "profile", defaultFabricProfile, "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().IntVar(&n, "records", 50000, "records to append")
	cmd.Flags().IntVar(&batch, "batch", 500, "records per signed batch")
	cmd.Flags().IntVar(&streams, "streams", 8, "concurrent writers (provider/consumer pairs)")
	cmd.Flags().IntVar(&maxRecords, "max-records", 0, "records per Fabric transaction (0: the backend's default)")
	cmd.Flags().IntVar(&gateways, "gateways", 1, "gateways writing at once, one per organisation (streams are dealt among them)")
	cmd.Flags().IntVar(&inFlight, "in-flight", 0, "transactions in flight per gateway (0: the backend's default)")
	cmd.Flags().DurationVar(&linger, "linger", 0, "how long a transaction waits for more batches (0: the backend's default)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every transaction's stage timings to stderr")
	cmd.Flags().BoolVar(&indexFile, "index-file", false, "the writing ledger keeps its index in a file, as tdsc fabric serve does (default: in memory)")
	cmd.Flags().BoolVar(&catchUp, "catch-up", false, "then time a fresh ledger reading the channel from block 0 (a restarted ledger service), in memory and into an index file, and one restarted on that file; with each index's heap per record")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write the client's CPU profile to this file")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

func printFabricBench(cmd *cobra.Command, res *fabricBenchResult, out string) error {
	if out == "json" {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "fabric (%d orgs, %d endorsers a transaction, %d gateways, %d in flight each, chaincode %s): %d records in %d batches (%d per batch, %d streams) in %d transactions, %d conflicts, %d retries, %d rechecks, %d resent (after %.1fs), %d unable marks: %.2fs, %.0f records/s\n",
		res.Orgs, res.Endorsers, res.Gateways, res.InFlight, res.Chaincode, res.Records, res.Batches, res.BatchSize, res.Streams, res.Transactions,
		res.Conflicts, res.Retries, res.Rechecks, res.Resent, res.ResendAfter, res.UnableMarks, res.Seconds, res.RecordsPerSecond)
	if c := res.CatchUp; c != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "catch-up: a fresh ledger read the channel (%d blocks) in %.2fs, %.0f records/s; its index holds %.0f heap bytes a record\n",
			c.BlocksRead, c.Seconds, c.RecordsPerSecond, c.HeapBytesPerRecord)
	}
	if c := res.CatchUpFile; c != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "catch-up into an index file: %d blocks in %.2fs, %.0f records/s; %.0f heap bytes a record, %.0f file bytes a record\n",
			c.BlocksRead, c.Seconds, c.RecordsPerSecond, c.HeapBytesPerRecord, float64(c.FileBytes)/float64(res.Records))
	}
	if c := res.Restart; c != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "restart on the index file: ready in %.3fs, %d blocks read; %.0f heap bytes a record\n",
			c.Seconds, c.BlocksRead, c.HeapBytesPerRecord)
	}
	return nil
}

// benchFabric runs the ledgertest workload through a fresh chaincode, the
// setup through the first gateway, then the streams dealt among gateways
// (one per organisation, in turn), all writing at once. The ledger bench
// command calls it for --ledger fabric:<profile>.
func benchFabric(ctx context.Context, profilePath string, n, batch, streams, gateways int, cfg fabric.Config) (*fabricBenchResult, error) {
	p, err := fabric.LoadProfile(profilePath)
	if err != nil {
		return nil, err
	}
	if gateways < 1 || gateways > len(p.Orgs) {
		return nil, fmt.Errorf("--gateways: %d, the network has %d organisations (one gateway each)", gateways, len(p.Orgs))
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
	ls := make([]*fabric.Ledger, gateways)
	// One view of the ledger for the process: the other gateways read the
	// first one's follower, so they close before it.
	defer func() {
		for i := len(ls) - 1; i >= 0; i-- {
			if ls[i] != nil {
				ls[i].Close(context.Background())
			}
		}
	}()
	for i := range ls {
		c := cfg
		c.Org = i
		if i > 0 {
			c.Follower, c.IndexFile = ls[0], ""
		}
		if ls[i], err = fabric.Open(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := ls[0].Init(ctx, s.Genesis); err != nil {
		return nil, err
	}
	gateway := map[string]int{} // batch root -> gateway of its stream
	for i, st := range w.Streams {
		for _, b := range st {
			gateway[b.Root] = i % gateways
		}
	}
	var mu sync.Mutex
	txs := map[string]bool{}
	submit := func(b *ledger.Batch) error {
		r, err := ls[gateway[b.Root]].Submit(ctx, b)
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
	res := &fabricBenchResult{Records: w.Records, Batches: nb, BatchSize: batch, Streams: streams, Orgs: len(p.Orgs), Endorsers: ls[0].Stats().EndorsersAsked, Gateways: gateways,
		InFlight: cfg.InFlight, Transactions: len(txs), Seconds: elapsed.Seconds(), RecordsPerSecond: float64(w.Records) / elapsed.Seconds(), Chaincode: cfg.Chaincode}
	if res.InFlight == 0 {
		res.InFlight = fabric.DefaultInFlight
	}
	for _, l := range ls {
		st := l.Stats()
		res.Conflicts += st.Conflicts
		res.Retries += st.Retries
		res.Rechecks += st.Rechecks
		res.Resent += st.Resent
		res.ResendAfter = max(res.ResendAfter, st.ResendAfter.Seconds())
		res.UnableMarks += st.UnableMarks
	}
	return res, nil
}

// benchFabricCatchUp opens a ledger on chaincode (already written, records
// of them) as a restarted ledger service would, and times its follower
// reading the channel from block 0 (or from the last block indexFile
// holds) until its tree holds every record; it also reports the heap the
// index holds per record.
func benchFabricCatchUp(ctx context.Context, profilePath, chaincode string, records int, indexFile string) (*fabricCatchUp, error) {
	p, err := fabric.LoadProfile(profilePath)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	runtime.GC() // twice: pools (bbolt's pages) are freed at the second
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	l, err := fabric.Open(ctx, fabric.Config{Profile: p, Chaincode: chaincode, IndexFile: indexFile})
	if err != nil {
		return nil, err
	}
	defer l.Close(context.Background())
	h, err := l.Head(ctx) // waits until the follower holds every committed block
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	if h.Size != uint64(records) {
		return nil, fmt.Errorf("catch-up: the fresh ledger holds %d records, the run wrote %d", h.Size, records)
	}
	runtime.GC()
	runtime.GC() // twice: pools (bbolt's pages) are freed at the second
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	c := &fabricCatchUp{Seconds: took.Seconds(), RecordsPerSecond: float64(records) / took.Seconds(),
		HeapBytesPerRecord: float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(records), BlocksRead: l.Stats().BlocksRead}
	if fi, err := os.Stat(indexFile); indexFile != "" && err == nil {
		c.FileBytes = fi.Size()
	}
	return c, nil
}
