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
		{1, 1, 0x7f, 0x23, 1, 0x41, 4, 0x6a, 0x24, 1}, // one more local (an i32); the entry adds the function's 4 instructions to global 1
		{0x03, 0x40, 0x20, 0, 0x41, 2, 0x6a, 0x22, 0}, // the loop adds its body's 2 to local 0
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

// nested is (func (export "_start") nop×300 (loop (loop (br 0)) (br 0))).
var nested = module(append(append([]byte{0}, bytes.Repeat([]byte{0x01}, 300)...),
	0x03, 0x40, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0c, 0, 0x0b, 0x0b))

func TestInstrumentWeighsTheWork(t *testing.T) {
	out, err := Instrument(tree, "stop")
	if err != nil {
		t.Fatal(err)
	}
	// No loop, no counter among the locals; the body opens with the
	// entry's count of its three instructions in global 1.
	if want := []byte{1, 1, 0x7e, 0x23, 1, 0x41, 3, 0x6a, 0x24, 1}; !bytes.Contains(out, want) {
		t.Errorf("instrumented module lacks % x:\n% x", want, out)
	}
	out, err = Instrument(nested, "stop")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{
		{0x23, 1, 0x41, 0xb3, 0x02, 0x6a}, // the entry: 300 nops and 7 more, 307 as a signed LEB128
		{0x03, 0x40, 0x20, 0, 0x41, 5},    // the outer loop: its body's 5 (the inner loop's 3, br, end)
		{0x03, 0x40, 0x20, 0, 0x41, 2},    // the inner loop: br, end
	} {
		if !bytes.Contains(out, want) {
			t.Errorf("instrumented module lacks % x:\n% x", want, out)
		}
	}
}

// module wraps one function body (locals vector included) as a command module.
func module(body []byte) []byte {
	code := append([]byte{1}, uleb(uint32(len(body)))...)
	code = append(code, body...)
	m := []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0,
		3, 2, 1, 0,
		7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
		10}
	m = append(m, uleb(uint32(len(code)))...)
	return append(m, code...)
}

func TestInstrumentLargeLoopsAndReturns(t *testing.T) {
	// (loop nop×100 (br 0)): a loop of 102 counts in the global, no local.
	large := append(append([]byte{0, 0x03, 0x40}, bytes.Repeat([]byte{0x01}, 100)...), 0x0c, 0, 0x0b, 0x0b)
	out, err := Instrument(module(large), "stop")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x0b, 0x03, 0x40, 0x23, 1, 0x41, 0xe6, 0x00, 0x6a, 0x24, 1}; !bytes.Contains(out, want) {
		t.Errorf("the large loop is not counted in the global: lacks % x:\n% x", want, out)
	}
	// (loop (return)): the local is added to the global before the return.
	out, err = Instrument(module([]byte{0, 0x03, 0x40, 0x0f, 0x0b, 0x0b}), "stop")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x23, 1, 0x20, 0, 0x6a, 0x24, 1, 0x0f}; !bytes.Contains(out, want) {
		t.Errorf("no count before the return: lacks % x:\n% x", want, out)
	}
}

func TestSLEB(t *testing.T) {
	for v, want := range map[int32][]byte{0: {0}, 2: {2}, 63: {0x3f}, 64: {0xc0, 0}, 307: {0xb3, 0x02}, 1 << 14: {0x80, 0x80, 0x01}, -1: {0x7f}} {
		if got := sleb(v); !bytes.Equal(got, want) {
			t.Errorf("sleb(%d) = % x, want % x", v, got, want)
		}
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
