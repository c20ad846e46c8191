package suite

import "github.com/emmansun/gmsm/sm3"

// SM3Hasher is the RFC 6962 tree hasher with SM3 as its hash: leaf hash
// SM3(0x00 || leaf), node hash SM3(0x01 || left || right), empty root SM3("").
// It implements merkle.LogHasher, so transparency-dev/merkle's compact
// ranges and inclusion/consistency proofs work on it unchanged.
var SM3Hasher sm3Hasher

type sm3Hasher struct{}

func (sm3Hasher) EmptyRoot() []byte {
	d := sm3.Sum(nil)
	return d[:]
}

func (sm3Hasher) HashLeaf(leaf []byte) []byte {
	h := sm3.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(make([]byte, 0, sm3.Size))
}

func (sm3Hasher) HashChildren(l, r []byte) []byte {
	var buf [1 + 2*sm3.Size]byte
	d := sm3.Sum(append(append(append(buf[:0], 1), l...), r...))
	return d[:]
}

func (sm3Hasher) Size() int { return sm3.Size }
