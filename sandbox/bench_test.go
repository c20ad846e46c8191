package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

// BenchmarkStartup runs the cached aggregate on a header-only input: the
// start-up `tdsc bench compute` reports (budget: under 5 ms).
func BenchmarkStartup(b *testing.B) {
	t := &testing.T{}
	wasm := module(t, programs.Aggregate)
	r, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	p, err := r.Compile(context.Background(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Run(context.Background(), p, strings.NewReader("g,x\n"), sandbox.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
