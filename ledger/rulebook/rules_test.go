package rulebook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// world builds a state with: p1 (CN-BJ), p2 (CN-SH), p3 (SG), p4 (suspended);
// space rules; datasets of each level owned by p1; agreement ag-lim (p1→p2,
// one use, one duty, valid March 2026), ag-open (p1→p2, unlimited) with
// transfer t-1 authorised; objection ob-1 filed by p2 about ds-gen.
func world(t *testing.T) (*ledgertest.Space, *rulebook.Mem) {
	t.Helper()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	m := rulebook.NewMem(s.Genesis)
	must := func(r ledger.Record, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		ch, err := rulebook.Apply(m, s.Genesis, r.Actor, &r)
		if err != nil {
			t.Fatalf("setup %s: %v", r.Kind, err)
		}
		m.Put(ch...)
	}
	for _, p := range [][2]string{{"p1", "CN-BJ"}, {"p2", "CN-SH"}, {"p3", "SG"}, {"p4", "CN-BJ"}, {"p5", "US"}, {"p6", "CN-GD"}} {
		must(s.Participant(p[0], p[1]))
	}
	must(s.Suspend("p4"), nil)
	must(s.Rules(policy.SpaceRules{
		NegativeList: []policy.NegativeEntry{{Category: "genetic", Reason: "human genetic resources"}},
		CrossBorder:  []policy.CrossBorderEntry{{Destination: "SG", MaxClassification: policy.Important, LegalBasis: "PIPL-38-standard-contract"}},
		Ceilings:     []policy.Ceiling{{Destination: "CN-GD", MaxClassification: policy.General}},
		// Core and important data need the consumer's signature over the terms.
		CountersignedFor: []policy.Classification{policy.Core, policy.Important},
	}), nil)
	must(s.Dataset("p1", "ds-gen", policy.General, "traffic"), nil)
	must(s.Dataset("p1", "ds-imp", policy.Important, "finance"), nil)
	must(s.Dataset("p1", "ds-core", policy.Core, "grid"), nil)
	must(s.Dataset("p1", "ds-neg", policy.General, "genetic"), nil)
	must(s.Agreement("p1", "p2", "ds-gen", "ag-lim", &ledger.Terms{NotBefore: "2026-03-01T00:00:00+08:00", NotAfter: "2026-04-01T00:00:00+08:00",
		MaxUses: 1, Duties: []ledger.Duty{{ID: "d1", Action: "delete"}}}))
	must(s.Agreement("p1", "p2", "ds-gen", "ag-open", nil))
	must(s.Transfer("p1", "p2", "ag-open", "ds-gen", "t-1"), nil)
	must(s.ObjectionFiled("p2", "ds-gen", "ob-1"), nil)
	return s, m
}

