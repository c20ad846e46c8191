package stopcheck

import (
	"bytes"
	"errors"
	"testing"
)

// spin is (module (func (export "_start") (loop br 0))).
var spin = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 4, 1, 0x60, 0, 0,
	3, 2, 1, 0,
	7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
	10, 9, 1, 7, 0, 3, 0x40, 0x0c, 0, 0x0b, 0x0b}

func TestInstrumentAddsMemoryGlobalsExportAndCheck(t *testing.T) {
	out, err := Instrument(spin, "stop")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{
		{5, 3, 1, 0, 0},                               // a memory section: one memory of 0 pages
		{6, 11, 2, 0x7f, 0x01},                        // two mutable i32 globals
		{'s', 't', 'o', 'p', 3, 0},                    // exported as global 0
		{1, 1, 0x7f, 0x03, 0x40},                      // one more local (an i32), then the loop
		{0x03, 0x40, 0x20, 0, 0x41, 1, 0x6a, 0x22, 0}, // loop, then its counter in local 0 incremented
	} {
		if !bytes.Contains(out, want) {
			t.Errorf("instrumented module lacks % x:\n% x", want, out)
		}
	}
	if _, err := Instrument(out, "stop"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("instrumenting twice under the same name: %v", err)
	}
}

// tree is a function with a parameter and a local that calls itself:
// (module (func (export "_start") (param i32) (local i64) (call 0 (local.get 0))))
var tree = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 5, 1, 0x60, 1, 0x7f, 0,
	3, 2, 1, 0,
	7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
	10, 10, 1, 8, 1, 1, 0x7e, 0x20, 0, 0x10, 0, 0x0b}

func TestInstrumentChecksEntriesOfCallers(t *testing.T) {
	out, err := Instrument(tree, "stop")
	if err != nil {
		t.Fatal(err)
	}
	// The locals: the i64, then the counter (local 2, after the parameter
	// and the i64); the body opens with the entries' counter, global 1.
	want := []byte{2, 1, 0x7e, 1, 0x7f, 0x23, 1, 0x41, 1, 0x6a, 0x24, 1}
	if !bytes.Contains(out, want) {
		t.Errorf("instrumented module lacks % x:\n% x", want, out)
	}
	if leaf, err := Instrument(spin, "stop"); err != nil || bytes.Contains(leaf, []byte{0x24, 1, 0x23, 1}) {
		t.Errorf("a function without calls got an entry check (err %v):\n% x", err, leaf)
	}
}

func TestInstrumentRefuses(t *testing.T) {
	simd := bytes.Clone(spin)
	simd[len(simd)-6] = 0xfd // an opcode of the SIMD proposal in the loop's place
	for name, wasm := range map[string][]byte{
		"not wasm":  []byte("\x7fELF"),
		"truncated": spin[:len(spin)-3],
		"simd":      simd,
	} {
		if _, err := Instrument(wasm, "stop"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// FuzzInstrument: a consumer's module is untrusted input; Instrument never
// panics, and what it returns it can read again.
func FuzzInstrument(f *testing.F) {
	f.Add(spin)
	f.Add([]byte{0, 'a', 's', 'm', 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm, "stop")
		if err != nil {
			return
		}
		if _, err := Instrument(out, "other"); err != nil && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("re-reading the output: %v", err)
		}
	})
}
