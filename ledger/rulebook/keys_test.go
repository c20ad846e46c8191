package rulebook_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// registered is the authority's participant.registered record of id with keys.
func registered(s *ledgertest.Space, id string, keys ...identity.JWK) ledger.Record {
	r := s.Record(ledger.KindParticipantRegistered, s.Authority())
	r.Participant = &identity.Participant{ID: id, Name: id, Keys: keys, Region: "CN-BJ", Status: identity.StatusActive}
	return r
}

// updated is the authority's participant.updated record giving id the keys.
func updated(s *ledgertest.Space, id string, keys ...identity.JWK) ledger.Record {
	r := s.Record(ledger.KindParticipantUpdated, s.Authority())
	r.Participant = &identity.Participant{ID: id, Name: id, Keys: keys, Region: s.Regions[id], Status: identity.StatusActive}
	return r
}

func newKey(t *testing.T) identity.JWK {
	t.Helper()
	k, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return k.JWK()
}

// respelled is k with its x written differently (the two unused low bits of
// the last base64url character set) and its kid the thumbprint of that text:
// a valid JWK under another kid for the same public key.
func respelled(t *testing.T, k identity.JWK) identity.JWK {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, k.X[len(k.X)-1])
	k.X = k.X[:len(k.X)-1] + string(alphabet[last^1])
	k.Kid, _ = k.Thumbprint()
	// Loose base64url decoding would take it for the same 32 bytes;
	// identity decodes strictly and refuses it.
	if a, err := base64.RawURLEncoding.DecodeString(k.X); err != nil || len(a) != 32 {
		t.Fatalf("respelled key does not decode loosely to 32 bytes: %v", err)
	}
	if err := k.Validate(); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("a respelled key validates: %v", err)
	}
	return k
}

// TestRespelledKeyIsMalformed: the same public key written with other
// base64url text (non-zero padding bits, which loose decoding ignores) would
// be another kid for one key; the record is malformed before any rule runs.
func TestRespelledKeyIsMalformed(t *testing.T) {
	s, _ := world(t)
	for _, r := range []ledger.Record{
		registered(s, "p9", respelled(t, s.Keys["p1"].JWK())),
		updated(s, "p1", respelled(t, s.Keys["p1"].JWK())),
	} {
		var me *ledger.MalformedError
		if err := r.Validate(); !errors.As(err, &me) || me.Field != "participant.keys[0]" {
			t.Errorf("%s with a respelled key: %v, want malformed participant.keys[0]", r.Kind, err)
		}
	}
}

