package rulebook

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// Rule identifiers named in refusals, besides the space rules of package policy.
const (
	RuleIDUnique            = "record.id-unique"
	RuleWriterIsActor       = "writer.is-actor"
	RuleWriterActive        = "writer.active"
	RuleWriterSpace         = "writer.space"
	RuleAuthorityOnly       = "writer.authority-only"
	RuleParticipantUnique   = "participant.unique"
	RuleParticipantExists   = "participant.exists"
	RuleAuthorityPinned     = "participant.authority-pinned"
	RuleKeyUnique           = "participant.key-unique"
	RuleDIDUnique           = "participant.did-unique"
	RuleDatasetUnique       = "dataset.unique"
	RuleDatasetRegistered   = "dataset.registered"
	RuleDatasetOwner        = "dataset.owner"
	RuleDatasetConsistent   = "record.dataset-consistent"
	RuleAgreementUnique     = "agreement.unique"
	RuleAgreementDataset    = "agreement.dataset-registered"
	RuleAgreementParties    = "agreement.parties-registered"
	RuleAgreementActive     = "agreement.parties-active"
	RuleAgreementTwoParties = "agreement.two-parties"
	RuleConsumerSignature   = "agreement.consumer-signature"
	RuleAgreementEvidence   = "agreement.evidence"
	RuleAgreementExists     = "agreement.exists"
	RuleAgreementParty      = "agreement.party"
	RuleRevokeOnce          = "agreement.revoke-once"
	RuleTransferUnique      = "transfer.unique"
	RuleAgreementLive       = "transfer.agreement-live"
	RuleAgreementWindow     = "transfer.agreement-window"
	RuleMaxUses             = "transfer.agreement-max-uses"
	RuleTransferParties     = "transfer.parties-match-agreement"
	RuleCrossBorderFlag     = "transfer.cross-border-flag"
	RuleCompleteAuthorized  = "transfer.completion-needs-authorization"
	RuleCompleteOnce        = "transfer.complete-once"
	RuleDutyOwed            = "duty.owed"
	RuleDutyOnce            = "duty.fulfil-once"
	RuleDutyByConsumer      = "duty.by-consumer"
	RuleObjectionUnique     = "objection.unique"
	RuleObjectionFiled      = "objection.resolve-needs-filing"
	RuleObjectionOnce       = "objection.resolve-once"
	RuleObjectionResolver   = "objection.resolver"
	RuleComputeParties      = "compute.parties-match-agreement"
	// RuleComputeOnly refuses a transfer under a compute-only agreement: its
	// data does not leave the provider; the consumer runs programs there.
	RuleComputeOnly = "transfer.compute-only"
)

// WriterKey returns the key a batch by writer signed with kid must verify
// under, as registered in st. An unregistered writer or key is
// ledger.ErrUnknownWriter; a suspended writer is refused by RuleWriterActive.
func WriterKey(st State, writer, kid string) (identity.JWK, error) {
	p, err := st.Participant(writer)
	if err != nil {
		return identity.JWK{}, err
	}
	if p == nil {
		return identity.JWK{}, &ledger.FieldError{Err: ledger.ErrUnknownWriter, Rule: ledger.RuleWriterRegistered, Field: "writer", Reason: fmt.Sprintf("%q is not a registered participant", writer)}
	}
	if p.Status == identity.StatusSuspended {
		return identity.JWK{}, &ledger.RuleError{Rule: RuleWriterActive, Field: "writer", Reason: fmt.Sprintf("participant %s is suspended", writer)}
	}
	k, ok := p.Key(kid)
	if !ok {
		return identity.JWK{}, &ledger.FieldError{Err: ledger.ErrUnknownWriter, Rule: ledger.RuleWriterKey, Field: "keyId", Reason: fmt.Sprintf("%q is not a registered key of %s", kid, writer)}
	}
	return k, nil
}

// ApplyBatch checks a whole batch against st: space, writer key, root and
// signature, then every record in order. The changes are put into ov (which
// must sit over st's committed state); on error the caller drops ov. It
// returns the records' canonical encodings, which the root check computed.
func ApplyBatch(ov *Overlay, g ledger.Genesis, b *ledger.Batch) (canon [][]byte, err error) {
	if b.Space != g.Space {
		return nil, &ledger.RuleError{Rule: RuleWriterSpace, Field: "space", Reason: fmt.Sprintf("batch is for space %q, this ledger is %q", b.Space, g.Space)}
	}
	key, err := WriterKey(ov, b.Writer, b.KeyID)
	if err != nil {
		return nil, err
	}
	if canon, _, err = b.CheckRoot(g.CryptoSuite()); err != nil {
		return nil, err
	}
	if err := b.VerifySignature(key); err != nil {
		return nil, err
	}
	if err := ApplyRecords(ov, g, b); err != nil {
		return nil, err
	}
	return canon, nil
}

