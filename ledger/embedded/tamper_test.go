package embedded

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// buildLedger writes a small realistic ledger into a temp dir and closes it.
func buildLedger(t *testing.T) string {
	t.Helper()
	dir, _ := buildLedgerSpace(t)
	return dir
}

// buildLedgerSpace is buildLedger with the space that wrote it.
func buildLedgerSpace(t *testing.T) (string, *ledgertest.Space) {
	t.Helper()
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := Open(ctx, dir, sp.Genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := sp.Participant("p1", "CN-BJ")
	p2, _ := sp.Participant("p2", "CN-SH")
	ag, _ := sp.Agreement("p1", "p2", "ds-1", "ag-1", nil)
	for _, bt := range []struct {
		w    string
		recs []ledger.Record
	}{
		{sp.Authority(), []ledger.Record{p1, p2}},
		{"p1", []ledger.Record{sp.Dataset("p1", "ds-1", policy.General, "traffic"), ag}},
		{"p1", []ledger.Record{sp.Transfer("p1", "p2", "ag-1", "ds-1", "t-1"), sp.Transfer("p1", "p2", "ag-1", "ds-1", "t-2")}},
		{"p2", []ledger.Record{sp.Completed("p2", "t-1", 10)}},
	} {
		b, err := sp.Batch(bt.w, bt.recs...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir, sp
}

func verifyDir(t *testing.T, dir string) (verify.Report, error) {
	t.Helper()
	raw, err := OpenRaw(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	return verify.Ledger(context.Background(), raw, raw.VerifierKey())
}

// liveOffsets finds where a live value lies in the file: through bbolt's
// mmap, or, for a value bbolt copied out (inline buckets), every place its
// bytes occur.
func liveOffsets(t *testing.T, dir string, bucket, key []byte) ([]int64, int) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	var n int
	if err := db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get(key)
		if v == nil {
			t.Fatalf("no %s/%x", bucket, key)
		}
		n = len(v)
		off := int64(uintptr(unsafe.Pointer(&v[0])) - db.Info().Data)
		if off >= 0 && off+int64(n) <= int64(len(file)) && bytes.Equal(file[off:off+int64(n)], v) {
			offs = []int64{off}
			return nil
		}
		for i := 0; ; {
			j := bytes.Index(file[i:], v)
			if j < 0 {
				break
			}
			offs = append(offs, int64(i+j))
			i += j + 1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(offs) == 0 {
		t.Fatalf("%s/%x not found in the file", bucket, key)
	}
	return offs, n
}

func flipped(t *testing.T, src string, offs []int64, i int) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{DBFile, VerifierKey} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == DBFile {
			for _, off := range offs {
				data[off+int64(i)] ^= 0x20
			}
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestFlipAnyByte flips every byte of a committed record and of a checkpoint
// in the bbolt file, one at a time, and expects verify to fail and say where.
func TestFlipAnyByte(t *testing.T) {
	dir := buildLedger(t)
	rep, err := verifyDir(t, dir)
	if err != nil {
		t.Fatalf("pristine ledger: %v", err)
	}
	if rep.Records != 7 || rep.Batches != 4 || rep.Checkpoints != 4 {
		t.Fatalf("report %+v, want 7 records in 4 batches with 4 checkpoints", rep)
	}
	targets := []struct {
		name       string
		bucket     []byte
		key        []byte
		index      uint64
		checkpoint uint64
	}{
		{"record 3 (agreement)", bRecords, boltkey.Uint64(3), 3, 0},
		{"record 6 (completion)", bRecords, boltkey.Uint64(6), 6, 0},
		{"checkpoint 4", bCheckpoints, boltkey.Uint64(4), 0, 4},
		{"checkpoint 7", bCheckpoints, boltkey.Uint64(7), 0, 7},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			offs, n := liveOffsets(t, dir, tg.bucket, tg.key)
			step := 1
			if testing.Short() {
				step = 7
			}
			for i := 0; i < n; i += step {
				_, err := verifyDir(t, flipped(t, dir, offs, i))
				var p *verify.Problem
				if !errors.Is(err, verify.ErrCorrupt) || !errors.As(err, &p) {
					t.Fatalf("byte %d flipped: got %v, want a verify problem", i, err)
				}
				if tg.checkpoint != 0 && p.Checkpoint != tg.checkpoint || tg.checkpoint == 0 && p.Index != tg.index {
					t.Fatalf("byte %d flipped: problem %q does not point at %s", i, p, tg.name)
				}
			}
		})
	}
}

// TestDerivedTamper changes the query index and the kept state behind the
// records' back: the records still verify, CheckDerived names the bucket.
func TestDerivedTamper(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bucket []byte
		edit   func(b *bolt.Bucket) error
	}{
		{"idx record number", bIndex, func(b *bolt.Bucket) error {
			k := indexKey(fDataset, "ds-1", 2)
			v := append([]byte(nil), b.Get(k)...)
			v[7] ^= 1
			return b.Put(k, v)
		}},
		{"idx extra key", bIndex, func(b *bolt.Bucket) error { return b.Put(indexKey(fDataset, "ds-hidden", 2), boltkey.Uint64(3)) }},
		{"state dataset", bDatasets, func(b *bolt.Bucket) error {
			return b.Put([]byte("ds-1"), bytes.Replace(b.Get([]byte("ds-1")), []byte("general"), []byte("genera1"), 1))
		}},
		{"state transfer", bTransfers, func(b *bolt.Bucket) error {
			// Marked completed by its consumer, which it was not.
			v := append([]byte(nil), b.Get([]byte("t-2"))...)
			v[1] |= 0x05
			return b.Put([]byte("t-2"), v)
		}},
		{"ids", bIDs, func(b *bolt.Bucket) error {
			var k []byte
			_ = b.ForEach(func(kk, _ []byte) error { k = append([]byte(nil), kk...); return errors.New("stop") })
			return b.Put(k, boltkey.Uint64(5))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildLedger(t)
			db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return tc.edit(tx.Bucket(tc.bucket)) }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, err := verifyDir(t, dir); err != nil {
				t.Fatalf("the records themselves are intact, verify said %v", err)
			}
			raw, err := OpenRaw(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			err = raw.CheckDerived(context.Background())
			var p *verify.Problem
			if !errors.As(err, &p) || !strings.Contains(err.Error(), string(tc.bucket)+" bucket") {
				t.Fatalf("CheckDerived: got %v, want a problem naming the %s bucket", err, tc.bucket)
			}
			// Verify, the verifier and this check at once, reports the same.
			if _, verr := raw.Verify(context.Background(), raw.VerifierKey()); verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Verify: got %v, CheckDerived %v", verr, err)
			}
		})
	}
	dir := buildLedger(t)
	raw, err := OpenRaw(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.CheckDerived(context.Background()); err != nil {
		t.Fatalf("pristine ledger: %v", err)
	}
	if rep, err := raw.Verify(context.Background(), raw.VerifierKey()); err != nil || rep.Records == 0 {
		t.Fatalf("pristine ledger: Verify %+v, %v", rep, err)
	}
}
