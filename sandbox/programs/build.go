// Package programs builds the example programs shipped with tdsc's sandbox
// from their source in this directory: aggregate (counts and means per group,
// groups below ten rows left out), regress (a least-squares line over two
// columns) and rawrows (the hostile one: it copies its input out).
//
// They are built when needed rather than committed: Go's wasip1 builds are
// reproducible (-trimpath, no build id), so the same source and toolchain give
// the same bytes and the same program hash a provider allows. Building needs
// the Go toolchain and the tdsc module (the working directory inside it).
package programs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Names of the example programs.
const (
	Aggregate = "aggregate"
	Regress   = "regress"
	RawRows   = "rawrows"
)

// Names lists them.
var Names = []string{Aggregate, Regress, RawRows}

const pkgRoot = "github.com/tdsc/tdsc/sandbox/programs/"

// Build compiles the named example for GOOS=wasip1 GOARCH=wasm into dir and
// returns the module's path (dir/name.wasm).
func Build(ctx context.Context, name, dir string) (string, error) {
	return build(ctx, name, filepath.Join(dir, name+".wasm"), "GOOS=wasip1", "GOARCH=wasm")
}

// BuildNative compiles the named example for this machine, as the baseline
// the sandbox is measured against; it returns the executable's path.
func BuildNative(ctx context.Context, name, dir string) (string, error) {
	return build(ctx, name, filepath.Join(dir, name+"-native"))
}

// BuildPackage compiles any main package of the module for wasip1, for tests
// that need a module of their own.
func BuildPackage(ctx context.Context, pkg, out string) error {
	_, err := buildPkg(ctx, pkg, out, "GOOS=wasip1", "GOARCH=wasm")
	return err
}

func build(ctx context.Context, name, out string, env ...string) (string, error) {
	if !slices.Contains(Names, name) {
		return "", fmt.Errorf("programs: no example program %q (have %v)", name, Names)
	}
	return buildPkg(ctx, pkgRoot+name, out, env...)
}

func buildPkg(ctx context.Context, pkg, out string, env ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("programs: building %s needs the Go toolchain: %w", pkg, err)
	}
	env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if err := run(ctx, "", env, goBin, "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, pkg); err != nil {
		return "", fmt.Errorf("%w (run inside the tdsc module)", err)
	}
	return out, nil
}

// run runs a build command in dir (the current one if empty) with env (the
// process's if nil); its error carries the command and what it printed on
// stderr.
func run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("programs: %s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}
