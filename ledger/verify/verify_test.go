package verify_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// memSource holds a ledger's stored batches and checkpoints, copied out of a
// real embedded store, so a test can alter them.
type memSource struct {
	g       ledger.Genesis
	batches []*ledger.StoredBatch
	cps     map[uint64][]byte
}

func (m *memSource) Genesis(context.Context) (ledger.Genesis, error) { return m.g, nil }
func (m *memSource) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	for _, b := range m.batches {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}
func (m *memSource) Checkpoints(ctx context.Context, fn func(uint64, []byte) error) error {
	for s := uint64(0); s < 1<<20; s++ {
		if n, ok := m.cps[s]; ok {
			if err := fn(s, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// stored converts a batch to its stored form at index first.
func stored(t *testing.T, b *ledger.Batch, first uint64) *ledger.StoredBatch {
	t.Helper()
	canon, leaves, err := b.Encode(suite.Intl)
	if err != nil {
		t.Fatal(err)
	}
	sb := &ledger.StoredBatch{Space: b.Space, Writer: b.Writer, KeyID: b.KeyID, Root: b.Root, Signature: b.Signature,
		FirstIndex: first, TreeSize: first + uint64(len(canon)), Leaves: leaves}
	for _, c := range canon {
		sb.Records = append(sb.Records, json.RawMessage(c))
	}
	return sb
}

func build(t *testing.T) (*ledgertest.Space, *memSource, string) {
	t.Helper()
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(ctx, t.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	ag, _ := s.Agreement("p1", "p2", "ds-1", "ag-1", nil)
	for _, bt := range []struct {
		w    string
		recs []ledger.Record
	}{
		{s.Authority(), []ledger.Record{p1, p2}},
		{"p1", []ledger.Record{s.Dataset("p1", "ds-1", policy.General, "traffic"), ag}},
		{"p1", []ledger.Record{s.Transfer("p1", "p2", "ag-1", "ds-1", "t-1")}},
	} {
		b, _ := s.Batch(bt.w, bt.recs...)
		if _, err := st.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	m := &memSource{g: s.Genesis, cps: map[uint64][]byte{}}
	st.Batches(ctx, 0, func(sb *ledger.StoredBatch) error {
		cp := *sb
		cp.Records, cp.Leaves = nil, nil
		for i := range sb.Records {
			cp.Records = append(cp.Records, append(json.RawMessage(nil), sb.Records[i]...))
			cp.Leaves = append(cp.Leaves, append([]byte(nil), sb.Leaves[i]...))
		}
		m.batches = append(m.batches, &cp)
		return nil
	})
	st.Checkpoints(ctx, func(size uint64, n []byte) error { m.cps[size] = append([]byte(nil), n...); return nil })
	return s, m, st.VerifierKey()
}

func TestLedgerProblems(t *testing.T) {
	tests := []struct {
		name  string
		alter func(t *testing.T, s *ledgertest.Space, m *memSource)
		want  string // in the problem's text; "" when whole
	}{
		{"whole", func(*testing.T, *ledgertest.Space, *memSource) {}, ""},
		{"batch lost", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			m.batches = append(m.batches[:1], m.batches[2:]...)
		}, "at index 4: starts at index 4, the previous batch ended at 2"},
		{"signed batch that breaks a rule appended behind the ledger's back", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			b, _ := s.Batch("p1", s.Transfer("p1", "p2", "ag-none", "ds-1", "t-9"))
			m.batches = append(m.batches, stored(t, b, 5))
		}, "rulebook replay: ledger: refused by rule agreement.exists"},
		{"batch signed by a key never registered", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			k, _ := identity.GenerateEd25519()
			b, _ := ledger.NewBatch(s.Genesis.Space, "p1", k, []ledger.Record{s.Dataset("p1", "ds-9", policy.General, "traffic")})
			m.batches = append(m.batches, stored(t, b, 5))
		}, "writer p1 key"},
		{"signature swapped", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			m.batches[2].Signature = m.batches[1].Signature
		}, "batch.signature"},
		{"record and its leaf rewritten together", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			raw := []byte(strings.Replace(string(m.batches[2].Records[0]), `"decision":"allow"`, `"decision":"deny"`, 1))
			m.batches[2].Records[0], m.batches[2].Leaves[0] = raw, rfc6962.DefaultHasher.HashLeaf(raw)
		}, "the signed batch root is"},
		{"checkpoint for a size no batch ends at", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			m.cps[3] = m.cps[2]
		}, "checkpoint at tree size 3"},
		{"checkpoint of another size", func(t *testing.T, s *ledgertest.Space, m *memSource) {
			m.cps[2] = m.cps[4]
		}, "checkpoint at tree size 2: signs origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m, vkey := build(t)
			tt.alter(t, s, m)
			rep, err := verify.Ledger(context.Background(), m, vkey)
			if tt.want == "" {
				if err != nil || rep.Records != 5 || rep.Checkpoints != 3 {
					t.Fatalf("whole ledger: %+v %v", rep, err)
				}
				return
			}
			if !errors.Is(err, verify.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a problem saying %q", err, tt.want)
			}
		})
	}
}

