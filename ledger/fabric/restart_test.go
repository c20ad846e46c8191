package fabric

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
)

// TestRestartFromIndexFile: a ledger with Config.IndexFile, closed and
// opened again, resumes from the last block its file holds (it reads only
// the blocks after it, not the channel from block 0), answers with the
// same head and proofs, goes on taking receipts, and still verifies from
// the blocks as an auditor reads them. A file whose last block is not the
// channel's is refused at Open.
func TestRestartFromIndexFile(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "index.db")
	l := open(t, p, s.Genesis, func(c *Config) { c.IndexFile = file })
	cfg := l.cfg
	w, err := ledgertest.NewWorkload(s, 300, 9, 2)
	if err != nil {
		t.Fatal(err)
	}
	half := len(w.Streams[0]) / 2
	appendAll := func(l *Ledger, bs []*ledger.Batch) {
		for _, b := range bs {
			if _, err := l.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendAll(l, w.Setup)
	appendAll(l, w.Streams[0][:half])
	h1, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := w.Streams[0][half-1].Records[0].ID
	p1, err := l.Record(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	next := l.next
	l.Close(ctx)

	cfg.Follower = nil
	l2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close(context.Background()) })
	h2, err := l2.Head(ctx) // waits until the follower holds every block
	if err != nil {
		t.Fatal(err)
	}
	height, err := l2.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read := l2.Stats().BlocksRead
	if from := l2.Stats().FromBlock; from != next {
		t.Fatalf("after a restart the follower started from block %d; the file held %d", from, next)
	}
	if read > int64(height-next) || next < 10 {
		t.Fatalf("after a restart the follower read %d blocks; the file held %d of the channel's %d", read, next, height)
	}
	if h2.Size != h1.Size || !reflect.DeepEqual(h2.Root, h1.Root) {
		t.Fatalf("head after the restart %d %x, before %d %x", h2.Size, h2.Root, h1.Size, h1.Root)
	}
	p2, err := l2.Record(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p2.Proof, p1.Proof) || p2.Index != p1.Index || p2.BatchRoot != p1.BatchRoot {
		t.Fatalf("record %s after the restart: index %d, before %d", last, p2.Index, p1.Index)
	}
	appendAll(l2, w.Streams[0][half:])
	appendAll(l2, w.Streams[1])
	rep, err := verify.Ledger(ctx, StateSource{l2}, l2.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ReadChain(ctx, l2, cfg.Chaincode)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := verify.Ledger(ctx, chain, chain.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != uint64(w.Records) || rep.Root != audit.Root || audit.Records != rep.Records {
		t.Fatalf("service: %d records, root %s; audit from the blocks: %d, %s; want %d", rep.Records, rep.Root, audit.Records, audit.Root, w.Records)
	}
	l2.Close(ctx)

	// The file the follower wrote is what the blocks make (CheckIndexFile,
	// from the other organisation's peer); one record altered in it is not.
	ch, err := OpenChannel(p, len(p.Orgs)-1)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ck, err := CheckIndexFile(ctx, ch, file, p.Channel, cfg.Chaincode)
	if err != nil || ck.Records != uint64(w.Records) || len(ck.Differences) != 0 {
		t.Fatalf("check of the file: %+v %v, want %d records and no difference", ck, err, w.Records)
	}
	st, err := openDiskStore(file, p.Channel, cfg.Chaincode)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _, err := st.record(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(dRecords).Get(boltkey.Uint64(7))
		return tx.Bucket(dRecords).Put(boltkey.Uint64(7), append(bytes.Clone(v[:len(v)-len(raw)]), bytes.Replace(raw, []byte(`"`), []byte(`'`), 1)...))
	}); err != nil {
		t.Fatal(err)
	}
	st.close()
	ck, err = CheckIndexFile(ctx, ch, file, p.Channel, cfg.Chaincode)
	if !errors.Is(err, ErrIndexDiffers) || len(ck.Differences) != 1 || ck.Differences[0] != "records 7: differs" {
		t.Fatalf("check of a file with record 7 altered: %+v %v", ck, err)
	}

	// The file's last block, made to differ from the channel's.
	st, err = openDiskStore(file, p.Channel, cfg.Chaincode)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := st.position()
	if err := st.update(func() error { return st.setPosition(n, []byte("another chain")) }); err != nil {
		t.Fatal(err)
	}
	st.close()
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "another chain") {
		t.Fatalf("a file of another chain: %v", err)
	}
}
