// The consumer's side of a contract negotiation: the operator's start, DSP
// handlers for the provider's messages (offer, counter-offer, agreement,
// event) and the steps the consumer takes (request, accept, verify).

package connector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

func (n *Node) handleInitialOffer(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeContractOffer(r.Body)
	if err != nil {
		return 0, nil, err
	}
	return 0, nil, refusedErr("offer.unsolicited", "this consumer takes no provider-initiated offers; it negotiates from your catalogue", m.ProviderPID, m.ConsumerPID)
}

// handleCounterOffer takes a provider's counter-offer: if it is the request
// or narrower (policy.Match), the consumer moves to OFFERED and accepts it
// (ACCEPTED event); otherwise it terminates with the reason.
func (n *Node) handleCounterOffer(r *http.Request, caller string) (int, any, error) {
	m, neg, err := openNegotiation(n, r, caller, store.RoleConsumer, dsp.DecodeContractOffer, adopting, "")
	if err != nil {
		return 0, nil, err
	}
	if neg.State == string(dsp.NegOffered) && neg.Offer != nil {
		var cur dsp.Policy
		if json.Unmarshal(neg.Offer, &cur) == nil && cur.ID == m.Offer.ID {
			return http.StatusOK, nil, nil // a retried offer: already so
		}
	}
	if err := canMove(neg, dsp.NegOffered); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	var reqWire dsp.Policy
	if err := json.Unmarshal(neg.Offer, &reqWire); err != nil {
		return 0, nil, err
	}
	reason := ""
	reqPol, err := toPolicy(reqWire)
	if err != nil {
		return 0, nil, err
	}
	offer := m.Offer
	if offer.Target == "" {
		offer.Target = neg.DatasetID
	}
	offPol, err := toPolicy(offer)
	switch {
	case err != nil:
		reason = "the counter-offer's policy is not valid: " + err.Error()
	case offer.Target != neg.DatasetID:
		reason = fmt.Sprintf("the counter-offer is for %q, not the requested dataset %q", offer.Target, neg.DatasetID)
	default:
		reqPol.Target, offPol.Target = "", ""
		if err := policy.Match(reqPol, offPol); err != nil {
			reason = "the counter-offer is broader than the request: " + err.Error()
		}
	}
	if reason != "" {
		if err := n.terminateNegotiation(ctx, neg.ID, n.cfg.ParticipantID, "counter-offer.refused", reason, true); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, nil, nil
	}
	b, _ := json.Marshal(offer)
	manual := n.cfg.ManualOffers
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		neg.Offer = b
		if manual {
			neg.Awaiting = awaitOffer
		}
		if err := transition(tx, neg, dsp.NegOffered, caller, "provider counter-offered "+offer.ID); err != nil {
			return err
		}
		if manual {
			return nil
		}
		return tx.AddTask(taskConsumerAccept, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.watch.changed(neg.ID)
	if !manual {
		n.tasks.kick(taskConsumerAccept, neg.ID)
	}
	return http.StatusOK, nil, nil
}

// consumerAccept accepts a counter-offer that is the request or narrower.
func (n *Node) consumerAccept(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil {
		return err
	}
	if neg.State == string(dsp.NegOffered) {
		err := n.st.Update(ctx, func(tx *store.Tx) error {
			return transition(tx, neg, dsp.NegAccepted, n.cfg.ParticipantID, "accepted the counter-offer: it is the request or narrower")
		})
		if err != nil {
			return err
		}
	}
	if neg.State != string(dsp.NegAccepted) {
		return nil
	}
	msg := &dsp.ContractNegotiationEventMessage{Header: dsp.NewHeader(dsp.TypeContractNegotiationEventMessage),
		ProviderPID: neg.PeerPID, ConsumerPID: neg.ID, EventType: dsp.EventAccepted}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/events"), msg)
	return n.peerFailed(ctx, neg, err)
}

// StartNegotiation is the operator's request to negotiate an offer.
type StartNegotiation = api.StartNegotiation

// StartNegotiation fetches the provider's catalogue, finds the offer and
// starts a negotiation for it; the steps run in the background.
func (n *Node) StartNegotiation(ctx context.Context, req StartNegotiation) (*store.Negotiation, error) {
	if req.ProviderURL == "" {
		return nil, badRequest("providerUrl: required (the provider's DSP base URL)")
	}
	if req.Offer == "" {
		return nil, badRequest("offer: required (an offer @id from the provider's catalogue)")
	}
	prov := req.Provider
	if prov == "" {
		var err error
		if prov, req.ProviderURL, err = n.peers.discover(ctx, req.ProviderURL); err != nil {
			return nil, err
		}
	}
	cat, err := n.peers.catalog(ctx, prov, req.ProviderURL)
	if err != nil {
		return nil, fmt.Errorf("catalogue of %s: %w", req.ProviderURL, err)
	}
	var offer *dsp.Policy
	var dataset string
	for _, d := range cat.Dataset {
		for i := range d.HasPolicy {
			if d.HasPolicy[i].ID == req.Offer {
				offer, dataset = &d.HasPolicy[i], d.ID
			}
		}
	}
	if offer == nil {
		return nil, badRequest("offer %q is not in %s's catalogue for %s (it may not exist, or its policy may not admit this participant)", req.Offer, prov, n.cfg.ParticipantID)
	}
	return n.Negotiate(ctx, NegotiateOffer{ProviderURL: req.ProviderURL, Provider: prov, Dataset: dataset, Offer: *offer,
		Purpose: req.Purpose, LegalBasis: req.LegalBasis})
}

// NegotiateOffer is an offer taken from a provider's catalogue, to negotiate.
type NegotiateOffer struct {
	ProviderURL string
	Provider    string
	Dataset     string
	Offer       dsp.Policy
	Purpose     string
	LegalBasis  string
}

// Negotiate starts a negotiation for an offer already read from the
// provider's catalogue; the steps run in the background (WaitNegotiation
// waits for the outcome).
func (n *Node) Negotiate(ctx context.Context, in NegotiateOffer) (*store.Negotiation, error) {
	if in.ProviderURL == "" || in.Provider == "" || in.Dataset == "" || in.Offer.ID == "" {
		return nil, badRequest("negotiate: ProviderURL, Provider, Dataset and Offer.@id are required")
	}
	o := in.Offer
	o.Target = in.Dataset
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	neg := &store.Negotiation{ID: n.newID(), Role: store.RoleConsumer, Counterparty: in.Provider, PeerURL: strings.TrimRight(in.ProviderURL, "/"),
		DatasetID: in.Dataset, OfferID: o.ID, Offer: b, State: string(dsp.NegRequested), Purpose: in.Purpose, LegalBasis: in.LegalBasis}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutNegotiation(neg, "operator", "operator requested offer "+o.ID+" of dataset "+in.Dataset); err != nil {
			return err
		}
		return tx.AddTask(taskSendRequest, neg.ID)
	})
	if err != nil {
		return nil, err
	}
	n.tasks.kick(taskSendRequest, neg.ID)
	return neg, nil
}

