package dataplane

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		header  string
		size    int64
		want    ByteRange
		partial bool
		err     error
	}{
		{"", 100, ByteRange{}, false, nil},
		{"bytes=0-9", 100, ByteRange{0, 10}, true, nil},
		{"bytes=10-", 100, ByteRange{10, 90}, true, nil},
		{"bytes=-10", 100, ByteRange{90, 10}, true, nil},
		{"bytes=-1000", 100, ByteRange{0, 100}, true, nil},
		{"bytes=90-1000", 100, ByteRange{90, 10}, true, nil},
		{"Bytes = 5-5", 100, ByteRange{5, 1}, true, nil},
		{"bytes=99-", 100, ByteRange{99, 1}, true, nil},
		{"bytes=100-", 100, ByteRange{}, false, ErrRangeNotSatisfiable},
		{"bytes=100-200", 100, ByteRange{}, false, ErrRangeNotSatisfiable},
		{"bytes=-0", 100, ByteRange{}, false, ErrRangeNotSatisfiable},
		{"bytes=0-", 0, ByteRange{}, false, ErrRangeNotSatisfiable},
		{"bytes=-5", 0, ByteRange{}, false, ErrRangeNotSatisfiable},
		{"bytes=9-5", 100, ByteRange{}, false, nil},
		{"bytes=0-1,5-6", 100, ByteRange{}, false, nil},
		{"items=0-1", 100, ByteRange{}, false, nil},
		{"bytes=a-1", 100, ByteRange{}, false, nil},
		{"bytes=+1-2", 100, ByteRange{}, false, nil},
		{"bytes=-", 100, ByteRange{}, false, nil},
		{"bytes=99999999999999999999-", 100, ByteRange{}, false, nil},
		{"bytes", 100, ByteRange{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, partial, err := ParseRange(tt.header, tt.size)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseRange(%q, %d) error = %v, want %v", tt.header, tt.size, err, tt.err)
			}
			if got != tt.want || partial != tt.partial {
				t.Errorf("ParseRange(%q, %d) = %+v, %v; want %+v, %v", tt.header, tt.size, got, partial, tt.want, tt.partial)
			}
		})
	}
}

// FuzzParseRange checks that any header yields either the whole entity, a 416,
// or a non-empty range inside the entity.
func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=5-", int64(5))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		r, partial, err := ParseRange(header, size)
		if err != nil {
			if !errors.Is(err, ErrRangeNotSatisfiable) || partial {
				t.Fatalf("ParseRange(%q, %d): unexpected %v partial=%v", header, size, err, partial)
			}
			return
		}
		if !partial {
			if r != (ByteRange{}) {
				t.Fatalf("ParseRange(%q, %d): whole entity with range %+v", header, size, r)
			}
			return
		}
		if r.Start < 0 || r.Length < 1 || r.End() > size || r.End() < r.Start {
			t.Fatalf("ParseRange(%q, %d) = %+v: outside the entity", header, size, r)
		}
	})
}