func TestRules(t *testing.T) {
	type tc struct {
		name string
		// build returns the record to apply and the writer of its batch.
		build func(s *ledgertest.Space) (ledger.Record, string)
		rule  string // "" when allowed
	}
	agree := func(prov, cons, ds, id string, terms *ledger.Terms) func(s *ledgertest.Space) (ledger.Record, string) {
		return func(s *ledgertest.Space) (ledger.Record, string) {
			r, err := s.Agreement(prov, cons, ds, id, terms)
			if err != nil {
				t.Fatal(err)
			}
			return r, prov
		}
	}
	by := func(f func(s *ledgertest.Space) ledger.Record) func(s *ledgertest.Space) (ledger.Record, string) {
		return func(s *ledgertest.Space) (ledger.Record, string) { r := f(s); return r, r.Actor }
	}
	tests := []tc{
		{"participant registered by authority", func(s *ledgertest.Space) (ledger.Record, string) {
			r, _ := s.Participant("p9", "CN-GD")
			return r, r.Actor
		}, ""},
		{"participant registered twice", func(s *ledgertest.Space) (ledger.Record, string) {
			r, _ := s.Participant("p1", "CN-BJ")
			return r, r.Actor
		}, rulebook.RuleParticipantUnique},
		{"participant registered with another's key", by(func(s *ledgertest.Space) ledger.Record {
			r, _ := s.Participant("p9", "CN-GD")
			r.Participant.Keys = []identity.JWK{s.Keys["p2"].JWK()}
			return r
		}), rulebook.RuleKeyUnique},
		{"participant registered with the authority's key", by(func(s *ledgertest.Space) ledger.Record {
			r, _ := s.Participant("p9", "CN-GD")
			r.Participant.Keys = s.Genesis.Authority.Keys
			return r
		}), rulebook.RuleKeyUnique},
		{"participant registered by a participant", func(s *ledgertest.Space) (ledger.Record, string) {
			r, _ := s.Participant("p9", "CN-GD")
			r.Actor = "p1"
			return r, "p1"
		}, rulebook.RuleAuthorityOnly},
		{"participant updated", by(func(s *ledgertest.Space) ledger.Record { return s.Suspend("p3") }), ""},
		{"participant updated never registered", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Suspend("p3")
			r.Participant.ID = "p9"
			return r
		}), rulebook.RuleParticipantExists},
		{"authority re-keyed by a record", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Suspend("p3")
			r.Participant.ID = s.Authority()
			return r
		}), rulebook.RuleAuthorityPinned},
		{"rules updated by participant", func(s *ledgertest.Space) (ledger.Record, string) {
			r := s.Rules(policy.SpaceRules{})
			r.Actor = "p1"
			return r, "p1"
		}, rulebook.RuleAuthorityOnly},
		{"record id reused", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Dataset("p1", "ds-new", policy.General, "traffic")
			r.ID = "rec-00000001"
			return r
		}), rulebook.RuleIDUnique},
		{"actor is not the writer", func(s *ledgertest.Space) (ledger.Record, string) {
			return s.Dataset("p1", "ds-new", policy.General, "traffic"), "p2"
		}, rulebook.RuleWriterIsActor},
		{"dataset registered", by(func(s *ledgertest.Space) ledger.Record { return s.Dataset("p2", "ds-new", policy.General, "traffic") }), ""},
		{"dataset registered twice", by(func(s *ledgertest.Space) ledger.Record { return s.Dataset("p2", "ds-gen", policy.General, "traffic") }), rulebook.RuleDatasetUnique},
		{"offer by owner", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Record(ledger.KindOfferPublished, "p1")
			r.Offer, r.Dataset = "of-1", "ds-gen"
			return r
		}), ""},
		{"offer of unregistered dataset", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Record(ledger.KindOfferPublished, "p1")
			r.Offer, r.Dataset = "of-1", "ds-none"
			return r
		}), rulebook.RuleDatasetRegistered},
		{"offer by non-owner", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Record(ledger.KindOfferPublished, "p2")
			r.Offer, r.Dataset = "of-1", "ds-gen"
			return r
		}), rulebook.RuleDatasetOwner},
		{"agreement general within CN", agree("p1", "p2", "ds-gen", "ag-new", nil), ""},
		{"agreement id reused", agree("p1", "p2", "ds-gen", "ag-open", nil), rulebook.RuleAgreementUnique},
		{"agreement unregistered dataset", agree("p1", "p2", "ds-none", "ag-new", nil), rulebook.RuleAgreementDataset},
		{"agreement unregistered consumer", agree("p1", "p9", "ds-gen", "ag-new", nil), rulebook.RuleAgreementParties},
		{"agreement suspended consumer", agree("p1", "p4", "ds-gen", "ag-new", nil), rulebook.RuleAgreementActive},
		{"agreement with oneself", agree("p1", "p1", "ds-gen", "ag-new", nil), rulebook.RuleAgreementTwoParties},
		{"agreement by non-owner", agree("p2", "p3", "ds-gen", "ag-new", nil), rulebook.RuleDatasetOwner},
		{"agreement consumer signature forged", func(s *ledgertest.Space) (ledger.Record, string) {
			r, _ := s.Agreement("p1", "p2", "ds-gen", "ag-new", nil)
			r.PolicyHash = "sha256:changed-after-signing"
			return r, "p1"
		}, rulebook.RuleConsumerSignature},
		{"agreement consumer key unknown", func(s *ledgertest.Space) (ledger.Record, string) {
			r, _ := s.Agreement("p1", "p2", "ds-gen", "ag-new", nil)
			r.Terms.ConsumerKeyID = "nope"
			return r, "p1"
		}, rulebook.RuleConsumerSignature},
		{"agreement acknowledged on general data", acknowledged("ds-gen", nil), ""},
		{"agreement acknowledged on important data", acknowledged("ds-imp", nil), policy.RuleCountersigned},
		{"agreement acknowledged without the verification token id", acknowledged("ds-gen", func(t *ledger.Terms) { t.VerificationTokenID = "" }), rulebook.RuleAgreementEvidence},
		{"agreement acknowledged with a malformed message hash", acknowledged("ds-gen", func(t *ledger.Terms) { t.VerificationHash = "md5:abc" }), rulebook.RuleAgreementEvidence},
		{"agreement acknowledged yet signed", acknowledged("ds-gen", func(t *ledger.Terms) { t.ConsumerKeyID = "k" }), rulebook.RuleAgreementEvidence},
		{"agreement of an unknown evidence level", acknowledged("ds-gen", func(t *ledger.Terms) { t.Evidence = "notarised" }), rulebook.RuleAgreementEvidence},
		{"agreement negative-listed category", agree("p1", "p2", "ds-neg", "ag-new", nil), policy.RuleNegativeList},
		{"agreement core across regions", agree("p1", "p2", "ds-core", "ag-new", nil), policy.RuleCoreStaysInRegion},
		{"agreement important abroad without legal basis", agree("p1", "p3", "ds-imp", "ag-new", nil), policy.RuleLegalBasis},
		{"agreement important to a destination off the white-list", agree("p1", "p5", "ds-imp", "ag-new", nil), policy.RuleCrossBorder},
		{"agreement above the destination's ceiling", agree("p1", "p6", "ds-imp", "ag-new", nil), policy.RuleCeiling},
		{"agreement general abroad", agree("p1", "p5", "ds-gen", "ag-new", nil), ""},
		{"agreement important abroad with legal basis", func(s *ledgertest.Space) (ledger.Record, string) {
			r, _ := s.Agreement("p1", "p3", "ds-imp", "ag-new", nil)
			r.LegalBasis = "PIPL-38-standard-contract"
			return r, "p1"
		}, ""},
		{"transfer under live agreement", by(func(s *ledgertest.Space) ledger.Record { return s.Transfer("p1", "p2", "ag-lim", "ds-gen", "t-new") }), ""},
		{"transfer id reused", by(func(s *ledgertest.Space) ledger.Record { return s.Transfer("p1", "p2", "ag-open", "ds-gen", "t-1") }), rulebook.RuleTransferUnique},
		{"transfer without agreement", by(func(s *ledgertest.Space) ledger.Record { return s.Transfer("p1", "p2", "ag-none", "ds-gen", "t-new") }), rulebook.RuleAgreementExists},
		{"transfer to another consumer", by(func(s *ledgertest.Space) ledger.Record { return s.Transfer("p1", "p3", "ag-open", "ds-gen", "t-new") }), rulebook.RuleTransferParties},
		{"transfer after expiry", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Transfer("p1", "p2", "ag-lim", "ds-gen", "t-new")
			r.Time = "2026-04-01T00:00:00+08:00"
			return r
		}), rulebook.RuleAgreementWindow},
		{"transfer before start", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Transfer("p1", "p2", "ag-lim", "ds-gen", "t-new")
			r.Time = "2026-02-28T23:59:59+08:00"
			return r
		}), rulebook.RuleAgreementWindow},
		{"transfer hides a border crossing", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Transfer("p1", "p2", "ag-open", "ds-gen", "t-new")
			r.ToRegion = "SG"
			return r
		}), rulebook.RuleCrossBorderFlag},
		{"transfer completed", by(func(s *ledgertest.Space) ledger.Record { return s.Completed("p2", "t-1", 1024) }), ""},
		{"transfer completed never authorised", by(func(s *ledgertest.Space) ledger.Record { return s.Completed("p2", "t-none", 1024) }), rulebook.RuleCompleteAuthorized},
		{"transfer completed by its provider", by(func(s *ledgertest.Space) ledger.Record { return s.Completed("p1", "t-1", 1024) }), ""},
		{"transfer completed by a stranger", by(func(s *ledgertest.Space) ledger.Record { return s.Completed("p3", "t-1", 1024) }), rulebook.RuleAgreementParty},
		{"agreement revoked by party", by(func(s *ledgertest.Space) ledger.Record { return s.Revoked("p2", "ag-open") }), ""},
		{"agreement revoked by stranger", by(func(s *ledgertest.Space) ledger.Record { return s.Revoked("p3", "ag-open") }), rulebook.RuleAgreementParty},
		{"agreement revoked never signed", by(func(s *ledgertest.Space) ledger.Record { return s.Revoked("p1", "ag-none") }), rulebook.RuleAgreementExists},
		{"duty fulfilled", by(func(s *ledgertest.Space) ledger.Record { return s.DutyFulfilled("p2", "ag-lim", "d1") }), ""},
		{"duty never owed", by(func(s *ledgertest.Space) ledger.Record { return s.DutyFulfilled("p2", "ag-lim", "d9") }), rulebook.RuleDutyOwed},
		{"duty fulfilled by provider", by(func(s *ledgertest.Space) ledger.Record { return s.DutyFulfilled("p1", "ag-lim", "d1") }), rulebook.RuleDutyByConsumer},
		{"usage logged by party", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Record(ledger.KindUsageLogged, "p2")
			r.Agreement = "ag-open"
			return r
		}), ""},
		{"usage logged by stranger", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Record(ledger.KindUsageLogged, "p3")
			r.Agreement = "ag-open"
			return r
		}), rulebook.RuleAgreementParty},
		{"objection filed twice", by(func(s *ledgertest.Space) ledger.Record { return s.ObjectionFiled("p3", "ds-gen", "ob-1") }), rulebook.RuleObjectionUnique},
		{"objection resolved by owner", by(func(s *ledgertest.Space) ledger.Record { return s.ObjectionResolved("p1", "ob-1") }), ""},
		{"objection resolved by authority", by(func(s *ledgertest.Space) ledger.Record { return s.ObjectionResolved(s.Authority(), "ob-1") }), ""},
		{"objection resolved by stranger", by(func(s *ledgertest.Space) ledger.Record { return s.ObjectionResolved("p3", "ob-1") }), rulebook.RuleObjectionResolver},
		{"objection resolved before filing", by(func(s *ledgertest.Space) ledger.Record { return s.ObjectionResolved("p1", "ob-none") }), rulebook.RuleObjectionFiled},
		{"negotiation denied recorded", by(func(s *ledgertest.Space) ledger.Record {
			r := s.Record(ledger.KindNegotiationDenied, "p1")
			r.Counterparty, r.Reason, r.Decision = "p3", "policy refused", ledger.DecisionDeny
			return r
		}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := world(t)
			r, writer := tt.build(s)
			if err := r.Validate(); err != nil {
				t.Fatalf("fixture record invalid: %v", err)
			}
			_, err := rulebook.Apply(m, s.Genesis, writer, &r)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *ledger.RuleError
			if !errors.As(err, &re) || !errors.Is(err, ledger.ErrRefused) {
				t.Fatalf("got %v, want refusal by %s", err, tt.rule)
			}
			if re.Rule != tt.rule || re.RecordID != r.ID || re.Reason == "" || re.Field == "" {
				t.Fatalf("got %+v, want rule %s naming record %s, a field and a reason", re, tt.rule, r.ID)
			}
		})
	}
}

