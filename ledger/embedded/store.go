package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/internal/atomicfile"
	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// Files in a ledger directory.
const (
	DBFile      = "ledger.db"
	KeyFile     = "ledger.key"
	VerifierKey = "ledger.vkey"
)

var (
	bMeta        = []byte("meta")
	bRecords     = []byte("records")     // index(8) -> canonical record
	bBatches     = []byte("batches")     // first index(8) -> batch header
	bRoots       = []byte("roots")       // batch root(32) -> first index(8)
	bIDs         = []byte("ids")         // record id -> index(8)
	bTree        = []byte("tree")        // level(1) index(8) -> node hash
	bCheckpoints = []byte("checkpoints") // size(8) -> signed note
	bIndex       = []byte("idx")         // field(1) value 0x00 batch first index(8) -> record indexes (8 each)
	allBuckets   = [][]byte{bMeta, bRecords, bBatches, bRoots, bIDs, bTree, bCheckpoints, bIndex}
)

// Options tune a store. The zero value is valid; see Validate for defaults.
type Options struct {
	// MaxGroup is how many batches one group commit holds at most (default 256).
	MaxGroup int
	// MaxWait is how long the committer waits for more batches once it has one
	// (default 0: it takes what is queued and commits at once; under load the
	// queue fills while the previous fsync runs).
	MaxWait time.Duration
	// Logger receives commit errors (default slog.Default()).
	Logger *slog.Logger
	// RebuildState makes Open replay every record and rewrite the rulebook
	// state kept in bbolt, as it does once for a ledger written before the
	// state was kept: the remedy when a state bucket is damaged. It takes
	// as long as a replay (seconds per million records).
	RebuildState bool
}

