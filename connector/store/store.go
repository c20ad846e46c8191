package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver (PostgreSQL)
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, pure Go
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound: no row with that id. Callers answer 404 or tell the operator
// which id was not found.
var ErrNotFound = errors.New("store: not found")

// ErrConflict: a row with that id exists already (or a concurrent change won).
var ErrConflict = errors.New("store: conflict")

// Store is the connector's database.
type Store struct {
	db  *sql.DB // the one writer connection
	rdb *sql.DB // readers: WAL lets them run beside the writer
	pg  bool    // PostgreSQL rather than SQLite
	// lock is the SQLite file's node lock (lockFile), released by Close.
	lock *os.File
	now  func() time.Time

	// Prepared statements, by query text: SQLite's parser costs as much as
	// running a small statement. Writer statements are prepared on db while no
	// transaction holds its one connection (at the start of Update), then
	// reused inside transactions on that same connection.
	mu       sync.Mutex
	wstmt    map[string]*sql.Stmt
	rstmt    map[string]*sql.Stmt
	toPrep   map[string]bool
	prepared int

	// outboxSeq orders outbox records; it starts past the highest stored.
	outboxSeq atomic.Int64

	// negs caches negotiations as committed updates left them (write-through:
	// only the committer fills it, after the commit, so a view never sees a
	// row older than the last Update that returned). The rows a group
	// writes are marked committing (negBusy, agrBusy) from before its
	// commit until they are applied: meanwhile views read them from the
	// database, so a view never sees a row older than one the database
	// already gave (a Read, a list).
	negMu   sync.RWMutex
	negs    map[string]*Negotiation
	agrs    map[string]*Agreement
	negBusy map[string]bool
	agrBusy map[string]bool
	// afterCommit, if set (by tests), runs between a group's commit and
	// the cache's update.
	afterCommit func()

	// fixed caches insert-only rows (datasets, offers) read through views:
	// a provider reads them on every step of every negotiation.
	fixed  sync.Map
	fixedN atomic.Int64

	reqs    chan *updateReq
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// maxPrepared bounds the statement caches (queries with IN lists vary).
const maxPrepared = 256

// Option configures Open.
type Option func(*Store)

// WithClock sets the clock stamped on rows.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// IsPostgres reports whether path names a PostgreSQL database
// (postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(path string) bool {
	return strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://")
}

// Open opens (creating if needed) the database at path and applies any
// pending migrations: a SQLite file, or a PostgreSQL database when path is a
// postgres:// URL (the same SQL and migrations; the URL's password never
// appears in errors).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: field path: required")
	}
	pg := IsPostgres(path)
	driver, name := "sqlite", path
	wdsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	rdsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	if pg {
		u, err := url.Parse(path)
		if err != nil {
			return nil, errors.New("store: field path: not a valid postgres:// URL")
		}
		driver, name, wdsn, rdsn = "pgx", u.Redacted(), path, path
	}
	var lock *os.File
	if !pg && path != ":memory:" && !strings.HasPrefix(path, "file:") {
		var err error
		if lock, err = lockFile(path); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open(driver, wdsn)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	// One writer connection: SQLite has one writer anyway, and a single
	// connection never sees "database is locked" between our own goroutines.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, lock: lock, pg: pg, now: time.Now, wstmt: map[string]*sql.Stmt{}, rstmt: map[string]*sql.Stmt{}, toPrep: map[string]bool{}, negs: map[string]*Negotiation{}, agrs: map[string]*Agreement{}, negBusy: map[string]bool{}, agrBusy: map[string]bool{},
		reqs: make(chan *updateReq, 4*maxGroup), stop: make(chan struct{}), stopped: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	if pg {
		// One node per database: its steps and outbox assume they are the
		// only writer. The lock lives with the one writer connection.
		var ok bool
		if err := db.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(7406191)`).Scan(&ok); err != nil {
			db.Close()
			lock.Close()
			return nil, fmt.Errorf("store: node lock on %s: %w", name, err)
		}
		if !ok {
			db.Close()
			lock.Close()
			return nil, fmt.Errorf("%w: database %s is in use by another node (one node process per database)", ErrConflict, name)
		}
	}
	var maxSeq int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM outbox`).Scan(&maxSeq); err != nil {
		db.Close()
		lock.Close()
		return nil, fmt.Errorf("store: read outbox sequence: %w", err)
	}
	s.outboxSeq.Store(maxSeq)
	rdb, err := sql.Open(driver, rdsn)
	if err != nil {
		db.Close()
		lock.Close()
		return nil, fmt.Errorf("store: open readers %s: %w", name, err)
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	s.rdb = rdb
	go s.committer()
	return s, nil
}

// Close stops the committer (updates after it fail with ErrClosed) and
// closes the database.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.stopped
	s.mu.Lock()
	for _, st := range s.wstmt {
		st.Close()
	}
	for _, st := range s.rstmt {
		st.Close()
	}
	s.mu.Unlock()
	if s.pg {
		// Free the node lock now: the server ends a closed session a little
		// later, and the next node must not find it held.
		_, _ = s.db.Exec(`SELECT pg_advisory_unlock(7406191)`)
	}
	rerr := s.rdb.Close()
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	if err != nil {
		return err
	}
	return rerr
}

