package sandbox

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/sandbox/internal/stopcheck"
)

const pageSize = 64 << 10

// stopGlobal is the export stopcheck adds.
const stopGlobal = "tdsc.stop"

// Config sets up a Runner. The zero value is usable: Validate fills defaults.
type Config struct {
	// CacheDir keeps wazero's compiled code across processes; empty keeps it
	// in memory only.
	CacheDir string
	// MaxPrograms is how many compiled programs stay cached by hash (LRU).
	MaxPrograms int
	// MaxConcurrent bounds the runs in flight; a further Run waits its turn
	// (or its context).
	MaxConcurrent int
	// MaxModuleBytes refuses larger modules before compiling them.
	MaxModuleBytes int64
	// Ceiling is the most any run's Limits may ask for.
	Ceiling Limits
	// Defaults fill the zero fields of a run's Limits.
	Defaults Limits
	// Hash is the algorithm of the program, input and output hashes
	// (digest.SHA256 when empty, digest.SM3 in a space of the gm suite).
	Hash string
}

// Limits bound one run.
type Limits struct {
	// MemoryBytes caps the module's linear memory (rounded down to 64 KiB pages).
	MemoryBytes uint64
	// CPUTime caps the CPU time of the thread running the module.
	CPUTime time.Duration
	// WallTime caps the run's elapsed time, waiting on input included.
	WallTime time.Duration
	// OutputBytes caps stdout; writing more ends the run.
	OutputBytes int64
}

// Validate fills defaults and checks c.
func (c *Config) Validate() error {
	if c.MaxPrograms == 0 {
		c.MaxPrograms = 32
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = max(1, runtime.NumCPU())
	}
	if c.MaxModuleBytes == 0 {
		c.MaxModuleBytes = 32 << 20
	}
	if c.Hash == "" {
		c.Hash = digest.SHA256
	}
	if digest.NewHash(c.Hash) == nil {
		return fmt.Errorf("sandbox: hash %q: must be %s or %s", c.Hash, digest.SHA256, digest.SM3)
	}
	ceil := Limits{MemoryBytes: 1 << 30, CPUTime: 10 * time.Minute, WallTime: 30 * time.Minute, OutputBytes: 64 << 20}
	c.Ceiling = c.Ceiling.or(ceil)
	def := Limits{MemoryBytes: 256 << 20, CPUTime: time.Minute, WallTime: 5 * time.Minute, OutputBytes: 1 << 20}
	c.Defaults = c.Defaults.or(def).min(c.Ceiling)
	switch {
	case c.MaxPrograms < 0:
		return fmt.Errorf("sandbox: maxPrograms %d: must be positive", c.MaxPrograms)
	case c.MaxConcurrent < 0:
		return fmt.Errorf("sandbox: maxConcurrent %d: must be positive", c.MaxConcurrent)
	case c.MaxModuleBytes < 0:
		return fmt.Errorf("sandbox: maxModuleBytes %d: must be positive", c.MaxModuleBytes)
	case c.Ceiling.MemoryBytes < pageSize || c.Ceiling.MemoryBytes > 4<<30:
		return fmt.Errorf("sandbox: ceiling memoryBytes %d: must be between 64 KiB and 4 GiB", c.Ceiling.MemoryBytes)
	}
	return nil
}

// or fills l's zero fields from d.
func (l Limits) or(d Limits) Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.CPUTime == 0 {
		l.CPUTime = d.CPUTime
	}
	if l.WallTime == 0 {
		l.WallTime = d.WallTime
	}
	if l.OutputBytes == 0 {
		l.OutputBytes = d.OutputBytes
	}
	return l
}

// min lowers each of l's fields to c's.
func (l Limits) min(c Limits) Limits {
	l.MemoryBytes = min(l.MemoryBytes, c.MemoryBytes)
	l.CPUTime = min(l.CPUTime, c.CPUTime)
	l.WallTime = min(l.WallTime, c.WallTime)
	l.OutputBytes = min(l.OutputBytes, c.OutputBytes)
	return l
}

// Runner compiles and runs programs. It is safe for concurrent use; Close
// releases the runtime and every cached program.
type Runner struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	slots chan struct{}

	mu       sync.Mutex
	programs map[string]*list.Element // hash → element of lru holding *Program
	lru      *list.List
}

