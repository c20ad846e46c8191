package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// toPolicy parses a DSP policy (without the tdsc:terms extension) with the
// policy engine.
func toPolicy(p dsp.Policy) (*policy.Policy, error) {
	p.Terms = nil
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return policy.Parse(b)
}

// toDSP converts an engine policy to the wire type.
func toDSP(p *policy.Policy) (dsp.Policy, error) {
	var out dsp.Policy
	b, err := json.Marshal(p)
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(b, &out)
}

type compiledOffer struct {
	pol *policy.Policy
	c   *policy.Compiled
	// party is the policy cut down to its constraints on who the consumer is
	// (industry, orgType, membership, recipient, spatial): what decides
	// whether a consumer may see the offer in the catalogue.
	party *policy.Compiled
}

var partyOperands = map[string]bool{
	policy.LeftIndustry: true, policy.LeftOrgType: true, policy.LeftMembership: true,
	policy.LeftRecipient: true, policy.LeftSpatial: true,
}

// offerPolicy parses and compiles an offer once, caching by offer id
// (offers are immutable once published).
func (n *Node) offerPolicy(o *store.Offer) (*compiledOffer, error) {
	if v, ok := n.compiled.Load(o.ID); ok {
		return v.(*compiledOffer), nil
	}
	p, err := policy.Parse(o.Policy)
	if err != nil {
		return nil, fmt.Errorf("offer %s: %w", o.ID, err)
	}
	c, err := policy.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("offer %s: %w", o.ID, err)
	}
	cut := *p
	cut.Permissions = nil
	for _, r := range p.Permissions {
		r2 := r
		r2.Constraints = nil
		r2.Duties = nil
		for _, k := range r.Constraints {
			if !k.Logical() && partyOperands[k.LeftOperand] {
				r2.Constraints = append(r2.Constraints, k)
			}
		}
		cut.Permissions = append(cut.Permissions, r2)
	}
	cut.Prohibitions, cut.Obligations = nil, nil
	pc, err := policy.Compile(&cut)
	if err != nil {
		return nil, fmt.Errorf("offer %s: party view: %w", o.ID, err)
	}
	co := &compiledOffer{pol: p, c: c, party: pc}
	n.compiled.Store(o.ID, co)
	return co, nil
}

// admits reports whether the offer's constraints on who the consumer is
// allow req's consumer every use the offer grants (Compiled.Grants).
func (co *compiledOffer) admits(ctx context.Context, req policy.Request) bool {
	grants := co.c.Grants()
	for _, action := range grants {
		req.Action = action
		if !policy.Evaluate(ctx, co.party, req).Allowed {
			return false
		}
	}
	return len(grants) > 0
}

// party is a participant's registered attributes as the policy engine sees them.
func party(p identity.Participant) policy.Party {
	return policy.Party{ID: p.ID, Region: p.Region, Industry: p.Industry, OrgType: p.OrgType, Member: p.Member}
}

func (n *Node) spaceRules(ctx context.Context) (policy.SpaceRules, error) {
	if n.rules == nil {
		return policy.SpaceRules{}, nil
	}
	return n.rules.Rules(ctx)
}