// TestLifecycleTwice checks the second of each once-only step is refused.
func TestLifecycleTwice(t *testing.T) {
	s, m := world(t)
	steps := []struct {
		r    ledger.Record
		rule string
	}{
		{s.Transfer("p1", "p2", "ag-lim", "ds-gen", "t-2"), ""},
		{s.Transfer("p1", "p2", "ag-lim", "ds-gen", "t-3"), rulebook.RuleMaxUses},
		{s.Completed("p2", "t-2", 1), ""},
		{s.Completed("p2", "t-2", 1), rulebook.RuleCompleteOnce},
		{s.Completed("p1", "t-2", 1), ""},
		{s.Completed("p1", "t-2", 1), rulebook.RuleCompleteOnce},
		{s.Completed("p3", "t-2", 1), rulebook.RuleAgreementParty},
		{s.DutyFulfilled("p2", "ag-lim", "d1"), ""},
		{s.DutyFulfilled("p2", "ag-lim", "d1"), rulebook.RuleDutyOnce},
		{s.ObjectionResolved("p1", "ob-1"), ""},
		{s.ObjectionResolved("p1", "ob-1"), rulebook.RuleObjectionOnce},
		{s.Revoked("p1", "ag-open"), ""},
		{s.Revoked("p1", "ag-open"), rulebook.RuleRevokeOnce},
		{s.Transfer("p1", "p2", "ag-open", "ds-gen", "t-4"), rulebook.RuleAgreementLive},
	}
	for i, st := range steps {
		ch, err := rulebook.Apply(m, s.Genesis, st.r.Actor, &st.r)
		var re *ledger.RuleError
		switch {
		case st.rule == "" && err != nil:
			t.Fatalf("step %d (%s): %v", i, st.r.Kind, err)
		case st.rule != "" && (!errors.As(err, &re) || re.Rule != st.rule):
			t.Fatalf("step %d (%s): got %v, want %s", i, st.r.Kind, err, st.rule)
		}
		m.Put(ch...)
	}
}