// Program is a compiled module, known by the hash of its bytes.
type Program struct {
	// Hash is the module's hash as HashModuleWith gives it with the
	// runner's Config.Hash: "sha256:" (or "sm3:") and lower-case hex.
	Hash     string
	Size     int64
	compiled wazero.CompiledModule
	minPages uint32
}

// New starts a runner.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: cacheDir %s: %w", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		// Stopping is stopcheck's global, tested at every loop head; wazero's
		// own check (WithCloseOnContextDone) makes loops twelve times slower.
		WithCloseOnContextDone(false).
		WithMemoryLimitPages(uint32(cfg.Ceiling.MemoryBytes / pageSize)).
		WithCoreFeatures(api.CoreFeaturesV2)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: WASI host: %w", err)
	}
	return &Runner{
		cfg: cfg, rt: rt, cache: cache,
		slots:    make(chan struct{}, cfg.MaxConcurrent),
		programs: map[string]*list.Element{},
		lru:      list.New(),
	}, nil
}

// Close releases the runtime; runs in flight end.
func (r *Runner) Close(ctx context.Context) error {
	err := r.rt.Close(ctx)
	if cerr := r.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// Limits returns l with zero fields filled from the runner's defaults and
// every field lowered to its ceiling.
func (r *Runner) Limits(l Limits) Limits { return l.or(r.cfg.Defaults).min(r.cfg.Ceiling) }

// ErrModule is returned by Compile for bytes that are not a module this
// sandbox runs; the wrapped message says which rule failed.
var ErrModule = errors.New("sandbox: module refused")

// HashModule is the hash Compile gives the module's bytes under the default
// Config.Hash (SHA-256).
func HashModule(wasm []byte) string { return HashModuleWith(digest.SHA256, wasm) }

// HashModuleWith is the alg hash of bytes as a runner with Config.Hash alg
// names programs and results: "<alg>:<lower-case hex>".
func HashModuleWith(alg string, b []byte) string { return digest.Of(alg, b).String() }

// Instrument returns the module as Compile runs it: with the stop checks
// added (docs/sandbox.md, "Stopping a module"). Compile calls it; it is
// exported for `tdsc bench compute`, which times the checks on their own.
func Instrument(wasm []byte) ([]byte, error) {
	checked, err := stopcheck.Instrument(wasm, stopGlobal)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModule, err)
	}
	return checked, nil
}

// Compile validates and compiles a module, or returns the cached program of
// the same bytes.
func (r *Runner) Compile(ctx context.Context, wasm []byte) (*Program, error) {
	if int64(len(wasm)) > r.cfg.MaxModuleBytes {
		return nil, fmt.Errorf("%w: size %d bytes exceeds the %d-byte limit", ErrModule, len(wasm), r.cfg.MaxModuleBytes)
	}
	hash := HashModuleWith(r.cfg.Hash, wasm)
	r.mu.Lock()
	if e, ok := r.programs[hash]; ok {
		r.lru.MoveToFront(e)
		r.mu.Unlock()
		return e.Value.(*Program), nil
	}
	r.mu.Unlock()

	checked, err := Instrument(wasm)
	if err != nil {
		return nil, err
	}
	cm, err := r.rt.CompileModule(ctx, checked)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModule, err)
	}
	p := &Program{Hash: hash, Size: int64(len(wasm)), compiled: cm}
	if err := check(cm, p); err != nil {
		cm.Close(ctx)
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.programs[hash]; ok { // compiled twice concurrently
		cm.Close(ctx)
		r.lru.MoveToFront(e)
		return e.Value.(*Program), nil
	}
	r.programs[hash] = r.lru.PushFront(p)
	for r.lru.Len() > r.cfg.MaxPrograms {
		old := r.lru.Remove(r.lru.Back()).(*Program)
		delete(r.programs, old.Hash)
		// A run holding old keeps using it: wazero closes compiled code
		// only when nothing instantiated from it is open.
		old.compiled.Close(ctx)
	}
	return p, nil
}