// ApplyRecords runs the batch's records through Apply into ov, without the
// signature checks of ApplyBatch (for callers that verified it already).
func ApplyRecords(ov *Overlay, g ledger.Genesis, b *ledger.Batch) error {
	for i := range b.Records {
		ch, err := Apply(ov, g, b.Writer, &b.Records[i])
		if err != nil {
			return err
		}
		ov.Put(ch...)
	}
	return nil
}

// Apply validates one record written by writer against st and returns the
// changes it makes. It never modifies st or objects read from it.
func Apply(st State, g ledger.Genesis, writer string, r *ledger.Record) ([]Change, error) {
	a := applier{st: st, g: g, writer: writer, r: r}
	ch, err := a.apply()
	if err != nil {
		var re *ledger.RuleError
		if errors.As(err, &re) && re.RecordID == "" {
			re.RecordID = r.ID
		}
		return nil, err
	}
	return append(ch, Change{Seen: r.ID}), nil
}

type applier struct {
	st     State
	g      ledger.Genesis
	writer string
	r      *ledger.Record
}

func refuse(rule, field, format string, args ...any) error {
	return &ledger.RuleError{Rule: rule, Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (a *applier) apply() ([]Change, error) {
	r := a.r
	if seen, err := a.st.Seen(r.ID); err != nil {
		return nil, err
	} else if seen {
		return nil, refuse(RuleIDUnique, "id", "record id %q is already on the ledger", r.ID)
	}
	if r.Actor != a.writer {
		return nil, refuse(RuleWriterIsActor, "actor", "record speaks for %q but the batch is written by %q", r.Actor, a.writer)
	}
	if err := a.checkHashes(); err != nil {
		return nil, err
	}
	switch r.Kind {
	case ledger.KindParticipantRegistered, ledger.KindParticipantUpdated, ledger.KindRulesUpdated:
		if a.writer != a.g.Authority.ID {
			return nil, refuse(RuleAuthorityOnly, "actor", "only the authority %s writes %s records", a.g.Authority.ID, r.Kind)
		}
	}
	switch r.Kind {
	case ledger.KindParticipantRegistered:
		return a.participant(false)
	case ledger.KindParticipantUpdated:
		return a.participant(true)
	case ledger.KindRulesUpdated:
		rules := *r.Rules
		return []Change{{Rules: &rules}}, nil
	case ledger.KindDatasetRegistered:
		return a.datasetRegistered()
	case ledger.KindOfferPublished:
		ds, err := a.dataset("dataset", RuleDatasetRegistered)
		if err != nil {
			return nil, err
		}
		if ds.Owner != r.Actor {
			return nil, refuse(RuleDatasetOwner, "dataset", "dataset %s belongs to %s, not %s", ds.ID, ds.Owner, r.Actor)
		}
		return nil, nil
	case ledger.KindAgreementSigned:
		return a.agreementSigned()
	case ledger.KindAgreementRevoked:
		ag, err := a.agreement(a.r.Agreement)
		if err != nil {
			return nil, err
		}
		if r.Actor != ag.Provider && r.Actor != ag.Consumer {
			return nil, refuse(RuleAgreementParty, "actor", "%s is not a party to agreement %s", r.Actor, ag.ID)
		}
		if ag.Revoked {
			return nil, refuse(RuleRevokeOnce, "agreement", "agreement %s is already revoked", ag.ID)
		}
		n := copyAgreement(ag)
		n.Revoked = true
		return []Change{{Agreement: n}}, nil
	case ledger.KindTransferAuthorized:
		return a.transferAuthorized()
	case ledger.KindTransferCompleted:
		return a.transferCompleted()
	case ledger.KindUsageLogged:
		ag, err := a.agreement(r.Agreement)
		if err != nil {
			return nil, err
		}
		if r.Actor != ag.Provider && r.Actor != ag.Consumer {
			return nil, refuse(RuleAgreementParty, "actor", "%s is not a party to agreement %s", r.Actor, ag.ID)
		}
		return nil, nil
	case ledger.KindDutyFulfilled:
		ag, err := a.agreement(r.Agreement)
		if err != nil {
			return nil, err
		}
		if r.Actor != ag.Consumer {
			return nil, refuse(RuleDutyByConsumer, "actor", "duties of agreement %s are owed by %s, not %s", ag.ID, ag.Consumer, r.Actor)
		}
		done, owed := ag.Duties[r.Duty.ID]
		if !owed {
			return nil, refuse(RuleDutyOwed, "duty.id", "agreement %s owes no duty %q", ag.ID, r.Duty.ID)
		}
		if done {
			return nil, refuse(RuleDutyOnce, "duty.id", "duty %q of agreement %s is already fulfilled", r.Duty.ID, ag.ID)
		}
		n := copyAgreement(ag)
		n.Duties[r.Duty.ID] = true
		return []Change{{Agreement: n}}, nil
	case ledger.KindComputeExecuted:
		return a.computeExecuted()
	case ledger.KindObjectionFiled:
		return a.objectionFiled()
	case ledger.KindObjectionResolved:
		return a.objectionResolved()
	}
	// negotiation.denied, transfer.denied: a decision recorded, no state.
	return nil, nil
}

// transferCompleted lets each party to an authorised transfer record one
// completion: the provider what it sent, the consumer what it received.
func (a *applier) transferCompleted() ([]Change, error) {
	r := a.r
	t, err := a.st.Transfer(r.Transfer)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, refuse(RuleCompleteAuthorized, "transfer", "transfer %s was never authorised", r.Transfer)
	}
	if r.Actor != t.Provider && r.Actor != t.Consumer {
		return nil, refuse(RuleAgreementParty, "actor", "%s is not a party to transfer %s", r.Actor, t.ID)
	}
	legacy := t.Completed && !t.CompletedByProvider && !t.CompletedByConsumer
	done := t.CompletedByConsumer
	if r.Actor == t.Provider {
		done = t.CompletedByProvider
	}
	if legacy || done {
		return nil, refuse(RuleCompleteOnce, "actor", "%s already recorded the completion of transfer %s", r.Actor, t.ID)
	}
	n := *t
	n.Completed = true
	if r.Actor == t.Provider {
		n.CompletedByProvider = true
	} else {
		n.CompletedByConsumer = true
	}
	return []Change{{Transfer: &n}}, nil
}

func (a *applier) participant(update bool) ([]Change, error) {
	p := *a.r.Participant
	if p.ID == a.g.Authority.ID {
		return nil, refuse(RuleAuthorityPinned, "participant.id", "the authority %s is pinned by the genesis; a new authority key needs a new space", p.ID)
	}
	old, err := a.st.Participant(p.ID)
	if err != nil {
		return nil, err
	}
	if !update && old != nil {
		return nil, refuse(RuleParticipantUnique, "participant.id", "participant %s is already registered", p.ID)
	}
	if update && old == nil {
		return nil, refuse(RuleParticipantExists, "participant.id", "participant %s is not registered", p.ID)
	}
	keys, err := a.participantKeys(&p, old)
	if err != nil {
		return nil, err
	}
	did, err := a.participantDID(&p, old)
	if err != nil {
		return nil, err
	}
	return append(append([]Change{{Participant: &p}}, keys...), did...), nil
}

// didIndexPrefix keys a DID in the key index (KeyHolder): thumbprints are
// base64url and never start with "did:", so the two never collide, and every
// backend keeps DIDs with the keys it already indexes.
const didIndexPrefix = "did:"

// ParticipantByDID reads the participant registered with did from the key
// index of st (the rulebook state of any backend), nil when none is: the
// participant.did-unique rule keeps a DID to one participant. Stores
// written before that rule index their participants' DIDs once on upgrade
// (UnindexedDID), so the index answers for every DID.
func ParticipantByDID(st interface {
	KeyHolder(thumbprint string) (string, error)
	Participant(id string) (*identity.Participant, error)
}, did string) (*identity.Participant, error) {
	if !strings.HasPrefix(did, didIndexPrefix) {
		return nil, nil
	}
	holder, err := st.KeyHolder(did)
	if err != nil || holder == "" {
		return nil, err
	}
	p, err := st.Participant(holder)
	if err != nil || p == nil || p.DID != did {
		return nil, err
	}
	return p, nil
}

// UnindexedDID returns the key-index entry that p's DID lacks: p carries a
// DID (did:<method>:…) that the index of st does not hold, as a DID
// registered before RuleDIDUnique. Index builds (the embedded store's, the
// chaincode's) call it for every participant in id order and write what it
// returns, so a DID two such participants share stays with the first;
// nil when there is nothing to write.
func UnindexedDID(st interface {
	KeyHolder(thumbprint string) (string, error)
}, p *identity.Participant) (*KeyEntry, error) {
	if !strings.HasPrefix(p.DID, didIndexPrefix) {
		return nil, nil
	}
	holder, err := st.KeyHolder(p.DID)
	if err != nil || holder != "" {
		return nil, err
	}
	return &KeyEntry{Thumbprint: p.DID, Participant: p.ID}, nil
}

// UnindexedKeys returns the key-index entries that p's keys lack, as keys
// registered before RuleKeyUnique: each key of p that the index of st does
// not hold (a key that has no thumbprint never verifies anything and holds
// no place). Like UnindexedDID, for index builds visiting participants in
// id order, so a key two such participants share stays with the first.
func UnindexedKeys(st interface {
	KeyHolder(thumbprint string) (string, error)
}, p *identity.Participant) ([]*KeyEntry, error) {
	var out []*KeyEntry
	for _, k := range p.Keys {
		tp, err := KeyThumbprint(k)
		if err != nil {
			continue
		}
		holder, err := st.KeyHolder(tp)
		if err != nil {
			return nil, err
		}
		if holder == "" {
			out = append(out, &KeyEntry{Thumbprint: tp, Participant: p.ID})
		}
	}
	return out, nil
}

// participantDID enforces RuleDIDUnique on p (replacing old, nil for a
// registration): a DID names one participant, and a participant registered
// by its DID (its id is a DID) carries that DID. It returns the index
// changes: p's DID taken, the DID old had and p no longer has freed.
func (a *applier) participantDID(p, old *identity.Participant) ([]Change, error) {
	if strings.HasPrefix(p.ID, "did:web:") && p.DID != p.ID {
		return nil, refuse(RuleDIDUnique, "participant.did", "participant %s is registered by its DID, so its did must be %s, got %q", p.ID, p.ID, p.DID)
	}
	var ch []Change
	if p.DID != "" {
		if !strings.HasPrefix(p.DID, didIndexPrefix) {
			return nil, refuse(RuleDIDUnique, "participant.did", "%q is not a DID (did:<method>:…)", p.DID)
		}
		holder, err := a.st.KeyHolder(p.DID)
		if err != nil {
			return nil, err
		}
		switch holder {
		case p.ID:
		case "":
			ch = append(ch, Change{Key: &KeyEntry{Thumbprint: p.DID, Participant: p.ID}})
		default:
			return nil, refuse(RuleDIDUnique, "participant.did", "%s is the DID of participant %s, and a DID names one participant", p.DID, holder)
		}
	}
	if old != nil && old.DID != "" && old.DID != p.DID {
		if holder, err := a.st.KeyHolder(old.DID); err != nil {
			return nil, err
		} else if holder == p.ID {
			ch = append(ch, Change{Key: &KeyEntry{Thumbprint: old.DID}})
		}
	}
	return ch, nil
}

// checkHashes refuses a content, policy or computation hash of another
// algorithm than the space's suite (rule suite.hash): a gm space's records
// carry sm3:<hex>.
func (a *applier) checkHashes() error {
	cs := a.g.CryptoSuite()
	hashes := []struct{ name, v string }{{"contentHash", a.r.ContentHash}, {"policyHash", a.r.PolicyHash}}
	if c := a.r.Compute; c != nil {
		hashes = append(hashes, struct{ name, v string }{"compute.program", c.Program},
			struct{ name, v string }{"compute.inputHash", c.InputHash}, struct{ name, v string }{"compute.outputHash", c.OutputHash})
	}
	for _, f := range hashes {
		if f.v == "" {
			continue
		}
		alg, _, ok := strings.Cut(f.v, ":")
		if !ok {
			alg = ""
		}
		if err := cs.CheckHashName(strings.ToLower(alg)); err != nil {
			return refuse(suite.RuleHash, f.name, "%s", suite.Reason(err))
		}
	}
	return nil
}

// participantKeys enforces RuleKeyUnique on p's keys (p replacing old, nil
// for a registration) and returns the key index changes: p's new keys taken,
// the keys old had and p no longer lists freed.
func (a *applier) participantKeys(p, old *identity.Participant) ([]Change, error) {
	pinned := map[string]bool{}
	for _, k := range a.g.Authority.Keys {
		if tp, err := KeyThumbprint(k); err == nil {
			pinned[tp] = true
		}
	}
	var ch []Change
	listed := map[string]bool{}
	cs := a.g.CryptoSuite()
	for i, k := range p.Keys {
		field := fmt.Sprintf("participant.keys[%d]", i)
		if err := cs.CheckAlg(k.Algorithm(), true); err != nil {
			return nil, refuse(suite.RuleKey, field, "%s", suite.Reason(err))
		}
		tp, err := KeyThumbprint(k)
		if err != nil {
			return nil, refuse(RuleKeyUnique, field, "%v", err)
		}
		if listed[tp] {
			continue
		}
		listed[tp] = true
		if pinned[tp] {
			return nil, refuse(RuleKeyUnique, field, "%s is the key of participant %s, the authority pinned in the genesis, and a key belongs to one participant",
				keyName(k, tp), a.g.Authority.ID)
		}
		holder, err := a.st.KeyHolder(tp)
		if err != nil {
			return nil, err
		}
		switch holder {
		case p.ID:
		case "":
			ch = append(ch, Change{Key: &KeyEntry{Thumbprint: tp, Participant: p.ID}})
		default:
			return nil, refuse(RuleKeyUnique, field, "%s is registered to participant %s, and a key belongs to one participant",
				keyName(k, tp), holder)
		}
	}
	if old == nil {
		return ch, nil
	}
	for _, k := range old.Keys {
		tp, err := KeyThumbprint(k)
		if err != nil || listed[tp] {
			continue
		}
		listed[tp] = true // a key old lists twice is freed once
		if holder, err := a.st.KeyHolder(tp); err != nil {
			return nil, err
		} else if holder == p.ID {
			ch = append(ch, Change{Key: &KeyEntry{Thumbprint: tp}})
		}
	}
	return ch, nil
}

// keyName names k in a refusal: its kid, and its thumbprint when that differs.
func keyName(k identity.JWK, tp string) string {
	if k.Kid == tp {
		return fmt.Sprintf("key %s", tp)
	}
	return fmt.Sprintf("key %q (RFC 7638 thumbprint of its material %s)", k.Kid, tp)
}

// KeyThumbprint is the thumbprint the ledger knows a key by: the RFC 7638
// thumbprint of the key re-encoded from its decoded material, so that the
// same public key written with a different kid, or with base64url text that
// decodes to the same bytes, is the same key.
func KeyThumbprint(k identity.JWK) (string, error) {
	pub, err := k.PublicKey()
	if err != nil {
		return "", err
	}
	c, err := identity.NewJWK(pub)
	if err != nil {
		return "", err
	}
	return c.Kid, nil
}

func (a *applier) activeParticipant(id, field, rule string) (*identity.Participant, error) {
	p, err := a.st.Participant(id)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, refuse(rule, field, "%s is not a registered participant", id)
	}
	if p.Status == identity.StatusSuspended {
		return nil, refuse(RuleAgreementActive, field, "participant %s is suspended", id)
	}
	return p, nil
}