// TestCompletionPerParty checks each party records one completion, in
// either order, and that a transfer completed under the earlier
// one-completion rule takes no more.
func TestCompletionPerParty(t *testing.T) {
	for _, order := range [][2]string{{"p1", "p2"}, {"p2", "p1"}} {
		s, m := world(t)
		for i, actor := range order {
			r := s.Completed(actor, "t-1", 1024)
			r.ID = "transfer.completed/t-1/" + actor
			ch, err := rulebook.Apply(m, s.Genesis, actor, &r)
			if err != nil {
				t.Fatalf("order %v, completion %d by %s: %v", order, i, actor, err)
			}
			m.Put(ch...)
		}
		x, _ := m.Transfer("t-1")
		if !x.Completed || !x.CompletedByProvider || !x.CompletedByConsumer {
			t.Fatalf("order %v: state %+v, want completed by both", order, x)
		}
	}
	s, m := world(t)
	x, _ := m.Transfer("t-1")
	legacy := *x
	legacy.Completed = true
	m.Put(rulebook.Change{Transfer: &legacy})
	r := s.Completed("p2", "t-1", 1024)
	var re *ledger.RuleError
	if _, err := rulebook.Apply(m, s.Genesis, "p2", &r); !errors.As(err, &re) || re.Rule != rulebook.RuleCompleteOnce {
		t.Fatalf("completion after a legacy completion: %v, want %s", err, rulebook.RuleCompleteOnce)
	}
}

