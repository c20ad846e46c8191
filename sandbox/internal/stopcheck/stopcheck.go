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
	var types []sig
	var funcTypes []uint32
	hasMemory := false
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			types, err = typeSigs(s.body)
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
	sigs := make([]sig, len(funcTypes))
	for i, t := range funcTypes {
		if int(t) >= len(types) {
			return nil, fail("function %d: type %d out of range", int(importedFuncs)+i, t)
		}
		sigs[i] = types[t]
	}
	if types == nil || funcTypes == nil {
		return nil, fail("no type or function section: a command module has _start")
	}
	// The loops' cold path is a function of its own, added last: in a loop a
	// call is one instruction, where the code it runs would hold registers.
	c := checks{stop: globals, counter: globals + 1, tick: importedFuncs + uint32(len(funcTypes))}
	tickType := uint32(len(types))

	// Two mut i32 = i32.const 0: the stop flag, then the counter.
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
		case secType:
			body, err = appendToVector(body, []byte{0x60, 1, 0x7f, 1, 0x7f}, 1) // (i32) -> i32
		case secFunc:
			body, err = appendToVector(body, uleb(tickType), 1)
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
			if body, err = instrumentCode(body, c, sigs); err == nil {
				tick := c.tickBody()
				body, err = appendToVector(body, append(uleb(uint32(len(tick))), tick...), 1)
			}
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

// sig is what a function's instrumentation needs of its type.
type sig struct {
	params  uint32
	results []byte
}

// typeSigs reads the type section.
func typeSigs(body []byte) ([]sig, error) {
	r := reader{b: body}
	n := r.u32()
	var out []sig
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return nil, fail("type %d: form %#x is not a function type", i, form)
		}
		np := r.u32()
		r.bytes(int(np))
		nr := r.u32()
		out = append(out, sig{np, r.bytes(int(nr))})
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
	stop, counter uint32 // globals: the stop flag, the counter of work
	tick          uint32 // the function a small loop calls past localBudget
}

// The counts are in instructions, weighted: a function's entry adds the
// function's size, a loop's head its body's size, an upper bound of the work
// until the next count either way (work outside loops runs at most once per
// call; a loop iteration's at most its body). They go to a global counter,
// which takes the cold path past globalBudget: so a module runs at most about
// globalBudget instructions between two cold paths, some hundredths of a
// second. A small loop counts in a local of its function (a register), handed
// to the global past localBudget and at every return; a call's count on the
// stack below deeper calls (each under localBudget) reaches the global when
// that call returns.
const (
	smallLoop    = 64
	localBudget  = 1 << 16
	globalBudget = 1 << 26
	maxWeight    = globalBudget
)

// add adds the i32 that value pushes to the global counter.
func (c checks) add(value ...byte) []byte {
	b := append([]byte{0x23}, uleb(c.counter)...) // global.get counter
	b = append(b, value...)
	b = append(b, 0x6a, 0x24) // i32.add; global.set counter
	return append(b, uleb(c.counter)...)
}

// count counts weight in the global counter: a call's, or a large loop's.
func (c checks) count(weight uint32) []byte {
	b := c.add(append([]byte{0x41}, sleb(int32(weight))...)...) // i32.const weight
	return append(b, c.overBudget()...)
}

// flush adds the function's local count to the global counter.
func (c checks) flush(local uint32) []byte {
	return c.add(append([]byte{0x20}, uleb(local)...)...) // local.get
}

// overBudget takes the cold path when the global counter is past its budget,
// and zeroes it.
func (c checks) overBudget() []byte {
	b := append([]byte{0x23}, uleb(c.counter)...) // global.get counter
	b = append(b, 0x41)
	b = append(b, sleb(globalBudget)...) // i32.const budget
	b = append(b, 0x4f, 0x04, 0x40)      // i32.ge_u; if
	b = append(b, 0x41, 0x00, 0x24)      // i32.const 0; global.set counter
	b = append(b, uleb(c.counter)...)
	b = append(b, c.cold()...)
	return append(b, 0x0b) // end
}

// cold is the rare path: an exit to the host, then the stop flag's test.
func (c checks) cold() []byte {
	b := []byte{0x41, 0x00, 0x40, 0x00, 0x1a} // i32.const 0; memory.grow 0; drop
	b = append(b, 0x23)
	b = append(b, uleb(c.stop)...)           // global.get stop
	return append(b, 0x04, 0x40, 0x00, 0x0b) // if; unreachable; end
}

