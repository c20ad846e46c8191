// Package table reads the CSV a sandboxed program gets on stdin: one pass over
// large chunks, fields handed out as slices of the buffer, RFC 4180 quoting.
// The example programs build on it for GOOS=wasip1 and natively alike, so
// `tdsc bench compute` compares the very same code.
package table

import (
	"errors"
	"io"
	"strconv"
)

const chunk = 1 << 20

// Reader yields the records of a CSV stream.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int
	eof        bool
	fields     [][]byte
	scratch    []byte
	line       int
}

// NewReader reads CSV from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, buf: make([]byte, chunk)}
}

// ErrQuote is returned for a quoted field that does not close.
var ErrQuote = errors.New("table: unterminated quoted field")

// Line is the number of the record Next last returned, from 1.
func (t *Reader) Line() int { return t.line }

// Next returns the fields of the next record, valid until the following call,
// or io.EOF after the last. A trailing '\r' is dropped; empty lines are skipped.
func (t *Reader) Next() ([][]byte, error) {
	for {
		rec, err := t.record()
		if err != nil {
			return nil, err
		}
		if len(rec) == 0 {
			continue
		}
		t.line++
		return t.split(rec)
	}
}

// record returns the next raw record (without its newline), reading more when
// the buffer holds no complete one.
func (t *Reader) record() ([]byte, error) {
	scanned := t.start
	quoted := false
	for {
		b := t.buf[:t.end]
		for i := scanned; i < len(b); i++ {
			switch b[i] {
			case '"':
				quoted = !quoted
			case '\n':
				if !quoted {
					rec := b[t.start:i]
					t.start = i + 1
					return trimCR(rec), nil
				}
			}
		}
		scanned = t.end
		if t.eof {
			if t.start == t.end {
				return nil, io.EOF
			}
			if quoted {
				return nil, ErrQuote
			}
			rec := b[t.start:t.end]
			t.start = t.end
			return trimCR(rec), nil
		}
		// Move the partial record to the front, grow if it fills the buffer.
		n := copy(t.buf, t.buf[t.start:t.end])
		scanned -= t.start
		t.start, t.end = 0, n
		if t.end == len(t.buf) {
			t.buf = append(t.buf, make([]byte, len(t.buf))...)
		}
		m, err := t.r.Read(t.buf[t.end:])
		t.end += m
		if err == io.EOF {
			t.eof = true
		} else if err != nil {
			return nil, err
		}
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

func (t *Reader) split(rec []byte) ([][]byte, error) {
	t.fields = t.fields[:0]
	t.scratch = t.scratch[:0]
	for {
		if len(rec) > 0 && rec[0] == '"' {
			// A quoted field: "" stands for one quote.
			start := len(t.scratch)
			i := 1
			for {
				if i >= len(rec) {
					return nil, ErrQuote
				}
				if rec[i] == '"' {
					if i+1 < len(rec) && rec[i+1] == '"' {
						t.scratch = append(t.scratch, '"')
						i += 2
						continue
					}
					break
				}
				t.scratch = append(t.scratch, rec[i])
				i++
			}
			t.fields = append(t.fields, t.scratch[start:len(t.scratch):len(t.scratch)])
			rec = rec[i+1:]
			if len(rec) == 0 {
				return t.fields, nil
			}
			rec = rec[1:] // the comma
			continue
		}
		i := 0
		for i < len(rec) && rec[i] != ',' {
			i++
		}
		t.fields = append(t.fields, rec[:i])
		if i == len(rec) {
			return t.fields, nil
		}
		rec = rec[i+1:]
	}
}

// Number parses a decimal field: plain [-]digits[.digits] on a fast path,
// anything else strconv accepts otherwise.
func Number(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	i, neg := 0, false
	if b[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	digits, frac := 0, 0
	dot := false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits >= 18 {
				return slow(b)
			}
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return slow(b)
		}
	}
	if digits == 0 {
		return 0, false
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

func slow(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}