func (a *applier) dataset(field, rule string) (*Dataset, error) {
	ds, err := a.st.Dataset(a.r.Dataset)
	if err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, refuse(rule, field, "dataset %s is not registered", a.r.Dataset)
	}
	if a.r.Classification != "" && a.r.Classification != ds.Classification || a.r.Category != "" && a.r.Category != ds.Category {
		return nil, refuse(RuleDatasetConsistent, "classification", "record says %s/%s, dataset %s is registered as %s/%s",
			a.r.Classification, a.r.Category, ds.ID, ds.Classification, ds.Category)
	}
	return ds, nil
}

func (a *applier) datasetRegistered() ([]Change, error) {
	r := a.r
	old, err := a.st.Dataset(r.Dataset)
	if err != nil {
		return nil, err
	}
	if old != nil {
		return nil, refuse(RuleDatasetUnique, "dataset", "dataset %s is already registered by %s", r.Dataset, old.Owner)
	}
	return []Change{{Dataset: &Dataset{ID: r.Dataset, Owner: r.Actor, RegistrationCode: r.RegistrationCode,
		Classification: r.Classification, Category: r.Category}}}, nil
}

func (a *applier) agreementSigned() ([]Change, error) {
	r := a.r
	if old, err := a.st.Agreement(r.Agreement); err != nil {
		return nil, err
	} else if old != nil {
		return nil, refuse(RuleAgreementUnique, "agreement", "agreement %s already exists", r.Agreement)
	}
	ds, err := a.dataset("dataset", RuleAgreementDataset)
	if err != nil {
		return nil, err
	}
	if ds.Owner != r.Actor {
		return nil, refuse(RuleDatasetOwner, "dataset", "dataset %s belongs to %s, not %s", ds.ID, ds.Owner, r.Actor)
	}
	if r.Counterparty == r.Actor {
		return nil, refuse(RuleAgreementTwoParties, "counterparty", "an agreement needs two different parties")
	}
	prov, err := a.activeParticipant(r.Actor, "actor", RuleAgreementParties)
	if err != nil {
		return nil, err
	}
	cons, err := a.activeParticipant(r.Counterparty, "counterparty", RuleAgreementParties)
	if err != nil {
		return nil, err
	}
	evidence := r.Terms.EvidenceLevel()
	switch evidence {
	case policy.EvidenceCountersigned:
		key, ok := cons.Key(r.Terms.ConsumerKeyID)
		if !ok {
			return nil, refuse(RuleConsumerSignature, "terms.consumerKeyId", "%q is not a registered key of consumer %s", r.Terms.ConsumerKeyID, cons.ID)
		}
		sig, err := base64.RawURLEncoding.DecodeString(r.Terms.ConsumerSignature)
		if err != nil || key.VerifyDetached(ledger.TermsMessage(r), sig) != nil {
			return nil, refuse(RuleConsumerSignature, "terms.consumerSignature", "consumer %s's signature over the terms does not verify", cons.ID)
		}
	case policy.EvidenceAcknowledged:
		if r.Terms.ConsumerKeyID != "" || r.Terms.ConsumerSignature != "" {
			return nil, refuse(RuleAgreementEvidence, "terms.evidence", "acknowledged evidence carries no consumer signature; a signed agreement is countersigned")
		}
		if strings.TrimSpace(r.Terms.VerificationTokenID) == "" {
			return nil, refuse(RuleAgreementEvidence, "terms.verificationTokenId", "required with acknowledged evidence: the id (jti) of the consumer's protocol token on its verification message")
		}
		if alg := a.g.CryptoSuite().HashName(); !isHashOf(alg, r.Terms.VerificationHash) {
			return nil, refuse(RuleAgreementEvidence, "terms.verificationHash", "must be %s:<64 hex digits>, the hash of the consumer's verification message; got %q", alg, r.Terms.VerificationHash)
		}
	default:
		return nil, refuse(RuleAgreementEvidence, "terms.evidence", "must be %q or %q, got %q", policy.EvidenceCountersigned, policy.EvidenceAcknowledged, r.Terms.Evidence)
	}
	ag := &Agreement{ID: r.Agreement, Provider: r.Actor, Consumer: r.Counterparty, Dataset: ds.ID,
		NotBefore: r.Terms.NotBefore, NotAfter: r.Terms.NotAfter, MaxUses: r.Terms.MaxUses, Evidence: evidence,
		ComputeOnly: r.Terms.ComputeOnly, GroupSize: r.Terms.GroupSize}
	if err := a.checkFlow(ds, ag, prov.Region, cons.Region); err != nil {
		return nil, err
	}
	if err := a.checkEvidence(ds, evidence); err != nil {
		return nil, err
	}
	if len(r.Terms.Duties) > 0 {
		ag.Duties = make(map[string]bool, len(r.Terms.Duties))
		for _, d := range r.Terms.Duties {
			ag.Duties[d.ID] = false
		}
	}
	return []Change{{Agreement: ag}}, nil
}

