// Package stopcheck rewrites a WebAssembly module so that the host can stop
// it: a new mutable i32 global, exported, is tested on every back edge of the
// module's control flow, and the module traps (unreachable) once the host
// sets it to non-zero.
//
// wazero's own way (RuntimeConfig.WithCloseOnContextDone) calls a trampoline
// at every loop iteration, which spills the loop's registers; on the example
// aggregate that is twelve times slower. Here the checks are counted:
//
//   - At the head of every loop, a counter in a local of the function's own
//     (one added local, kept in a register) is incremented; every 65536th
//     iteration of the function's loops takes the cold path.
//   - At the entry of every function that contains a call, a counter in a
//     second added global is incremented; every 65536th such entry takes the
//     cold path. Without it a tree of calls (a function calling itself twice,
//     to a depth the stack allows) would run for longer than any limit without
//     a single loop.
//
// The cold path executes memory.grow 0 — in wazero a call out to Go, where the
// Go scheduler can preempt the goroutine (it cannot preempt compiled Wasm:
// without such exits a spinning module would stall every stop-the-world, and
// with it the watchdog meant to stop it) — and then tests the stop global.
// Loops and calls are the only ways a module's code runs again: code without
// either ends, so every run that does not end passes one of the two checks
// without bound. A module without a memory gets an empty one for memory.grow.
//
// Only the instruction set Go's wasip1 port and common toolchains emit is
// accepted (WebAssembly 2.0 without SIMD, threads, exceptions, tail calls or
// GC); any other opcode is an error, and such a module is refused rather than
// run unchecked.
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
	secType   = 1
	secImport = 2
	secFunc   = 3
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
	// The new globals' indices follow the imported and defined globals; each
	// function's new local follows its parameters and locals.
	var globals, importedFuncs uint32
	var params []uint32 // per type
	var funcTypes []uint32
	hasMemory := false
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			params, err = typeParams(s.body)
		case secMemory:
			hasMemory = true
		case secImport:
			var n, mems, fns uint32
			n, mems, fns, err = importCounts(s.body)
			globals += n
			importedFuncs += fns
			hasMemory = hasMemory || mems > 0
		case secFunc:
			funcTypes, err = u32s(s.body, "function section")
		case secGlobal:
			r := reader{b: s.body}
			globals += r.u32()
			if r.err != nil {
				err = fail("global section: %v", r.err)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	nparams := make([]uint32, len(funcTypes))
	for i, t := range funcTypes {
		if int(t) >= len(params) {
			return nil, fail("function %d: type %d out of range", int(importedFuncs)+i, t)
		}
		nparams[i] = params[t]
	}
	c := checks{stop: globals, entries: globals + 1}

	// Two mut i32 = i32.const 0: the stop flag, then the entries' counter.
	newGlobal := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b}
	newExport := append(append(uleb(uint32(len(name))), name...), 0x03)
	newExport = append(newExport, uleb(c.stop)...)

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
			body, err = instrumentCode(body, c, nparams)
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

// importCounts counts the imported globals, memories and functions.
func importCounts(body []byte) (globals, memories, funcs uint32, err error) {
	r := reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
			funcs++
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
			return 0, 0, 0, fail("import %d: kind %#x", i, kind)
		}
	}
	if r.err != nil {
		return 0, 0, 0, fail("import section: %v", r.err)
	}
	return globals, memories, funcs, nil
}

// typeParams reads the type section: the number of parameters of each type.
func typeParams(body []byte) ([]uint32, error) {
	r := reader{b: body}
	n := r.u32()
	var out []uint32
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return nil, fail("type %d: form %#x is not a function type", i, form)
		}
		np := r.u32()
		r.bytes(int(np))
		nr := r.u32()
		r.bytes(int(nr))
		out = append(out, np)
	}
	if r.err != nil || r.pos != len(r.b) {
		return nil, fail("type section: %v", errOr(r.err, "trailing bytes"))
	}
	return out, nil
}