func (n *Node) sendRequest(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegRequested) || neg.PeerPID != "" {
		return err
	}
	var offer dsp.Policy
	if err := json.Unmarshal(neg.Offer, &offer); err != nil {
		return err
	}
	msg := &dsp.ContractRequestMessage{Header: dsp.NewHeader(dsp.TypeContractRequestMessage), ConsumerPID: neg.ID,
		Offer: offer, CallbackAddress: n.callbackURL(), Purpose: neg.Purpose, LegalBasis: neg.LegalBasis,
		Profiles: []string{dsp.ProfileCountersigned}}
	body, err := n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/request"), msg)
	if err != nil {
		return n.peerFailed(ctx, neg, err)
	}
	cn, err := dsp.DecodeContractNegotiation(strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("provider's answer: %w", err)
	}
	return n.st.Update(ctx, func(tx *store.Tx) error { return tx.SetNegotiationPeer(neg.ID, cn.ProviderPID) })
}

func (n *Node) handleAgreement(r *http.Request, caller string) (int, any, error) {
	m, neg, err := openNegotiation(n, r, caller, store.RoleConsumer, dsp.DecodeContractAgreement, adopting, "")
	if err != nil {
		return 0, nil, err
	}
	if neg.State == string(dsp.NegAgreed) && neg.AgreementID == m.Agreement.ID {
		return http.StatusOK, nil, nil // a retried agreement: already so
	}
	if err := canMove(neg, dsp.NegAgreed); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	terms, reason := n.checkAgreement(neg, &m.Agreement)
	if reason != "" {
		// Refused: the negotiation ends here, and the provider is told.
		if err := n.terminateNegotiation(ctx, neg.ID, n.cfg.ParticipantID, "agreement.mismatch", reason, true); err != nil {
			return 0, nil, err
		}
		return 0, nil, refusedErr("agreement.mismatch", reason, neg.PeerPID, neg.ID)
	}
	p := m.Agreement
	p.Terms = nil
	agJSON, _ := json.Marshal(p)
	at := agreementTerms{Terms: *terms}
	if m.Agreement.Terms == nil {
		at.Evidence = policy.EvidenceAcknowledged
	}
	termsJSON, _ := json.Marshal(at)
	ag := &store.Agreement{ID: m.Agreement.ID, NegotiationID: neg.ID, Role: store.RoleConsumer, Provider: neg.Counterparty,
		Consumer: n.cfg.ParticipantID, ProviderURL: neg.PeerURL, DatasetID: neg.DatasetID, Policy: agJSON, PolicyHash: terms.PolicyHash,
		Terms: termsJSON, State: store.AgreementPending, Purpose: neg.Purpose, LegalBasis: neg.LegalBasis}
	manual := n.cfg.ManualOffers
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		neg.AgreementID = ag.ID
		if manual {
			neg.Awaiting = awaitVerify
		}
		if err := transition(tx, neg, dsp.NegAgreed, caller, "provider sent agreement "+ag.ID); err != nil {
			return err
		}
		if manual {
			return nil
		}
		return tx.AddTask(taskConsumerVerify, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.watch.changed(neg.ID)
	if !manual {
		n.tasks.kick(taskConsumerVerify, neg.ID)
	}
	return http.StatusOK, nil, nil
}

// checkAgreement returns the agreement's terms, or why the consumer refuses
// it: it must be between the right parties for the right dataset, no broader
// than what was requested, and its terms must carry the hash of its policy.
func (n *Node) checkAgreement(neg *store.Negotiation, a *dsp.Policy) (*dsp.Terms, string) {
	switch {
	case a.Assignee != n.cfg.ParticipantID:
		return nil, fmt.Sprintf("agreement assignee is %q, not this consumer %q", a.Assignee, n.cfg.ParticipantID)
	case a.Assigner != neg.Counterparty:
		return nil, fmt.Sprintf("agreement assigner is %q, not the provider %q", a.Assigner, neg.Counterparty)
	case a.Target != neg.DatasetID:
		return nil, fmt.Sprintf("agreement target is %q, not the requested dataset %q", a.Target, neg.DatasetID)
	}
	agPol, err := toPolicy(*a)
	if err != nil {
		return nil, "agreement policy is not valid: " + err.Error()
	}
	var reqWire dsp.Policy
	if err := json.Unmarshal(neg.Offer, &reqWire); err != nil {
		return nil, "stored request: " + err.Error()
	}
	reqPol, err := toPolicy(reqWire)
	if err != nil {
		return nil, "stored request: " + err.Error()
	}
	reqPol.Target, agPol.Target, agPol.Assigner = "", "", ""
	if err := policy.Match(reqPol, agPol); err != nil {
		return nil, "agreement is broader than the request: " + err.Error()
	}
	if a.Terms == nil {
		// A provider without tdsc's countersigned profile (a standard DSP
		// peer): nothing to counter-sign; the verification message is the
		// consumer's assent (acknowledged evidence).
		return &dsp.Terms{PolicyHash: agPol.HashWith(n.hashAlg())}, ""
	}
	if h := agPol.HashWith(n.hashAlg()); h != a.Terms.PolicyHash {
		return nil, fmt.Sprintf("tdsc:terms.policyHash %s is not the agreement policy's hash %s", a.Terms.PolicyHash, h)
	}
	// Compute-only is what the policy grants, not the provider's say: the
	// consumer signs it, and the ledger holds transfers to it.
	c, err := policy.Compile(agPol)
	if err != nil {
		return nil, "agreement policy is not valid: " + err.Error()
	}
	if l := c.Limits(); l.ComputeOnly != a.Terms.ComputeOnly || l.GroupSize != a.Terms.GroupSize {
		return nil, fmt.Sprintf("tdsc:terms computeOnly %v, groupSize %d are not what the agreement policy grants (computeOnly %v, groupSize %d)",
			a.Terms.ComputeOnly, a.Terms.GroupSize, l.ComputeOnly, l.GroupSize)
	}
	return a.Terms, ""
}

// consumerVerify counter-signs the agreement terms and sends the verification.
func (n *Node) consumerVerify(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil {
		return err
	}
	if neg.State != string(dsp.NegAgreed) && neg.State != string(dsp.NegVerified) {
		return nil
	}
	ag, err := n.st.View(ctx).Agreement(neg.AgreementID)
	if err != nil {
		return err
	}
	t, err := readTerms(ag)
	if err != nil {
		return err
	}
	if neg.State == string(dsp.NegAgreed) && t.Evidence == policy.EvidenceAcknowledged {
		// No tdsc:terms from the provider: verify without a signature.
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			return transition(tx, neg, dsp.NegVerified, n.cfg.ParticipantID, "verified the agreement (the provider does not use the countersigned profile: evidence acknowledged)")
		})
		if err != nil {
			return err
		}
	} else if neg.State == string(dsp.NegAgreed) {
		rec := agreementRecord(ag, t, nil)
		sig, err := n.key.SignDetached(ledger.TermsMessage(rec))
		if err != nil {
			return err
		}
		t.ConsumerKeyID, t.ConsumerSignature = n.key.KeyID(), base64.RawURLEncoding.EncodeToString(sig)
		ag.Terms, _ = json.Marshal(t)
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			if err := tx.PutAgreement(ag); err != nil {
				return err
			}
			return transition(tx, neg, dsp.NegVerified, n.cfg.ParticipantID, "verified the agreement and counter-signed its terms with key "+n.key.KeyID())
		})
		if err != nil {
			return err
		}
	}
	msg := &dsp.ContractAgreementVerificationMessage{Header: dsp.NewHeader(dsp.TypeContractAgreementVerificationMessage),
		ProviderPID: neg.PeerPID, ConsumerPID: neg.ID, KeyID: t.ConsumerKeyID, Signature: t.ConsumerSignature}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/agreement/verification"), msg)
	return n.peerFailed(ctx, neg, err)
}

