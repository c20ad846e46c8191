// Package stopcheck rewrites a WebAssembly module so that the host can stop
// it: a new mutable i32 global, exported, is tested at the head of every
// loop, and the module traps (unreachable) once the host sets it to non-zero.
//
// wazero's own way (RuntimeConfig.WithCloseOnContextDone) calls a trampoline
// at every loop iteration, which spills the loop's registers; on the example
// aggregate that is twelve times slower. Here a loop head costs a counter
// increment and a branch; every 65536th iteration takes the cold path, which
// executes memory.grow 0 — in wazero a call out to Go, where the Go scheduler
// can preempt the goroutine (it cannot preempt compiled Wasm: without such
// exits a spinning module would stall every stop-the-world, and with it the
// watchdog meant to stop it) — and then tests the stop global. Loops are the
// only way a module runs without end: unbounded recursion exhausts the stack
// and traps. A module without a memory gets an empty one for memory.grow.
//
// Only the instruction set Go's wasip1 port and common toolchains emit is
// accepted (WebAssembly 2.0 without SIMD, threads, exceptions or GC); any
// other opcode is an error, and such a module is refused rather than run
// unchecked.
package stopcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrUnsupported is wrapped for modules this package cannot instrument.
var ErrUnsupported = errors.New("stopcheck")

func fail(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, a...)...)
}

const (
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secCode   = 10
)

// Instrument returns the module with the stop global exported as name.
func Instrument(wasm []byte, name string) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte{0, 'a', 's', 'm', 1, 0, 0, 0}) {
		return nil, fail("not a WebAssembly 1.0 binary")
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := reader{b: wasm, pos: 8}
	for r.pos < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fail("section %d: %v", id, r.err)
		}
		secs = append(secs, section{id, body})
	}
	// The new globals' indices follow the imported and defined globals.
	var globals uint32
	hasMemory := false
	for _, s := range secs {
		switch s.id {
		case secMemory:
			hasMemory = true
		case secImport:
			n, mems, err := importedGlobals(s.body)
			if err != nil {
				return nil, err
			}
			globals += n
			hasMemory = hasMemory || mems > 0
		case secGlobal:
			r := reader{b: s.body}
			globals += r.u32()
			if r.err != nil {
				return nil, fail("global section: %v", r.err)
			}
		}
	}
	stop, ctr := globals, globals+1
	var check []byte
	op := func(b ...byte) { check = append(check, b...) }
	op(0x23)
	op(uleb(ctr)...) // global.get ctr
	op(0x41, 0x01, 0x6a, 0x24)
	op(uleb(ctr)...) // i32.const 1; i32.add; global.set ctr
	op(0x23)
	op(uleb(ctr)...)                 // global.get ctr
	op(0x41, 0xff, 0xff, 0x03, 0x71) // i32.const 0xffff; i32.and
	op(0x45, 0x04, 0x40)             // i32.eqz; if
	op(0x41, 0x00, 0x40, 0x00, 0x1a) //   i32.const 0; memory.grow 0; drop
	op(0x23)
	op(uleb(stop)...)                // global.get stop
	op(0x04, 0x40, 0x00, 0x0b, 0x0b) //   if; unreachable; end; end

	// Two mut i32 = i32.const 0: the stop flag, then the counter.
	newGlobal := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b}
	newExport := append(append(uleb(uint32(len(name))), name...), 0x03)
	newExport = append(newExport, uleb(stop)...)

	var out []byte
	out = append(out, wasm[:8]...)
	put := func(id byte, body []byte) {
		out = append(out, id)
		out = append(out, uleb(uint32(len(body)))...)
		out = append(out, body...)
	}
	hasGlobal, hasExport, hasCode := false, false, false
	for _, s := range secs {
		body := s.body
		// Sections come in a fixed order (custom ones anywhere); a missing
		// global or export section is put where it belongs.
		if s.id != 0 && s.id > secMemory && s.id != 12 && !hasMemory {
			put(secMemory, []byte{1, 0x00, 0x00}) // one memory, min 0 pages
			hasMemory = true
		}
		if s.id != 0 && s.id > secGlobal && s.id != 12 && !hasGlobal {
			put(secGlobal, append([]byte{2}, newGlobal...))
			hasGlobal = true
		}
		if s.id != 0 && s.id > secExport && s.id != 12 && !hasExport {
			return nil, fail("no export section: a command module exports _start")
		}
		var err error
		switch s.id {
		case secGlobal:
			body, err = appendToVector(body, newGlobal, 2)
			hasGlobal = true
		case secExport:
			if exportsName(body, name) {
				return nil, fail("the module already exports %q", name)
			}
			body, err = appendToVector(body, newExport, 1)
			hasExport = true
		case secCode:
			body, err = instrumentCode(body, check)
			hasCode = true
		}
		if err != nil {
			return nil, err
		}
		put(s.id, body)
	}
	if !hasExport || !hasCode {
		return nil, fail("no export or code section: a command module exports _start")
	}
	return out, nil
}

