package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

type nativeRun struct {
	Compiler string  `json:"compiler"`
	Ms       float64 `json:"ms"`
	path     string
}

type computeBenchResult struct {
	Program    string `json:"program"` // go or c: which example aggregate
	InputBytes int64  `json:"inputBytes"`
	Rows       int64  `json:"rows"`
	Rounds     int    `json:"rounds"`
	Cores      int    `json:"cores"`
	GoVersion  string `json:"goVersion"`
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
	// Natives are the program built natively, by each compiler at hand (Go;
	// for C clang and gcc), with the best time of each; NativeMs is the
	// fastest of them, the baseline of the ratio.
	Natives []nativeRun `json:"natives"`
	// Best wall time of each way to run the same aggregate source.
	NativeMs float64 `json:"nativeMs"`
	WazeroMs float64 `json:"bareWazeroMs"`
	// CheckedMs is bare wazero running the module with the sandbox's stop
	// checks: their own cost, apart from the rest of the sandbox.
	CheckedMs float64 `json:"bareWazeroCheckedMs"`
	SandboxMs float64 `json:"sandboxMs"`
	// SandboxCPUMs is what a compute.executed record would say for the best run.
	SandboxCPUMs    float64 `json:"sandboxCpuMs"`
	SandboxPeakMiB  float64 `json:"sandboxPeakMemoryMiB"`
	NativeMBps      float64 `json:"nativeMBps"`
	SandboxMBps     float64 `json:"sandboxMBps"`
	RatioToNative   float64 `json:"ratioToNative"` // native time / sandbox time: the budget's figure
	OverheadPercent float64 `json:"sandboxOverheadPercent"`
	// CompileMs is the first compilation; CachedCompileMs a Compile of the
	// same bytes again (hashing them, a map hit).
	CompileMs       float64 `json:"compileMs"`
	CachedCompileMs float64 `json:"cachedCompileMs"`
	// StartupMs is a whole run of the cached module on an input of one header
	// line: instantiation, the Go runtime's start inside the module, exit.
	StartupMs      float64 `json:"startupMs"`
	RatioBudget    float64 `json:"ratioBudget"`
	StartupBudget  float64 `json:"startupBudgetMs"`
	WithinBudget   bool    `json:"withinBudget"`
	ResultsIdentic bool    `json:"resultsIdentical"`
}