func (n *Node) handleConsumerEvent(r *http.Request, caller string) (int, any, error) {
	m, neg, err := openNegotiation(n, r, caller, store.RoleConsumer, dsp.DecodeNegotiationEvent, addressed, "")
	if err != nil {
		return 0, nil, err
	}
	if m.EventType != dsp.EventFinalized {
		return 0, nil, refusedErr("event.sender", "only a consumer sends ACCEPTED; a provider sends FINALIZED", neg.PeerPID, neg.ID)
	}
	if neg.State == string(dsp.NegFinalized) {
		return http.StatusOK, nil, nil // a retried FINALIZED: already so
	}
	if err := canMove(neg, dsp.NegFinalized); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		ag, err := tx.Agreement(neg.AgreementID)
		if err != nil {
			return err
		}
		ag.State, ag.SignedAt, ag.RecordID = store.AgreementActive, n.now().UTC().Format(time.RFC3339Nano), "agreement.signed/"+ag.ID
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		t, err := readTerms(ag)
		if err != nil {
			return err
		}
		for _, d := range t.Duties {
			if err := tx.PutDuty(&store.Duty{AgreementID: ag.ID, DutyID: d.ID, Action: d.Action, Due: d.Due}); err != nil {
				return err
			}
		}
		return transition(tx, neg, dsp.NegFinalized, caller, "provider finalized: the agreement is on the ledger")
	})
	if err != nil {
		return 0, nil, err
	}
	n.watch.changed(neg.ID)
	return http.StatusOK, nil, nil
}
