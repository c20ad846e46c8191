package embedded

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
)

// Raw is read-only access to a ledger directory's stored bytes, for
// verifiers: it checks nothing and replays nothing, so it opens a ledger that
// Open would refuse. It takes bbolt's shared lock; a running store holds the
// exclusive lock, so stop it (or verify over its URL) first.
type Raw struct {
	db   *bolt.DB
	dir  string
	g    ledger.Genesis
	vkey string
}

// OpenRaw opens dir read-only.
func OpenRaw(dir string) (*Raw, error) {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	db, err := openReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s read-only: %w", path, err)
	}
	r := &Raw{db: db, dir: dir}
	err = r.guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bMeta)
			if m == nil {
				return fmt.Errorf("embedded: %s holds no ledger", path)
			}
			return jsondec.Unmarshal(m.Get([]byte("genesis")), &r.g)
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: genesis of %s: %w", path, err)
	}
	if vk, err := os.ReadFile(filepath.Join(dir, VerifierKey)); err == nil {
		r.vkey = string(bytes.TrimSpace(vk))
	}
	return r, nil
}

// openReadOnly opens the store file at path read-only (a shared lock: other
// readers may hold it too), waiting at most 2 s for a writer's lock.
func openReadOnly(path string) (*bolt.DB, error) {
	return bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
}

// Close releases the file.
func (r *Raw) Close() error { return r.db.Close() }

// Genesis is the genesis stored in the ledger.
func (r *Raw) Genesis(ctx context.Context) (ledger.Genesis, error) { return r.g, nil }

// VerifierKey is the checkpoint verifier key found in the directory, "" if none.
// An auditor should pin the key it was given out of band instead.
func (r *Raw) VerifierKey() string { return r.vkey }

// Batches calls fn for every stored batch from the one holding index from.
func (r *Raw) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	return r.guard(func() error {
		return r.db.View(func(tx *bolt.Tx) error {
			return walkBatches(tx, from, func(sb *ledger.StoredBatch) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return fn(sb)
			})
		})
	})
}

// Checkpoints calls fn for every stored checkpoint in order of size.
func (r *Raw) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	return r.guard(func() error {
		return r.db.View(func(tx *bolt.Tx) error { return walkCheckpoints(tx, fn) })
	})
}