// Validate fills defaults and refuses nonsense.
func (o *Options) Validate() error {
	if o.MaxGroup == 0 {
		o.MaxGroup = 256
	}
	if o.MaxGroup < 0 {
		return fmt.Errorf("embedded: options: MaxGroup must be positive, got %d", o.MaxGroup)
	}
	if o.MaxWait < 0 {
		return fmt.Errorf("embedded: options: MaxWait must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Store is an embedded ledger in one directory. It is safe for concurrent use.
type Store struct {
	db      *bolt.DB
	g       ledger.Genesis
	origin  string
	signer  note.Signer
	cs      *suite.Suite          // the space's crypto suite
	rf      *compact.RangeFactory // over cs's tree hash
	vkey    string
	opts    Options
	reqs    chan *request
	stop    chan struct{}
	stopped chan struct{}

	cache *stateCache // decoded state objects as last committed

	mu         sync.RWMutex // guards the fields below
	rng        *compact.Range
	size       uint64
	checkpoint []byte
	closed     bool
}

// Origin is the checkpoint origin of a space's ledger.
func Origin(space string) string { return "tdsc/ledger/" + space }

// Open opens the ledger in dir, creating it from g when dir holds none. A
// ledger created from another genesis is refused with ErrGenesisMismatch.
func Open(ctx context.Context, dir string, g ledger.Genesis, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if g.Space == "" || g.Authority.ID == "" || len(g.Authority.Keys) == 0 {
		return nil, fmt.Errorf("embedded: genesis: space, authority.id and authority.keys are required")
	}
	if err := g.CheckSuite(); err != nil {
		return nil, err
	}
	cs := g.CryptoSuite()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	origin := Origin(g.Space)
	signer, vkey, err := loadOrCreateKey(dir, origin, cs)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	rf := &compact.RangeFactory{Hash: cs.Merkle().HashChildren}
	s := &Store{db: db, g: g, cs: cs, rf: rf, origin: origin, signer: signer, vkey: vkey, opts: opts,
		reqs: make(chan *request, opts.MaxGroup), stop: make(chan struct{}), stopped: make(chan struct{}),
		cache: newStateCache(), rng: rf.NewEmptyRange(0)}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

// loadOrCreateKey loads the checkpoint key pair, making one of suite cs's
// type when dir holds none; a key of the other suite is refused.
func loadOrCreateKey(dir, origin string, cs *suite.Suite) (note.Signer, string, error) {
	kp, vp := filepath.Join(dir, KeyFile), filepath.Join(dir, VerifierKey)
	skey, err := os.ReadFile(kp)
	if errors.Is(err, os.ErrNotExist) {
		sk, vk, err := cs.GenerateNoteKey(origin)
		if err != nil {
			return nil, "", err
		}
		// The verifier key first, then the signing key, each atomically: a
		// crash leaves either no key (a new one is made) or a whole pair.
		if err := atomicfile.Write(vp, []byte(vk+"\n"), 0o644); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(kp, []byte(sk+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		skey = []byte(sk)
	} else if err != nil {
		return nil, "", fmt.Errorf("embedded: read %s: %w", kp, err)
	}
	if st, err := os.Stat(kp); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("embedded: %s has mode %v: must be 0600", kp, st.Mode().Perm())
	}
	if ks, err := suite.NoteKeySuite(string(bytes.TrimSpace(skey))); err != nil || ks != cs {
		return nil, "", fmt.Errorf("%w: %s is not a checkpoint key of the %s suite", ledger.ErrGenesisMismatch, kp, cs)
	}
	signer, err := suite.NewNoteSigner(string(bytes.TrimSpace(skey)))
	if err != nil {
		return nil, "", fmt.Errorf("embedded: %s: %w", kp, err)
	}
	if signer.Name() != origin {
		return nil, "", fmt.Errorf("%w: %s signs for %q, this ledger is %q", ledger.ErrGenesisMismatch, kp, signer.Name(), origin)
	}
	vk, err := os.ReadFile(vp)
	if err != nil {
		return nil, "", fmt.Errorf("embedded: read %s: %w", vp, err)
	}
	return signer, string(bytes.TrimSpace(vk)), nil
}

// init stores or checks the genesis, loads the tree's right edge and checks
// that the state kept in bbolt reflects every record, building it when it
// does not (a ledger written by an earlier version): Open reads no records.
func (s *Store) init(ctx context.Context) error {
	gj, err := json.Marshal(s.g)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if old := meta.Get([]byte("genesis")); old == nil {
			return meta.Put([]byte("genesis"), gj)
		} else if !bytes.Equal(old, gj) {
			return fmt.Errorf("%w: %s was created for space %s with another genesis", ledger.ErrGenesisMismatch, s.db.Path(), s.g.Space)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var at uint64 // the tree size the kept state reflects
	var kept bool
	err = s.db.View(func(tx *bolt.Tx) error {
		at, kept = stateAt(tx)
		var hashes [][]byte
		if size := boltkey.ToUint64(tx.Bucket(bMeta).Get([]byte("size"))); size > 0 {
			tree := tx.Bucket(bTree)
			for _, id := range compact.RangeNodes(0, size, nil) {
				h := tree.Get(boltkey.Node(id))
				if h == nil {
					return fmt.Errorf("embedded: tree node %v of size %d missing", id, size)
				}
				hashes = append(hashes, append([]byte(nil), h...))
			}
			r, err := s.rf.NewRange(0, size, hashes)
			if err != nil {
				return err
			}
			s.rng, s.size = r, size
			_, s.checkpoint = tx.Bucket(bCheckpoints).Cursor().Last()
			s.checkpoint = append([]byte(nil), s.checkpoint...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case s.opts.RebuildState:
		s.opts.Logger.Info("rebuilding the ledger state from its records", "records", s.size)
	case kept && at == s.size:
		return s.indexDIDs()
	case kept && at > s.size:
		return fmt.Errorf("embedded: %s: the state reflects %d records, the ledger holds %d (run tdsc audit verify; reopen with Options.RebuildState to rebuild the state from the records)", s.db.Path(), at, s.size)
	case kept:
		s.opts.Logger.Warn("ledger state is behind its records (appended by an earlier version): rebuilding it", "state", at, "records", s.size)
	case s.size > 0:
		s.opts.Logger.Info("ledger keeps no state yet (written by an earlier version): building it once", "records", s.size)
	}
	if err := s.buildState(ctx, s.size); err != nil {
		return err
	}
	return s.indexDIDs()
}

// replay applies every stored record to mem: records decode on parallel
// workers, the rulebook applies them in ledger order.
func replay(ctx context.Context, tx *bolt.Tx, g ledger.Genesis, mem *rulebook.Mem) error {
	type job struct {
		sb   ledger.StoredBatch
		b    *ledger.Batch
		err  error
		done chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	jobs, queue := make(chan *job, 64), make(chan *job, 64)
	var workers sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				j.b = &ledger.Batch{Space: j.sb.Space, Writer: j.sb.Writer, KeyID: j.sb.KeyID, Root: j.sb.Root,
					Signature: j.sb.Signature, Records: make([]ledger.Record, len(j.sb.Records))}
				for i, raw := range j.sb.Records {
					if err := jsondec.Unmarshal(raw, &j.b.Records[i]); err != nil {
						j.err = fmt.Errorf("embedded: record %d: %w (run tdsc audit verify)", j.sb.FirstIndex+uint64(i), err)
						break
					}
				}
				close(j.done)
			}
		}()
	}
	walked := make(chan error, 1)
	go func() {
		// Byte slices from bbolt stay valid while tx is open, which outlasts replay.
		walked <- walkBatches(tx, 0, func(sb *ledger.StoredBatch) error {
			j := &job{sb: *sb, done: make(chan struct{})}
			for _, ch := range []chan *job{jobs, queue} {
				select {
				case ch <- j:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
		close(jobs)
		close(queue)
	}()
	var err error
	for j := range queue {
		<-j.done
		if err != nil {
			continue // draining after a failure
		}
		if err = j.err; err != nil {
			cancel()
			continue
		}
		ov := rulebook.NewOverlay(mem)
		if err = rulebook.ApplyRecords(ov, g, j.b); err != nil {
			err = fmt.Errorf("embedded: replaying batch %s: %w (run tdsc audit verify)", j.sb.Root, err)
			cancel()
			continue
		}
		mem.Put(ov.Changes()...)
	}
	// The walker and the workers read from tx: wait for them before it closes.
	werr := <-walked
	workers.Wait()
	cancel()
	if err != nil {
		return err
	}
	return werr
}

// Close stops the committer after the queued batches and closes the file.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	select {
	case <-s.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.db.Close()
}

// Genesis is the genesis the ledger was created from.
func (s *Store) Genesis() ledger.Genesis { return s.g }

// VerifierKey is the note verifier key of the ledger's checkpoints.
func (s *Store) VerifierKey() string { return s.vkey }

// Participant returns a participant as currently registered, or ErrNotFound.
func (s *Store) Participant(ctx context.Context, id string) (identity.Participant, error) {
	p, ok := s.cache.p.get(id)
	if !ok {
		err := s.db.View(func(tx *bolt.Tx) (err error) {
			p, err = (&txState{tx: tx, cache: s.cache}).Participant(id)
			return err
		})
		if err != nil {
			return identity.Participant{}, err
		}
	}
	if p == nil {
		return identity.Participant{}, fmt.Errorf("%w: participant %s", ledger.ErrNotFound, id)
	}
	return *p, nil
}

// ParticipantByDID returns the participant registered with did, or
// ErrNotFound (rulebook.ParticipantByDID).
func (s *Store) ParticipantByDID(ctx context.Context, did string) (identity.Participant, error) {
	var p *identity.Participant
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		p, err = rulebook.ParticipantByDID(&txState{tx: tx, cache: s.cache}, did)
		return err
	})
	if err != nil {
		return identity.Participant{}, err
	}
	if p == nil {
		return identity.Participant{}, fmt.Errorf("%w: no participant is registered with DID %s", ledger.ErrNotFound, did)
	}
	return *p, nil
}

// Rules returns the space rules of the last rules.updated (empty rules before any).
func (s *Store) Rules(ctx context.Context) (policy.SpaceRules, error) {
	r, ok := s.cache.getRules()
	if !ok {
		err := s.db.View(func(tx *bolt.Tx) (err error) {
			r, err = (&txState{tx: tx, cache: s.cache}).Rules()
			return err
		})
		if err != nil {
			return policy.SpaceRules{}, err
		}
	}
	if r == nil {
		return policy.SpaceRules{}, nil
	}
	return *r, nil
}

// header is a batch's stored header.
type header struct {
	Space     string `json:"space"`
	Writer    string `json:"writer"`
	KeyID     string `json:"keyId"`
	Root      string `json:"root"`
	Signature string `json:"signature"`
	First     uint64 `json:"first"`
	Count     int    `json:"count"`
	TreeSize  uint64 `json:"treeSize"`
}

// walkBatches calls fn for each batch from the one holding index from on.
func walkBatches(tx *bolt.Tx, from uint64, fn func(*ledger.StoredBatch) error) error {
	recs, tree := tx.Bucket(bRecords), tx.Bucket(bTree)
	c := tx.Bucket(bBatches).Cursor()
	k, v := c.Seek(boltkey.Uint64(from))
	// Batches are keyed by their first index: when from lies inside a batch,
	// the seek lands on the next one (or past the end), so step back to it.
	if k == nil {
		k, v = c.Last()
	} else if boltkey.ToUint64(k) > from {
		if k, v = c.Prev(); k == nil {
			k, v = c.First()
		}
	}
	if k != nil {
		var h header
		if err := jsondec.Unmarshal(v, &h); err == nil && h.First+uint64(h.Count) <= from {
			k, v = c.Next()
		}
	}
	for ; k != nil; k, v = c.Next() {
		var h header
		if err := jsondec.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("embedded: batch header at index %d: %w", boltkey.ToUint64(k), err)
		}
		sb := &ledger.StoredBatch{Space: h.Space, Writer: h.Writer, KeyID: h.KeyID, Root: h.Root, Signature: h.Signature,
			FirstIndex: h.First, TreeSize: h.TreeSize}
		for i := uint64(0); i < uint64(h.Count); i++ {
			sb.Records = append(sb.Records, recs.Get(boltkey.Uint64(h.First+i)))
			sb.Leaves = append(sb.Leaves, tree.Get(boltkey.Node(compact.NewNodeID(0, h.First+i))))
		}
		if err := fn(sb); err != nil {
			return err
		}
	}
	return nil
}

// Size is the number of committed records (the latest checkpoint's tree size).
func (s *Store) Size() uint64 {
	size, _ := s.current()
	return size
}
