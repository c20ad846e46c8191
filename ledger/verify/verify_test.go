package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