// checkFlow asks the space rules (the last rules.updated) about moving ds
// from one region to another under ag: a compute-only agreement's flow is
// one that stays with its holder (policy.SpaceRules.CheckFlow).
func (a *applier) checkFlow(ds *Dataset, ag *Agreement, from, to string) error {
	rules, err := a.st.Rules()
	if err != nil {
		return err
	}
	if rules == nil {
		rules = &policy.SpaceRules{}
	}
	ref := rules.CheckFlow(policy.Flow{Category: ds.Category, Classification: ds.Classification,
		FromRegion: from, ToRegion: to, LegalBasis: a.r.LegalBasis, ComputeOnly: ag.ComputeOnly, GroupSize: ag.GroupSize})
	if ref != nil {
		field := "dataset"
		switch ref.Rule {
		case policy.RuleLegalBasis:
			field = "legalBasis"
		case policy.RuleCoreStaysInRegion, policy.RuleCrossBorder, policy.RuleCeiling:
			field = "toRegion"
		case policy.RuleGroupFloor:
			field = "terms.groupSize"
		}
		return refuse(ref.Rule, field, "%s", ref.Reason)
	}
	return nil
}

// checkEvidence asks the space rules whether an agreement on ds may rest on
// evidence.
func (a *applier) checkEvidence(ds *Dataset, evidence string) error {
	rules, err := a.st.Rules()
	if err != nil || rules == nil {
		return err
	}
	if ref := rules.CheckEvidence(ds.Classification, evidence); ref != nil {
		return refuse(ref.Rule, "terms.evidence", "%s", ref.Reason)
	}
	return nil
}

