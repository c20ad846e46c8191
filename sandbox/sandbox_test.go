package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// built holds the modules the tests run, compiled once per test binary.
var built struct {
	once sync.Once
	dir  string
	err  error
}

func module(t *testing.T, name string) []byte {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "sandbox-test-")
		if built.err != nil {
			return
		}
		ctx := context.Background()
		for _, n := range programs.Names {
			if _, err := programs.Build(ctx, n, built.dir); err != nil {
				built.err = err
				return
			}
		}
		built.err = programs.BuildPackage(ctx, "github.com/tdsc/tdsc/sandbox/testdata/hostile", filepath.Join(built.dir, "hostile.wasm"))
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	b, err := os.ReadFile(filepath.Join(built.dir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func newRunner(t *testing.T, cfg sandbox.Config) *sandbox.Runner {
	t.Helper()
	module(t, programs.Aggregate) // the build directory exists
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(built.dir, "cache") // compiled once for all the tests
	}
	r, err := sandbox.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func compile(t *testing.T, r *sandbox.Runner, wasm []byte) *sandbox.Program {
	t.Helper()
	p, err := r.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// grid is a small population grid: district A has 12 cells, B 10, C 3.
func grid() string {
	var b strings.Builder
	b.WriteString("district,cell,residents,area_km2\n")
	for i := range 12 {
		fmt.Fprintf(&b, "A,A-%02d,%d,1.0\n", i, 1000+i*10)
	}
	for i := range 10 {
		fmt.Fprintf(&b, "B,B-%02d,%d,2.0\n", i, 500)
	}
	for i := range 3 {
		fmt.Fprintf(&b, "C,C-%02d,%d,1.5\n", i, 90)
	}
	return b.String()
}

func TestAggregate(t *testing.T) {
	r := newRunner(t, sandbox.Config{})
	p := compile(t, r, module(t, programs.Aggregate))
	in := grid()
	res, err := r.Run(context.Background(), p, strings.NewReader(in), sandbox.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "district,count,mean_residents,mean_area_km2\nA,12,1055.0000,1.0000\nB,10,500.0000,2.0000\n"
	if string(res.Output) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", res.Output, want)
	}
	if res.InputBytes != int64(len(in)) || res.InputHash != sandbox.HashModule([]byte(in)) {
		t.Errorf("input %d bytes %s, want %d bytes %s", res.InputBytes, res.InputHash, len(in), sandbox.HashModule([]byte(in)))
	}
	if res.OutputHash != sandbox.HashModule(res.Output) || res.ProgramHash != p.Hash {
		t.Errorf("hashes: output %s program %s", res.OutputHash, res.ProgramHash)
	}
	if res.CPU <= 0 || res.PeakMemory < 1<<20 {
		t.Errorf("metering: cpu %s peak %d", res.CPU, res.PeakMemory)
	}
	if _, err := sandbox.CheckOutput(res.Output, sandbox.OutputRule{MinGroup: 10, MaxRows: 5}); err != nil {
		t.Errorf("the aggregate breaks its own rule: %v", err)
	}
}

// TestHashesFollowTheSuite: a runner of a gm space (Config.Hash sm3) names
// the program, the input and the output by their SM3 hashes, as the ledger
// of that space requires.
func TestHashesFollowTheSuite(t *testing.T) {
	in := grid()
	wasm := module(t, programs.Aggregate)
	for _, alg := range []string{digest.SHA256, digest.SM3} {
		t.Run(alg, func(t *testing.T) {
			r := newRunner(t, sandbox.Config{Hash: alg})
			p := compile(t, r, wasm)
			res, err := r.Run(context.Background(), p, strings.NewReader(in), sandbox.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{digest.Of(alg, wasm).String(), digest.Of(alg, []byte(in)).String(), digest.Of(alg, res.Output).String()}
			got := []string{p.Hash, res.InputHash, res.OutputHash}
			if diff := cmp.Diff(want, got); diff != "" || !strings.HasPrefix(p.Hash, alg+":") || p.Hash != sandbox.HashModuleWith(alg, wasm) {
				t.Errorf("program, input, output hashes (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := sandbox.New(context.Background(), sandbox.Config{Hash: "md5"}); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Errorf("a runner with hash md5: %v", err)
	}
}

func TestRegress(t *testing.T) {
	r := newRunner(t, sandbox.Config{})
	p := compile(t, r, module(t, programs.Regress))
	in := "x,y\n1,3\n2,5\n3,7\n4,9\n"
	res, err := r.Run(context.Background(), p, strings.NewReader(in), sandbox.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "x,y,count,slope,intercept,r2\nx,y,4,2,1,1\n"
	if string(res.Output) != want {
		t.Fatalf("output %q, want %q", res.Output, want)
	}
}

func TestRawRowsRefusedByTheOutputRule(t *testing.T) {
	r := newRunner(t, sandbox.Config{})
	p := compile(t, r, module(t, programs.RawRows))
	res, err := r.Run(context.Background(), p, strings.NewReader(grid()), sandbox.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sandbox.CheckOutput(res.Output, sandbox.OutputRule{MinGroup: 10})
	var oe *sandbox.OutputError
	if !errors.As(err, &oe) || oe.Rule != "output.aggregate" {
		t.Fatalf("raw rows passed the aggregate rule: %v", err)
	}
}

func TestCompileCachesByHash(t *testing.T) {
	r := newRunner(t, sandbox.Config{CacheDir: t.TempDir()})
	wasm := module(t, programs.Aggregate)
	p1 := compile(t, r, wasm)
	p2 := compile(t, r, bytes.Clone(wasm))
	if p1 != p2 || p1.Hash != sandbox.HashModule(wasm) {
		t.Fatalf("the same bytes compiled twice: %p %p", p1, p2)
	}
}

// Hand-assembled modules, for what Go's runtime would not do on its own.
var (
	// (module (func (export "_start") (loop br 0)))
	spinWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0,
		3, 2, 1, 0,
		7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
		10, 9, 1, 7, 0, 3, 0x40, 0x0c, 0, 0x0b, 0x0b}
	// A tree of calls without a loop: 2^60 calls at a depth of 60.
	// (module
	//   (func (export "_start") (call $tree (i32.const 60)))
	//   (func $tree (param i32)
	//     (if (i32.eqz (local.get 0)) (then return))
	//     (call $tree (i32.sub (local.get 0) (i32.const 1)))
	//     (call $tree (i32.sub (local.get 0) (i32.const 1)))))
	callTreeWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 8, 2, 0x60, 0, 0, 0x60, 1, 0x7f, 0,
		3, 3, 2, 0, 1,
		7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
		10, 32, 2,
		6, 0, 0x41, 60, 0x10, 1, 0x0b,
		23, 0, 0x20, 0, 0x45, 0x04, 0x40, 0x0f, 0x0b,
		0x20, 0, 0x41, 1, 0x6b, 0x10, 1,
		0x20, 0, 0x41, 1, 0x6b, 0x10, 1, 0x0b}
	// A loop calling a function whose own loop runs a thousand times and
	// returns: its count is handed on at every return.
	// (module
	//   (func (export "_start") (loop (call $short) (br 0)))
	//   (func $short (local i32)
	//     (loop (br_if 0 (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 1000))))))
	shortLoopsWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0,
		3, 3, 2, 0, 0,
		7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
		10, 32, 2,
		9, 0, 0x03, 0x40, 0x10, 1, 0x0c, 0, 0x0b, 0x0b,
		20, 1, 1, 0x7f, 0x03, 0x40, 0x20, 0, 0x41, 1, 0x6a, 0x22, 0, 0x41, 0xe8, 0x07, 0x49, 0x0d, 0, 0x0b, 0x0b}
	// (module (import "env" "open" (func)) (func (export "_start")))
	foreignImportWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0,
		2, 12, 1, 3, 'e', 'n', 'v', 4, 'o', 'p', 'e', 'n', 0, 0,
		3, 2, 1, 0,
		7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 1,
		10, 4, 1, 2, 0, 0x0b}
	// (module (memory (export "memory") 32768) (func (export "_start")))  ; 2 GiB at start
	hugeMemoryWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0,
		3, 2, 1, 0,
		5, 5, 1, 0, 0x80, 0x80, 0x02,
		7, 19, 2, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
		10, 4, 1, 2, 0, 0x0b}
)

func TestHostileModules(t *testing.T) {
	r := newRunner(t, sandbox.Config{Ceiling: sandbox.Limits{MemoryBytes: 4 << 30}})
	hostile := compile(t, r, module(t, "hostile"))
	spin := compile(t, r, spinWasm)
	tree := compile(t, r, callTreeWasm)
	shortLoops := compile(t, r, shortLoopsWasm)
	huge := compile(t, r, hugeMemoryWasm)
	goroutines := runtime.NumGoroutine()

	tight := sandbox.Limits{CPUTime: 300 * time.Millisecond, WallTime: 20 * time.Second, MemoryBytes: 64 << 20, OutputBytes: 64 << 10}
	for _, tc := range []struct {
		name  string
		prog  *sandbox.Program
		input string
		limit error
		exit  int // expected exit status, -1 for none
	}{
		{"go infinite loop", hostile, "loop\n", sandbox.ErrCPUTime, -1},
		{"bare infinite loop", spin, "", sandbox.ErrCPUTime, -1},
		{"tree of calls, no loop", tree, "", sandbox.ErrCPUTime, -1},
		{"endless calls of a short loop", shortLoops, "", sandbox.ErrCPUTime, -1},
		{"huge allocation", hostile, "alloc\n", sandbox.ErrMemory, -1},
		{"huge memory at start", huge, "", sandbox.ErrMemory, -1},
		{"output flood", hostile, "flood\n", sandbox.ErrOutputBytes, -1},
		{"exits non-zero", hostile, "exit\n", nil, 3},
		{"nil dereference", hostile, "panic\n", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			res, err := r.Run(context.Background(), tc.prog, strings.NewReader(tc.input), tight)
			if res != nil && res.Output != nil {
				t.Errorf("output of a failed run was kept: %q", res.Output)
			}
			if tc.limit != nil {
				var le *sandbox.LimitError
				if !errors.Is(err, tc.limit) || !errors.As(err, &le) {
					t.Fatalf("err = %v, want %v", err, tc.limit)
				}
				took := time.Since(began)
				t.Logf("%s after %s: %v", le.Rule(), took.Round(time.Millisecond), err)
				if tc.limit == sandbox.ErrCPUTime && took > tight.CPUTime+time.Second {
					t.Errorf("stopped %s after its start, for a CPU limit of %s", took, tight.CPUTime)
				}
				return
			}
			var ee *sandbox.ExitError
			if !errors.As(err, &ee) || int(ee.Code) != tc.exit {
				t.Fatalf("err = %v, want exit status %d", err, tc.exit)
			}
		})
	}

	t.Run("a CPU-bound run ends near its CPU limit", func(t *testing.T) {
		res, err := r.Run(context.Background(), spin, strings.NewReader(""), tight)
		if !errors.Is(err, sandbox.ErrCPUTime) {
			t.Fatal(err)
		}
		if res.CPU < tight.CPUTime || res.CPU > tight.CPUTime+time.Second {
			t.Errorf("cpu %s for a limit of %s", res.CPU, tight.CPUTime)
		}
	})

	t.Run("a spinning module does not stall the garbage collector", func(t *testing.T) {
		// Go cannot preempt compiled Wasm; a module that never left it would
		// hold up every stop-the-world, the watchdog with it. The module
		// spins for 3 s of CPU, so from its start for at least 3 s of wall
		// time; collections are counted from 1 s after the run began (the
		// module spinning by then) to 3 s: with the stop-the-world held up
		// none would end in that window. Counting over the whole run would
		// count collections before the module starts and after it ends, and
		// a short run on a machine busy with other work (CI runs test
		// binaries side by side) fits only one.
		long := tight
		long.CPUTime = 3 * time.Second
		began := time.Now()
		from, to := began.Add(time.Second), began.Add(3*time.Second)
		stop := make(chan struct{})
		gcs := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					gcs <- n
					return
				default:
					runtime.GC()
					if now := time.Now(); now.After(from) && now.Before(to) {
						n++
					}
				}
			}
		}()
		_, err := r.Run(context.Background(), spin, strings.NewReader(""), long)
		close(stop)
		if n := <-gcs; n < 2 {
			t.Errorf("%d collections ended between 1 s and 3 s into the run, while the module spun", n)
		}
		if !errors.Is(err, sandbox.ErrCPUTime) {
			t.Fatalf("err = %v, want the CPU-time limit", err)
		}
	})

	t.Run("cancellation", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := r.Run(ctx, spin, strings.NewReader(""), sandbox.Limits{CPUTime: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("wall time while waiting for input", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("beyond\n")) // and then nothing, never an end
		_, err := r.Run(context.Background(), hostile, pr, sandbox.Limits{WallTime: 300 * time.Millisecond})
		if !errors.Is(err, sandbox.ErrWallTime) {
			t.Fatalf("err = %v, want the wall-time limit", err)
		}
	})

	run := func(t *testing.T, input string) string {
		t.Helper()
		res, err := r.Run(context.Background(), hostile, strings.NewReader(input), tight)
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Output)
	}

	t.Run("no files", func(t *testing.T) {
		out := run(t, "files\n")
		for line := range strings.Lines(out) {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "open "):
				if strings.HasSuffix(line, "<nil>") {
					t.Errorf("opened: %s", line)
				}
			case strings.HasPrefix(line, "prestat "), strings.HasPrefix(line, "path_open "):
				if strings.HasSuffix(line, ": 0") {
					t.Errorf("succeeded: %s", line)
				}
			default:
				t.Errorf("unexpected %q", line)
			}
		}
		if strings.Count(out, "\n") != 14 {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("no sockets", func(t *testing.T) {
		out := run(t, "sockets\n")
		if strings.Count(out, "\n") != 16 {
			t.Fatalf("output:\n%s", out)
		}
		for line := range strings.Lines(out) {
			if strings.HasSuffix(strings.TrimSpace(line), ": 0") {
				t.Errorf("succeeded: %s", line)
			}
		}
	})

	t.Run("no arguments, environment, host name or time", func(t *testing.T) {
		out := run(t, "env\n")
		var args, env int
		var now int64
		if _, err := fmt.Sscanf(out, "args %d env %d\nnow %d\n", &args, &env, &now); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		if args > 1 || env != 0 {
			t.Errorf("args %d env %d", args, env)
		}
		if d := time.Since(time.Unix(now, 0)); d < 24*time.Hour && d > -24*time.Hour {
			t.Errorf("the program read the host's clock: %s", time.Unix(now, 0))
		}
		if host, _ := os.Hostname(); strings.Contains(out, fmt.Sprintf("hostname %q", host)) {
			t.Errorf("hostname: %s", out)
		}
	})

	t.Run("nothing beyond the dataset", func(t *testing.T) {
		dataset := "beyond\n" + grid()
		out := run(t, dataset)
		want := fmt.Sprintf("read %d\nagain 0 EOF\n", len(grid()))
		if !strings.HasPrefix(out, want) {
			t.Fatalf("output:\n%s\nwant prefix:\n%s", out, want)
		}
		for line := range strings.Lines(strings.TrimPrefix(out, want)) {
			switch {
			case strings.HasPrefix(line, "fd "):
				if !strings.Contains(line, ": 0 ") || strings.HasSuffix(strings.TrimSpace(line), "<nil>") {
					t.Errorf("read beyond the dataset: %s", line)
				}
			case strings.HasPrefix(line, "oob "):
				if strings.TrimSpace(line) == "oob 0" {
					t.Errorf("read outside linear memory succeeded")
				}
			default:
				t.Errorf("unexpected %q", line)
			}
		}
	})

	t.Run("the node stays healthy", func(t *testing.T) {
		agg := compile(t, r, module(t, programs.Aggregate))
		res, err := r.Run(context.Background(), agg, strings.NewReader(grid()), sandbox.Limits{})
		if err != nil || !strings.HasPrefix(string(res.Output), "district,count") {
			t.Fatalf("a good run after the hostile ones: %v", err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > 512<<20 {
			t.Errorf("host heap in use %d MiB after the hostile runs", ms.HeapInuse>>20)
		}
		goroutines := goroutines + 1 // this subtest's own
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines, %d before the hostile runs:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestCompileRefuses(t *testing.T) {
	r := newRunner(t, sandbox.Config{MaxModuleBytes: 1 << 10})
	for name, wasm := range map[string][]byte{
		"not wasm":       []byte("#!/bin/sh\necho hi\n"),
		"foreign import": foreignImportWasm,
		"too large":      make([]byte, 2<<10),
	} {
		if _, err := r.Compile(context.Background(), wasm); !errors.Is(err, sandbox.ErrModule) {
			t.Errorf("%s: err = %v, want ErrModule", name, err)
		}
	}
}