func TestWriterKey(t *testing.T) {
	s, m := world(t)
	if k, err := rulebook.WriterKey(m, "p1", s.Keys["p1"].KeyID()); err != nil || k.Kid != s.Keys["p1"].KeyID() {
		t.Fatalf("registered writer: %v %v", k, err)
	}
	var fe *ledger.FieldError
	if _, err := rulebook.WriterKey(m, "p9", "x"); !errors.Is(err, ledger.ErrUnknownWriter) || !errors.As(err, &fe) || fe.Rule != ledger.RuleWriterRegistered {
		t.Fatalf("unregistered writer: %v", err)
	}
	if _, err := rulebook.WriterKey(m, "p1", s.Keys["p2"].KeyID()); !errors.As(err, &fe) || fe.Rule != ledger.RuleWriterKey || fe.Field != "keyId" {
		t.Fatalf("another's key: %v", err)
	}
	var re *ledger.RuleError
	if _, err := rulebook.WriterKey(m, "p4", s.Keys["p4"].KeyID()); !errors.As(err, &re) || re.Rule != rulebook.RuleWriterActive {
		t.Fatalf("suspended writer: %v", err)
	}
}

// acknowledged builds p1's agreement with p2 on dataset resting on the
// acknowledged evidence (a standard DSP consumer's verification message),
// changed by edit.
func acknowledged(dataset string, edit func(*ledger.Terms)) func(*ledgertest.Space) (ledger.Record, string) {
	return func(s *ledgertest.Space) (ledger.Record, string) {
		r, _ := s.Agreement("p1", "p2", dataset, "ag-new", nil)
		r.Terms.ConsumerKeyID, r.Terms.ConsumerSignature = "", ""
		r.Terms.Evidence = policy.EvidenceAcknowledged
		r.Terms.VerificationTokenID = "jti-verification-1"
		r.Terms.VerificationHash = "sha256:" + strings.Repeat("ab", 32)
		if edit != nil {
			edit(r.Terms)
		}
		return r, "p1"
	}
}

