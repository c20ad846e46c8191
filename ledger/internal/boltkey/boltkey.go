// Package boltkey is how the ledger's bbolt stores (the embedded store and
// the Fabric backend's index file) write numbers and tree nodes as keys:
// big-endian, so that bbolt's byte order is their numeric order.
package boltkey

import (
	"encoding/binary"

	"github.com/transparency-dev/merkle/compact"
)

// Uint64 is v as an 8-byte big-endian key or value.
func Uint64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// ToUint64 reads Uint64's bytes; anything not 8 bytes long (an absent
// value) reads as 0.
func ToUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Node is a tree node's key: its level, then its index big-endian, so that
// a level's nodes sort in order.
func Node(id compact.NodeID) []byte {
	k := make([]byte, 9)
	k[0] = byte(id.Level)
	binary.BigEndian.PutUint64(k[1:], id.Index)
	return k
}
