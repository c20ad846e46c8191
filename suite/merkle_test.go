package suite

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/testonly"
)

func sm3of(parts ...[]byte) []byte {
	d := sm3.Sum(bytes.Join(parts, nil))
	return d[:]
}

// The tree has RFC 6962's shape, hashed with SM3: checked by hand for three
// leaves, then proofs for every pair of sizes up to 17 against the reference
// tree of transparency-dev/merkle.
func TestSM3Tree(t *testing.T) {
	h := GM.Merkle()
	l := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	lh := func(i int) []byte { return sm3of([]byte{0}, l[i]) }
	want := sm3of([]byte{1}, sm3of([]byte{1}, lh(0), lh(1)), lh(2))
	rng := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	for i := range l {
		if !bytes.Equal(h.HashLeaf(l[i]), lh(i)) {
			t.Fatalf("leaf %d", i)
		}
		if err := rng.Append(h.HashLeaf(l[i]), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := rng.GetRootHash(nil); !bytes.Equal(got, want) {
		t.Fatalf("root of 3 = %x, want %x", got, want)
	}
	if !bytes.Equal(h.EmptyRoot(), sm3of()) || h.Size() != 32 {
		t.Fatal("empty root / size")
	}

	ref := testonly.New(h)
	for i := range 17 {
		ref.AppendData(fmt.Appendf(nil, "leaf %d", i))
	}
	for size := uint64(1); size <= 17; size++ {
		root := ref.HashAt(size)
		for i := uint64(0); i < size; i++ {
			p, err := ref.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(h, i, size, ref.LeafHash(i), p, root); err != nil {
				t.Fatalf("inclusion %d/%d: %v", i, size, err)
			}
			if err := proof.VerifyInclusion(Intl.Merkle(), i, size, ref.LeafHash(i), p, root); err == nil && size > 1 {
				t.Fatalf("SM3 proof %d/%d verifies with SHA-256", i, size)
			}
		}
		for s1 := uint64(1); s1 <= size; s1++ {
			p, err := ref.ConsistencyProof(s1, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(h, s1, size, p, ref.HashAt(s1), root); err != nil {
				t.Fatalf("consistency %d→%d: %v", s1, size, err)
			}
		}
	}
}

func BenchmarkMerkleLeaf(b *testing.B) {
	leaf := bytes.Repeat([]byte("x"), 300)
	for _, s := range []*Suite{Intl, GM} {
		b.Run(s.Name(), func(b *testing.B) {
			h := s.Merkle()
			for b.Loop() {
				h.HashLeaf(leaf)
			}
		})
	}
}

func BenchmarkMerkleNode(b *testing.B) {
	l, r := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	for _, s := range []*Suite{Intl, GM} {
		b.Run(s.Name(), func(b *testing.B) {
			h := s.Merkle()
			for b.Loop() {
				h.HashChildren(l, r)
			}
		})
	}
}