func datasetInfo(d *store.Dataset, region string) policy.DatasetInfo {
	return policy.DatasetInfo{ID: d.ID, Category: d.Category, Classification: policy.Classification(d.Classification), Region: region}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// termsOf is what an agreement fixes: the compiled policy's limits (a
// compute-only policy makes compute-only terms) and the duties the
// decisions say are owed, each once.
func termsOf(c *policy.Compiled, ds []policy.Decision, hash string) dsp.Terms {
	l := c.Limits()
	t := dsp.Terms{PolicyHash: hash, NotBefore: rfc3339(l.NotBefore), NotAfter: rfc3339(l.NotAfter), MaxUses: l.MaxUses,
		ComputeOnly: l.ComputeOnly, GroupSize: l.GroupSize}
	seen := map[string]bool{}
	for _, d := range ds {
		for _, du := range d.Duties {
			if !seen[du.ID] {
				seen[du.ID] = true
				t.Duties = append(t.Duties, dsp.Duty{ID: du.ID, Action: du.Action, Due: rfc3339(du.Due)})
			}
		}
	}
	return t
}

// ledgerTerms converts wire terms to the ledger's, without the signature.
func ledgerTerms(t dsp.Terms) ledger.Terms {
	lt := ledger.Terms{NotBefore: t.NotBefore, NotAfter: t.NotAfter, MaxUses: t.MaxUses, ComputeOnly: t.ComputeOnly, GroupSize: t.GroupSize}
	for _, d := range t.Duties {
		lt.Duties = append(lt.Duties, ledger.Duty{ID: d.ID, Action: d.Action, Due: d.Due})
	}
	return lt
}

// agreementTerms is what the agreements table keeps: the wire terms and,
// once the consumer has signed, its key id and signature.
type agreementTerms struct {
	dsp.Terms
	ConsumerKeyID     string `json:"consumerKeyId,omitempty"`
	ConsumerSignature string `json:"consumerSignature,omitempty"`
	// Evidence is policy.EvidenceAcknowledged when the consumer verified
	// without tdsc's countersigned profile (a standard DSP peer), with the id
	// of its verification's protocol token and the hash of its body; empty
	// (countersigned) otherwise.
	Evidence            string `json:"evidence,omitempty"`
	VerificationTokenID string `json:"verificationTokenId,omitempty"`
	VerificationHash    string `json:"verificationHash,omitempty"`
}

func readTerms(a *store.Agreement) (agreementTerms, error) {
	var t agreementTerms
	if len(a.Terms) == 0 {
		return t, fmt.Errorf("agreement %s has no terms", a.ID)
	}
	return t, json.Unmarshal(a.Terms, &t)
}

// agreementRecord is the provider's agreement.signed record; TermsMessage of
// it is what the consumer signs.
func agreementRecord(a *store.Agreement, t agreementTerms, ds *store.Dataset) *ledger.Record {
	lt := ledgerTerms(t.Terms)
	lt.ConsumerKeyID, lt.ConsumerSignature = t.ConsumerKeyID, t.ConsumerSignature
	lt.Evidence, lt.VerificationTokenID, lt.VerificationHash = t.Evidence, t.VerificationTokenID, t.VerificationHash
	r := &ledger.Record{ID: "agreement.signed/" + a.ID, Kind: ledger.KindAgreementSigned, Actor: a.Provider,
		Counterparty: a.Consumer, Dataset: a.DatasetID, Agreement: a.ID, PolicyHash: t.PolicyHash,
		Rights: []string{ledger.RightUse}, Terms: &lt, LegalBasis: a.LegalBasis}
	if ds != nil {
		r.Classification, r.Category = policy.Classification(ds.Classification), ds.Category
	}
	return r
}

// computeOnlyReason says why no transfer runs under a compute-only agreement.
func computeOnlyReason(ag *store.Agreement) string {
	return fmt.Sprintf("agreement %s is compute-only: its data does not leave %s; run a program there (tdsc compute run --agreement %s) and only its result leaves", ag.ID, ag.Provider, ag.ID)
}

// notRegistered tells a participant the registry says is not (or no longer)
// in the space — a reason to refuse — from a registry that could not be read,
// which is a reason to retry.
func notRegistered(err error) bool {
	return errors.Is(err, identity.ErrUnknownParticipant) || errors.Is(err, identity.ErrSuspended)
}

// agreementPolicy compiles the policy an agreement was signed under, as
// each use of it (a transfer, a computation) is evaluated against it.
func agreementPolicy(ag *store.Agreement) (*policy.Compiled, error) {
	var p dsp.Policy
	if err := json.Unmarshal(ag.Policy, &p); err != nil {
		return nil, fmt.Errorf("agreement %s: policy: %w", ag.ID, err)
	}
	pol, err := toPolicy(p)
	if err != nil {
		return nil, err
	}
	return policy.Compile(pol)
}