func newBenchComputeCmd() *cobra.Command {
	var (
		sizeMB, rounds    int
		out, dir, program string
	)
	cmd := &cobra.Command{
		Use:   "compute [--program c|go] [--size-mb 100] [--rounds 3] [-o json]",
		Short: "Time the sandbox's aggregate over a large CSV against the same program built natively",
		Long: `Writes a CSV of --size-mb megabytes (group, two numeric columns), builds the
example aggregate program from source twice (for WebAssembly and natively),
and runs it over the CSV --rounds
times each way: natively, under bare wazero (no limits, no metering), and in
tdsc's sandbox with its limits, input hashing and metering. It reports the
best time of each, the ratio native/sandbox (budget: at least 0.5), the
sandbox's own overhead over bare wazero, and the start-up of the cached
module (budget: under 5 ms). The three results must be byte-identical.

--program c (the default) runs the committed C module (sandbox/programs/c,
the bytes a provider allows) against the same source built natively with the
same flags by every C compiler on $PATH (clang, the module's own, and gcc),
the ratio against the fastest; it needs the tdsc source tree and a C compiler
(scripts/sandbox-c.sh install). --program go builds sandbox/programs/aggregate
with GOOS=wasip1 and natively (needs the Go toolchain and the source tree).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sizeMB <= 0 || rounds <= 0 {
				return fmt.Errorf("flags --size-mb and --rounds: must be positive, got %d and %d", sizeMB, rounds)
			}
			if program != "go" && program != "c" {
				return fmt.Errorf("flag --program: must be go or c, got %q", program)
			}
			if out != "text" && out != "json" {
				return fmt.Errorf("flag -o: must be text or json, got %q", out)
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "tdsc-bench-compute-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			res, err := benchCompute(cmd.Context(), program, dir, int64(sizeMB)<<20, rounds)
			if err != nil {
				return err
			}
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
				return sameResults(res)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "program\t%s aggregate\n", res.Program)
			fmt.Fprintf(w, "input\t%d MiB, %d rows\nrounds\t%d (best of each)\ncores\t%d\nload (1/5/15 min)\t%s → %s\n",
				res.InputBytes>>20, res.Rows, res.Rounds, res.Cores, res.LoadBefore, res.LoadAfter)
			for _, n := range res.Natives {
				fmt.Fprintf(w, "native (%s)\t%.0f ms\t%.0f MB/s\n", n.Compiler, n.Ms, float64(res.InputBytes)/1e3/n.Ms)
			}
			fmt.Fprintf(w, "bare wazero\t%.0f ms\n", res.WazeroMs)
			fmt.Fprintf(w, "bare wazero with the stop checks\t%.0f ms\t%+.1f %%\n", res.CheckedMs, (res.CheckedMs-res.WazeroMs)/res.WazeroMs*100)
			fmt.Fprintf(w, "tdsc sandbox\t%.0f ms\t%.0f MB/s\tcpu %.0f ms, peak memory %.1f MiB\n", res.SandboxMs, res.SandboxMBps, res.SandboxCPUMs, res.SandboxPeakMiB)
			fmt.Fprintf(w, "ratio native/sandbox\t%.2f\t(budget ≥ %.1f; the fastest native build)\n", res.RatioToNative, res.RatioBudget)
			fmt.Fprintf(w, "sandbox overhead over bare wazero\t%.1f %%\n", res.OverheadPercent)
			fmt.Fprintf(w, "compile (first / cached)\t%.0f ms / %.2f ms\n", res.CompileMs, res.CachedCompileMs)
			fmt.Fprintf(w, "start-up of the cached module\t%.2f ms\t(budget < %.0f ms)\n", res.StartupMs, res.StartupBudget)
			fmt.Fprintf(w, "results identical\t%v\nwithin budget\t%v\n", res.ResultsIdentic, res.WithinBudget)
			if err := w.Flush(); err != nil {
				return err
			}
			return sameResults(res)
		},
	}
	cmd.Flags().StringVar(&program, "program", "c", "the aggregate to run: c (the committed module; needs a C compiler for the native baseline) or go")
	cmd.Flags().IntVar(&sizeMB, "size-mb", 100, "size of the CSV in MiB")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "runs of each way")
	cmd.Flags().StringVar(&dir, "dir", "", "working directory (default: a temporary one)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	return cmd
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// writeBenchCSV writes about size bytes of group,x,y rows over 1000 groups.
func writeBenchCSV(path string, size int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("group,x,y\n")
	var rows int64
	var written int64 = 10
	seed := uint64(0x9E3779B97F4A7C15)
	for written < size {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		n, _ := fmt.Fprintf(w, "g%03d,%d.%02d,%d\n", seed%1000, seed>>40&0xFFFF, seed>>20&63, seed>>10&0xFFFFF)
		written += int64(n)
		rows++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return rows, f.Close()
}

// buildAggregate returns the named aggregate's module and its native builds.
// The Go one is built from source for wasip1 and natively. The C one is the
// committed module (programs.CAggregate, the bytes a provider allows, which
// scripts/sandbox-c.sh rebuilds byte for byte) and the same source built
// natively by every C compiler at hand.
func buildAggregate(ctx context.Context, program, dir string) ([]byte, []nativeRun, error) {
	if program == "c" {
		src, err := programs.CSource()
		if err != nil {
			return nil, nil, err
		}
		var natives []nativeRun
		for _, cc := range programs.NativeCompilers() {
			path, err := programs.BuildCNative(ctx, src, dir, cc)
			if err != nil {
				return nil, nil, err
			}
			natives = append(natives, nativeRun{Compiler: filepath.Base(cc) + " -O2", path: path})
		}
		if len(natives) == 0 {
			return nil, nil, fmt.Errorf("bench compute: flag --program c: the native baseline needs a C compiler (clang or gcc) on $PATH: run scripts/sandbox-c.sh install, or use --program go")
		}
		return programs.CAggregate, natives, nil
	}
	wasmPath, err := programs.Build(ctx, programs.Aggregate, dir)
	if err != nil {
		return nil, nil, err
	}
	path, err := programs.BuildNative(ctx, programs.Aggregate, dir)
	if err != nil {
		return nil, nil, err
	}
	wasm, err := os.ReadFile(wasmPath)
	return wasm, []nativeRun{{Compiler: runtime.Version(), path: path}}, err
}

func benchCompute(ctx context.Context, program, dir string, size int64, rounds int) (*computeBenchResult, error) {
	res := &computeBenchResult{Program: program, Rounds: rounds, Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		RatioBudget: 0.5, StartupBudget: 5}
	wasm, natives, err := buildAggregate(ctx, program, dir)
	if err != nil {
		return nil, err
	}
	csvPath := filepath.Join(dir, "input.csv")
	if res.Rows, err = writeBenchCSV(csvPath, size); err != nil {
		return nil, err
	}
	st, err := os.Stat(csvPath)
	if err != nil {
		return nil, err
	}
	res.InputBytes = st.Size()

	r, err := sandbox.New(ctx, sandbox.Config{CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		return nil, err
	}
	defer r.Close(ctx)
	t0 := time.Now()
	prog, err := r.Compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	res.CompileMs = ms(time.Since(t0))
	t0 = time.Now()
	const cachedN = 20
	for range cachedN {
		if _, err := r.Compile(ctx, wasm); err != nil {
			return nil, err
		}
	}
	res.CachedCompileMs = ms(time.Since(t0)) / cachedN

	// Start-up: the cached module on a header-only input, median of 50.
	var starts []time.Duration
	for range 50 {
		t0 := time.Now()
		if _, err := r.Run(ctx, prog, strings.NewReader("group,x,y\n"), sandbox.Limits{}); err != nil {
			return nil, err
		}
		starts = append(starts, time.Since(t0))
	}
	slices.Sort(starts)
	res.StartupMs = ms(starts[len(starts)/2])

	// A bare wazero runtime: no limits, no metering, stdin the file itself.
	bare := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	defer bare.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, bare)
	bareMod, err := bare.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	checked, err := sandbox.Instrument(wasm)
	if err != nil {
		return nil, err
	}
	checkedMod, err := bare.CompileModule(ctx, checked)
	if err != nil {
		return nil, err
	}
	// runBare runs a module of the bare runtime over the CSV.
	runBare := func(m wazero.CompiledModule) ([]byte, time.Duration, error) {
		in, err := os.Open(csvPath)
		if err != nil {
			return nil, 0, err
		}
		defer in.Close()
		var buf bytes.Buffer
		t0 := time.Now()
		mod, err := bare.InstantiateModule(ctx, m, wazero.NewModuleConfig().WithStdin(in).WithStdout(&buf).WithName(""))
		d := time.Since(t0)
		if mod != nil {
			mod.Close(ctx)
		}
		if err != nil && !isExitZero(err) {
			return nil, d, fmt.Errorf("bare wazero: %w", err)
		}
		return buf.Bytes(), d, nil
	}

	res.LoadBefore = loadAvg()
	var outNative, outBare, outChecked, outSandbox []byte
	best := func(cur *float64, d time.Duration) {
		if *cur == 0 || ms(d) < *cur {
			*cur = ms(d)
		}
	}
	for range rounds {
		// Native, each build.
		for i := range natives {
			in, err := os.Open(csvPath)
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			c := exec.CommandContext(ctx, natives[i].path)
			c.Stdin, c.Stdout = in, &buf
			t0 := time.Now()
			err = c.Run()
			best(&natives[i].Ms, time.Since(t0))
			in.Close()
			if err != nil {
				return nil, fmt.Errorf("native aggregate (%s): %w", natives[i].Compiler, err)
			}
			if i > 0 && !bytes.Equal(buf.Bytes(), outNative) {
				return nil, fmt.Errorf("bench compute: the native builds of %s and %s print different results", natives[0].Compiler, natives[i].Compiler)
			}
			outNative = buf.Bytes()
		}

		// Bare wazero, without and with the stop checks.
		var d time.Duration
		var err error
		if outBare, d, err = runBare(bareMod); err != nil {
			return nil, err
		}
		best(&res.WazeroMs, d)
		if outChecked, d, err = runBare(checkedMod); err != nil {
			return nil, err
		}
		best(&res.CheckedMs, d)

		// The sandbox.
		in, err := os.Open(csvPath)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		out, err := r.Run(ctx, prog, in, sandbox.Limits{})
		d = time.Since(t0)
		in.Close()
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		if res.SandboxMs == 0 || ms(d) < res.SandboxMs {
			res.SandboxMs = ms(d)
			res.SandboxCPUMs = ms(out.CPU)
			res.SandboxPeakMiB = float64(out.PeakMemory) / (1 << 20)
		}
		outSandbox = out.Output
	}
	res.LoadAfter = loadAvg()
	res.Natives = natives
	for _, n := range natives {
		if res.NativeMs == 0 || n.Ms < res.NativeMs {
			res.NativeMs = n.Ms
		}
	}
	mb := float64(res.InputBytes) / 1e6
	res.NativeMBps = mb / (res.NativeMs / 1000)
	res.SandboxMBps = mb / (res.SandboxMs / 1000)
	res.RatioToNative = res.NativeMs / res.SandboxMs
	res.OverheadPercent = (res.SandboxMs - res.WazeroMs) / res.WazeroMs * 100
	res.ResultsIdentic = bytes.Equal(outNative, outSandbox) && bytes.Equal(outBare, outSandbox) && bytes.Equal(outChecked, outSandbox) && len(outSandbox) > 0
	res.WithinBudget = res.RatioToNative >= res.RatioBudget && res.StartupMs < res.StartupBudget && res.ResultsIdentic
	return res, nil
}

// sameResults fails the command when the three ways to run the aggregate
// printed different results: then no figure of the run compares like with like.
func sameResults(res *computeBenchResult) error {
	if !res.ResultsIdentic {
		return fmt.Errorf("bench compute: the native, bare wazero and sandbox runs of the %s aggregate printed different results", res.Program)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func isExitZero(err error) bool {
	type exitCoder interface{ ExitCode() uint32 }
	ec, ok := err.(exitCoder)
	return ok && ec.ExitCode() == 0
}