// isHashOf reports whether s is "<alg>:<64 hex digits>" (alg the suite's
// hash name: sha256, or sm3 in a gm space).
func isHashOf(alg, s string) bool {
	h, ok := strings.CutPrefix(s, alg+":")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func (a *applier) agreement(id string) (*Agreement, error) {
	ag, err := a.st.Agreement(id)
	if err != nil {
		return nil, err
	}
	if ag == nil {
		return nil, refuse(RuleAgreementExists, "agreement", "agreement %s was never signed", id)
	}
	return ag, nil
}

func (a *applier) transferAuthorized() ([]Change, error) {
	r := a.r
	if old, err := a.st.Transfer(r.Transfer); err != nil {
		return nil, err
	} else if old != nil {
		return nil, refuse(RuleTransferUnique, "transfer", "transfer %s was already authorised", r.Transfer)
	}
	ag, err := a.agreement(r.Agreement)
	if err != nil {
		return nil, err
	}
	if r.Actor != ag.Provider || r.Counterparty != ag.Consumer {
		return nil, refuse(RuleTransferParties, "counterparty", "agreement %s is between provider %s and consumer %s", ag.ID, ag.Provider, ag.Consumer)
	}
	if r.Dataset != "" && r.Dataset != ag.Dataset {
		return nil, refuse(RuleTransferParties, "dataset", "agreement %s covers dataset %s, not %s", ag.ID, ag.Dataset, r.Dataset)
	}
	if ag.ComputeOnly {
		return nil, refuse(RuleComputeOnly, "agreement", "agreement %s is compute-only: its data does not leave %s; the consumer runs programs there and only their results leave", ag.ID, ag.Provider)
	}
	if err := oneMoreUse(ag, r.Time); err != nil {
		return nil, err
	}
	if _, err := a.activeParticipant(ag.Provider, "actor", RuleAgreementParties); err != nil {
		return nil, err
	}
	cons, err := a.activeParticipant(ag.Consumer, "counterparty", RuleAgreementParties)
	if err != nil {
		return nil, err
	}
	prov, _ := a.st.Participant(ag.Provider)
	ds, err := a.st.Dataset(ag.Dataset)
	if err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, refuse(RuleAgreementDataset, "dataset", "dataset %s of agreement %s is not registered", ag.Dataset, ag.ID)
	}
	if r.Classification != "" && r.Classification != ds.Classification || r.Category != "" && r.Category != ds.Category {
		return nil, refuse(RuleDatasetConsistent, "classification", "record says %s/%s, dataset %s is registered as %s/%s",
			r.Classification, r.Category, ds.ID, ds.Classification, ds.Category)
	}
	from, to := prov.Region, cons.Region
	if r.FromRegion != "" {
		from = r.FromRegion
	}
	if r.ToRegion != "" {
		to = r.ToRegion
	}
	if policy.CrossBorder(from, to) && !r.CrossBorder {
		return nil, refuse(RuleCrossBorderFlag, "crossBorder", "a transfer from %s to %s crosses a border and must say so", from, to)
	}
	if err := a.checkFlow(ds, ag, from, to); err != nil {
		return nil, err
	}
	n := copyAgreement(ag)
	n.Uses++
	return []Change{{Agreement: n}, {Transfer: &Transfer{ID: r.Transfer, Agreement: ag.ID, Provider: ag.Provider, Consumer: ag.Consumer}}}, nil
}