// loop counts a small loop's iteration in the function's own local; past
// localBudget it hands the local to the tick function.
func (c checks) loop(local, weight uint32) []byte {
	b := []byte{0x20}
	b = append(b, uleb(local)...) // local.get
	b = append(b, 0x41)
	b = append(b, sleb(int32(weight))...) // i32.const weight
	b = append(b, 0x6a, 0x22)             // i32.add; local.tee
	b = append(b, uleb(local)...)
	b = append(b, 0x41)
	b = append(b, sleb(localBudget)...) // i32.const budget
	b = append(b, 0x4f, 0x04, 0x40)     // i32.ge_u; if
	b = append(b, 0x20)
	b = append(b, uleb(local)...) //   local.get
	b = append(b, 0x10)
	b = append(b, uleb(c.tick)...) //   call tick
	b = append(b, 0x21)
	b = append(b, uleb(local)...) //   local.set
	return append(b, 0x0b)        // end
}

// tickBody is the tick function, (param i32) (result i32): it adds its
// argument to the global counter, tests the budget, and returns zero.
func (c checks) tickBody() []byte {
	b := append([]byte{0x00}, c.flush(0)...) // no locals; the argument is local 0
	b = append(b, c.overBudget()...)
	return append(b, 0x41, 0x00, 0x0b) // i32.const 0; end
}

func instrumentCode(body []byte, c checks, sigs []sig) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err == nil && int(n) != len(sigs) {
		return nil, fail("code section: %d bodies for %d functions", n, len(sigs))
	}
	out := uleb(n)
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err != nil {
			return nil, fail("code section, function %d: %v", i, r.err)
		}
		f, err := instrumentFunc(fn, c, sigs[i])
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

func instrumentFunc(fn []byte, c checks, s sig) ([]byte, error) {
	r := reader{b: fn}
	decls := r.u32()
	declsEnd := r.pos
	locals := uint64(s.params)
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
	code := r.pos

	// First pass: the function's instructions, and each loop's size (the
	// instructions of its body, nested ones included), in order.
	var sizes []uint32
	type frame struct{ loop, start int } // loop: index in sizes, or -1
	var open []frame
	n := 0
	for r.pos < len(r.b) {
		start := r.pos
		op, err := r.instr()
		if err != nil {
			return nil, fail("instruction at byte %d: %v", start, err)
		}
		switch op {
		case 0x02, 0x04: // block, if
			open = append(open, frame{-1, n})
		case 0x03: // loop
			sizes = append(sizes, 0)
			open = append(open, frame{len(sizes) - 1, n})
		case 0x0b: // end
			if len(open) > 0 {
				f := open[len(open)-1]
				open = open[:len(open)-1]
				if f.loop >= 0 {
					sizes[f.loop] = uint32(min(n-f.start, maxWeight))
				}
			}
		}
		n++
	}

	// Small loops (tight ones, where a load and a store of the global would
	// cost most) count in one more local, an i32 after all the others, added
	// to the global at every return. The function's body goes into a block
	// of its results, so a branch out of the body lands on that addition.
	// Large loops, and all of a function with more than one result, count in
	// the global.
	small := false
	for _, w := range sizes {
		small = small || w <= smallLoop
	}
	local := small && len(s.results) <= 1
	ctr := uint32(locals)
	var out []byte
	if local {
		out = uleb(decls + 1)
		out = append(out, fn[declsEnd:code]...)
		out = append(out, 0x01, 0x7f)
	} else {
		out = append(out, fn[:code]...)
	}
	out = append(out, c.count(uint32(min(n, maxWeight)))...)
	if local {
		bt := byte(0x40)
		if len(s.results) == 1 {
			bt = s.results[0]
		}
		out = append(out, 0x02, bt) // block (result …)
	}
	r.pos = code
	loops := 0
	for r.pos < len(r.b) {
		start := r.pos
		op, _ := r.instr()
		if local && (op == 0x0f || op == 0x0b && r.pos == len(r.b)) { // return, the body's end
			if op == 0x0b {
				out = append(out, 0x0b) // the block's end
			}
			out = append(out, c.flush(ctr)...)
		}
		out = append(out, r.b[start:r.pos]...)
		if op == 0x03 {
			w := max(sizes[loops], 1)
			if local && w <= smallLoop {
				out = append(out, c.loop(ctr, w)...)
			} else {
				out = append(out, c.count(w)...)
			}
			loops++
		}
	}
	return out, nil
}

// instr reads one instruction and returns its opcode.
func (r *reader) instr() (byte, error) {
	op := r.byte()
	switch {
	case op == 0x02 || op == 0x04: // block, if
		r.blockType()
	case op == 0x03: // loop
		r.blockType()
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
			return 0, fmt.Errorf("opcode 0xfc %d", sub)
		}
	default:
		return 0, fmt.Errorf("opcode %#x", op)
	}
	return op, r.err
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

// sleb is v as a signed LEB128 (what i32.const takes).
func sleb(v int32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