// stamp is the time a row is written, RFC 3339 with all nine fraction
// digits, so that the text order of stamps (lists are ordered by it) is their
// time order; RFC3339Nano drops trailing zeros, and ".1Z" sorts after ".12Z".
func (s *Store) stamp() string { return s.now().UTC().Format(stampLayout) }

const stampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// migrate applies migrations/NNNN_*.sql in order, each in its own transaction,
// recording the version in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	if s.pg {
		// Nodes opening one database at once migrate one after the other (the
		// lock is held by the one writer connection until released).
		if _, err := s.db.ExecContext(ctx, `SELECT pg_advisory_lock(7406190)`); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer s.db.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7406190)`)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: name must start with its version number", base)
		}
		if v <= have {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, stmt := range strings.Split(stripComments(string(body)), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: migration %s: %w", base, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, s.stamp()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// SchemaVersion is the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// Tx is one write transaction (see Update), a read view (see View) or a
// read snapshot (see Read).
type Tx struct {
	q    querier
	tx   *sql.Tx // nil for a view or a snapshot
	read *sql.Tx // a snapshot's read transaction (see Read)
	ctx  context.Context
	s    *Store
	// negWrites are this update's negotiation writes, applied to the
	// negotiation cache once the transaction commits.
	negWrites []negWrite
}

func (t *Tx) stmt(q string) *sql.Stmt {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.tx == nil {
		st, ok := s.rstmt[q]
		if !ok && s.prepared < maxPrepared {
			// Readers are a pool: preparing here cannot wait on ourselves.
			var err error
			if st, err = s.rdb.PrepareContext(t.ctx, q); err != nil {
				return nil
			}
			s.rstmt[q] = st
			s.prepared++
		}
		return st
	}
	st, ok := s.wstmt[q]
	if !ok && s.prepared < maxPrepared {
		s.toPrep[q] = true
	}
	return st
}

// bind returns prepared statement st for this transaction: a writer's
// statement in the update, a reader's in the snapshot, as it is in a view.
func (t *Tx) bind(st *sql.Stmt) *sql.Stmt {
	switch {
	case t.tx != nil:
		return t.tx.StmtContext(t.ctx, st)
	case t.read != nil:
		return t.read.StmtContext(t.ctx, st)
	}
	return st
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	if st := t.stmt(q); st != nil {
		st = t.bind(st)
		return st.ExecContext(t.ctx, args...)
	}
	return t.q.ExecContext(t.ctx, q, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(q); st != nil {
		st = t.bind(st)
		return st.QueryContext(t.ctx, args...)
	}
	return t.q.QueryContext(t.ctx, q, args...)
}

func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	if st := t.stmt(q); st != nil {
		st = t.bind(st)
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.q.QueryRowContext(t.ctx, q, args...)
}

// prepareWriter prepares the writer statements seen since the last call.
// It runs before BeginTx, when this goroutine holds no connection.
func (s *Store) prepareWriter(ctx context.Context) {
	s.mu.Lock()
	if len(s.toPrep) == 0 {
		s.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(s.toPrep))
	for q := range s.toPrep {
		qs = append(qs, q)
	}
	s.toPrep = map[string]bool{}
	s.mu.Unlock()
	for _, q := range qs {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		s.mu.Lock()
		if _, dup := s.wstmt[q]; dup || s.prepared >= maxPrepared {
			st.Close()
		} else {
			s.wstmt[q] = st
			s.prepared++
		}
		s.mu.Unlock()
	}
}

// ErrClosed: the store is closed; the change was not made.
var ErrClosed = errors.New("store: closed")

type updateReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
	tx   *Tx // the Tx fn ran with, once it ran
}

// maxGroup bounds the updates one SQLite transaction carries.
const maxGroup = 64

// Update runs fn in a transaction: its changes are committed together if it
// returns nil, and none of them if it returns an error. Concurrent updates
// are group-committed: one committer runs them one after another inside one
// SQLite transaction, each in its own savepoint (so one update's error rolls
// back only its own changes), and commits once for all. fn must not call
// Update itself.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	req := &updateReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return ErrClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func (s *Store) committer() {
	defer close(s.stopped)
	for {
		var first *updateReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			for {
				select {
				case r := <-s.reqs:
					r.done <- ErrClosed
				default:
					return
				}
			}
		}
		group := []*updateReq{first}
		if len(s.reqs) == 0 {
			// Let updates that are about to be sent join this commit: one
			// commit for several costs far less than one each.
			runtime.Gosched()
		}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

func (s *Store) commitGroup(group []*updateReq) {
	bg := context.Background()
	s.prepareWriter(bg)
	sqlTx, err := s.db.BeginTx(bg, nil)
	if err != nil {
		for _, r := range group {
			r.done <- fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	results := make([]error, len(group))
	ok := 0
	// A lone update needs no savepoint: its error rolls back the transaction.
	solo := len(group) == 1
	gtx := &Tx{q: sqlTx, tx: sqlTx, ctx: bg, s: s}
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		tx := &Tx{q: sqlTx, tx: sqlTx, ctx: context.WithoutCancel(r.ctx), s: s}
		r.tx = tx
		if solo {
			if results[i] = r.fn(tx); results[i] == nil {
				ok++
			}
			continue
		}
		if _, err := gtx.exec("SAVEPOINT u"); err != nil {
			results[i] = fmt.Errorf("store: savepoint: %w", err)
			continue
		}
		err := r.fn(tx)
		if err != nil {
			results[i] = err
			if _, rerr := gtx.exec("ROLLBACK TO u"); rerr != nil {
				// The transaction cannot be trusted: give up the whole group.
				sqlTx.Rollback()
				s.applyNegWrites(group, nil, true)
				for j, r := range group {
					if j == i {
						r.done <- err
					} else {
						r.done <- fmt.Errorf("store: rollback of a grouped update failed: %w", rerr)
					}
				}
				return
			}
		} else {
			ok++
		}
		if _, err := gtx.exec("RELEASE u"); err != nil && results[i] == nil {
			results[i] = fmt.Errorf("store: release savepoint: %w", err)
		}
	}
	var cerr error
	if ok == 0 {
		sqlTx.Rollback()
	} else {
		s.markCommitting(group, results)
		if err := sqlTx.Commit(); err != nil {
			cerr = fmt.Errorf("store: commit: %w", err)
		}
		if s.afterCommit != nil {
			s.afterCommit()
		}
	}
	s.applyNegWrites(group, results, cerr != nil)
	for i, r := range group {
		if results[i] == nil && cerr != nil {
			results[i] = cerr
		}
		r.done <- results[i]
	}
}

// View returns a read-only view for queries outside a transaction.
// Reads see every committed Update; each read sees the latest, so two reads
// of one view may see different commits (Read for one snapshot).
func (s *Store) View(ctx context.Context) *Tx { return &Tx{q: s.rdb, ctx: ctx, s: s} }

// Read runs fn on one snapshot of the committed state: every read fn makes
// sees the same commits — a row and its history agree, where a view's two
// reads may straddle a commit. It is a read transaction (REPEATABLE READ on
// PostgreSQL; SQLite's read transaction in WAL mode), and it reads around
// the negotiation cache, which is not of the snapshot.
func (s *Store) Read(ctx context.Context, fn func(tx *Tx) error) error {
	rtx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer rtx.Rollback()
	return fn(&Tx{q: rtx, read: rtx, ctx: ctx, s: s})
}

// oneSnapshot runs fn's reads on one snapshot: an update's or a Read's is
// one already; a view's reads each see the latest commit, so of a view fn
// runs in a Read.
func (t *Tx) oneSnapshot(fn func(tx *Tx) error) error {
	if t.tx != nil || t.read != nil {
		return fn(t)
	}
	return t.s.Read(t.ctx, fn)
}

func notFound(what, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, id)
	}
	return fmt.Errorf("store: read %s %q: %w", what, id, err)
}

func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint") || strings.Contains(err.Error(), "duplicate key"))
}
