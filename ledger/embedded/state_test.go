package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/internal/boltkey"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// stateDiff replays every record of s into a fresh rulebook.Mem and asks the
// state kept in bbolt, read directly and through s's cache, every State
// question about every object the replay holds, every record id, and ids
// that do not exist; it also checks the state buckets hold nothing the
// replay lacks. It returns the differences found, or nil.
func stateDiff(ctx context.Context, s *Store) error {
	mem := rulebook.NewMem(s.g)
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := replay(ctx, tx, s.g, mem); err != nil {
			return err
		}
		size := boltkey.ToUint64(tx.Bucket(bMeta).Get([]byte("size")))
		if at, ok := stateAt(tx); !ok || at != size {
			add("state reflects %d records (kept: %v), the ledger holds %d", at, ok, size)
		}
		contents := mem.Contents()
		for _, st := range []*txState{{tx: tx, size: size}, {tx: tx, size: size, cache: s.cache}} {
			via := "bbolt"
			if st.cache != nil {
				via = "cache"
			}
			same := func(what string, want, got any, err error) {
				if err != nil {
					add("%s (%s): %v", what, via, err)
				} else if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
					add("%s (%s): replay vs stored (-+):\n%s", what, via, d)
				}
			}
			for _, c := range contents {
				switch {
				case c.Participant != nil:
					got, err := st.Participant(c.Participant.ID)
					same("participant "+c.Participant.ID, c.Participant, got, err)
				case c.Dataset != nil:
					got, err := st.Dataset(c.Dataset.ID)
					same("dataset "+c.Dataset.ID, c.Dataset, got, err)
				case c.Agreement != nil:
					got, err := st.Agreement(c.Agreement.ID)
					same("agreement "+c.Agreement.ID, c.Agreement, got, err)
				case c.Transfer != nil:
					got, err := st.Transfer(c.Transfer.ID)
					same("transfer "+c.Transfer.ID, c.Transfer, got, err)
				case c.Objection != nil:
					got, err := st.Objection(c.Objection.ID)
					same("objection "+c.Objection.ID, c.Objection, got, err)
				case c.Key != nil:
					got, err := st.KeyHolder(c.Key.Thumbprint)
					same("key "+c.Key.Thumbprint, c.Key.Participant, got, err)
				case c.Seen != "":
					got, err := st.Seen(c.Seen)
					same("seen "+c.Seen, true, got, err)
				}
			}
			want, _ := mem.Rules()
			got, err := st.Rules()
			same("rules", want, got, err)
			const absent = "no-such-id"
			p, err1 := st.Participant(absent)
			d, err2 := st.Dataset(absent)
			a, err3 := st.Agreement(absent)
			tr, err4 := st.Transfer(absent)
			o, err5 := st.Objection(absent)
			seen, err6 := st.Seen(absent)
			holder, err7 := st.KeyHolder(absent)
			if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil || p != nil || d != nil || a != nil || tr != nil || o != nil || seen || holder != "" {
				add("an absent id is found (%s): %v %v %v %v %v %v %q %v", via, p, d, a, tr, o, seen, holder, err)
			}
		}
		// Nothing stored that the replay lacks.
		for _, b := range stateBuckets {
			_ = tx.Bucket(b).ForEach(func(k, v []byte) error {
				id := string(k)
				var found bool
				switch string(b) {
				case string(bParticipants):
					p, _ := mem.Participant(id)
					found = p != nil
				case string(bDatasets):
					d, _ := mem.Dataset(id)
					found = d != nil
				case string(bAgreements):
					a, _ := mem.Agreement(id)
					found = a != nil
				case string(bTransfers):
					t, _ := mem.Transfer(id)
					found = t != nil
				case string(bObjections):
					o, _ := mem.Objection(id)
					found = o != nil
				case string(bKeys):
					h, _ := mem.KeyHolder(id)
					found = h == string(v)
				}
				if !found {
					add("%s holds %s=%s, the replay does not", b, k, v)
				}
				return nil
			})
		}
		var ids, seen int
		_ = tx.Bucket(bIDs).ForEach(func(k, v []byte) error {
			if boltkey.ToUint64(v) < size {
				ids++
				if ok, _ := mem.Seen(string(k)); !ok {
					add("the ids index holds %s, the replay never saw it", k)
				}
			}
			return nil
		})
		for _, c := range contents {
			if c.Seen != "" {
				seen++
			}
		}
		if ids != seen || uint64(ids) != size {
			add("%d ids indexed, %d seen by the replay, %d records", ids, seen, size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// mixedWorkload is a ledger's worth of batches touching every kind of state:
// participants registered, suspended and re-keyed (a freed key taken by a
// newcomer), rules, datasets, agreements with use limits and duties,
// transfers completed by one party or both, revocations, objections filed
// and resolved. streams are batches of independent transfers, to append
// concurrently (so that they share group commits), and refused are batches
// the rules refuse.
type mixedWorkload struct {
	setup, tail [][]*ledger.Batch // each inner slice is appended in order
	streams     [][]*ledger.Batch
	refused     []*ledger.Batch
}

func newMixedWorkload(t *testing.T, sp *ledgertest.Space) *mixedWorkload {
	t.Helper()
	w := &mixedWorkload{}
	must := func(r ledger.Record, err error) ledger.Record {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	batch := func(writer string, recs ...ledger.Record) *ledger.Batch {
		t.Helper()
		b, err := sp.Batch(writer, recs...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	auth := sp.Authority()
	regions := []string{"CN-BJ", "CN-SH", "CN-GD", "SG"}
	var regs []ledger.Record
	for i := range 6 {
		regs = append(regs, must(sp.Participant(fmt.Sprintf("p%d", i), regions[i%len(regions)])))
	}
	w.setup = append(w.setup, []*ledger.Batch{
		batch(auth, regs...),
		batch(auth, sp.Rules(policy.SpaceRules{})),
	})
	var sets []*ledger.Batch
	for i := range 6 {
		owner := fmt.Sprintf("p%d", i)
		sets = append(sets, batch(owner, sp.Dataset(owner, "ds-"+owner, policy.General, "traffic"), sp.Dataset(owner, "ds-"+owner+"-b", policy.General, "energy")))
	}
	w.setup = append(w.setup, sets)
	// Agreements: p0->p1 limited to 3 uses with a duty, the others unlimited.
	terms := &ledger.Terms{MaxUses: 3, Duties: []ledger.Duty{{ID: "del-1", Action: "delete"}, {ID: "log-1", Action: "log"}}}
	ags := []*ledger.Batch{batch("p0", must(sp.Agreement("p0", "p1", "ds-p0", "ag-limited", terms)))}
	for i := range 4 {
		prov, cons := fmt.Sprintf("p%d", i), fmt.Sprintf("p%d", i+1)
		ags = append(ags, batch(prov, must(sp.Agreement(prov, cons, "ds-"+prov+"-b", "ag-"+prov, nil)), must(sp.Agreement(prov, cons, "ds-"+prov, "ag-"+prov+"-rev", nil))))
	}
	w.setup = append(w.setup, ags)

	// Streams: each provider authorises transfers; provider and consumer
	// complete some.
	for i := range 4 {
		prov, cons := fmt.Sprintf("p%d", i), fmt.Sprintf("p%d", i+1)
		var stream []*ledger.Batch
		for j := range 6 {
			var recs []ledger.Record
			for k := range 5 {
				recs = append(recs, sp.Transfer(prov, cons, "ag-"+prov, "ds-"+prov+"-b", fmt.Sprintf("t-%s-%d-%d", prov, j, k)))
			}
			stream = append(stream, batch(prov, recs...))
			if j%2 == 0 {
				stream = append(stream, batch(cons, sp.Completed(cons, fmt.Sprintf("t-%s-%d-0", prov, j), 100), sp.Completed(cons, fmt.Sprintf("t-%s-%d-1", prov, j), 200)))
			}
			if j%3 == 0 {
				stream = append(stream, batch(prov, sp.Completed(prov, fmt.Sprintf("t-%s-%d-0", prov, j), 100)))
			}
		}
		w.streams = append(w.streams, stream)
	}

	// Tail: revocations, duties, use limits, objections, suspension and a
	// key rotation whose freed key a newcomer registers.
	rotated, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	oldKey := sp.Keys["p5"]
	rot := sp.Record(ledger.KindParticipantUpdated, auth)
	rot.Participant = &identity.Participant{ID: "p5", Name: "p5", Keys: []identity.JWK{rotated.JWK()}, Region: sp.Regions["p5"], Status: identity.StatusActive}
	reuse := sp.Record(ledger.KindParticipantRegistered, auth)
	reuse.Participant = &identity.Participant{ID: "p6", Name: "p6", Keys: []identity.JWK{oldKey.JWK()}, Region: "CN-SH", Status: identity.StatusActive}
	w.tail = append(w.tail, []*ledger.Batch{
		batch("p0", sp.Transfer("p0", "p1", "ag-limited", "ds-p0", "t-lim-1"), sp.Transfer("p0", "p1", "ag-limited", "ds-p0", "t-lim-2")),
		batch("p0", sp.Transfer("p0", "p1", "ag-limited", "ds-p0", "t-lim-3")),
		batch("p1", sp.DutyFulfilled("p1", "ag-limited", "del-1")),
		batch("p1", sp.Revoked("p1", "ag-p0-rev")),
		batch("p2", sp.ObjectionFiled("p2", "ds-p0", "obj-1")),
		batch("p3", sp.ObjectionFiled("p3", "ds-p1", "obj-2")),
		batch(auth, sp.ObjectionResolved(auth, "obj-1"), sp.Suspend("p4")),
		batch(auth, rot, reuse),
	})
	// Refused: a fourth use of a three-use agreement (with a record of its
	// own that would be fine), a second revocation, a duplicate record id.
	w.refused = append(w.refused,
		batch("p0", sp.Completed("p0", "t-lim-1", 5), sp.Transfer("p0", "p1", "ag-limited", "ds-p0", "t-lim-4")),
		batch("p1", sp.Revoked("p1", "ag-p0-rev")))
	dup := w.setup[0][0].Records[0]
	w.refused = append(w.refused, batch(auth, dup))
	return w
}

// crashCopy copies the ledger directory of an open store as a crash would
// leave it: the bbolt file as written so far (its last transaction
// committed, nothing closed).
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{DBFile, KeyFile, VerifierKey} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openDir(t *testing.T, dir string, g ledger.Genesis) *Store {
	t.Helper()
	return openDirOptions(t, dir, g, Options{})
}

func openDirOptions(t *testing.T, dir string, g ledger.Genesis, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, g, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// TestStateMatchesReplay checks that the state kept in bbolt answers every
// State question as a full replay of the records does: on the live store,
// after a reopen, after simulated crashes between batches, and after the
// migration of a ledger that kept no state (or whose state fell behind).
func TestStateMatchesReplay(t *testing.T) {
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	w := newMixedWorkload(t, sp)
	dir := t.TempDir()
	s := openDir(t, dir, sp.Genesis)
	var crashes []string
	appendAll := func(bs []*ledger.Batch) {
		t.Helper()
		for _, b := range bs {
			if _, err := s.Append(ctx, b); err != nil {
				t.Fatalf("append %s: %v", b.Records[0].Kind, err)
			}
		}
	}
	for _, phase := range w.setup {
		appendAll(phase)
	}
	crashes = append(crashes, crashCopy(t, dir))
	var wg sync.WaitGroup
	errs := make(chan error, len(w.streams))
	for _, stream := range w.streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range stream {
				if _, err := s.Append(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	crashes = append(crashes, crashCopy(t, dir))
	for _, phase := range w.tail {
		appendAll(phase)
	}
	for _, b := range w.refused {
		if _, err := s.Append(ctx, b); !errors.Is(err, ledger.ErrRefused) {
			t.Fatalf("batch of %s: got %v, want refused", b.Records[0].Kind, err)
		}
	}
	// Spot checks that the workload reached the states it means to.
	if ag, _ := s.cache.a.get("ag-limited"); ag == nil || ag.Uses != 3 || !ag.Duties["del-1"] || ag.Duties["log-1"] {
		t.Fatalf("ag-limited in the cache: %+v, want 3 uses, del-1 fulfilled", ag)
	}
	if err := stateDiff(ctx, s); err != nil {
		t.Fatalf("live store:\n%v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stateDiff(ctx, openDir(t, dir, sp.Genesis)); err != nil {
		t.Fatalf("after reopen:\n%v", err)
	}
	for i, c := range crashes {
		if err := stateDiff(ctx, openDir(t, c, sp.Genesis)); err != nil {
			t.Fatalf("after crash %d:\n%v", i, err)
		}
	}

	// A ledger written before the state was kept in bbolt; one appended to
	// by such a version after its state was built.
	for _, tc := range []struct {
		name  string
		strip func(tx *bolt.Tx) error
	}{
		{"no state", func(tx *bolt.Tx) error {
			for _, b := range stateBuckets {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bMeta).Delete(kRules); err != nil {
				return err
			}
			return tx.Bucket(bMeta).Delete(kState)
		}},
		{"state behind", func(tx *bolt.Tx) error {
			return tx.Bucket(bMeta).Put(kState, boltkey.Uint64(boltkey.ToUint64(tx.Bucket(bMeta).Get(kState))-7))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := crashCopy(t, dir)
			db, err := bolt.Open(filepath.Join(old, DBFile), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tc.strip); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s := openDir(t, old, sp.Genesis)
			if err := stateDiff(ctx, s); err != nil {
				t.Fatalf("after migration:\n%v", err)
			}
			// The migrated store goes on appending by the rules.
			b, err := sp.Batch("p1", sp.DutyFulfilled("p1", "ag-limited", "log-1"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, w.refused[0]); !errors.Is(err, ledger.ErrRefused) {
				t.Fatalf("fourth use after migration: got %v, want refused", err)
			}
			if err := stateDiff(ctx, s); err != nil {
				t.Fatalf("after appending to the migrated store:\n%v", err)
			}
		})
	}
}

// TestStateDamaged refuses to open a ledger whose state claims more records
// than it holds, reports a damaged state object, and repairs both with
// Options.RebuildState.
func TestStateDamaged(t *testing.T) {
	ctx := context.Background()
	damage := func(t *testing.T, fn func(tx *bolt.Tx) error) (string, *ledgertest.Space) {
		t.Helper()
		dir, sp := buildLedgerSpace(t)
		db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
		return dir, sp
	}
	rebuilt := func(t *testing.T, dir string, g ledger.Genesis) *Store {
		t.Helper()
		s := openDirOptions(t, dir, g, Options{RebuildState: true})
		if err := stateDiff(ctx, s); err != nil {
			t.Fatalf("after RebuildState:\n%v", err)
		}
		return s
	}

	t.Run("ahead", func(t *testing.T) {
		dir, sp := damage(t, func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kState, boltkey.Uint64(100)) })
		g := sp.Genesis
		if s, err := Open(ctx, dir, g, Options{}); err == nil {
			s.Close(ctx)
			t.Fatal("opened a ledger whose state is ahead of its records")
		} else if !strings.Contains(err.Error(), "state reflects 100 records") {
			t.Fatalf("got %v, want the state-ahead error", err)
		}
		rebuilt(t, dir, g)
	})
	t.Run("damaged transfer", func(t *testing.T) {
		// buildLedger's t-2 is authorised, not completed.
		dir, sp := damage(t, func(tx *bolt.Tx) error { return tx.Bucket(bTransfers).Put([]byte("t-2"), []byte("garbage")) })
		g := sp.Genesis
		s, err := Open(ctx, dir, g, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := sp.Batch("p2", sp.Completed("p2", "t-2", 1))
		if err == nil {
			_, err = s.Append(ctx, b)
		}
		s.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "state.transfers/t-2") {
			t.Fatalf("append over a damaged transfer: got %v, want an error naming it", err)
		}
		if _, err := rebuilt(t, dir, g).Append(ctx, b); err != nil {
			t.Fatalf("append after RebuildState: %v", err)
		}
	})
}

// TestDIDIndexBuiltOnOpen: state kept by a version from before DIDs were
// indexed (participant.did-unique: no DID entries, no marker) gets its
// participants' DIDs indexed once by Open, so ParticipantByDID answers for
// them and the rule holds them; a DID two such participants share stays
// with the first in id order.
func TestDIDIndexBuiltOnOpen(t *testing.T) {
	const alice, bob = "did:web:alice.example.com", "did:web:bob.example.com"
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openDir(t, dir, sp.Genesis)
	p7, _ := sp.Participant("p7", "CN-BJ")
	p7.Participant.DID = alice
	p8, _ := sp.Participant("p8", "CN-SH")
	p8.Participant.DID = bob
	b, err := sp.Batch(sp.Authority(), p7, p8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)

	// What an older version kept: no DID entries, no marker; and p9, there
	// with alice's DID as well.
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		keys := tx.Bucket(bKeys)
		if string(keys.Get([]byte(alice))) != "p7" {
			return fmt.Errorf("a new store did not index %s", alice)
		}
		for _, did := range []string{alice, bob} {
			if err := keys.Delete([]byte(did)); err != nil {
				return err
			}
		}
		raw := tx.Bucket(bParticipants).Get([]byte("p8"))
		p9 := strings.Replace(strings.Replace(string(raw), `"p8"`, `"p9"`, 1), bob, alice, 1)
		if err := tx.Bucket(bParticipants).Put([]byte("p9"), []byte(p9)); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(kDIDIndex)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = openDir(t, dir, sp.Genesis)
	for did, want := range map[string]string{alice: "p7", bob: "p8"} {
		if p, err := s.ParticipantByDID(ctx, did); err != nil || p.ID != want {
			t.Fatalf("%s after Open: %s, %v; want %s", did, p.ID, err, want)
		}
	}
	p6, _ := sp.Participant("p6", "CN-GD")
	p6.Participant.DID = bob
	b6, err := sp.Batch(sp.Authority(), p6)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, b6)
	var re *ledger.RuleError
	if !errors.As(err, &re) || re.Rule != rulebook.RuleDIDUnique || !strings.Contains(re.Reason, "p8") {
		t.Fatalf("p6 with p8's DID after Open: %v, want refused by %s naming p8", err, rulebook.RuleDIDUnique)
	}
}