// TestEvidenceRecorded: the agreement state names its evidence level.
func TestEvidenceRecorded(t *testing.T) {
	s, m := world(t)
	for _, tc := range []struct {
		rec  func(*ledgertest.Space) (ledger.Record, string)
		want string
	}{
		{acknowledged("ds-gen", nil), policy.EvidenceAcknowledged},
		{func(s *ledgertest.Space) (ledger.Record, string) {
			r, err := s.Agreement("p1", "p2", "ds-gen", "ag-new2", nil)
			if err != nil {
				t.Fatal(err)
			}
			return r, "p1"
		}, policy.EvidenceCountersigned},
	} {
		r, w := tc.rec(s)
		ch, err := rulebook.Apply(m, s.Genesis, w, &r)
		if err != nil {
			t.Fatal(err)
		}
		var got *rulebook.Agreement
		for _, c := range ch {
			if c.Agreement != nil {
				got = c.Agreement
			}
		}
		if got == nil || got.Evidence != tc.want {
			t.Fatalf("changes %+v, want an agreement with evidence %s", ch, tc.want)
		}
	}
}

// TestComputeOnly: a compute-only agreement on core data for a consumer in
// another region is let through the space rules when its results are
// aggregate-only; no transfer is authorised under it, runs are and count as
// uses; the negative list and suspended parties still stop it.
func TestComputeOnly(t *testing.T) {
	only := func(k, maxUses int) *ledger.Terms {
		return &ledger.Terms{ComputeOnly: true, GroupSize: k, MaxUses: maxUses}
	}
	agree := func(cons, ds string, terms *ledger.Terms) func(s *ledgertest.Space) ledger.Record {
		return func(s *ledgertest.Space) ledger.Record {
			r, err := s.Agreement("p1", cons, ds, "ag-new", terms)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	run := func(ag, id string) func(s *ledgertest.Space) ledger.Record {
		return func(s *ledgertest.Space) ledger.Record { return s.Compute("p1", "p2", ag, "ds-core", id, 64, "") }
	}
	for _, tc := range []struct {
		name  string
		setup []func(s *ledgertest.Space) ledger.Record // applied after ag-c (p1→p2, ds-core, compute-only k 10, 2 uses)
		rec   func(s *ledgertest.Space) ledger.Record
		rule  string
	}{
		{"compute-only on core data in another region", nil, agree("p2", "ds-core", only(10, 0)), ""},
		{"the same without an aggregate-only rule", nil, agree("p2", "ds-core", only(0, 0)), policy.RuleCoreStaysInRegion},
		{"groups of one", nil, agree("p2", "ds-core", only(1, 0)), policy.RuleCoreStaysInRegion},
		{"core data results across the border", nil, func(s *ledgertest.Space) ledger.Record {
			r := agree("p3", "ds-core", only(10, 0))(s)
			r.LegalBasis = "PIPL-38-standard-contract"
			return r
		}, policy.RuleCoreStaysInRegion},
		{"important data results off the white-list", nil, agree("p5", "ds-imp", only(10, 0)), policy.RuleCrossBorder},
		{"compute-only on a negative-listed category", nil, agree("p2", "ds-neg", only(10, 0)), policy.RuleNegativeList},
		{"compute-only with a suspended consumer", nil, agree("p4", "ds-core", only(10, 0)), rulebook.RuleAgreementActive},
		{"compute-only set after the consumer signed", nil, func(s *ledgertest.Space) ledger.Record {
			r := agree("p2", "ds-gen", nil)(s)
			r.Terms.ComputeOnly, r.Terms.GroupSize = true, 10
			return r
		}, rulebook.RuleConsumerSignature},
		{"compute-only dropped after the consumer signed", nil, func(s *ledgertest.Space) ledger.Record {
			r := agree("p2", "ds-gen", only(10, 0))(s)
			r.Terms.ComputeOnly, r.Terms.GroupSize = false, 0
			return r
		}, rulebook.RuleConsumerSignature},
		{"a transfer under it", nil, func(s *ledgertest.Space) ledger.Record { return s.Transfer("p1", "p2", "ag-c", "ds-core", "t-new") }, rulebook.RuleComputeOnly},
		{"a run under it", nil, run("ag-c", "run-1"), ""},
		{"a third run", []func(s *ledgertest.Space) ledger.Record{run("ag-c", "run-1"), run("ag-c", "run-2")}, run("ag-c", "run-3"), rulebook.RuleMaxUses},
		{"a denied run after the uses", []func(s *ledgertest.Space) ledger.Record{run("ag-c", "run-1"), run("ag-c", "run-2")},
			func(s *ledgertest.Space) ledger.Record {
				return s.Compute("p1", "p2", "ag-c", "ds-core", "run-3", 0, "limit.cpuTime")
			}, ""},
		{"a run once the consumer is suspended", []func(s *ledgertest.Space) ledger.Record{func(s *ledgertest.Space) ledger.Record { return s.Suspend("p2") }},
			run("ag-c", "run-1"), rulebook.RuleAgreementActive},
		{"a run once the category is negative-listed", []func(s *ledgertest.Space) ledger.Record{func(s *ledgertest.Space) ledger.Record {
			return s.Rules(policy.SpaceRules{NegativeList: []policy.NegativeEntry{{Category: "grid"}}})
		}}, run("ag-c", "run-1"), policy.RuleNegativeList},
		{"a program hash of another suite", nil, func(s *ledgertest.Space) ledger.Record {
			r := run("ag-c", "run-1")(s)
			r.Compute.Program = "sm3:" + strings.Repeat("ab", 32)
			return r
		}, "suite.hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, m := world(t)
			apply := func(r ledger.Record) error {
				if err := r.Validate(); err != nil {
					t.Fatalf("fixture record invalid: %v", err)
				}
				ch, err := rulebook.Apply(m, s.Genesis, r.Actor, &r)
				if err == nil {
					m.Put(ch...)
				}
				return err
			}
			r, err := s.Agreement("p1", "p2", "ds-core", "ag-c", only(10, 2))
			if err != nil {
				t.Fatal(err)
			}
			if err := apply(r); err != nil {
				t.Fatalf("the compute-only agreement: %v", err)
			}
			for _, f := range tc.setup {
				if err := apply(f(s)); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			err = apply(tc.rec(s))
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *ledger.RuleError
			if !errors.As(err, &re) || re.Rule != tc.rule || re.Reason == "" || re.Field == "" {
				t.Fatalf("got %v, want a refusal by %s with a field and a reason", err, tc.rule)
			}
			t.Logf("%s (%s): %s", re.Rule, re.Field, re.Reason)
		})
	}
	// The state keeps the terms: a run counts as a use of the agreement.
	s, m := world(t)
	r, _ := s.Agreement("p1", "p2", "ds-core", "ag-c", only(10, 2))
	ch, err := rulebook.Apply(m, s.Genesis, "p1", &r)
	if err != nil {
		t.Fatal(err)
	}
	m.Put(ch...)
	run1 := s.Compute("p1", "p2", "ag-c", "ds-core", "run-1", 64, "")
	ch, err = rulebook.Apply(m, s.Genesis, "p1", &run1)
	if err != nil {
		t.Fatal(err)
	}
	m.Put(ch...)
	ag, _ := m.Agreement("ag-c")
	if !ag.ComputeOnly || ag.GroupSize != 10 || ag.Uses != 1 {
		t.Fatalf("state %+v, want compute-only, k 10, one use", ag)
	}
}
