package fabric

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// TestCompareIndexFiles: two index files of the same transactions, one
// added a transaction to an update and the other all in one update, are
// the same to compareFiles (postings compared by their lists, not by how
// updates split them, nor whether they are still above the file's mark);
// each kind of damage to one is named, once: a
// record changed, a tree node lost, an id added, a posting list cut, the
// position moved.
func TestCompareIndexFiles(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 200, 9, 3)
	txs := streamTxs(w)
	build := func(name string, together bool) *diskStore {
		x, st, err := openIndexFile(filepath.Join(t.TempDir(), name), "ch", "cc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.close() })
		if err := addTx(x, 1, "tx-init", genesisTx(t, s.Genesis)); err != nil {
			t.Fatal(err)
		}
		add := func(n int) error { return x.addTx(uint64(n+2), "tx", committed(t, txs[n])) }
		if together {
			err = x.update(func() error {
				for n := range txs {
					if err := add(n); err != nil {
						return err
					}
				}
				return st.setPosition(uint64(len(txs)+2), []byte("h"))
			})
		} else {
			for n := range txs {
				if err = x.update(func() error { return add(n) }); err != nil {
					break
				}
			}
			if err == nil {
				err = x.update(func() error { return st.setPosition(uint64(len(txs)+2), []byte("h")) })
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	want, got := build("want", false), build("got", true)
	if err := want.flushAbove(); err != nil {
		t.Fatal(err)
	}
	diffs := func() []string {
		var rep IndexCheck
		if err := compareFiles(want.db, got, &differ{rep: &rep}); err != nil {
			t.Fatal(err)
		}
		return rep.Differences
	}
	// got's postings still above its mark (in memory), then put.
	if got.aboveRecords == 0 {
		t.Fatal("no postings above the mark: the test does not reach them")
	}
	if d := diffs(); len(d) != 0 {
		t.Fatalf("the same transactions in other updates, postings above the mark: %v", d)
	}
	if err := got.flushAbove(); err != nil {
		t.Fatal(err)
	}
	if d := diffs(); len(d) != 0 {
		t.Fatalf("the same transactions in other updates: %v", d)
	}
	var postKey []byte
	for step, tt := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"record changed", func(tx *bolt.Tx) error {
			v := tx.Bucket(dRecords).Get(boltkey.Uint64(5))
			return tx.Bucket(dRecords).Put(boltkey.Uint64(5), append(slices.Clone(v), ' '))
		}, "records 5: differs"},
		{"tree node lost", func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(dTree).Cursor().First()
			return tx.Bucket(dTree).Delete(k)
		}, "tree "},
		{"id added", func(tx *bolt.Tx) error {
			return tx.Bucket(dIDs).Put([]byte("rec-forged"), boltkey.Uint64(3))
		}, `ids "rec-forged": in the file, not in the blocks`},
		{"posting list cut", func(tx *bolt.Tx) error {
			c := tx.Bucket(dPost).Cursor()
			k, v := c.Last()
			postKey = slices.Clone(k)
			return tx.Bucket(dPost).Put(postKey, v[:len(v)-1])
		}, "post "},
		{"position moved", func(tx *bolt.Tx) error {
			return tx.Bucket(dMeta).Put([]byte("next"), boltkey.Uint64(3))
		}, `meta "next": differs`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := got.db.Update(tt.damage); err != nil {
				t.Fatal(err)
			}
			// The damages add up: one more difference each, this one's.
			d := diffs()
			i := slices.IndexFunc(d, func(s string) bool { return strings.HasPrefix(s, tt.want) })
			if len(d) != step+1 || i < 0 {
				t.Fatalf("differences %q, want %d, one starting %q", d, step+1, tt.want)
			}
			t.Logf("%s: %s", tt.name, d[i])
		})
	}
}
