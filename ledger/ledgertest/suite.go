package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// Backend is what the suite needs of a ledger backend.
type Backend interface {
	Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error)
	Record(ctx context.Context, id string) (ledger.Proven, error)
	Query(ctx context.Context, q ledger.Query) (ledger.Page, error)
	Checkpoint(ctx context.Context) ([]byte, error)
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
	Participant(ctx context.Context, id string) (identity.Participant, error)
	ParticipantByDID(ctx context.Context, did string) (identity.Participant, error)
	CheckpointPage(ctx context.Context, q ledger.CheckpointQuery) (ledger.CheckpointPage, error)
}

// Factory makes a fresh, empty backend created from g, and returns it with the
// note verifier key of its checkpoints.
type Factory func(t *testing.T, g ledger.Genesis) (Backend, string)

// Run runs the conformance suite against backends made by factory, in each
// crypto suite (Suites): the factory gets a genesis of that suite.
func Run(t *testing.T, factory Factory) {
	for _, cs := range Suites {
		t.Run(cs.Name(), func(t *testing.T) { run(t, cs, factory) })
	}
}

func run(t *testing.T, cs *suite.Suite, factory Factory) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"AppendAndReceipt", testAppend},
		{"Idempotent", testIdempotent},
		{"AllOrNothing", testAllOrNothing},
		{"RefusesBadBatches", testBadBatches},
		{"InclusionProofs", testInclusion},
		{"ConsistencyProofs", testConsistency},
		{"CheckpointPages", testCheckpointPages},
		{"Queries", testQueries},
		{"Participants", testParticipants},
		{"DirectoryChanges", testDirectoryChanges},
		{"ConcurrentAppends", testConcurrent},
		{"ComputeRuns", testCompute},
		{"ComputeOnly", testComputeOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSuiteSpace(cs)
			if err != nil {
				t.Fatal(err)
			}
			b, vkey := factory(t, s.Genesis)
			v, err := suite.NewNoteVerifier(vkey)
			if err != nil {
				t.Fatalf("verifier key %q: %v", vkey, err)
			}
			if got := suite.OfNoteVerifier(v); got != cs {
				t.Fatalf("a %s space's ledger signs checkpoints with a %s key", cs, got)
			}
			tc.fn(t, &fixture{s: s, b: b, v: v, ctx: context.Background()})
		})
	}
}

type fixture struct {
	s   *Space
	b   Backend
	v   note.Verifier
	ctx context.Context
	// receipts of the setup batches
	setup []ledger.Receipt
}