func (a *applier) objectionFiled() ([]Change, error) {
	r := a.r
	if old, err := a.st.Objection(r.Objection.ID); err != nil {
		return nil, err
	} else if old != nil {
		return nil, refuse(RuleObjectionUnique, "objection.id", "objection %s was already filed", r.Objection.ID)
	}
	if r.Dataset != "" {
		if _, err := a.dataset("dataset", RuleDatasetRegistered); err != nil {
			return nil, err
		}
	}
	return []Change{{Objection: &Objection{ID: r.Objection.ID, Filer: r.Actor, Subject: r.Objection.Subject, Dataset: r.Dataset}}}, nil
}

func (a *applier) objectionResolved() ([]Change, error) {
	r := a.r
	o, err := a.st.Objection(r.Objection.ID)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, refuse(RuleObjectionFiled, "objection.id", "objection %s was never filed", r.Objection.ID)
	}
	if o.Resolved {
		return nil, refuse(RuleObjectionOnce, "objection.id", "objection %s is already resolved", o.ID)
	}
	ok := r.Actor == a.g.Authority.ID
	if !ok && o.Dataset != "" {
		if ds, err := a.st.Dataset(o.Dataset); err != nil {
			return nil, err
		} else if ds != nil && ds.Owner == r.Actor {
			ok = true
		}
	}
	if !ok {
		return nil, refuse(RuleObjectionResolver, "actor", "objection %s may be resolved by the authority or the dataset's owner, not %s", o.ID, r.Actor)
	}
	n := *o
	n.Resolved = true
	return []Change{{Objection: &n}}, nil
}

