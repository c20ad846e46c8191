package workload

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// Space is a test data space: a genesis with its authority key, participant
// keys, and builders of realistic, correctly signed records. It holds no
// ledger; records go through a real backend.
type Space struct {
	Genesis      ledger.Genesis
	Suite        *suite.Suite // the genesis's crypto suite: every key and hash follows it
	AuthorityKey *identity.Key
	Keys         map[string]*identity.Key
	Regions      map[string]string
	// Now is the time stamped on the next record; each record advances it by a millisecond.
	Now time.Time
	seq int
}

// NewSpace makes a space "space-1" with authority "authority" in CN-BJ, in
// the intl suite (Ed25519 keys, SHA-256).
func NewSpace() (*Space, error) { return NewSuiteSpace(suite.Intl) }

// Suites are both crypto suites, for tests that run in each.
var Suites = []*suite.Suite{suite.Intl, suite.GM}

// NewSuiteSpace is NewSpace in crypto suite cs: in gm every key is SM2 and
// every hash SM3.
func NewSuiteSpace(cs *suite.Suite) (*Space, error) {
	k, err := identity.Generate(cs, "")
	if err != nil {
		return nil, err
	}
	auth := identity.Participant{ID: "authority", Name: "Space authority", Keys: []identity.JWK{k.JWK()}, Region: "CN-BJ", Status: identity.StatusActive}
	g := ledger.Genesis{Space: "space-1", Authority: auth, Created: "2026-01-01T00:00:00Z"}
	if cs != suite.Intl {
		g.Suite = cs.Name()
	}
	return &Space{
		Genesis:      g,
		Suite:        cs,
		AuthorityKey: k,
		Keys:         map[string]*identity.Key{},
		Regions:      map[string]string{},
		Now:          time.Date(2026, 3, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)),
	}, nil
}

// Authority is the authority's participant id.
func (s *Space) Authority() string { return s.Genesis.Authority.ID }

func (s *Space) next(kind ledger.Kind, actor string) ledger.Record {
	s.seq++
	s.Now = s.Now.Add(time.Millisecond)
	return ledger.Record{Schema: ledger.SchemaVersion, ID: fmt.Sprintf("rec-%08d", s.seq), Kind: kind,
		Time: s.Now.Format(time.RFC3339Nano), Actor: actor}
}

// Participant makes a key for id and the authority's participant.registered record.
func (s *Space) Participant(id, region string) (ledger.Record, error) {
	k, err := identity.Generate(s.Suite, "")
	if err != nil {
		return ledger.Record{}, err
	}
	s.Keys[id], s.Regions[id] = k, region
	r := s.next(ledger.KindParticipantRegistered, s.Authority())
	r.Participant = &identity.Participant{ID: id, Name: id, Keys: []identity.JWK{k.JWK()}, Region: region, Status: identity.StatusActive}
	return r, nil
}

// Suspend is the authority's participant.updated record suspending id.
func (s *Space) Suspend(id string) ledger.Record {
	r := s.next(ledger.KindParticipantUpdated, s.Authority())
	r.Participant = &identity.Participant{ID: id, Name: id, Keys: []identity.JWK{s.Keys[id].JWK()}, Region: s.Regions[id], Status: identity.StatusSuspended}
	return r
}

// Rules is the authority's rules.updated record.
func (s *Space) Rules(rules policy.SpaceRules) ledger.Record {
	r := s.next(ledger.KindRulesUpdated, s.Authority())
	r.Rules = &rules
	return r
}

// Dataset is owner's dataset.registered record.
func (s *Space) Dataset(owner, id string, c policy.Classification, category string) ledger.Record {
	r := s.next(ledger.KindDatasetRegistered, owner)
	r.Dataset, r.Classification, r.Category = id, c, category
	r.RegistrationCode = "REG-" + id
	r.Rights = []string{ledger.RightHolding}
	return r
}

// Agreement is provider's agreement.signed record, counter-signed by consumer.
// Terms may be nil for unlimited terms.
func (s *Space) Agreement(provider, consumer, dataset, id string, terms *ledger.Terms) (ledger.Record, error) {
	r := s.next(ledger.KindAgreementSigned, provider)
	r.Counterparty, r.Dataset, r.Agreement = consumer, dataset, id
	r.PolicyHash = s.Suite.HashName() + ":" + fmt.Sprintf("%064x", s.seq)
	r.Rights = []string{ledger.RightUse}
	if terms == nil {
		terms = &ledger.Terms{}
	}
	r.Terms = terms
	ck := s.Keys[consumer]
	if ck == nil {
		return r, nil // unregistered consumer: the rulebook refuses it
	}
	r.Terms.ConsumerKeyID = ck.KeyID()
	sig, err := ck.SignDetached(ledger.TermsMessage(&r))
	if err != nil {
		return ledger.Record{}, err
	}
	r.Terms.ConsumerSignature = base64.RawURLEncoding.EncodeToString(sig)
	return r, nil
}

