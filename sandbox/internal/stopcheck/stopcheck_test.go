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
		{5, 3, 1, 0, 0},            // a memory section: one memory of 0 pages
		{6, 11, 2, 0x7f, 0x01},     // two mutable i32 globals
		{'s', 't', 'o', 'p', 3, 0}, // exported as global 0
		{0x03, 0x40, 0x23, 1},      // loop, then global.get of the counter
	} {
		if !bytes.Contains(out, want) {
			t.Errorf("instrumented module lacks % x:\n% x", want, out)
		}
	}
	if _, err := Instrument(out, "stop"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("instrumenting twice under the same name: %v", err)
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