// u32s reads a vector of u32 (the function section's type indices).
func u32s(body []byte, what string) ([]uint32, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(body)) {
		return nil, fail("%s: %d entries in %d bytes", what, n, len(body))
	}
	out := make([]uint32, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = append(out, r.u32())
	}
	if r.err != nil || r.pos != len(r.b) {
		return nil, fail("%s: %v", what, errOr(r.err, "trailing bytes"))
	}
	return out, nil
}

func errOr(err error, s string) error {
	if err != nil {
		return err
	}
	return errors.New(s)
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

// checks are the indices the inserted code uses.
type checks struct {
	stop, entries uint32 // globals: the stop flag, the counter of entries
}

// cold is the rare path of both checks: an exit to the host, then the stop
// flag's test.
func (c checks) cold() []byte {
	b := []byte{0x41, 0x00, 0x40, 0x00, 0x1a} // i32.const 0; memory.grow 0; drop
	b = append(b, 0x23)
	b = append(b, uleb(c.stop)...)           // global.get stop
	return append(b, 0x04, 0x40, 0x00, 0x0b) // if; unreachable; end
}

// loop counts an iteration in the function's own local.
func (c checks) loop(local uint32) []byte {
	b := []byte{0x20}
	b = append(b, uleb(local)...)   // local.get
	b = append(b, 0x41, 0x01, 0x6a) // i32.const 1; i32.add
	b = append(b, 0x22)
	b = append(b, uleb(local)...)                     // local.tee
	b = append(b, 0x41, 0xff, 0xff, 0x03, 0x71, 0x45) // i32.const 0xffff; i32.and; i32.eqz
	b = append(b, 0x04, 0x40)                         // if
	b = append(b, c.cold()...)
	return append(b, 0x0b) // end
}

// entry counts an entry into a function that calls, in the global counter.
func (c checks) entry() []byte {
	b := []byte{0x23}
	b = append(b, uleb(c.entries)...) // global.get
	b = append(b, 0x41, 0x01, 0x6a)   // i32.const 1; i32.add
	b = append(b, 0x24)
	b = append(b, uleb(c.entries)...) // global.set
	b = append(b, 0x23)
	b = append(b, uleb(c.entries)...)                 // global.get
	b = append(b, 0x41, 0xff, 0xff, 0x03, 0x71, 0x45) // i32.const 0xffff; i32.and; i32.eqz
	b = append(b, 0x04, 0x40)                         // if
	b = append(b, c.cold()...)
	return append(b, 0x0b) // end
}

func instrumentCode(body []byte, c checks, nparams []uint32) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err == nil && int(n) != len(nparams) {
		return nil, fail("code section: %d bodies for %d functions", n, len(nparams))
	}
	out := uleb(n)
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err != nil {
			return nil, fail("code section, function %d: %v", i, r.err)
		}
		f, err := instrumentFunc(fn, c, nparams[i])
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

// maxLocals bounds a function's locals, as engines do (wazero: 2^27).
const maxLocals = 1 << 27

func instrumentFunc(fn []byte, c checks, params uint32) ([]byte, error) {
	r := reader{b: fn}
	decls := r.u32()
	declsEnd := r.pos
	locals := uint64(params)
	for i := uint32(0); i < decls; i++ {
		locals += uint64(r.u32())
		r.byte()
	}
	if r.err != nil {
		return nil, fail("locals: %v", r.err)
	}
	if locals >= maxLocals {
		return nil, fail("%d locals", locals)
	}
	// One more local, the loops' counter: an i32 after all the others.
	ctr := uint32(locals)
	head := uleb(decls + 1)
	head = append(head, fn[declsEnd:r.pos]...)
	head = append(head, 0x01, 0x7f)
	loop := c.loop(ctr)
	calls := false
	out := make([]byte, 0, len(fn)+len(fn)/16)
	for r.pos < len(r.b) {
		start := r.pos
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
		case op == 0x03: // loop
			r.blockType()
			out = append(out, r.b[start:r.pos]...)
			out = append(out, loop...)
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
			calls = true
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
			calls = true
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
	if calls {
		head = append(head, c.entry()...)
	}
	return append(head, out...), nil
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
