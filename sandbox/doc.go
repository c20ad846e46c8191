// Package sandbox runs a consumer's computation where the data is (数据可用不可见):
// a WebAssembly module speaking WASI preview 1 reads one dataset on stdin and
// writes its result on stdout, and nothing else reaches it or leaves it.
//
// The contract:
//
//   - A Runner holds one wazero runtime (pure Go, no cgo). Compile validates a
//     module, refuses imports other than WASI preview 1, and caches the
//     compiled form by the module's SHA-256 (and, with Config.CacheDir, on
//     disk through wazero's compilation cache), so a second run of the same
//     program starts in well under a millisecond of compilation.
//   - Run gives the module no arguments, no environment, no preopened
//     directory or socket, a clock that does not tell the time (wazero's fake
//     clocks) and a deterministic random source. Every file or socket call
//     fails with EBADF or ENOTSUP; stdin is the dataset stream and ends where
//     it ends; stdout is bounded by Limits.OutputBytes.
//   - Each run has its own linear-memory ceiling (Limits.MemoryBytes, enforced
//     by the allocator the run's memory comes from: a grow past it fails in
//     the guest), a CPU-time limit measured on the thread the module runs on
//     (Limits.CPUTime, Linux's per-thread CPU clock; elsewhere wall time), a
//     wall-time limit, and the caller's context: any of them ends the module
//     at its next function call or loop iteration, and the host is untouched.
//   - A Result carries the metering a ledger record needs: the program's and
//     the input's SHA-256, input bytes, output and its hash, CPU time, peak
//     linear memory. A run that hits a limit returns a *LimitError naming the
//     limit (errors.Is with ErrCPUTime, ErrMemory, …) and no output.
//   - CheckOutput applies an OutputRule (bytes, rows, aggregate-only with a
//     minimum group size) to a result before it may leave the provider.
package sandbox