// check refuses modules that import anything but WASI preview 1 or have no
// _start, and notes the memory they ask for at instantiation.
func check(cm wazero.CompiledModule, p *Program) error {
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("%w: import %s.%s: only %s may be imported", ErrModule, mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	if len(cm.ImportedMemories()) > 0 {
		return fmt.Errorf("%w: imports a memory: a program brings its own", ErrModule)
	}
	start, ok := cm.ExportedFunctions()["_start"]
	if !ok {
		return fmt.Errorf("%w: no _start export: a WASI command module is expected", ErrModule)
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return fmt.Errorf("%w: _start must take and return nothing", ErrModule)
	}
	for _, m := range cm.ExportedMemories() {
		p.minPages = max(p.minPages, m.Min())
	}
	return nil
}

// Result is what one successful run produced and used.
type Result struct {
	ProgramHash string
	// InputHash and InputBytes cover the whole dataset stream, read to its end
	// after the program stops if it stopped early.
	InputHash  string
	InputBytes int64
	Output     []byte
	OutputHash string
	// CPU is the CPU time of the thread the module ran on, instantiation and
	// host calls included.
	CPU  time.Duration
	Wall time.Duration
	// PeakMemory is the module's largest linear memory, in bytes.
	PeakMemory uint64
}

// Run runs p with stdin as its input under lim (zero fields from the
// defaults, every field at most the ceiling). A run that breaks a limit
// returns a *LimitError and, like any failed run, no output.
func (r *Runner) Run(ctx context.Context, p *Program, stdin io.Reader, lim Limits) (*Result, error) {
	lim = r.Limits(lim)
	if uint64(p.minPages)*pageSize > lim.MemoryBytes {
		return nil, &LimitError{Limit: ErrMemory, Detail: fmt.Sprintf("the module asks for %d bytes at start, the limit is %d", uint64(p.minPages)*pageSize, lim.MemoryBytes)}
	}
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(ctx, lim.WallTime, &LimitError{Limit: ErrWallTime, Detail: fmt.Sprintf("still running after %s", lim.WallTime)})
	defer stop()

	in := newInput(ctx, stdin, digest.NewHash(r.cfg.Hash))
	out := &boundedWriter{max: lim.OutputBytes, cancel: cancel}
	mem := &meter{limit: lim.MemoryBytes}
	ctx = experimental.WithMemoryAllocator(ctx, mem)
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdin(in).
		WithStdout(out).
		WithStderr(io.Discard)

	began := time.Now()
	cpu, err := onCPUWatch(ctx, lim.CPUTime, cancel, func() error {
		mod, err := r.rt.InstantiateModule(ctx, p.compiled, mc)
		if err != nil {
			return err
		}
		defer mod.Close(context.WithoutCancel(ctx))
		stopFlag, ok := mod.ExportedGlobal(stopGlobal).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("sandbox: the module lost its %s global", stopGlobal)
		}
		// From here on, the end of ctx (a limit, the caller) traps the
		// module at its next loop head; a host call blocked on input
		// returns on its own (input.Read watches ctx).
		defer context.AfterFunc(ctx, func() { stopFlag.Set(1) })()
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err = mod.ExportedFunction("_start").Call(ctx)
		return err
	})
	res := &Result{ProgramHash: p.Hash, CPU: cpu, Wall: time.Since(began), PeakMemory: mem.peak}
	if err := r.classify(ctx, err, mem, lim); err != nil {
		return res, err
	}
	if _, err := io.Copy(io.Discard, in); err != nil {
		return res, fmt.Errorf("sandbox: reading the rest of the input: %w", err)
	}
	inSum, err := digest.New(r.cfg.Hash, in.h.Sum(nil))
	if err != nil {
		return res, err
	}
	res.InputHash = inSum.String()
	res.InputBytes = in.n
	res.Output = out.buf
	res.OutputHash = HashModuleWith(r.cfg.Hash, out.buf)
	return res, nil
}