// Transfer is provider's transfer.authorized record under agreement.
func (s *Space) Transfer(provider, consumer, agreement, dataset, id string) ledger.Record {
	r := s.next(ledger.KindTransferAuthorized, provider)
	r.Counterparty, r.Agreement, r.Dataset, r.Transfer = consumer, agreement, dataset, id
	r.TokenID = "jti-" + id
	r.Decision = ledger.DecisionAllow
	r.FromRegion, r.ToRegion = s.Regions[provider], s.Regions[consumer]
	r.CrossBorder = policy.CrossBorder(r.FromRegion, r.ToRegion)
	if r.CrossBorder {
		r.LegalBasis = "PIPL-38-standard-contract"
	}
	return r
}

// Completed is actor's transfer.completed record. Its content hash is a
// real digest (of the transfer and its size), as random-looking as a
// file's, so the records compress as real ones do, not better.
func (s *Space) Completed(actor, transfer string, bytes int64) ledger.Record {
	r := s.next(ledger.KindTransferCompleted, actor)
	r.Transfer, r.Bytes = transfer, bytes
	r.ContentHash = s.Suite.HashName() + ":" + hex.EncodeToString(s.Suite.Sum(fmt.Appendf(nil, "%s/%d", transfer, bytes)))
	return r
}

// Compute is provider's compute.executed record of a run under agreement:
// allowed with output bytes that left, or denied by rule. Its hashes are the
// space suite's.
func (s *Space) Compute(provider, consumer, agreement, dataset, run string, out int64, rule string) ledger.Record {
	r := s.next(ledger.KindComputeExecuted, provider)
	r.Counterparty, r.Agreement, r.Dataset = consumer, agreement, dataset
	h := s.Suite.HashName() + ":"
	r.Compute = &ledger.Compute{Run: run, Program: h + fmt.Sprintf("%064x", 0xabc),
		InputHash: h + fmt.Sprintf("%064x", 0x1d), InputBytes: 1 << 20,
		OutputHash: h + fmt.Sprintf("%064x", out), OutputBytes: out, CPUMillis: 42, PeakMemory: 8 << 20}
	if policy.CrossBorder(s.Regions[provider], s.Regions[consumer]) {
		r.LegalBasis = "PIPL-38-standard-contract"
	}
	r.Decision = ledger.DecisionAllow
	r.Bytes = out
	if rule != "" {
		r.Decision, r.Rule, r.Reason, r.Bytes = ledger.DecisionDeny, rule, "refused by "+rule, 0
	}
	return r
}

// Revoked is actor's agreement.revoked record.
func (s *Space) Revoked(actor, agreement string) ledger.Record {
	r := s.next(ledger.KindAgreementRevoked, actor)
	r.Agreement = agreement
	return r
}

// DutyFulfilled is consumer's duty.fulfilled record.
func (s *Space) DutyFulfilled(consumer, agreement, duty string) ledger.Record {
	r := s.next(ledger.KindDutyFulfilled, consumer)
	r.Agreement = agreement
	r.Duty = &ledger.Duty{ID: duty, Action: "delete"}
	return r
}

// ObjectionFiled is actor's objection.filed record about dataset.
func (s *Space) ObjectionFiled(actor, dataset, id string) ledger.Record {
	r := s.next(ledger.KindObjectionFiled, actor)
	r.Dataset = dataset
	r.Objection = &ledger.Objection{ID: id, Subject: "ownership"}
	return r
}

// ObjectionResolved is actor's objection.resolved record.
func (s *Space) ObjectionResolved(actor, id string) ledger.Record {
	r := s.next(ledger.KindObjectionResolved, actor)
	r.Objection = &ledger.Objection{ID: id, Resolution: "upheld"}
	return r
}

// Record is a bare record of kind by actor, for kinds without a builder.
func (s *Space) Record(kind ledger.Kind, actor string) ledger.Record { return s.next(kind, actor) }

// Batch signs recs as writer (the authority's key for the authority).
func (s *Space) Batch(writer string, recs ...ledger.Record) (*ledger.Batch, error) {
	k := s.Keys[writer]
	if writer == s.Authority() {
		k = s.AuthorityKey
	}
	if k == nil {
		return nil, fmt.Errorf("workload: no key for %s", writer)
	}
	return ledger.NewBatch(s.Genesis.Space, writer, k, recs)
}