func copyAgreement(a *Agreement) *Agreement {
	n := *a
	if a.Duties != nil {
		n.Duties = maps.Clone(a.Duties)
	}
	return &n
}

// computeExecuted checks a run against its agreement. The provider records it
// (the program ran at its node) naming the consumer; an allowed run is a use,
// held to the agreement's life, window and use limit like a transfer, and
// counted with transfers; its parties must be active and the space rules
// must still allow the agreement's flow (a category negative-listed since
// stops runs as it stops transfers). A denied run is recorded as decided and
// counts nothing.
func (a *applier) computeExecuted() ([]Change, error) {
	r := a.r
	ag, err := a.agreement(r.Agreement)
	if err != nil {
		return nil, err
	}
	if r.Actor != ag.Provider || r.Counterparty != ag.Consumer {
		return nil, refuse(RuleComputeParties, "counterparty", "agreement %s is between provider %s and consumer %s", ag.ID, ag.Provider, ag.Consumer)
	}
	if r.Dataset != ag.Dataset {
		return nil, refuse(RuleComputeParties, "dataset", "agreement %s covers dataset %s, not %s", ag.ID, ag.Dataset, r.Dataset)
	}
	if r.Decision != ledger.DecisionAllow {
		return nil, nil
	}
	if err := oneMoreUse(ag, r.Time); err != nil {
		return nil, err
	}
	prov, err := a.activeParticipant(ag.Provider, "actor", RuleAgreementParties)
	if err != nil {
		return nil, err
	}
	cons, err := a.activeParticipant(ag.Consumer, "counterparty", RuleAgreementParties)
	if err != nil {
		return nil, err
	}
	ds, err := a.st.Dataset(ag.Dataset)
	if err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, refuse(RuleAgreementDataset, "dataset", "dataset %s of agreement %s is not registered", ag.Dataset, ag.ID)
	}
	if err := a.checkFlow(ds, ag, prov.Region, cons.Region); err != nil {
		return nil, err
	}
	n := copyAgreement(ag)
	n.Uses++
	return []Change{{Agreement: n}}, nil
}

// oneMoreUse says whether agreement ag allows one more use (a transfer or a
// computation) at time t (RFC 3339, checked by Validate): not revoked,
// inside its window, uses left.
func oneMoreUse(ag *Agreement, t string) error {
	if ag.Revoked {
		return refuse(RuleAgreementLive, "agreement", "agreement %s is revoked", ag.ID)
	}
	at, _ := ledger.ParseTime(t)
	if ag.NotBefore != "" {
		if nb, err := ledger.ParseTime(ag.NotBefore); err == nil && at.Before(nb) {
			return refuse(RuleAgreementWindow, "time", "agreement %s is not valid before %s", ag.ID, ag.NotBefore)
		}
	}
	if ag.NotAfter != "" {
		if na, err := ledger.ParseTime(ag.NotAfter); err == nil && !at.Before(na) {
			return refuse(RuleAgreementWindow, "time", "agreement %s expired at %s", ag.ID, ag.NotAfter)
		}
	}
	if ag.MaxUses > 0 && ag.Uses >= ag.MaxUses {
		return refuse(RuleMaxUses, "agreement", "agreement %s allows %d uses, all used", ag.ID, ag.MaxUses)
	}
	return nil
}
