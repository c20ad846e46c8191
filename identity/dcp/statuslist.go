package dcp

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/tdsc/tdsc/identity"
)

// StatusListBits is the length of a status list: the 131 072 bits (16 KiB)
// Bitstring Status List 1.0 sets as the minimum, so that a list does not
// betray which credential is checked.
const StatusListBits = 16 << 10 * 8

// maxStatusListBytes bounds a decoded list (a gzip bomb cannot inflate past it).
const maxStatusListBytes = 1 << 20

// StatusList is a bitstring: bit i set means credential i is revoked. Bit 0
// is the most significant bit of byte 0 (Bitstring Status List §4.1).
type StatusList []byte

// NewStatusList makes a clear list of StatusListBits bits.
func NewStatusList() StatusList { return make(StatusList, StatusListBits/8) }

// Set sets (or clears) bit i.
func (l StatusList) Set(i int, v bool) {
	if v {
		l[i/8] |= 0x80 >> (i % 8)
	} else {
		l[i/8] &^= 0x80 >> (i % 8)
	}
}

// Get reports bit i; an index past the list is an error.
func (l StatusList) Get(i int) (bool, error) {
	if i < 0 || i/8 >= len(l) {
		return false, fmt.Errorf("%w: statusListIndex %d: past the list's %d bits", identity.ErrMalformed, i, len(l)*8)
	}
	return l[i/8]&(0x80>>(i%8)) != 0, nil
}

// Encode is the encodedList value: multibase base64url (prefix u) of the
// gzip-compressed bits.
func (l StatusList) Encode() string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(l)
	_ = zw.Close()
	return "u" + base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// DecodeStatusList parses an encodedList read from untrusted input.
func DecodeStatusList(s string) (StatusList, error) {
	rest, ok := strings.CutPrefix(s, "u")
	if !ok {
		return nil, fmt.Errorf("%w: encodedList: must be multibase base64url (prefix u)", identity.ErrMalformed)
	}
	z, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: encodedList: %v", identity.ErrMalformed, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("%w: encodedList: gzip: %v", identity.ErrMalformed, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxStatusListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: encodedList: gzip: %v", identity.ErrMalformed, err)
	}
	if len(b) > maxStatusListBytes || len(b) < StatusListBits/8 {
		return nil, fmt.Errorf("%w: encodedList: %d bytes decoded, want between %d and %d", identity.ErrMalformed, len(b), StatusListBits/8, maxStatusListBytes)
	}
	return StatusList(b), nil
}