// rootOf is the tree root over the leaves of batches, computed apart from
// the verifier.
func rootOf(t *testing.T, batches []*ledger.StoredBatch) (uint64, []byte) {
	t.Helper()
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for _, b := range batches {
		for _, l := range b.Leaves {
			if err := rng.Append(l, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rng.End(), root
}

// TestVerifierHeads gives the batches one by one with tree heads between
// them, as a reader that computes the heads itself does (ledger/fabric's
// audit): a head is checked when the tree is at its size, or later when a
// batch ends there; a wrong root, a head given after the tree passed it, or
// one at a size no batch ends at is a problem, and a batch given after a
// problem gets it back.
func TestVerifierHeads(t *testing.T) {
	_, m, _ := build(t)
	ctx := context.Background()
	size1, root1 := rootOf(t, m.batches[:1])
	size, root := rootOf(t, m.batches)
	tests := []struct {
		name string
		give func(v *verify.Verifier) error
		want string // in the problem; "" when whole
	}{
		{"heads after their batches", func(v *verify.Verifier) error {
			for i, b := range m.batches {
				if err := v.Batch(b); err != nil {
					return err
				}
				s, r := rootOf(t, m.batches[:i+1])
				if err := v.Head(s, r); err != nil {
					return err
				}
			}
			return nil
		}, ""},
		{"head before its batch", func(v *verify.Verifier) error {
			if err := v.Head(size, root); err != nil {
				return err
			}
			for _, b := range m.batches {
				if err := v.Batch(b); err != nil {
					return err
				}
			}
			return nil
		}, ""},
		{"wrong root", func(v *verify.Verifier) error {
			v.Batch(m.batches[0])
			return v.Head(size1, root)
		}, "checkpoint at tree size 2: the head's root is"},
		{"head after the tree passed it", func(v *verify.Verifier) error {
			v.Batch(m.batches[0])
			v.Batch(m.batches[1])
			return v.Head(size1, root1)
		}, "checkpoint at tree size 2: given after batches"},
		{"no batch ends at the head's size", func(v *verify.Verifier) error {
			v.Head(3, root)
			for _, b := range m.batches {
				v.Batch(b)
			}
			return nil
		}, "checkpoint at tree size 3: no batch ends at this size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(ctx, m.g, "")
			if err != nil {
				t.Fatal(err)
			}
			tt.give(v)
			rep, err := v.Close()
			if tt.want == "" {
				if err != nil || rep.Records != size || rep.Batches != len(m.batches) || rep.Checkpoints == 0 || rep.Root != hex.EncodeToString(root) {
					t.Fatalf("whole ledger: %+v %v", rep, err)
				}
				return
			}
			var p *verify.Problem
			if !errors.As(err, &p) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a problem saying %q", err, tt.want)
			}
		})
	}

	// After a problem the next batch gets it back, so a reader stops.
	v, err := verify.New(ctx, m.g, "")
	if err != nil {
		t.Fatal(err)
	}
	bad := *m.batches[1]
	bad.Signature = m.batches[0].Signature
	v.Batch(m.batches[0])
	v.Batch(&bad)
	var got error
	for i := 0; i < 100 && got == nil; i++ {
		got = v.Batch(m.batches[2]) // the checker may not have reached the bad one yet
	}
	if abort := v.Abort(); !errors.Is(got, verify.ErrCorrupt) || abort != got {
		t.Fatalf("batch after a bad one: %v (abort %v), want the problem", got, abort)
	}
}

// failingSource fails its walk after the first batch.
type failingSource struct{ *memSource }

var errRead = errors.New("read failed")

func (f failingSource) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	if err := fn(f.batches[0]); err != nil {
		return err
	}
	return errRead
}

// TestLedgerReadError: a source that fails half way gets its own error, not
// a problem with the checkpoints the batches never reached.
func TestLedgerReadError(t *testing.T) {
	_, m, vkey := build(t)
	if _, err := verify.Ledger(context.Background(), failingSource{m}, vkey); !errors.Is(err, errRead) {
		t.Fatalf("got %v, want the read error", err)
	}
}
