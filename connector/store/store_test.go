package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/connector/store/storetest"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), storetest.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsAreVersionedAndRerunnable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v != 9 {
		t.Fatalf("schema version = %d, %v; want 9", v, err)
	}
	s.Close()
	s2 := open(t, path) // reopening applies nothing twice
	if v, _ := s2.SchemaVersion(context.Background()); v != 9 {
		t.Fatalf("after reopen: version %d", v)
	}
}

// TestOldStampsGetNineDigits: stamps written before version 8 (RFC3339Nano,
// trailing zeros dropped) get nine fraction digits at version 9, so a list
// ordered by them is in time order; stamps already nine digits wide and
// times from elsewhere are left as they are.
func TestOldStampsGetNineDigits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	old := map[string]string{ // negotiation -> its stamp as written before version 8
		"n-whole": "2026-01-01T00:00:05Z",
		"n-tenth": "2026-01-01T00:00:05.1Z",
		"n-12":    "2026-01-01T00:00:05.12Z",
		"n-new":   "2026-01-01T00:00:05.130000000Z",
	}
	for id, at := range old {
		n := &Negotiation{ID: id, Role: RoleProvider, PeerPID: "c-" + id, Counterparty: "did:c", State: "REQUESTED"}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNegotiation(n, "did:c", "request") }); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`UPDATE negotiations SET created_at = $1, updated_at = $1 WHERE id = $2`, `UPDATE transitions SET at = $1 WHERE entity_id = $2`} {
			if _, err := s.db.ExecContext(ctx, q, at, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = 9`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path) // migrates to version 9 again
	want := map[string]string{
		"n-whole": "2026-01-01T00:00:05.000000000Z",
		"n-tenth": "2026-01-01T00:00:05.100000000Z",
		"n-12":    "2026-01-01T00:00:05.120000000Z",
		"n-new":   "2026-01-01T00:00:05.130000000Z",
	}
	for id, w := range want {
		var created, updated, at string
		if err := s.db.QueryRowContext(ctx, `SELECT n.created_at, n.updated_at, t.at FROM negotiations n JOIN transitions t ON t.entity_id = n.id WHERE n.id = $1`, id).Scan(&created, &updated, &at); err != nil {
			t.Fatal(err)
		}
		if created != w || updated != w || at != w {
			t.Errorf("%s: created %q, updated %q, transition %q; want %q", id, created, updated, at, w)
		}
	}
	ns, _, err := s.View(ctx).Negotiations("", Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, n := range ns {
		order = append(order, n.ID)
	}
	if d := cmp.Diff([]string{"n-new", "n-12", "n-tenth", "n-whole"}, order); d != "" {
		t.Errorf("newest first (-want +got):\n%s", d)
	}
}

// The ledger writer's per-step queries must use an index: a scan makes every
// step slower as the outbox and batches tables grow.
func TestLedgerWriterQueriesUseIndexes(t *testing.T) {
	if storetest.Postgres() {
		t.Skip("reads SQLite's query plans")
	}
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	for _, tc := range []struct{ query, index string }{
		{`SELECT record_id FROM outbox WHERE batch_root = 'r' ORDER BY seq`, "outbox_batch"},
		{`SELECT root FROM batches WHERE state = 'pending' ORDER BY created_at, root LIMIT 1`, "batches_state"},
		{`SELECT record_id FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 10`, "outbox_state"},
	} {
		rows, err := s.db.Query(`EXPLAIN QUERY PLAN ` + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), "INDEX "+tc.index) {
			t.Errorf("%s: plan %q does not use index %s", tc.query, plan, tc.index)
		}
	}
}

func TestNegotiationTransitionsAreConditional(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	n := &Negotiation{ID: "n1", Role: RoleProvider, PeerPID: "c1", Counterparty: "did:c", State: "REQUESTED"}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNegotiation(n, "did:c", "request") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNegotiation(n, "did:c", "again") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate insert: %v, want ErrConflict", err)
	}
	n.State = "AGREED"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.UpdateNegotiation(n, "REQUESTED", "did:p", "agreed") }); err != nil {
		t.Fatal(err)
	}
	// A second writer that still believes REQUESTED loses and changes nothing.
	n.State = "TERMINATED"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.UpdateNegotiation(n, "REQUESTED", "did:p", "late") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	got, err := s.View(ctx).NegotiationWithHistory("n1")
	if err != nil {
		t.Fatal(err)
	}
	var steps [][3]string
	for _, h := range got.History {
		steps = append(steps, [3]string{h.From, h.To, h.Reason})
	}
	want := [][3]string{{"", "REQUESTED", "request"}, {"REQUESTED", "AGREED", "agreed"}}
	if got.State != "AGREED" || !cmp.Equal(steps, want) {
		t.Fatalf("state %s, history %v; want AGREED, %v", got.State, steps, want)
	}
	if _, err := s.View(ctx).Negotiation("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing negotiation: %v", err)
	}
}

func TestOutboxBatchesSettle(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	err := s.Update(ctx, func(tx *Tx) error {
		for _, id := range []string{"r1", "r2", "r3", "r1"} {
			if _, err := tx.Enqueue(id, []byte(`{"id":"`+id+`"}`)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.View(ctx).Pending(10)
	if len(p) != 3 || p[0].RecordID != "r1" || p[2].RecordID != "r3" {
		t.Fatalf("pending = %+v (a repeated id must be stored once, in order)", p)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Update(ctx, func(tx *Tx) error { return tx.PutBatch("root1", []byte("{}"), []string{"r1", "r2", "r3"}) }))
	if b, _ := s.View(ctx).OpenBatch(); b == nil || b.Root != "root1" {
		t.Fatalf("open batch = %+v", b)
	}
	// Refused as a group: the records come back one by one.
	must(s.Update(ctx, func(tx *Tx) error { _, err := tx.RefuseBatch("root1", "rule x", nil); return err }))
	p, _ = s.View(ctx).Pending(10)
	if len(p) != 1 || !p[0].Solo || p[0].RecordID != "r1" {
		t.Fatalf("after a group refusal pending = %+v, want r1 alone", p)
	}
	must(s.Update(ctx, func(tx *Tx) error { return tx.PutBatch("root2", []byte("{}"), []string{"r1"}) }))
	must(s.Update(ctx, func(tx *Tx) error { return tx.CommitBatch("root2") }))
	if st, _, _ := s.View(ctx).OutboxState("r1"); st != OutboxCommitted {
		t.Fatalf("r1 = %s", st)
	}
	must(s.Update(ctx, func(tx *Tx) error { return tx.PutBatch("root3", []byte("{}"), []string{"r2"}) }))
	must(s.Update(ctx, func(tx *Tx) error {
		refused, err := tx.RefuseBatch("root3", "rule y", []byte(`{"kind":"refused","rule":"y"}`))
		if !cmp.Equal(refused, []string{"r2"}) {
			t.Errorf("refused = %v", refused)
		}
		return err
	}))
	c, _ := s.View(ctx).OutboxCounts()
	if !cmp.Equal(c, map[string]int{OutboxCommitted: 1, OutboxRefused: 1, OutboxPending: 1}) {
		t.Fatalf("counts = %v", c)
	}
	// The refusal's structured cause is kept beside its message, and read back.
	if st, msg, _ := s.View(ctx).OutboxState("r2"); st != OutboxRefused || msg != "rule y" {
		t.Errorf("r2 = %s %q, want refused %q", st, msg, "rule y")
	}
	if cause, err := s.View(ctx).RefusalCause("r2"); err != nil || string(cause) != `{"kind":"refused","rule":"y"}` {
		t.Errorf("r2's cause = %s, %v", cause, err)
	}
	if cause, err := s.View(ctx).RefusalCause("r3"); err != nil || len(cause) != 0 {
		t.Errorf("r3 (pending) has cause %s, %v", cause, err)
	}
}

// TestGroupedUpdatesAreIsolated runs many updates at once (they share SQLite
// transactions) where every third fails after writing: only the failed ones'
// changes are rolled back.
func TestGroupedUpdatesAreIsolated(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 90)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx *Tx) error {
				if _, err := tx.Enqueue(fmt.Sprintf("r%02d", i), []byte("{}")); err != nil {
					return err
				}
				if i%3 == 0 {
					return errBoom
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i%3 == 0) != errors.Is(err, errBoom) || i%3 != 0 && err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	c, _ := s.View(ctx).OutboxCounts()
	if c[OutboxPending] != 60 {
		t.Fatalf("pending = %d, want the 60 updates that succeeded", c[OutboxPending])
	}
	for i := 0; i < 90; i += 3 {
		if _, _, err := s.View(ctx).OutboxState(fmt.Sprintf("r%02d", i)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("record of failed update %d: %v", i, err)
		}
	}
	s.Close()
	if err := s.Update(ctx, func(tx *Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("update after close: %v", err)
	}
}

func TestDoneTasksRemovesExactlyTheGivenSteps(t *testing.T) {
	for _, n := range []int{0, 1, 3, 64, 70} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			s := open(t, filepath.Join(t.TempDir(), "c.db"))
			var done []Task
			err := s.Update(ctx, func(tx *Tx) error {
				for i := range n + 2 {
					k := Task{Kind: "send", Ref: fmt.Sprintf("neg-%03d", i)}
					if err := tx.AddTask(k.Kind, k.Ref); err != nil {
						return err
					}
					if i < n {
						done = append(done, k)
					}
				}
				return tx.AddTask("decide", "neg-000") // same ref, other kind: stays
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Update(ctx, func(tx *Tx) error { return tx.DoneTasks(done) }); err != nil {
				t.Fatal(err)
			}
			left, err := s.View(ctx).Tasks()
			if err != nil {
				t.Fatal(err)
			}
			got := map[Task]bool{}
			for _, k := range left {
				got[Task{Kind: k.Kind, Ref: k.Ref}] = true
			}
			want := map[Task]bool{{Kind: "decide", Ref: "neg-000"}: true,
				{Kind: "send", Ref: fmt.Sprintf("neg-%03d", n)}: true, {Kind: "send", Ref: fmt.Sprintf("neg-%03d", n+1)}: true}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("steps left (-want +got):\n%s", diff)
			}
		})
	}
}

// Datasets and offers are cached once read through a view; the cache must
// hand out copies and never remember a row an update rolled back.
func TestFixedRowCache(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	errNo := errors.New("roll back")
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutDataset(&Dataset{ID: "ds-gone", Title: "t", Classification: "general", Category: "c"}); err != nil {
			return err
		}
		if _, err := tx.Dataset("ds-gone"); err != nil {
			return err
		}
		return errNo
	})
	if !errors.Is(err, errNo) {
		t.Fatalf("update: %v", err)
	}
	if _, err := s.View(ctx).Dataset("ds-gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back dataset: err = %v, want ErrNotFound", err)
	}
	err = s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutDataset(&Dataset{ID: "ds-1", Title: "t", Classification: "general", Category: "c", Rights: []string{"read"}}); err != nil {
			return err
		}
		return tx.PutOffer(&Offer{ID: "of-1", DatasetID: "ds-1", Policy: []byte(`{"a":1}`), PolicyHash: "h"})
	})
	if err != nil {
		t.Fatal(err)
	}
	d1, err := s.View(ctx).Dataset("ds-1")
	if err != nil {
		t.Fatal(err)
	}
	o1, err := s.View(ctx).Offer("of-1")
	if err != nil {
		t.Fatal(err)
	}
	d1.Rights[0], d1.Title = "changed", "changed"
	o1.Policy[2] = 'X'
	d2, err := s.View(ctx).Dataset("ds-1")
	if err != nil {
		t.Fatal(err)
	}
	o2, err := s.View(ctx).Offer("of-1")
	if err != nil {
		t.Fatal(err)
	}
	if d2.Title != "t" || d2.Rights[0] != "read" || string(o2.Policy) != `{"a":1}` {
		t.Errorf("cached rows changed by a caller: dataset %+v, offer policy %s", d2, o2.Policy)
	}
}

// A view's negotiation (from the write-through cache) must equal the row in
// the database after every kind of update: insert, update, peer set, an
// update that wrote and then failed, grouped updates, and the final state.
func TestNegotiationCacheMatchesDatabase(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	fromDB := func(id string) *Negotiation {
		t.Helper()
		n, err := scanNeg(s.rdb.QueryRowContext(ctx, `SELECT `+negCols+` FROM negotiations WHERE id = $1`, id))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(step string, ids ...string) {
		t.Helper()
		for _, id := range ids {
			got, err := s.View(ctx).Negotiation(id)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if diff := cmp.Diff(fromDB(id), got); diff != "" {
				t.Errorf("%s: view of %s differs from the database (-db +view):\n%s", step, id, diff)
			}
		}
	}
	errNo := errors.New("no")
	a := &Negotiation{ID: "a", Role: RoleConsumer, Counterparty: "did:p", PeerURL: "http://p", DatasetID: "ds", OfferID: "of",
		Offer: []byte(`{"x":1}`), State: "REQUESTED", Purpose: "research"}
	b := &Negotiation{ID: "b", Role: RoleProvider, Counterparty: "did:c", State: "REQUESTED"}
	steps := []struct {
		name string
		fns  []func(tx *Tx) error
	}{
		{"insert", []func(tx *Tx) error{func(tx *Tx) error { return tx.PutNegotiation(a, "op", "r") }}},
		{"peer set", []func(tx *Tx) error{func(tx *Tx) error { return tx.SetNegotiationPeer("a", "prov-1") }}},
		{"peer kept", []func(tx *Tx) error{func(tx *Tx) error { return tx.SetNegotiationPeer("a", "prov-2") }}},
		{"update then fail", []func(tx *Tx) error{func(tx *Tx) error {
			n := *a
			n.State, n.Reason = "AGREED", "should not stick"
			if err := tx.UpdateNegotiation(&n, "REQUESTED", "p", "r"); err != nil {
				return err
			}
			return errNo
		}}},
		{"insert b", []func(tx *Tx) error{func(tx *Tx) error { return tx.PutNegotiation(b, "c", "r") }}},
		{"grouped", []func(tx *Tx) error{
			func(tx *Tx) error { return tx.SetNegotiationPeer("b", "cons-1") },
			func(tx *Tx) error {
				n, err := tx.Negotiation("a")
				if err != nil {
					return err
				}
				n.State, n.AgreementID, n.Offer = "AGREED", "ag-1", []byte(`{"x":2}`)
				return tx.UpdateNegotiation(n, "REQUESTED", "p", "r")
			},
			func(tx *Tx) error {
				n, err := tx.Negotiation("b")
				if err != nil {
					return err
				}
				n.State = "AGREED"
				if err := tx.UpdateNegotiation(n, "REQUESTED", "p", "r"); err != nil {
					return err
				}
				return errNo
			},
		}},
		{"final", []func(tx *Tx) error{func(tx *Tx) error {
			n, err := tx.Negotiation("a")
			if err != nil {
				return err
			}
			n.State = "FINALIZED"
			return tx.UpdateNegotiation(n, "AGREED", "p", "r")
		}}},
	}
	for _, st := range steps {
		var wg sync.WaitGroup
		for _, fn := range st.fns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Update(ctx, fn); err != nil && !errors.Is(err, errNo) {
					t.Errorf("%s: %v", st.name, err)
				}
			}()
		}
		wg.Wait()
		ids := []string{"a"}
		if st.name != "insert" && st.name != "peer set" && st.name != "peer kept" && st.name != "update then fail" {
			ids = append(ids, "b")
		}
		check(st.name, ids...)
	}
	if n := fromDB("a"); n.PeerPID != "prov-1" || n.State != "FINALIZED" || n.AgreementID != "ag-1" {
		t.Errorf("final row %+v", n)
	}
}

// The agreement cache must equal the row after an insert, an upsert that
// tries to change columns an update leaves alone, grouped upserts, and an
// upsert rolled back.
func TestAgreementCacheMatchesDatabase(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	errNo := errors.New("no")
	ag := Agreement{ID: "ag", NegotiationID: "n1", Role: RoleProvider, Provider: "did:p", Consumer: "did:c", DatasetID: "ds",
		Policy: []byte(`{"p":1}`), PolicyHash: "h1", Terms: []byte(`{"t":1}`), State: AgreementPending, Purpose: "research"}
	upsert := func(change func(a *Agreement), fail bool) func(tx *Tx) error {
		return func(tx *Tx) error {
			a := ag
			change(&a)
			if err := tx.PutAgreement(&a); err != nil {
				return err
			}
			if fail {
				return errNo
			}
			return nil
		}
	}
	for _, step := range []struct {
		name string
		fns  []func(tx *Tx) error
	}{
		{"insert", []func(tx *Tx) error{upsert(func(a *Agreement) {}, false)}},
		{"upsert", []func(tx *Tx) error{upsert(func(a *Agreement) {
			a.NegotiationID, a.Purpose, a.State, a.Uses, a.Terms, a.Reason = "other", "marketing", AgreementActive, 2, []byte(`{"t":2}`), "r2"
		}, false)}},
		{"grouped", []func(tx *Tx) error{
			upsert(func(a *Agreement) { a.ID, a.Uses = "ag2", 5 }, false),
			upsert(func(a *Agreement) { a.State, a.RecordID = AgreementActive, "rec-1" }, false),
		}},
		{"upsert rolled back", []func(tx *Tx) error{upsert(func(a *Agreement) { a.State = AgreementRevoked }, true)}},
		{"after the rollback", []func(tx *Tx) error{upsert(func(a *Agreement) { a.State, a.Reason = AgreementActive, "again" }, false)}},
	} {
		var wg sync.WaitGroup
		for _, fn := range step.fns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Update(ctx, fn); err != nil && !errors.Is(err, errNo) {
					t.Errorf("%s: %v", step.name, err)
				}
			}()
		}
		wg.Wait()
		for _, id := range []string{"ag", "ag2"} {
			want, err := scanAgr(s.rdb.QueryRowContext(ctx, `SELECT `+agrCols+` FROM agreements WHERE id = $1`, id))
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.View(ctx).Agreement(id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: view of %s differs from the database (-db +view):\n%s", step.name, id, diff)
			}
			// Callers may change what they get without changing the cache.
			got.State, got.Terms = "scribbled", nil
		}
	}
	if got, _ := s.View(ctx).Agreement("ag"); got.NegotiationID != "n1" || got.Purpose != "research" || got.Reason != "again" {
		t.Errorf("final agreement %+v", got)
	}
}

// TestOneNodePerPostgresDatabase: a second store on the same PostgreSQL
// database is refused while the first is open, and opens once it closes.
func TestOneNodePerPostgresDatabase(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("PostgreSQL only (TDSC_TEST_POSTGRES)")
	}
	path := storetest.Path(t, filepath.Join(t.TempDir(), "c.db"))
	s1, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(context.Background(), path); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "in use by another node") {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second store on one database: %v, want ErrConflict", err)
	}
	s1.Close()
	s3, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s3.Close()
}

func TestPostgresPathIsRedacted(t *testing.T) {
	_, err := Open(context.Background(), "postgres://tdsc:s3cret@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("open of an unreachable database: %v (the password must not appear)", err)
	}
}

// TestOutboxPages: the outbox's list comes in pages, oldest first, in one
// state or all; paging reads every record once, also while records are
// added between pages (they come after the cursor); a cursor of another
// list, or not one at all, is refused naming after.
func TestOutboxPages(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	enqueue := func(from, to int) {
		t.Helper()
		err := s.Update(ctx, func(tx *Tx) error {
			for i := from; i < to; i++ {
				if _, err := tx.Enqueue(fmt.Sprintf("r%03d", i), []byte(`{}`)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	enqueue(0, 25)
	// r000..r009 committed, the rest pending.
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("r%03d", i))
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutBatch("root1", []byte("{}"), ids) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.CommitBatch("root1") }); err != nil {
		t.Fatal(err)
	}
	all := func(state string, limit int, between func()) []string {
		t.Helper()
		var got []string
		p := Page{Limit: limit}
		for n := 0; ; n++ {
			page, next, err := s.View(ctx).OutboxPage(state, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit || n > 100 {
				t.Fatalf("page %d: %d rows, limit %d", n, len(page), limit)
			}
			for _, r := range page {
				if state != "" && r.State != state {
					t.Fatalf("%s in a list of %s", r.State, state)
				}
				got = append(got, r.RecordID)
			}
			if next == "" {
				return got
			}
			if between != nil {
				between()
				between = nil
			}
			p.After = next
		}
	}
	name := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("r%03d", i))
		}
		return out
	}
	if got := all(OutboxCommitted, 3, nil); !cmp.Equal(got, name(0, 10)) {
		t.Fatalf("committed in pages of 3: %v", got)
	}
	if got := all("", 7, nil); !cmp.Equal(got, name(0, 25)) {
		t.Fatalf("all in pages of 7: %v", got)
	}
	if got := all(OutboxPending, 4, func() { enqueue(25, 30) }); !cmp.Equal(got, name(10, 30)) {
		t.Fatalf("pending in pages of 4, 5 added after the first: %v", got)
	}
	if got := all(OutboxRefused, 5, nil); len(got) != 0 {
		t.Fatalf("refused: %v", got)
	}
	for _, bad := range []string{"xyz", cursor("2026-12-04T00:00:00Z", "tr-1"), cursor("-1", "r001")} {
		if _, err := ParseOutboxPage("", bad); err == nil || !strings.HasPrefix(err.Error(), "after:") {
			t.Errorf("cursor %q: %v, want refused naming after", bad, err)
		}
		if _, _, err := s.View(ctx).OutboxPage("", Page{After: bad}); err == nil {
			t.Errorf("OutboxPage took cursor %q", bad)
		}
	}
	if _, err := ParseOutboxPage("0", ""); err == nil || !strings.HasPrefix(err.Error(), "limit:") {
		t.Errorf("limit 0: %v", err)
	}
}

// TestReadIsOneSnapshot: a negotiation moved on by an update that commits
// between two reads of one Read is seen as it was by both — the row and its
// history agree — where a view's second read sees the commit (the state
// and history an operation's caller got apart on PostgreSQL). The
// negotiation cache, which holds the new row at once, is not read.
func TestReadIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	n := &Negotiation{ID: "n1", Role: RoleProvider, PeerPID: "c1", Counterparty: "did:c", State: "REQUESTED"}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNegotiation(n, "did:c", "request") }); err != nil {
		t.Fatal(err)
	}
	moveOn := func(to string) {
		t.Helper()
		from := n.State
		n.State = to
		if err := s.Update(ctx, func(tx *Tx) error { return tx.UpdateNegotiation(n, from, "did:p", to) }); err != nil {
			t.Fatal(err)
		}
	}
	var first, second *Negotiation
	err := s.Read(ctx, func(tx *Tx) (err error) {
		if first, err = tx.Negotiation("n1"); err != nil {
			return err
		}
		moveOn("OFFERED") // committed while the snapshot is open
		second, err = tx.NegotiationWithHistory("n1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.State != "REQUESTED" || second.State != "REQUESTED" || len(second.History) != 1 {
		t.Fatalf("in one Read: %s, then %s with %d steps; want REQUESTED twice, 1 step", first.State, second.State, len(second.History))
	}
	// A view's reads each see the latest: what Read is for.
	v := s.View(ctx)
	before, err := v.Negotiation("n1")
	if err != nil {
		t.Fatal(err)
	}
	moveOn("ACCEPTED")
	h, err := v.History("n1")
	if err != nil {
		t.Fatal(err)
	}
	if before.State != "OFFERED" || len(h) != 3 {
		t.Fatalf("view: %s, then %d steps; want OFFERED then 3 (the later commit)", before.State, len(h))
	}
	got, err := func() (g *Negotiation, err error) {
		err = s.Read(ctx, func(tx *Tx) error { g, err = tx.NegotiationWithHistory("n1"); return err })
		return g, err
	}()
	if err != nil || got.State != "ACCEPTED" || got.History[len(got.History)-1].To != "ACCEPTED" {
		t.Fatalf("a later Read: %+v, %v; want ACCEPTED, its last step", got, err)
	}
	if err := s.Read(ctx, func(tx *Tx) error { _, err := tx.Negotiation("nope"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing negotiation in a Read: %v", err)
	}
}

// TestViewNotBehindTheDatabase: between a group's commit and the cache's
// update (widened here to 100 ms), a negotiation or agreement the group
// wrote is read by a view from the database, not the cache — once a Read
// (or a list) has seen the commit, a view must not give the row as it was
// (the DSP TCK's CN:01-03 on PostgreSQL: the negotiation waited for the
// operator by a Read, and the counter-offer read it from the cache, not
// waiting).
func TestViewNotBehindTheDatabase(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	n := &Negotiation{ID: "n1", Role: RoleProvider, PeerPID: "c1", Counterparty: "did:c", State: "REQUESTED"}
	ag := &Agreement{ID: "ag", NegotiationID: "n1", Role: RoleProvider, Provider: "did:p", Consumer: "did:c", DatasetID: "ds",
		Policy: []byte(`{"p":1}`), PolicyHash: "h1", Terms: []byte(`{"t":1}`), State: AgreementPending}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNegotiation(n, "did:c", "request"); err != nil {
			return err
		}
		return tx.PutAgreement(ag)
	}); err != nil {
		t.Fatal(err)
	}
	// Both cached now.
	if s.View(ctx).cachedNegotiation("n1") == nil || s.View(ctx).cachedAgreement("ag") == nil {
		t.Fatal("the rows are not cached after their insert")
	}
	applied := make(chan struct{})
	s.afterCommit = func() { time.Sleep(100 * time.Millisecond) }
	go func() {
		defer close(applied)
		s.Update(ctx, func(tx *Tx) error {
			n.Awaiting = "operator approval"
			if err := tx.UpdateNegotiation(n, "REQUESTED", "did:p", "waits"); err != nil {
				return err
			}
			a := *ag
			a.State = AgreementActive
			return tx.PutAgreement(&a)
		})
	}()
	// Wait for the commit as a Read sees it, then read through a view.
	for {
		var got *Negotiation
		if err := s.Read(ctx, func(tx *Tx) (err error) { got, err = tx.Negotiation("n1"); return err }); err != nil {
			t.Fatal(err)
		}
		if got.Awaiting != "" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	v := s.View(ctx)
	vn, err := v.Negotiation("n1")
	if err != nil {
		t.Fatal(err)
	}
	va, err := v.Agreement("ag")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-applied:
		t.Fatal("the cache was updated before the view read: the window was not tested")
	default:
	}
	if vn.Awaiting != "operator approval" || va.State != AgreementActive {
		t.Fatalf("a view after the commit: negotiation awaiting %q, agreement %s; want the committed row (operator approval, active)", vn.Awaiting, va.State)
	}
	<-applied
	s.afterCommit = nil
	if c := s.View(ctx).cachedNegotiation("n1"); c == nil || c.Awaiting != "operator approval" {
		t.Fatalf("the cache after the update: %+v", c)
	}
}