func (f *fixture) append(t *testing.T, writer string, recs ...ledger.Record) ledger.Receipt {
	t.Helper()
	b, err := f.s.Batch(writer, recs...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.b.Append(f.ctx, b)
	if err != nil {
		t.Fatalf("append by %s: %v", writer, err)
	}
	return r
}

// must unwraps a fixture record; the builders fail only if key generation does.
func must(r ledger.Record, err error) ledger.Record {
	if err != nil {
		panic(err)
	}
	return r
}

// populate writes a small realistic space: three participants, rules, two
// datasets, an agreement and three transfers, one completed.
func (f *fixture) populate(t *testing.T) {
	t.Helper()
	s := f.s
	f.setup = append(f.setup, f.append(t, s.Authority(),
		must(s.Participant("p1", "CN-BJ")), must(s.Participant("p2", "CN-SH")), must(s.Participant("p3", "SG")),
		s.Rules(policy.SpaceRules{NegativeList: []policy.NegativeEntry{{Category: "genetic"}}})))
	f.setup = append(f.setup, f.append(t, "p1",
		s.Dataset("p1", "ds-1", policy.General, "traffic"), s.Dataset("p1", "ds-2", policy.Important, "finance"),
		must(s.Agreement("p1", "p2", "ds-1", "ag-1", &ledger.Terms{MaxUses: 10}))))
	f.setup = append(f.setup, f.append(t, "p1",
		s.Transfer("p1", "p2", "ag-1", "ds-1", "t-1"), s.Transfer("p1", "p2", "ag-1", "ds-1", "t-2")))
	f.setup = append(f.setup, f.append(t, "p2", s.Completed("p2", "t-1", 4096)))
	f.setup = append(f.setup, f.append(t, "p1", s.Transfer("p1", "p2", "ag-1", "ds-1", "t-3")))
}

func testAppend(t *testing.T, f *fixture) {
	f.populate(t)
	var next uint64
	for i, r := range f.setup {
		if r.FirstIndex != next || r.TreeSize != next+uint64(len(r.RecordIDs)) || len(r.RecordIDs) == 0 {
			t.Fatalf("receipt %d = %+v, want records from index %d", i, r, next)
		}
		next = r.TreeSize
	}
}

func testIdempotent(t *testing.T, f *fixture) {
	s := f.s
	b, err := s.Batch(s.Authority(), must(s.Participant("p1", "CN-BJ")))
	if err != nil {
		t.Fatal(err)
	}
	r1, err := f.b.Append(f.ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.b.Append(f.ctx, b)
	if err != nil {
		t.Fatalf("second append of the same batch: %v", err)
	}
	if diff := cmp.Diff(r1, r2); diff != "" {
		t.Fatalf("receipts differ (-first +second):\n%s", diff)
	}
	page, err := f.b.Query(f.ctx, ledger.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 {
		t.Fatalf("ledger holds %d records after appending one batch twice, want 1", len(page.Records))
	}
}

func testAllOrNothing(t *testing.T, f *fixture) {
	f.populate(t)
	s := f.s
	before, err := f.b.Checkpoint(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := s.Dataset("p1", "ds-new", policy.General, "traffic")
	bad := s.Transfer("p1", "p2", "ag-none", "ds-1", "t-new")
	b, err := s.Batch("p1", good, bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.b.Append(f.ctx, b)
	var re *ledger.RuleError
	if !errors.Is(err, ledger.ErrRefused) || !errors.As(err, &re) || re.Rule != "agreement.exists" || re.RecordID != bad.ID {
		t.Fatalf("got %v, want refusal by rule agreement.exists naming record %s", err, bad.ID)
	}
	// The reason travels apart from the rule, record and field, so every
	// backend (in process, over HTTP, through the chaincode) reads each once.
	if re.Reason != "agreement ag-none was never signed" || re.Field != "agreement" {
		t.Fatalf("reason %q on field %q, want %q on field agreement", re.Reason, re.Field, "agreement ag-none was never signed")
	}
	// A backend may put its own context in front (Fabric names the stage and
	// transaction), never a second copy of the refusal.
	want := "ledger: refused by rule agreement.exists: record " + bad.ID + ": field agreement: agreement ag-none was never signed"
	if msg := err.Error(); !strings.HasSuffix(msg, want) || strings.Count(msg, "refused") != 1 || strings.Count(msg, "ag-none") != 1 {
		t.Fatalf("message %q, want it to end with %q, each fact once", msg, want)
	}
	if _, err := f.b.Record(f.ctx, good.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("record %s of a refused batch: got %v, want ErrNotFound", good.ID, err)
	}
	after, err := f.b.Checkpoint(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatalf("checkpoint moved after a refused batch")
	}
	// The good record alone is accepted afterwards: nothing of the refused batch stuck.
	f.append(t, "p1", good)
}

func testBadBatches(t *testing.T, f *fixture) {
	f.populate(t)
	s := f.s
	mk := func(writer string, recs ...ledger.Record) *ledger.Batch {
		b, err := s.Batch(writer, recs...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stranger, err := identity.Generate(s.Suite, "")
	if err != nil {
		t.Fatal(err)
	}
	other := suite.GM
	if s.Suite == suite.GM {
		other = suite.Intl
	}
	otherKey, err := identity.Generate(other, "")
	if err != nil {
		t.Fatal(err)
	}
	otherHash := other.HashName() + ":" + strings.Repeat("ab", 32)
	tests := []struct {
		name  string
		batch func() *ledger.Batch
		want  error
		rule  string
	}{
		{"bad signature", func() *ledger.Batch {
			b := mk("p1", s.Dataset("p1", "ds-x", policy.General, "traffic"))
			b2 := mk("p1", s.Dataset("p1", "ds-y", policy.General, "traffic"))
			b.Signature = b2.Signature
			return b
		}, ledger.ErrBadSignature, ledger.RuleBatchSignature},
		{"record altered after signing", func() *ledger.Batch {
			b := mk("p1", s.Dataset("p1", "ds-x", policy.General, "traffic"))
			b.Records[0].Category = "other"
			return b
		}, ledger.ErrBadSignature, ledger.RuleBatchRoot},
		{"unknown writer", func() *ledger.Batch {
			r := s.Dataset("p9", "ds-x", policy.General, "traffic")
			b, err := ledger.NewBatch(s.Genesis.Space, "p9", stranger, []ledger.Record{r})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, ledger.ErrUnknownWriter, ledger.RuleWriterRegistered},
		{"writer signs with an unregistered key", func() *ledger.Batch {
			b, err := ledger.NewBatch(s.Genesis.Space, "p1", stranger, []ledger.Record{s.Dataset("p1", "ds-x", policy.General, "traffic")})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, ledger.ErrUnknownWriter, ledger.RuleWriterKey},
		{"record for another party", func() *ledger.Batch {
			return mk("p2", s.Dataset("p1", "ds-x", policy.General, "traffic"))
		}, ledger.ErrRefused, "writer.is-actor"},
		{"negative-listed agreement", func() *ledger.Batch {
			r := s.Dataset("p1", "ds-gen", policy.General, "genetic")
			a := must(s.Agreement("p1", "p2", "ds-gen", "ag-x", nil))
			return mk("p1", r, a)
		}, ledger.ErrRefused, policy.RuleNegativeList},
		{"another space", func() *ledger.Batch {
			b, err := ledger.NewBatch("space-other", "p1", s.Keys["p1"], []ledger.Record{s.Dataset("p1", "ds-x", policy.General, "traffic")})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, ledger.ErrRefused, "writer.space"},
		{"participant key of the other suite", func() *ledger.Batch {
			r, err := s.Participant("p-other", "CN-BJ")
			if err != nil {
				t.Fatal(err)
			}
			r.Participant.Keys = []identity.JWK{otherKey.JWK()}
			return mk(s.Authority(), r)
		}, ledger.ErrRefused, suite.RuleKey},
		{"content hash of the other suite", func() *ledger.Batch {
			r := s.Completed("p2", "tr-none", 10)
			r.ContentHash = otherHash
			return mk("p2", r)
		}, ledger.ErrRefused, suite.RuleHash},
		{"policy hash of the other suite", func() *ledger.Batch {
			r := s.Dataset("p1", "ds-x", policy.General, "traffic")
			a := must(s.Agreement("p1", "p2", "ds-x", "ag-x", nil))
			a.PolicyHash = otherHash
			return mk("p1", r, a)
		}, ledger.ErrRefused, suite.RuleHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.b.Append(f.ctx, tt.batch())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var re *ledger.RuleError
			var fe *ledger.FieldError
			switch {
			case errors.As(err, &re):
				if re.Rule != tt.rule || re.Field == "" {
					t.Fatalf("got %v, want rule %s naming a field", err, tt.rule)
				}
			case errors.As(err, &fe):
				if fe.Rule != tt.rule || fe.Field == "" {
					t.Fatalf("got %v, want rule %s naming a field", err, tt.rule)
				}
			default:
				t.Fatalf("got %v (%T), want a *ledger.RuleError or *ledger.FieldError naming rule %s", err, err, tt.rule)
			}
			if msg := err.Error(); strings.Count(msg, tt.rule) != 1 || strings.Count(msg, "ledger: ") != 1 {
				t.Fatalf("message %q does not name rule %s and its kind once", msg, tt.rule)
			}
		})
	}
}

// OpenCheckpoint verifies a signed checkpoint note with v and parses its body
// (verify.Checkpoint).
func OpenCheckpoint(signed []byte, v note.Verifier) (log.Checkpoint, error) {
	return verify.Checkpoint(signed, v)
}

// VerifyProven checks a record's inclusion proof against its signed
// checkpoint (verify.Proven).
func VerifyProven(p ledger.Proven, v note.Verifier) error {
	_, err := verify.Proven(p, v)
	return err
}

func testInclusion(t *testing.T, f *fixture) {
	f.populate(t)
	for _, rc := range f.setup {
		for i, id := range rc.RecordIDs {
			p, err := f.b.Record(f.ctx, id)
			if err != nil {
				t.Fatalf("record %s: %v", id, err)
			}
			if p.Index != rc.FirstIndex+uint64(i) || p.Record.ID != id || p.BatchRoot != rc.BatchRoot {
				t.Fatalf("record %s: index %d batch %s, want %d %s", id, p.Index, p.BatchRoot, rc.FirstIndex+uint64(i), rc.BatchRoot)
			}
			if err := VerifyProven(p, f.v); err != nil {
				t.Fatalf("record %s: proof does not verify: %v", id, err)
			}
			p.Record.Bytes++
			if VerifyProven(p, f.v) == nil {
				t.Fatalf("record %s: proof verifies for an altered record", id)
			}
		}
	}
	if _, err := f.b.Record(f.ctx, "no-such-record"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown record: got %v, want ErrNotFound", err)
	}
}

func testConsistency(t *testing.T, f *fixture) {
	s := f.s
	var cps []log.Checkpoint
	for i := 0; i < 4; i++ {
		f.append(t, s.Authority(), must(s.Participant(fmt.Sprintf("q%d", i), "CN-BJ")), must(s.Participant(fmt.Sprintf("r%d", i), "CN-SH")), s.Suspend(fmt.Sprintf("q%d", i)))
		signed, err := f.b.Checkpoint(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, err := OpenCheckpoint(signed, f.v)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, c)
	}
	for i := range cps {
		for j := i; j < len(cps); j++ {
			pr, err := f.b.ConsistencyProof(f.ctx, cps[i].Size, cps[j].Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(f.s.Suite.Merkle(), cps[i].Size, cps[j].Size, pr, cps[i].Hash, cps[j].Hash); err != nil {
				t.Fatalf("consistency %d -> %d: %v", cps[i].Size, cps[j].Size, err)
			}
		}
	}
	if _, err := f.b.ConsistencyProof(f.ctx, cps[3].Size, cps[3].Size+100); err == nil {
		t.Fatal("consistency proof to a size beyond the ledger: no error")
	}
}

// testCheckpointPages lists the checkpoints of five sequential appends (one
// checkpoint each) a page at a time: the first page, a middle one, one
// starting between two sizes, the last, past the end, and the limit bounds.
func testCheckpointPages(t *testing.T, f *fixture) {
	s := f.s
	page := func(t *testing.T, from uint64, limit int) ledger.CheckpointPage {
		t.Helper()
		p, err := f.b.CheckpointPage(f.ctx, ledger.CheckpointQuery{From: from, Limit: limit})
		if err != nil {
			t.Fatalf("page from %d limit %d: %v", from, limit, err)
		}
		return p
	}
	sizesOf := func(p ledger.CheckpointPage) []uint64 {
		out := []uint64{}
		for _, c := range p.Checkpoints {
			out = append(out, c.Size)
		}
		return out
	}
	type got struct {
		Sizes []uint64
		Next  uint64
	}
	if p := page(t, 0, 0); len(p.Checkpoints) != 0 || p.Next != 0 {
		t.Fatalf("empty ledger: got %+v, want no checkpoints", got{sizesOf(p), p.Next})
	}
	var sizes []uint64
	for i := 0; i < 5; i++ {
		rc := f.append(t, s.Authority(), must(s.Participant(fmt.Sprintf("c%d", i), "CN-BJ")))
		sizes = append(sizes, rc.TreeSize)
	}

	all := page(t, 0, ledger.MaxCheckpointPageSize)
	if diff := cmp.Diff(got{sizes, 0}, got{sizesOf(all), all.Next}); diff != "" {
		t.Fatalf("all checkpoints, one per append (-want +got):\n%s", diff)
	}
	for _, c := range all.Checkpoints {
		cp, err := OpenCheckpoint(c.Note, f.v)
		if err != nil {
			t.Fatalf("checkpoint at size %d: %v", c.Size, err)
		}
		if cp.Size != c.Size {
			t.Fatalf("checkpoint listed at size %d signs size %d", c.Size, cp.Size)
		}
	}

	for _, tt := range []struct {
		name  string
		from  uint64
		limit int
		want  got
	}{
		{"first page", 0, 2, got{sizes[0:2], sizes[2]}},
		{"middle page", sizes[2], 2, got{sizes[2:4], sizes[4]}},
		{"from between two sizes", sizes[1] + 1, 2, got{sizes[2:4], sizes[4]}},
		{"last page, full", sizes[3], 2, got{sizes[3:5], 0}},
		{"last page, short", sizes[4], 2, got{sizes[4:5], 0}},
		{"one a page", sizes[0], 1, got{sizes[0:1], sizes[1]}},
		{"past the end", sizes[4] + 1, 2, got{[]uint64{}, 0}},
		{"far past the end", 1 << 62, 2, got{[]uint64{}, 0}},
		{"limit 0 is the default page", 0, 0, got{sizes, 0}},
		{"the largest limit", 0, ledger.MaxCheckpointPageSize, got{sizes, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := page(t, tt.from, tt.limit)
			if diff := cmp.Diff(tt.want, got{sizesOf(p), p.Next}); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			for _, c := range p.Checkpoints {
				if i := slices.Index(sizes, c.Size); string(c.Note) != string(all.Checkpoints[i].Note) {
					t.Fatalf("checkpoint at size %d differs from the one listed whole", c.Size)
				}
			}
		})
	}

	t.Run("paging through", func(t *testing.T) {
		var paged []uint64
		q := ledger.CheckpointQuery{Limit: 2}
		for pages := 1; ; pages++ {
			p := page(t, q.From, q.Limit)
			paged = append(paged, sizesOf(p)...)
			if p.Next == 0 {
				if pages != 3 {
					t.Fatalf("%d pages of 2 for 5 checkpoints, want 3", pages)
				}
				break
			}
			if p.Next <= q.From || pages > len(sizes) {
				t.Fatalf("page from %d: next %d does not move forward", q.From, p.Next)
			}
			q.From = p.Next
		}
		if diff := cmp.Diff(sizes, paged); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})

	for _, limit := range []int{-1, ledger.MaxCheckpointPageSize + 1} {
		_, err := f.b.CheckpointPage(f.ctx, ledger.CheckpointQuery{Limit: limit})
		var me *ledger.MalformedError
		if !errors.Is(err, ledger.ErrMalformed) || !errors.As(err, &me) || me.Field != "limit" {
			t.Fatalf("limit %d: got %v, want a *ledger.MalformedError naming field limit", limit, err)
		}
	}
}

func ids(p ledger.Page) []string {
	out := []string{}
	for _, e := range p.Records {
		out = append(out, e.Record.ID)
	}
	return out
}

func testQueries(t *testing.T, f *fixture) {
	f.populate(t)
	all, err := f.b.Query(f.ctx, ledger.Query{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, e := range all.Records {
		want[e.Record.ID] = true
	}
	if n := int(f.setup[len(f.setup)-1].TreeSize); len(all.Records) != n || all.Next != "" {
		t.Fatalf("query all: %d records next %q, want %d on one page", len(all.Records), all.Next, n)
	}
	for _, q := range []ledger.Query{
		{Participant: "p2"}, {Dataset: "ds-1"}, {Agreement: "ag-1"}, {Transfer: "t-1"},
		{Kind: ledger.KindTransferAuthorized}, {Classification: policy.Important}, {Region: "CN"},
		{Region: "CN-SH", Kind: ledger.KindTransferAuthorized}, {Region: "cn-bj"}, {Region: "SG"}, {Participant: "p3"},
		{From: all.Records[3].Record.Time, To: all.Records[6].Record.Time},
	} {
		t.Run(fmt.Sprintf("%+v", q), func(t *testing.T) {
			wantIDs := []string{}
			for _, e := range all.Records {
				if q.Matches(&e.Record) {
					wantIDs = append(wantIDs, e.Record.ID)
				}
			}
			got, err := f.b.Query(f.ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantIDs, ids(got)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			// The same results, two at a time.
			var paged []string
			q.Limit = 2
			for pages := 0; ; pages++ {
				p, err := f.b.Query(f.ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Records) > 2 || pages > len(all.Records) {
					t.Fatalf("page of %d records, limit 2", len(p.Records))
				}
				paged = append(paged, ids(p)...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if paged == nil {
				paged = []string{}
			}
			if diff := cmp.Diff(wantIDs, paged); diff != "" {
				t.Fatalf("paginated (-want +got):\n%s", diff)
			}
		})
	}
	if p2 := wantParticipant(all, "p2"); p2 == 0 {
		t.Fatal("fixture has no p2 records")
	}
	if _, err := f.b.Query(f.ctx, ledger.Query{From: "yesterday"}); !errors.Is(err, ledger.ErrMalformed) {
		t.Fatalf("bad from: got %v, want ErrMalformed", err)
	}
	if _, err := f.b.Query(f.ctx, ledger.Query{Cursor: "not-a-cursor"}); !errors.Is(err, ledger.ErrMalformed) {
		t.Fatalf("bad cursor: got %v, want ErrMalformed", err)
	}
}

func wantParticipant(p ledger.Page, id string) int {
	n := 0
	for _, e := range p.Records {
		if e.Record.Actor == id || e.Record.Counterparty == id {
			n++
		}
	}
	return n
}

func testParticipants(t *testing.T, f *fixture) {
	f.populate(t)
	p, err := f.b.Participant(f.ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "p1" || p.Region != "CN-BJ" || len(p.Keys) != 1 || p.Keys[0].Kid != f.s.Keys["p1"].KeyID() {
		t.Fatalf("participant p1 = %+v", p)
	}
	if _, err := f.b.Participant(f.ctx, f.s.Authority()); err != nil {
		t.Fatalf("the authority is registered from genesis: %v", err)
	}
	if _, err := f.b.Participant(f.ctx, "nobody"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown participant: got %v, want ErrNotFound", err)
	}
	// A key belongs to one participant: p9 registered with p1's key is refused.
	rec, err := f.s.Participant("p9", "CN-BJ")
	if err != nil {
		t.Fatal(err)
	}
	rec.Participant.Keys = []identity.JWK{f.s.Keys["p1"].JWK()}
	b, err := f.s.Batch(f.s.Authority(), rec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.b.Append(f.ctx, b)
	var re *ledger.RuleError
	if !errors.Is(err, ledger.ErrRefused) || !errors.As(err, &re) || re.Rule != "participant.key-unique" || re.Field != "participant.keys[0]" {
		t.Fatalf("registering p1's key for p9: %v, want refused by participant.key-unique on participant.keys[0]", err)
	}
	if _, err := f.b.Participant(f.ctx, "p9"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("p9 after the refusal: %v, want ErrNotFound", err)
	}
	// A DID names one participant: a participant registered by its did:web
	// is found by it; a second one claiming that DID is refused.
	const did = "did:web:harbour.example.com"
	rec, err = f.s.Participant(did, "CN-SH")
	if err != nil {
		t.Fatal(err)
	}
	rec.Participant.DID = did
	f.append(t, f.s.Authority(), rec)
	if p, err := f.b.Participant(f.ctx, did); err != nil || p.DID != did {
		t.Fatalf("participant %s = %+v, %v", did, p, err)
	}
	if rec, err = f.s.Participant("p8", "CN-SH"); err != nil {
		t.Fatal(err)
	}
	rec.Participant.DID = did
	if b, err = f.s.Batch(f.s.Authority(), rec); err != nil {
		t.Fatal(err)
	}
	_, err = f.b.Append(f.ctx, b)
	if !errors.Is(err, ledger.ErrRefused) || !errors.As(err, &re) || re.Rule != "participant.did-unique" || re.Field != "participant.did" {
		t.Fatalf("registering %s for p8: %v, want refused by participant.did-unique on participant.did", did, err)
	}
	// By DID: the participant registered by it, and one registered under
	// another id with a did; a DID given up is no one's.
	byDID := func(did, want string) {
		t.Helper()
		p, err := f.b.ParticipantByDID(f.ctx, did)
		if want == "" {
			if !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("participant by DID %s: %+v, %v; want ErrNotFound", did, p, err)
			}
			return
		}
		if err != nil || p.ID != want || p.DID != did {
			t.Fatalf("participant by DID %s: %+v, %v; want %s", did, p, err, want)
		}
	}
	byDID(did, did)
	const did7, did7b = "did:web:p7.example.com", "did:web:p7.example.org"
	if rec, err = f.s.Participant("p7", "CN-BJ"); err != nil {
		t.Fatal(err)
	}
	rec.Participant.DID = did7
	f.append(t, f.s.Authority(), rec)
	byDID(did7, "p7")
	moved := f.s.Suspend("p7")
	moved.Participant.Status, moved.Participant.DID = identity.StatusActive, did7b
	f.append(t, f.s.Authority(), moved)
	byDID(did7, "")
	byDID(did7b, "p7")
	byDID("did:web:nobody.example.com", "")
}

// testDirectoryChanges reads the participant.updated records as directory
// changes (ledger.ReadDirectoryChanges, the ledger service's feed that
// connectors drop cached participants on): each once, in ledger order, by
// participant and index, in pages from any since on.
func testDirectoryChanges(t *testing.T, f *fixture) {
	f.populate(t)
	read := func(since uint64, limit int) ledger.DirectoryChanges {
		t.Helper()
		ch, err := ledger.ReadDirectoryChanges(f.ctx, f.b, since, limit)
		if err != nil {
			t.Fatalf("directory changes since %d: %v", since, err)
		}
		return ch
	}
	start := read(0, 0)
	if len(start.Changes) != 0 {
		t.Fatalf("changes before any participant.updated: %+v", start.Changes)
	}
	// An update among other records, then two in one batch.
	r1 := f.append(t, f.s.Authority(), f.s.Rules(policy.SpaceRules{}), f.s.Suspend("p1"))
	r2 := f.append(t, f.s.Authority(), f.s.Suspend("p2"), f.s.Suspend("p3"))
	want := []ledger.DirectoryChange{{Participant: "p1", Index: r1.FirstIndex + 1}, {Participant: "p2", Index: r2.FirstIndex}, {Participant: "p3", Index: r2.FirstIndex + 1}}
	all := read(start.Next, 0)
	if diff := cmp.Diff(want, all.Changes); diff != "" {
		t.Fatalf("changes since %d (-want +got):\n%s", start.Next, diff)
	}
	if all.Next != want[2].Index+1 {
		t.Fatalf("next = %d, want %d (past the last change)", all.Next, want[2].Index+1)
	}
	if again := read(all.Next, 0); len(again.Changes) != 0 || again.Next != all.Next {
		t.Fatalf("polling again with next: %+v, want no change and next %d", again, all.Next)
	}
	// In pages of one: each change once, the same ones.
	var paged []ledger.DirectoryChange
	for since, n := uint64(0), 0; ; n++ {
		if n > 10 {
			t.Fatal("paging does not end")
		}
		ch := read(since, 1)
		paged = append(paged, ch.Changes...)
		if len(ch.Changes) == 0 {
			break
		}
		since = ch.Next
	}
	if diff := cmp.Diff(want, paged); diff != "" {
		t.Fatalf("paged changes (-want +got):\n%s", diff)
	}
	// From a since between two changes, the later ones.
	if got := read(want[1].Index, 0).Changes; !cmp.Equal(got, want[1:]) {
		t.Fatalf("changes since %d: %+v, want %+v", want[1].Index, got, want[1:])
	}
	if p, err := f.b.Participant(f.ctx, "p2"); err != nil || p.Status != identity.StatusSuspended {
		t.Fatalf("p2 after its change: %+v, %v", p, err)
	}
}

// testConcurrent appends from several goroutines at once (the same batch
// twice among them) and checks every record landed once, in a tree whose
// proofs verify.
func testConcurrent(t *testing.T, f *fixture) {
	f.populate(t)
	s := f.s
	var batches []*ledger.Batch
	for i := 0; i < 24; i++ {
		owner := []string{"p1", "p2", "p3"}[i%3]
		b, err := s.Batch(owner, s.Dataset(owner, fmt.Sprintf("ds-c%d-a", i), policy.General, "traffic"),
			s.Dataset(owner, fmt.Sprintf("ds-c%d-b", i), policy.General, "traffic"))
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	batches = append(batches, batches[5]) // the same batch, concurrently
	receipts := make([]ledger.Receipt, len(batches))
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			receipts[i], errs[i] = f.b.Append(f.ctx, b)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if diff := cmp.Diff(receipts[5], receipts[len(receipts)-1]); diff != "" {
		t.Fatalf("same batch appended concurrently got two receipts:\n%s", diff)
	}
	seen := map[uint64]bool{}
	for _, rc := range receipts[:len(receipts)-1] {
		for i := range rc.RecordIDs {
			idx := rc.FirstIndex + uint64(i)
			if seen[idx] {
				t.Fatalf("index %d given twice", idx)
			}
			seen[idx] = true
		}
	}
	base := f.setup[len(f.setup)-1].TreeSize
	for i := uint64(0); i < uint64(len(seen)); i++ {
		if !seen[base+i] {
			t.Fatalf("index %d missing: indexes are not contiguous", base+i)
		}
	}
	for _, rc := range receipts {
		for _, id := range rc.RecordIDs {
			p, err := f.b.Record(f.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyProven(p, f.v); err != nil {
				t.Fatalf("record %s: %v", id, err)
			}
		}
	}
}

// testCompute: an allowed run is a use counted with transfers against the
// agreement's limit; a denied one counts nothing; only the provider records
// runs, under an agreement covering the dataset.
func testCompute(t *testing.T, f *fixture) {
	s := f.s
	f.append(t, s.Authority(), must(s.Participant("p1", "CN-BJ")), must(s.Participant("p2", "CN-SH")))
	f.append(t, "p1", s.Dataset("p1", "ds-1", policy.Important, "population"), s.Dataset("p1", "ds-2", policy.General, "traffic"),
		must(s.Agreement("p1", "p2", "ds-1", "ag-1", &ledger.Terms{MaxUses: 3})))
	f.append(t, "p1", s.Compute("p1", "p2", "ag-1", "ds-1", "run-1", 120, ""))
	f.append(t, "p1", s.Compute("p1", "p2", "ag-1", "ds-1", "run-2", 0, "output.aggregate"))
	f.append(t, "p1", s.Transfer("p1", "p2", "ag-1", "ds-1", "t-1"), s.Compute("p1", "p2", "ag-1", "ds-1", "run-3", 80, ""))

	for _, tc := range []struct {
		name   string
		writer string
		rec    ledger.Record
		want   error
		rule   string
	}{
		{"a fourth use", "p1", s.Compute("p1", "p2", "ag-1", "ds-1", "run-4", 10, ""), ledger.ErrRefused, "transfer.agreement-max-uses"},
		{"a transfer after the runs used it up", "p1", s.Transfer("p1", "p2", "ag-1", "ds-1", "t-2"), ledger.ErrRefused, "transfer.agreement-max-uses"},
		{"recorded by the consumer", "p2", s.Compute("p2", "p1", "ag-1", "ds-1", "run-5", 10, ""), ledger.ErrRefused, "compute.parties-match-agreement"},
		{"another dataset", "p1", s.Compute("p1", "p2", "ag-1", "ds-2", "run-6", 10, ""), ledger.ErrRefused, "compute.parties-match-agreement"},
		{"no agreement", "p1", s.Compute("p1", "p2", "ag-9", "ds-1", "run-7", 10, ""), ledger.ErrRefused, "agreement.exists"},
		{"a denial that let bytes out", "p1", func() ledger.Record {
			r := s.Compute("p1", "p2", "ag-1", "ds-1", "run-8", 0, "output.aggregate")
			r.Bytes = 5
			return r
		}(), ledger.ErrMalformed, ledger.RuleFormat},
		{"a program hash that is not one", "p1", func() ledger.Record {
			r := s.Compute("p1", "p2", "ag-1", "ds-1", "run-9", 10, "")
			r.Compute.Program = "md5:abc"
			return r
		}(), ledger.ErrMalformed, ledger.RuleFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s.Batch(tc.writer, tc.rec)
			if err == nil {
				_, err = f.b.Append(f.ctx, b)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var re *ledger.RuleError
			var fe *ledger.FieldError
			var me *ledger.MalformedError
			switch {
			case errors.As(err, &re):
				if re.Rule != tc.rule {
					t.Fatalf("got %v, want rule %s", err, tc.rule)
				}
			case errors.As(err, &fe):
				if fe.Rule != tc.rule {
					t.Fatalf("got %v, want rule %s", err, tc.rule)
				}
			case errors.As(err, &me):
				if me.Rule != tc.rule {
					t.Fatalf("got %v, want rule %s", err, tc.rule)
				}
			default:
				t.Fatalf("got %v (%T), want rule %s", err, err, tc.rule)
			}
		})
	}
}

// testComputeOnly: a compute-only agreement on core data for a consumer in
// another region (aggregate-only results) is signed, a transfer under it is
// refused, a run is accepted and counted; the run's hashes must be the
// space suite's.
func testComputeOnly(t *testing.T, f *fixture) {
	s := f.s
	f.append(t, s.Authority(), must(s.Participant("p1", "CN-BJ")), must(s.Participant("p2", "CN-SH")))
	f.append(t, "p1", s.Dataset("p1", "ds-core", policy.Core, "population"))
	refused := func(t *testing.T, writer string, rec ledger.Record, rule string) {
		t.Helper()
		b, err := s.Batch(writer, rec)
		if err == nil {
			_, err = f.b.Append(f.ctx, b)
		}
		var re *ledger.RuleError
		if !errors.As(err, &re) || re.Rule != rule {
			t.Fatalf("got %v, want a refusal by %s", err, rule)
		}
	}
	refused(t, "p1", must(s.Agreement("p1", "p2", "ds-core", "ag-t", &ledger.Terms{MaxUses: 2})), policy.RuleCoreStaysInRegion)
	f.append(t, "p1", must(s.Agreement("p1", "p2", "ds-core", "ag-c", &ledger.Terms{MaxUses: 2, ComputeOnly: true, GroupSize: 10})))
	refused(t, "p1", s.Transfer("p1", "p2", "ag-c", "ds-core", "t-1"), "transfer.compute-only")
	other := s.Compute("p1", "p2", "ag-c", "ds-core", "run-0", 64, "")
	if s.Suite.HashName() == suite.HashSHA256 {
		other.Compute.OutputHash = "sm3:" + strings.Repeat("0", 64)
	} else {
		other.Compute.OutputHash = "sha256:" + strings.Repeat("0", 64)
	}
	refused(t, "p1", other, suite.RuleHash)
	f.append(t, "p1", s.Compute("p1", "p2", "ag-c", "ds-core", "run-1", 64, ""), s.Compute("p1", "p2", "ag-c", "ds-core", "run-2", 64, ""))
	refused(t, "p1", s.Compute("p1", "p2", "ag-c", "ds-core", "run-3", 64, ""), "transfer.agreement-max-uses")

	// A group-size floor for core data: a compute-only agreement below it is
	// refused, one at it is signed, and raising the floor later refuses the
	// runs under the agreement signed before.
	f.append(t, s.Authority(), s.Rules(policy.SpaceRules{GroupFloors: []policy.GroupFloor{{Classification: policy.Core, MinGroupSize: 20}}}))
	refused(t, "p1", must(s.Agreement("p1", "p2", "ds-core", "ag-k10", &ledger.Terms{MaxUses: 5, ComputeOnly: true, GroupSize: 10})), policy.RuleGroupFloor)
	f.append(t, "p1", must(s.Agreement("p1", "p2", "ds-core", "ag-k20", &ledger.Terms{MaxUses: 5, ComputeOnly: true, GroupSize: 20})))
	f.append(t, "p1", s.Compute("p1", "p2", "ag-k20", "ds-core", "run-4", 64, ""))
	f.append(t, s.Authority(), s.Rules(policy.SpaceRules{GroupFloors: []policy.GroupFloor{{Classification: policy.Important, MinGroupSize: 50}}}))
	refused(t, "p1", s.Compute("p1", "p2", "ag-k20", "ds-core", "run-5", 64, ""), policy.RuleGroupFloor)
}
