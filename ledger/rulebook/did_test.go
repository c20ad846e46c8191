package rulebook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// TestDIDNamesOneParticipant: participant.did-unique. A DID names one
// participant (on registration and update; a DID given up is free again),
// and a participant registered by its did:web carries that DID.
func TestDIDNamesOneParticipant(t *testing.T) {
	const alice, bob = "did:web:alice.example.com", "did:web:bob.example.com"
	withDID := func(r ledger.Record, did string) ledger.Record { r.Participant.DID = did; return r }
	type step struct {
		build  func(s *ledgertest.Space) ledger.Record
		reason string // "" when allowed; else a part of the refusal's reason
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a DID registered twice", []step{
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, "p9", newKey(t)), alice) }, ""},
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, "p8", newKey(t)), alice) }, "the DID of participant p9"},
		}},
		{"a DID taken by an update", []step{
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, "p9", newKey(t)), alice) }, ""},
			{func(s *ledgertest.Space) ledger.Record { return withDID(updated(s, "p1", s.Keys["p1"].JWK()), alice) }, "the DID of participant p9"},
		}},
		{"a DID given up is free", []step{
			{func(s *ledgertest.Space) ledger.Record { return withDID(updated(s, "p1", s.Keys["p1"].JWK()), alice) }, ""},
			{func(s *ledgertest.Space) ledger.Record { return withDID(updated(s, "p1", s.Keys["p1"].JWK()), bob) }, ""},
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, "p9", newKey(t)), alice) }, ""},
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, "p8", newKey(t)), bob) }, "the DID of participant p1"},
		}},
		{"registered by its DID", []step{
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, alice, newKey(t)), alice) }, ""},
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, "p9", newKey(t)), alice) }, "the DID of participant " + alice},
		}},
		{"registered by a DID it does not carry", []step{
			{func(s *ledgertest.Space) ledger.Record { return withDID(registered(s, alice, newKey(t)), bob) }, "its did must be " + alice},
			{func(s *ledgertest.Space) ledger.Record { return registered(s, alice, newKey(t)) }, "its did must be " + alice},
		}},
		{"not a DID", []step{
			{func(s *ledgertest.Space) ledger.Record {
				return withDID(registered(s, "p9", newKey(t)), "alice.example.com")
			}, "is not a DID"},
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
				if st.reason == "" {
					if err != nil {
						t.Fatalf("step %d refused: %v", i, err)
					}
					m.Put(ch...)
					continue
				}
				var re *ledger.RuleError
				if !errors.As(err, &re) || re.Rule != rulebook.RuleDIDUnique || re.Field != "participant.did" || !strings.Contains(re.Reason, st.reason) {
					t.Fatalf("step %d: got %v, want %s on participant.did saying %q", i, err, rulebook.RuleDIDUnique, st.reason)
				}
			}
		})
	}
}