func (r *Runner) classify(ctx context.Context, err error, mem *meter, lim Limits) error {
	var exit *sys.ExitError
	if err == nil || errors.As(err, &exit) && exit.ExitCode() == 0 {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil {
		var le *LimitError
		if errors.As(cause, &le) {
			return le
		}
		return fmt.Errorf("sandbox: run cancelled: %w", cause)
	}
	if mem.refused {
		return &LimitError{Limit: ErrMemory, Detail: fmt.Sprintf("the module asked for more than %d bytes of memory", lim.MemoryBytes)}
	}
	if exit != nil {
		return &ExitError{Code: exit.ExitCode()}
	}
	// A trap: out-of-bounds access, unreachable, stack overflow …
	return &ExitError{Code: 0, Trap: err.Error()}
}

// Sentinels for the limits a run may hit; a *LimitError wraps one.
var (
	// ErrCPUTime: the module used its CPU time. Ask for a larger limit or a
	// cheaper program.
	ErrCPUTime = errors.New("cpu time limit")
	// ErrWallTime: the run took longer than its wall-time limit.
	ErrWallTime = errors.New("wall time limit")
	// ErrMemory: the module wanted more linear memory than the limit.
	ErrMemory = errors.New("memory limit")
	// ErrOutputBytes: the module wrote more than the output limit.
	ErrOutputBytes = errors.New("output bytes limit")
)

// LimitError says which limit ended a run.
type LimitError struct {
	Limit  error
	Detail string
}

func (e *LimitError) Error() string { return "sandbox: " + e.Limit.Error() + ": " + e.Detail }
func (e *LimitError) Unwrap() error { return e.Limit }

// Rule is the limit's name as a ledger record's rule: "limit.cpuTime" ….
func (e *LimitError) Rule() string {
	switch e.Limit {
	case ErrCPUTime:
		return "limit.cpuTime"
	case ErrWallTime:
		return "limit.wallTime"
	case ErrMemory:
		return "limit.memory"
	case ErrOutputBytes:
		return "limit.outputBytes"
	}
	return "limit"
}

// ExitError is a program that failed on its own: a non-zero exit status or a
// trap. Its output is discarded.
type ExitError struct {
	Code uint32
	Trap string
}

func (e *ExitError) Error() string {
	if e.Trap != "" {
		return "sandbox: the program trapped: " + e.Trap
	}
	return fmt.Sprintf("sandbox: the program exited with status %d", e.Code)
}

// input is the module's stdin: a goroutine pumps the dataset stream in
// chunks, hashing them off the module's thread, and Read gives up when the
// run's context ends even while the stream blocks.
type input struct {
	ctx  context.Context
	ch   chan inputChunk
	free chan []byte
	cur  []byte
	buf  []byte
	err  error
	h    hash.Hash
	n    int64
}

type inputChunk struct {
	b   []byte
	err error
}

const inputChunkSize = 256 << 10

func newInput(ctx context.Context, r io.Reader, h hash.Hash) *input {
	in := &input{ctx: ctx, ch: make(chan inputChunk, 2), free: make(chan []byte, 3), h: h}
	go in.pump(r)
	return in
}

func (in *input) pump(r io.Reader) {
	for {
		var buf []byte
		select {
		case buf = <-in.free:
		default:
			buf = make([]byte, inputChunkSize)
		}
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		in.h.Write(buf[:n])
		in.n += int64(n)
		select {
		case in.ch <- inputChunk{buf[:n], err}:
		case <-in.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func (in *input) Read(p []byte) (int, error) {
	for len(in.cur) == 0 {
		if in.err != nil {
			return 0, in.err
		}
		if in.buf != nil {
			select {
			case in.free <- in.buf[:cap(in.buf)]:
			default:
			}
			in.buf = nil
		}
		select {
		case c := <-in.ch:
			in.cur, in.buf, in.err = c.b, c.b, c.err
		case <-in.ctx.Done():
			return 0, context.Cause(in.ctx)
		}
	}
	n := copy(p, in.cur)
	in.cur = in.cur[n:]
	return n, nil
}

type boundedWriter struct {
	buf    []byte
	max    int64
	cancel context.CancelCauseFunc
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if int64(len(w.buf))+int64(len(p)) > w.max {
		err := &LimitError{Limit: ErrOutputBytes, Detail: fmt.Sprintf("more than %d bytes written", w.max)}
		w.cancel(err)
		return 0, err
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// meter is the run's linear memory: it refuses to grow past the limit and
// remembers the peak.
type meter struct {
	limit   uint64
	buf     []byte
	peak    uint64
	refused bool
}

func (m *meter) Allocate(capacity, _ uint64) experimental.LinearMemory {
	m.buf = make([]byte, 0, min(capacity, m.limit))
	return m
}

func (m *meter) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
		copy(grown, m.buf)
		m.buf = grown
	} else {
		// Fresh pages are zero: wasm memory only grows, and a shrunk slice
		// is never handed out again, so the bytes past len are still zero.
		m.buf = m.buf[:size]
	}
	m.peak = max(m.peak, size)
	return m.buf
}

func (m *meter) Free() { m.buf = nil }
