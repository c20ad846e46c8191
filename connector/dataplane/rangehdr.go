package dataplane

import (
	"errors"
	"strconv"
	"strings"
)

// ByteRange is a span of an entity: Length bytes from Start.
type ByteRange struct {
	Start, Length int64
}

// End is the offset one past the last byte.
func (r ByteRange) End() int64 { return r.Start + r.Length }

// ErrRangeNotSatisfiable: the Range header names no byte of the entity (416).
// Ask for a range inside the size given in Content-Range: bytes */SIZE.
var ErrRangeNotSatisfiable = errors.New("dataplane: range not satisfiable")

// ParseRange reads a Range header (RFC 9110 §14.2) against an entity of size
// bytes. It supports one range: "bytes=a-b", "bytes=a-", "bytes=-n".
//
// It returns partial=false and no error when the whole entity should be sent:
// no header, another unit, several ranges, or a malformed value (a server may
// ignore a Range it does not understand). It returns ErrRangeNotSatisfiable
// when the range starts at or past the end, or is a zero-length suffix.
func ParseRange(header string, size int64) (r ByteRange, partial bool, err error) {
	if header == "" || size < 0 {
		return ByteRange{}, false, nil
	}
	unit, spec, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return ByteRange{}, false, nil
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return ByteRange{}, false, nil
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return ByteRange{}, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, ok := digits(last)
		if !ok {
			return ByteRange{}, false, nil
		}
		if n == 0 || size == 0 {
			return ByteRange{}, false, ErrRangeNotSatisfiable
		}
		n = min(n, size)
		return ByteRange{Start: size - n, Length: n}, true, nil
	}
	start, ok := digits(first)
	if !ok {
		return ByteRange{}, false, nil
	}
	end := size - 1
	if last != "" {
		e, ok := digits(last)
		if !ok || e < start {
			return ByteRange{}, false, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return ByteRange{}, false, ErrRangeNotSatisfiable
	}
	return ByteRange{Start: start, Length: end - start + 1}, true, nil
}

// digits parses a non-empty run of ASCII digits that fits an int64.
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