func importedGlobals(body []byte) (globals, memories uint32, err error) {
	r := reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
		case 0x01: // table: reftype limits
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
			memories++
		case 0x03: // global
			r.byte()
			r.byte()
			globals++
		default:
			return 0, 0, fail("import %d: kind %#x", i, kind)
		}
	}
	if r.err != nil {
		return 0, 0, fail("import section: %v", r.err)
	}
	return globals, memories, nil
}

func exportsName(body []byte, name string) bool {
	r := reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if r.name() == name {
			return true
		}
		r.byte()
		r.u32()
	}
	return false
}

func appendToVector(body, items []byte, count uint32) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, fail("vector: %v", r.err)
	}
	out := uleb(n + count)
	out = append(out, body[r.pos:]...)
	return append(out, items...), nil
}

func instrumentCode(body []byte, check []byte) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	out := uleb(n)
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err != nil {
			return nil, fail("code section, function %d: %v", i, r.err)
		}
		f, err := instrumentFunc(fn, check)
		if err != nil {
			return nil, fmt.Errorf("%w (function %d)", err, i)
		}
		out = append(out, uleb(uint32(len(f)))...)
		out = append(out, f...)
	}
	if r.pos != len(r.b) {
		return nil, fail("code section: trailing bytes")
	}
	return out, nil
}

func instrumentFunc(fn []byte, check []byte) ([]byte, error) {
	r := reader{b: fn}
	locals := r.u32()
	for i := uint32(0); i < locals; i++ {
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, fail("locals: %v", r.err)
	}
	out := make([]byte, 0, len(fn)+len(fn)/16)
	out = append(out, fn[:r.pos]...)
	for r.pos < len(r.b) {
		start := r.pos
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
		case op == 0x03: // loop
			r.blockType()
			out = append(out, r.b[start:r.pos]...)
			out = append(out, check...)
			continue
		case op == 0x0c || op == 0x0d: // br, br_if
			r.u32()
		case op == 0x0e: // br_table
			n := r.u32()
			for j := uint32(0); j <= n && r.err == nil; j++ {
				r.u32()
			}
		case op == 0x10: // call
			r.u32()
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			n := r.u32()
			r.bytes(int(n))
		case op >= 0x20 && op <= 0x26: // local/global/table get, set, tee
			r.u32()
		case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
			r.u32()
			r.u32()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.byte()
		case op == 0x41:
			r.sleb()
		case op == 0x42:
			r.sleb()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f ||
			op == 0x1a || op == 0x1b || (op >= 0x45 && op <= 0xc4) || op == 0xd1:
			// no immediates
		case op == 0xd0: // ref.null t
			r.byte()
		case op == 0xd2: // ref.func
			r.u32()
		case op == 0xfc:
			switch sub := r.u32(); {
			case sub <= 7: // saturating truncations
			case sub == 8: // memory.init data, mem
				r.u32()
				r.byte()
			case sub == 9 || sub == 13 || (sub >= 15 && sub <= 17): // data.drop, elem.drop, table.grow/size/fill
				r.u32()
			case sub == 10: // memory.copy
				r.byte()
				r.byte()
			case sub == 11: // memory.fill
				r.byte()
			case sub == 12 || sub == 14: // table.init, table.copy
				r.u32()
				r.u32()
			default:
				return nil, fail("opcode 0xfc %d", sub)
			}
		default:
			return nil, fail("opcode %#x at byte %d", op, start)
		}
		if r.err != nil {
			return nil, fail("instruction at byte %d: %v", start, r.err)
		}
		out = append(out, r.b[start:r.pos]...)
	}
	return out, nil
}

type reader struct {
	b   []byte
	pos int
	err error
}

var errShort = errors.New("unexpected end")

func (r *reader) byte() byte {
	if r.err != nil || r.pos >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.pos+n > len(r.b) {
		r.err = errShort
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 || n > 5 || v > 1<<32-1 {
		r.err = errors.New("bad unsigned LEB128")
		return 0
	}
	r.pos += n
	return uint32(v)
}

func (r *reader) sleb() {
	if r.err != nil {
		return
	}
	// Only the length matters here: the bytes up to the first without the
	// continuation bit, at most ten for a 64-bit value.
	for i := 0; i < 10 && r.pos+i < len(r.b); i++ {
		if r.b[r.pos+i]&0x80 == 0 {
			r.pos += i + 1
			return
		}
	}
	r.err = errors.New("bad signed LEB128")
}

func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(int(n)))
}

func (r *reader) limits() {
	switch flag := r.byte(); flag {
	case 0x00:
		r.u32()
	case 0x01:
		r.u32()
		r.u32()
	default:
		r.err = fmt.Errorf("limits flag %#x", flag)
	}
}

// blockType skips a block type: 0x40, a value type, or an s33 type index.
func (r *reader) blockType() {
	if r.pos < len(r.b) {
		switch c := r.b[r.pos]; {
		case c == 0x40 || c == 0x7f || c == 0x7e || c == 0x7d || c == 0x7c || c == 0x7b || c == 0x70 || c == 0x6f:
			r.pos++
			return
		}
	}
	r.sleb()
}

func uleb(v uint32) []byte { return binary.AppendUvarint(nil, uint64(v)) }