func TestKeyUnique(t *testing.T) {
	type step struct {
		build  func(s *ledgertest.Space) ledger.Record
		field  string // "" when accepted
		holder string // the participant the refusal names
	}
	k2 := newKey(t)
	tests := []struct {
		name  string
		steps []step
	}{
		{"register with another participant's key", []step{
			{func(s *ledgertest.Space) ledger.Record { return registered(s, "p9", s.Keys["p1"].JWK()) }, "participant.keys[0]", "p1"},
		}},
		{"register with the authority's genesis key", []step{
			{func(s *ledgertest.Space) ledger.Record { return registered(s, "p9", s.Genesis.Authority.Keys[0]) }, "participant.keys[0]", "authority"},
		}},
		{"update adding another participant's key", []step{
			{func(s *ledgertest.Space) ledger.Record {
				return updated(s, "p2", s.Keys["p2"].JWK(), s.Keys["p1"].JWK())
			}, "participant.keys[1]", "p1"},
		}},
		{"update adding the authority's key", []step{
			{func(s *ledgertest.Space) ledger.Record { return updated(s, "p2", s.Genesis.Authority.Keys[0]) }, "participant.keys[0]", "authority"},
		}},
		{"update re-listing its own key", []step{
			{func(s *ledgertest.Space) ledger.Record { return updated(s, "p1", s.Keys["p1"].JWK()) }, "", ""},
		}},
		{"a key removed becomes free, the new holder keeps it", []step{
			{func(s *ledgertest.Space) ledger.Record { return updated(s, "p1", k2) }, "", ""},
			{func(s *ledgertest.Space) ledger.Record { return registered(s, "p9", s.Keys["p1"].JWK()) }, "", ""},
			{func(s *ledgertest.Space) ledger.Record { return updated(s, "p1", k2, s.Keys["p1"].JWK()) }, "participant.keys[1]", "p9"},
			{func(s *ledgertest.Space) ledger.Record { return updated(s, "p2", k2) }, "participant.keys[0]", "p1"},
		}},
		{"a new key is taken", []step{
			{func(s *ledgertest.Space) ledger.Record { return registered(s, "p9", k2) }, "", ""},
			{func(s *ledgertest.Space) ledger.Record { return updated(s, "p1", s.Keys["p1"].JWK(), k2) }, "participant.keys[1]", "p9"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := world(t)
			for i, st := range tt.steps {
				r := st.build(s)
				if err := r.Validate(); err != nil {
					t.Fatalf("step %d: fixture record invalid: %v", i, err)
				}
				ch, err := rulebook.Apply(m, s.Genesis, r.Actor, &r)
				if st.field == "" {
					if err != nil {
						t.Fatalf("step %d refused: %v", i, err)
					}
					m.Put(ch...)
					continue
				}
				var re *ledger.RuleError
				if !errors.As(err, &re) || !errors.Is(err, ledger.ErrRefused) {
					t.Fatalf("step %d: got %v, want refusal by %s", i, err, rulebook.RuleKeyUnique)
				}
				if re.Rule != rulebook.RuleKeyUnique || re.Field != st.field || re.RecordID != r.ID || !strings.Contains(re.Reason, "participant "+st.holder+",") {
					t.Fatalf("step %d: got %+v, want rule %s on %s naming %s", i, re, rulebook.RuleKeyUnique, st.field, st.holder)
				}
			}
		})
	}
}

// TestKeyIndex checks the index follows a participant's keys: taken on
// registration, freed when an update drops them, kept when it re-lists them.
func TestKeyIndex(t *testing.T) {
	s, m := world(t)
	tp := func(k identity.JWK) string {
		v, err := rulebook.KeyThumbprint(k)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	holder := func(k identity.JWK) string {
		h, err := m.KeyHolder(tp(k))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	k1, k2 := s.Keys["p1"].JWK(), newKey(t)
	if h := holder(k1); h != "p1" {
		t.Fatalf("p1's key held by %q", h)
	}
	if h := holder(s.Genesis.Authority.Keys[0]); h != "" {
		t.Fatalf("the authority's key is in the index, held by %q", h)
	}
	if _, err := rulebook.KeyThumbprint(respelled(t, k1)); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("KeyThumbprint of a respelled key: %v, want ErrBadKey", err)
	}
	apply := func(r ledger.Record) {
		t.Helper()
		ch, err := rulebook.Apply(m, s.Genesis, r.Actor, &r)
		if err != nil {
			t.Fatal(err)
		}
		m.Put(ch...)
	}
	apply(updated(s, "p1", k1, k2))
	if holder(k1) != "p1" || holder(k2) != "p1" {
		t.Fatalf("after adding k2: k1 %q, k2 %q", holder(k1), holder(k2))
	}
	apply(updated(s, "p1", k2))
	if holder(k1) != "" || holder(k2) != "p1" {
		t.Fatalf("after removing k1: k1 %q, k2 %q", holder(k1), holder(k2))
	}
}

// TestKeyUniqueInBatch checks records of one batch see each other's key
// changes in order: a key freed by an earlier record may be taken by a later
// one, not the other way round, and a refused batch leaves the index alone.
func TestKeyUniqueInBatch(t *testing.T) {
	k2 := newKey(t)
	for _, tc := range []struct {
		name     string
		freeLast bool
	}{{"free then take", false}, {"take then free", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, m := world(t)
			k1 := s.Keys["p1"].JWK()
			recs := []ledger.Record{updated(s, "p1", k2), registered(s, "p9", k1)}
			if tc.freeLast {
				recs[0], recs[1] = recs[1], recs[0]
			}
			b, err := s.Batch(s.Authority(), recs...)
			if err != nil {
				t.Fatal(err)
			}
			ov := rulebook.NewOverlay(m)
			_, err = rulebook.ApplyBatch(ov, s.Genesis, b)
			tp, _ := rulebook.KeyThumbprint(k1)
			if tc.freeLast {
				var re *ledger.RuleError
				if !errors.As(err, &re) || re.Rule != rulebook.RuleKeyUnique || re.RecordID != recs[0].ID {
					t.Fatalf("got %v, want %s refusing %s", err, rulebook.RuleKeyUnique, recs[0].ID)
				}
				if h, _ := m.KeyHolder(tp); h != "p1" {
					t.Fatalf("after the refused batch k1 is held by %q", h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h, _ := m.KeyHolder(tp); h != "p1" {
				t.Fatalf("before commit the base has k1 held by %q", h)
			}
			m.Put(ov.Changes()...)
			tp2, _ := rulebook.KeyThumbprint(k2)
			if h, _ := m.KeyHolder(tp); h != "p9" {
				t.Fatalf("after commit k1 is held by %q", h)
			}
			if h, _ := m.KeyHolder(tp2); h != "p1" {
				t.Fatalf("after commit k2 is held by %q", h)
			}
		})
	}
}

// TestOverlayFreedKey checks a key freed in an overlay hides the base's
// entry, and is gone from the base once the overlay's changes are put.
func TestOverlayFreedKey(t *testing.T) {
	s, m := world(t)
	tp, _ := rulebook.KeyThumbprint(s.Keys["p2"].JWK())
	ov := rulebook.NewOverlay(m)
	ov.Put(rulebook.Change{Key: &rulebook.KeyEntry{Thumbprint: tp}})
	inner := rulebook.NewOverlay(ov)
	for name, st := range map[string]rulebook.State{"overlay": ov, "overlay on overlay": inner} {
		if h, _ := st.KeyHolder(tp); h != "" {
			t.Errorf("%s: freed key held by %q", name, h)
		}
	}
	if h, _ := m.KeyHolder(tp); h != "p2" {
		t.Fatalf("base changed before commit: %q", h)
	}
	m.Put(ov.Changes()...)
	if h, _ := m.KeyHolder(tp); h != "" {
		t.Fatalf("after commit: %q", h)
	}
}
