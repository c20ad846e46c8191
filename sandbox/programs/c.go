package programs

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// CAggregate is the example aggregate written in C (c/aggregate.c), built for
// wasm32-wasip1 by scripts/sandbox-c.sh and committed: a provider can allow it
// by hash without a C toolchain. It prints the same bytes as the Go aggregate
// for the same input.
//
//go:embed c/aggregate.wasm
var CAggregate []byte

//go:embed c/aggregate.wasm.sha256
var cAggregateSum string

// CAggregateSum is the committed module's sha256 (lower-case hex), as
// c/aggregate.wasm.sha256 records it in sha256sum's form.
func CAggregateSum() string { return strings.Fields(cAggregateSum)[0] }

// CCompiler is the C compiler the C example is built with: $TDSC_CC, else
// clang-16, else clang. The wasm build also needs wasi-libc and the wasm32
// compiler runtime (Debian: wasi-libc, lld-16, libclang-rt-16-dev-wasm32;
// scripts/sandbox-c.sh installs them).
func CCompiler() (string, error) {
	if cc := os.Getenv("TDSC_CC"); cc != "" {
		return exec.LookPath(cc)
	}
	for _, cc := range []string{"clang-16", "clang"} {
		if p, err := exec.LookPath(cc); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("programs: building the C example needs clang (clang-16, or $TDSC_CC): run scripts/sandbox-c.sh install")
}

// cFlags are the flags of both builds: the same optimisation for the module
// and the native baseline. The source is passed by its name from its own
// directory and the module is stripped, so no path of the machine building it
// reaches the bytes: the build is reproducible.
var cFlags = []string{"-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"}

// BuildC compiles c/aggregate.c for wasm32-wasip1 into dir and returns the
// module's path. src is the directory holding aggregate.c (CSource finds it).
func BuildC(ctx context.Context, src, dir string) (string, error) {
	compiler, err := CCompiler()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "aggregate-c.wasm")
	args := append([]string{"--target=wasm32-wasi", "--sysroot=/usr"}, cFlags...)
	args = append(args, "-Wl,--strip-all", "-o", out, "aggregate.c")
	return out, run(ctx, src, nil, compiler, args...)
}

// BuildCNative compiles the same source for this machine with the same flags
// and the given C compiler (a path or a name on $PATH; NativeCompilers lists
// them): the baseline.
func BuildCNative(ctx context.Context, src, dir, compiler string) (string, error) {
	out := filepath.Join(dir, "aggregate-c-native-"+filepath.Base(compiler))
	args := append(append([]string{}, cFlags...), "-o", out, "aggregate.c")
	return out, run(ctx, src, nil, compiler, args...)
}

// NativeCompilers lists the C compilers of this machine the native baseline
// can be built with: clang (the module's compiler) and gcc, each once.
func NativeCompilers() []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range []string{os.Getenv("TDSC_CC"), "clang-16", "clang", "gcc", "cc"} {
		if name == "" {
			continue
		}
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}

// CSource is the directory of aggregate.c in this source tree.
func CSource() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		if d := filepath.Join(filepath.Dir(file), "c"); exists(filepath.Join(d, "aggregate.c")) {
			return d, nil
		}
	}
	d := filepath.Join("sandbox", "programs", "c")
	if exists(filepath.Join(d, "aggregate.c")) {
		return filepath.Abs(d)
	}
	return "", fmt.Errorf("programs: sandbox/programs/c/aggregate.c not found: run inside the tdsc source tree")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
