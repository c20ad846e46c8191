package connector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tdsc/tdsc/connector/api"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// Task kinds of the negotiation state machines.
const (
	taskProviderDecide    = "neg.provider.decide"
	taskSendAgreement     = "neg.provider.send-agreement"
	taskProviderFinalize  = "neg.provider.finalize"
	taskSendFinalized     = "neg.provider.send-finalized"
	taskSendRequest       = "neg.consumer.send-request"
	taskConsumerVerify    = "neg.consumer.verify"
	taskConsumerAccept    = "neg.consumer.accept"
	taskSendNegTerminated = "neg.send-termination"
)

// pids returns (providerPid, consumerPid) of a negotiation or transfer.
func pids(role, id, peer string) (string, string) {
	if role == store.RoleProvider {
		return id, peer
	}
	return peer, id
}

func negMsg(n *store.Negotiation) dsp.ContractNegotiation {
	p, c := pids(n.Role, n.ID, n.PeerPID)
	return dsp.ContractNegotiation{Header: dsp.NewHeader(dsp.TypeContractNegotiation), ProviderPID: p, ConsumerPID: c, State: n.State}
}

// ownNegotiation finds the negotiation pid of the given role whose
// counterparty is caller; anything else is 404 (the spec's answer for both
// unknown and unauthorised).
func (n *Node) ownNegotiation(ctx context.Context, pid, role, caller string) (*store.Negotiation, error) {
	neg, err := n.st.View(ctx).Negotiation(pid)
	if errors.Is(err, store.ErrNotFound) || err == nil && (neg.Role != role || neg.Counterparty != caller) {
		return nil, notFoundErr("contract negotiation", pid)
	}
	return neg, err
}

// addressedNegotiation is ownNegotiation for a message that names both pids:
// it also refuses a message whose pids do not match the negotiation.
func (n *Node) addressedNegotiation(ctx context.Context, pid, role, caller, providerPid, consumerPid string) (*store.Negotiation, error) {
	neg, err := n.ownNegotiation(ctx, pid, role, caller)
	if err != nil {
		return nil, err
	}
	if err := checkPids(neg, providerPid, consumerPid); err != nil {
		return nil, err
	}
	return neg, nil
}

// peerNegotiation is addressedNegotiation for a message that may be the
// first to name the provider's pid to a consumer (it overtook the provider's
// 201): a consumer negotiation without one takes it.
func (n *Node) peerNegotiation(ctx context.Context, pid, role, caller, providerPid, consumerPid string) (*store.Negotiation, error) {
	neg, err := n.ownNegotiation(ctx, pid, role, caller)
	if err != nil {
		return nil, err
	}
	if neg.PeerPID == "" && role == store.RoleConsumer {
		neg.PeerPID = providerPid
	}
	if err := checkPids(neg, providerPid, consumerPid); err != nil {
		return nil, err
	}
	return neg, nil
}

// checkPids refuses a message whose ids do not match the negotiation.
func checkPids(neg *store.Negotiation, providerPid, consumerPid string) error {
	wantP, wantC := pids(neg.Role, neg.ID, neg.PeerPID)
	if providerPid != wantP || (wantC != "" && consumerPid != wantC) {
		return refusedErr("pid-mismatch", fmt.Sprintf("message names providerPid %q and consumerPid %q; this negotiation is providerPid %q, consumerPid %q",
			providerPid, consumerPid, wantP, wantC), providerPid, consumerPid)
	}
	return nil
}

// transition moves neg to state `to` in tx, checking the spec allows it.
func transition(tx *store.Tx, neg *store.Negotiation, to dsp.NegotiationState, actor, reason string) error {
	from := neg.State
	if !dsp.NegotiationState(from).CanMove(to) {
		p, c := pids(neg.Role, neg.ID, neg.PeerPID)
		return transitionErr("contract negotiation "+neg.ID, from, string(to), p, c)
	}
	neg.State = string(to)
	return tx.UpdateNegotiation(neg, from, actor, reason)
}

// ---- provider side

func (n *Node) handleNegotiationRequest(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeContractRequest(r.Body)
	if err != nil {
		return 0, nil, err
	}
	if m.ProviderPID != "" {
		return 0, nil, refusedErr("initial-request", "an initial contract request must not carry providerPid; continue a negotiation at /negotiations/{providerPid}/request", m.ProviderPID, m.ConsumerPID)
	}
	if err := checkCallback(m.CallbackAddress); err != nil {
		return 0, nil, refusedErr("callback.invalid", err.Error(), "", m.ConsumerPID)
	}
	ctx := r.Context()
	offer, err := n.st.View(ctx).Offer(m.Offer.ID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, refusedErr("offer.unknown", fmt.Sprintf("offer %q is not offered by %s; request the catalogue for the current offers and send one of their @id", m.Offer.ID, n.cfg.ParticipantID), "", m.ConsumerPID)
	} else if err != nil {
		return 0, nil, err
	}
	if m.Offer.Target != "" && m.Offer.Target != offer.DatasetID {
		return 0, nil, refusedErr("offer.target", fmt.Sprintf("offer %q covers dataset %q, not %q", offer.ID, offer.DatasetID, m.Offer.Target), "", m.ConsumerPID)
	}
	req := m.Offer
	req.Target = offer.DatasetID
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return 0, nil, err
	}
	neg := &store.Negotiation{ID: n.newID(), Role: store.RoleProvider, PeerPID: m.ConsumerPID, Counterparty: caller,
		PeerURL: m.CallbackAddress, DatasetID: offer.DatasetID, OfferID: offer.ID, Offer: reqJSON,
		State: string(dsp.NegRequested), Purpose: m.Purpose, LegalBasis: m.LegalBasis}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutNegotiation(neg, caller, "contract request received for offer "+offer.ID); err != nil {
			return err
		}
		return tx.AddTask(taskProviderDecide, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.tasks.kick(taskProviderDecide, neg.ID)
	msg := negMsg(neg)
	return http.StatusCreated, &msg, nil
}

// checkCallback accepts an absolute http(s) URL without credentials, query
// or fragment: where this node will send the counterparty's messages.
func checkCallback(s string) error {
	if s == "" {
		return errors.New("callbackAddress is required on an initial request")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("callbackAddress %q must be an absolute http(s) URL without credentials, query or fragment", s)
	}
	return nil
}

// decision is the provider's answer to a contract request.
type decision struct {
	allowed      bool
	rule, reason string
	agreement    dsp.Policy
	terms        dsp.Terms
	fromRegion   string
	toRegion     string
}

// decide evaluates a request: it must match the offer, and the requested
// policy and the space rules must allow the consumer's registered attributes.
func (n *Node) decide(ctx context.Context, neg *store.Negotiation, ds *store.Dataset) (*decision, error) {
	offer, err := n.st.View(ctx).Offer(neg.OfferID)
	if err != nil {
		return nil, err
	}
	co, err := n.offerPolicy(offer)
	if err != nil {
		return nil, err
	}
	var reqWire dsp.Policy
	if err := json.Unmarshal(neg.Offer, &reqWire); err != nil {
		return nil, err
	}
	reqPol, err := toPolicy(reqWire)
	if err != nil {
		return &decision{rule: "offer.parse", reason: "the requested policy is not valid: " + err.Error()}, nil
	}
	reqPol.Target = ""
	offerPol := *co.pol
	offerPol.Target = ""
	if err := policy.Match(&offerPol, reqPol); err != nil {
		return &decision{rule: "offer.match", reason: "the requested policy is not the offer " + offer.ID + " nor narrower: " + err.Error()}, nil
	}
	consumer, err := n.registry.Participant(ctx, neg.Counterparty)
	if notRegistered(err) {
		return &decision{rule: "participant.registered", reason: err.Error()}, nil
	} else if err != nil {
		return nil, err // the registry could not be read (ledger away): retry, never refuse
	}
	self, err := n.registry.Participant(ctx, n.cfg.ParticipantID)
	if err != nil {
		return nil, fmt.Errorf("own participant record: %w", err)
	}
	rules, err := n.spaceRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("space rules: %w", err)
	}
	c, err := policy.Compile(reqPol)
	if err != nil {
		return &decision{rule: "offer.compile", reason: err.Error()}, nil
	}
	now := n.now()
	d := policy.EvaluateWithRules(ctx, c, rules, policy.Request{Action: "use", Purpose: neg.Purpose, Time: now,
		AgreementStart: now, Consumer: party(consumer), Dataset: datasetInfo(ds, self.Region), LegalBasis: neg.LegalBasis})
	out := &decision{allowed: d.Allowed, rule: d.Rule, reason: d.Reason, fromRegion: self.Region, toRegion: consumer.Region}
	if !d.Allowed {
		return out, nil
	}
	ag, err := toDSP(reqPol)
	if err != nil {
		return nil, err
	}
	ag.ID, ag.Type, ag.Target = n.newID(), dsp.TypeAgreement, neg.DatasetID
	ag.Assigner, ag.Assignee, ag.Timestamp = n.cfg.ParticipantID, neg.Counterparty, now.UTC().Format(time.RFC3339)
	out.terms = termsOf(c, d, reqPol.Hash())
	out.agreement = ag
	if out.reason == "" {
		out.reason = "the policy and the space's rules allow the consumer's registered attributes"
	}
	return out, nil
}

// providerDecide is the step after a contract request, or after the
// consumer accepted a counter-offer: agree or refuse.
func (n *Node) providerDecide(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegRequested) && neg.State != string(dsp.NegAccepted) {
		return err
	}
	ds, err := n.st.View(ctx).Dataset(neg.DatasetID)
	if err != nil {
		return err
	}
	if ds.ManualApproval && neg.Awaiting != awaitApproved {
		if neg.Awaiting == awaitApproval {
			return nil
		}
		neg.Awaiting = awaitApproval
		return n.st.Update(ctx, func(tx *store.Tx) error { return tx.UpdateNegotiation(neg, neg.State, "", "") })
	}
	d, err := n.decide(ctx, neg, ds)
	if err != nil {
		return err
	}
	if !d.allowed {
		return n.providerDeny(ctx, neg, ds, d.rule, d.reason, d.fromRegion, d.toRegion)
	}
	agJSON, _ := json.Marshal(d.agreement)
	termsJSON, _ := json.Marshal(agreementTerms{Terms: d.terms})
	ag := &store.Agreement{ID: d.agreement.ID, NegotiationID: neg.ID, Role: store.RoleProvider, Provider: n.cfg.ParticipantID,
		Consumer: neg.Counterparty, DatasetID: neg.DatasetID, Policy: agJSON, PolicyHash: d.terms.PolicyHash, Terms: termsJSON,
		State: store.AgreementPending, Purpose: neg.Purpose, LegalBasis: neg.LegalBasis}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		neg.AgreementID, neg.Awaiting = ag.ID, ""
		if err := transition(tx, neg, dsp.NegAgreed, n.cfg.ParticipantID, "agreed: "+d.reason); err != nil {
			return err
		}
		return tx.AddTask(taskSendAgreement, neg.ID)
	})
	if err != nil {
		return err
	}
	n.tasks.kick(taskSendAgreement, neg.ID)
	return nil
}

const (
	awaitApproval = "operator approval"
	awaitApproved = "approved"
)

// providerDeny terminates a negotiation the provider refuses, recording
// negotiation.denied with the rule and reason, and tells the consumer.
func (n *Node) providerDeny(ctx context.Context, neg *store.Negotiation, ds *store.Dataset, rule, reason, from, to string) error {
	rec := &ledger.Record{ID: "negotiation.denied/" + neg.ID, Kind: ledger.KindNegotiationDenied, Counterparty: neg.Counterparty,
		Dataset: neg.DatasetID, Offer: neg.OfferID, Decision: ledger.DecisionDeny, Rule: rule, Reason: reason,
		FromRegion: from, ToRegion: to, CrossBorder: from != "" && to != "" && policy.CrossBorder(from, to)}
	if ds != nil {
		rec.Classification, rec.Category = policy.Classification(ds.Classification), ds.Category
	}
	from0 := neg.State
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		neg.Code, neg.Rule, neg.Reason, neg.Awaiting = "refused", rule, reason, ""
		if err := transition(tx, neg, dsp.NegTerminated, n.cfg.ParticipantID, "refused by "+rule+": "+reason); err != nil {
			return err
		}
		if neg.AgreementID != "" {
			if ag, err := tx.Agreement(neg.AgreementID); err == nil && ag.State == store.AgreementPending {
				ag.State, ag.Reason = "refused", reason
				if err := tx.PutAgreement(ag); err != nil {
					return err
				}
			}
		}
		if err := n.lw.enqueue(tx, rec); err != nil {
			return err
		}
		return tx.AddTask(taskSendNegTerminated, neg.ID)
	})
	if err != nil {
		return err
	}
	n.watch.changed(neg.ID)
	n.log.Info("negotiation refused", "negotiation", neg.ID, "from", from0, "rule", rule, "reason", reason)
	n.lw.wake()
	n.tasks.kick(taskSendNegTerminated, neg.ID)
	return nil
}

// agreementMessage rebuilds the agreement message from the store.
func (n *Node) agreementMessage(neg *store.Negotiation, ag *store.Agreement) (*dsp.ContractAgreementMessage, error) {
	var p dsp.Policy
	if err := json.Unmarshal(ag.Policy, &p); err != nil {
		return nil, err
	}
	t, err := readTerms(ag)
	if err != nil {
		return nil, err
	}
	p.Terms = &t.Terms
	return &dsp.ContractAgreementMessage{Header: dsp.NewHeader(dsp.TypeContractAgreementMessage),
		ProviderPID: neg.ID, ConsumerPID: neg.PeerPID, Agreement: p}, nil
}

func (n *Node) sendAgreement(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegAgreed) {
		return err
	}
	ag, err := n.st.View(ctx).Agreement(neg.AgreementID)
	if err != nil {
		return err
	}
	msg, err := n.agreementMessage(neg, ag)
	if err != nil {
		return err
	}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/agreement"), msg)
	return n.peerFailed(ctx, neg, err)
}

// peerFailed terminates the negotiation when the peer refused a message
// (a *PeerError); other errors are returned for a retry.
func (n *Node) peerFailed(ctx context.Context, neg *store.Negotiation, err error) error {
	var pe *PeerError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.alreadyApplied() {
		n.log.Info("peer already has this message (a re-send after a restart)", "negotiation", neg.ID, "peer", pe.Reason())
		return nil
	}
	terr := n.terminateNegotiation(ctx, neg.ID, neg.Counterparty, "peer-refused", "the counterparty refused: "+pe.Reason(), false)
	if terr != nil && !errors.Is(terr, errInvalidTransition) {
		return terr
	}
	return err
}

// terminateNegotiation moves a negotiation to TERMINATED with the reason,
// telling the peer if notify is set.
func (n *Node) terminateNegotiation(ctx context.Context, id, actor, code, reason string, notify bool) error {
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		neg, err := tx.Negotiation(id)
		if err != nil {
			return err
		}
		neg.Code, neg.Reason, neg.Awaiting = code, reason, ""
		if err := transition(tx, neg, dsp.NegTerminated, actor, reason); err != nil {
			return err
		}
		if neg.AgreementID != "" {
			if ag, err := tx.Agreement(neg.AgreementID); err == nil && ag.State == store.AgreementPending {
				ag.State, ag.Reason = "refused", reason
				if err := tx.PutAgreement(ag); err != nil {
					return err
				}
			}
		}
		if notify {
			return tx.AddTask(taskSendNegTerminated, id)
		}
		return nil
	})
	if err == nil {
		n.watch.changed(id)
	}
	if err == nil && notify {
		n.tasks.kick(taskSendNegTerminated, id)
	}
	return err
}

func (n *Node) sendNegTermination(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegTerminated) || neg.PeerPID == "" {
		return err
	}
	p, c := pids(neg.Role, neg.ID, neg.PeerPID)
	msg := &dsp.ContractNegotiationTerminationMessage{Header: dsp.NewHeader(dsp.TypeContractNegotiationTerminationMessage),
		ProviderPID: p, ConsumerPID: c, Code: neg.Rule, Reason: []string{neg.Reason}}
	if msg.Code == "" {
		msg.Code = neg.Code
	}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/termination"), msg)
	var pe *PeerError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: peer did not take the termination: %v", errPermanent, pe)
	}
	return err
}

func (n *Node) handleVerification(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeAgreementVerification(r.Body)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	neg, err := n.addressedNegotiation(ctx, r.PathValue("pid"), store.RoleProvider, caller, m.ProviderPID, m.ConsumerPID)
	if err != nil {
		return 0, nil, err
	}
	if !dsp.NegotiationState(neg.State).CanMove(dsp.NegVerified) {
		return 0, nil, transitionErr("contract negotiation "+neg.ID, neg.State, string(dsp.NegVerified), neg.ID, neg.PeerPID)
	}
	ag, err := n.st.View(ctx).Agreement(neg.AgreementID)
	if err != nil {
		return 0, nil, err
	}
	t, err := readTerms(ag)
	if err != nil {
		return 0, nil, err
	}
	t.ConsumerKeyID, t.ConsumerSignature = m.KeyID, m.Signature
	ds, err := n.st.View(ctx).Dataset(ag.DatasetID)
	if err != nil {
		return 0, nil, err
	}
	if err := n.checkConsumerSignature(ctx, agreementRecord(ag, t, ds)); err != nil {
		return 0, nil, refusedErr(rulebookSignatureRule, err.Error(), neg.ID, neg.PeerPID)
	}
	ag.Terms, _ = json.Marshal(t)
	rec := agreementRecord(ag, t, ds)
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		if err := transition(tx, neg, dsp.NegVerified, caller, "consumer verified the agreement and counter-signed its terms"); err != nil {
			return err
		}
		// The strict record goes into the outbox with the state change; the
		// finalize step waits for its commit before FINALIZED.
		if err := n.lw.enqueue(tx, rec); err != nil {
			return err
		}
		return tx.AddTask(taskProviderFinalize, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.lw.wake()
	n.tasks.kick(taskProviderFinalize, neg.ID)
	return http.StatusOK, nil, nil
}

const rulebookSignatureRule = "agreement.consumer-signature"

// checkConsumerSignature checks the consumer's signature over the terms with
// its registered key, as the ledger's rulebook will.
func (n *Node) checkConsumerSignature(ctx context.Context, rec *ledger.Record) error {
	if rec.Terms.ConsumerKeyID == "" || rec.Terms.ConsumerSignature == "" {
		return errors.New("the verification must carry tdsc:keyId and tdsc:signature: the consumer's signature over the agreement terms")
	}
	p, err := n.registry.Participant(ctx, rec.Counterparty)
	if err != nil {
		return err
	}
	k, ok := p.Key(rec.Terms.ConsumerKeyID)
	if !ok {
		return fmt.Errorf("key %q is not a registered key of %s", rec.Terms.ConsumerKeyID, p.ID)
	}
	sig, err := base64.RawURLEncoding.DecodeString(rec.Terms.ConsumerSignature)
	if err != nil {
		return fmt.Errorf("tdsc:signature is not base64url: %v", err)
	}
	if err := k.VerifyDetached(ledger.TermsMessage(rec), sig); err != nil {
		return fmt.Errorf("the consumer's signature over the agreement terms does not verify with key %s", k.Kid)
	}
	return nil
}

// providerFinalize commits agreement.signed to the ledger (strict), then
// finalizes the negotiation.
func (n *Node) providerFinalize(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegVerified) {
		return err
	}
	ag, err := n.st.View(ctx).Agreement(neg.AgreementID)
	if err != nil {
		return err
	}
	t, err := readTerms(ag)
	if err != nil {
		return err
	}
	ds, err := n.st.View(ctx).Dataset(ag.DatasetID)
	if err != nil {
		return err
	}
	rec := agreementRecord(ag, t, ds)
	if _, _, err := n.st.View(ctx).OutboxState(rec.ID); errors.Is(err, store.ErrNotFound) {
		if err := n.st.Update(ctx, func(tx *store.Tx) error { return n.lw.enqueue(tx, rec) }); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, n.cfg.StrictTimeout)
	err = n.lw.wait(wctx, rec.ID)
	cancel()
	if errors.Is(err, ErrLedgerRefused) {
		rule, reason := refusal(err)
		if derr := n.providerDeny(ctx, neg, ds, rule, "the ledger refused the agreement: "+reason, "", ""); derr != nil {
			return derr
		}
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	if err != nil {
		return err
	}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		ag.State, ag.RecordID, ag.SignedAt = store.AgreementActive, rec.ID, rec.Time
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		if err := transition(tx, neg, dsp.NegFinalized, n.cfg.ParticipantID, "agreement.signed committed to the ledger as "+rec.ID); err != nil {
			return err
		}
		return tx.AddTask(taskSendFinalized, neg.ID)
	})
	if err != nil {
		return err
	}
	n.watch.changed(neg.ID)
	n.tasks.kick(taskSendFinalized, neg.ID)
	return nil
}

// refusal is the rule a ledger refusal names and its reason without the rule.
func refusal(err error) (rule, reason string) {
	if rule, reason, ok := ledger.RefusalOf(err); ok {
		return rule, reason
	}
	return "ledger.refused", err.Error()
}

func (n *Node) sendFinalized(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegFinalized) {
		return err
	}
	msg := &dsp.ContractNegotiationEventMessage{Header: dsp.NewHeader(dsp.TypeContractNegotiationEventMessage),
		ProviderPID: neg.ID, ConsumerPID: neg.PeerPID, EventType: dsp.EventFinalized}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/events"), msg)
	var pe *PeerError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: consumer did not take FINALIZED: %v", errPermanent, pe)
	}
	return err
}

func (n *Node) handleNegotiationGet(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		neg, err := n.ownNegotiation(r.Context(), r.PathValue("pid"), role, caller)
		if err != nil {
			return 0, nil, err
		}
		msg := negMsg(neg)
		return http.StatusOK, &msg, nil
	}
}

func (n *Node) handleCounterRequest(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeContractRequest(r.Body)
	if err != nil {
		return 0, nil, err
	}
	neg, err := n.addressedNegotiation(r.Context(), r.PathValue("pid"), store.RoleProvider, caller, m.ProviderPID, m.ConsumerPID)
	if err != nil {
		return 0, nil, err
	}
	if !dsp.NegotiationState(neg.State).CanMove(dsp.NegRequested) {
		return 0, nil, transitionErr("contract negotiation "+neg.ID, neg.State, string(dsp.NegRequested), neg.ID, neg.PeerPID)
	}
	return 0, nil, refusedErr("counter-request.unsupported", "this provider takes no counter-requests: accept its counter-offer, or terminate and request an offer from the catalogue", neg.ID, neg.PeerPID)
}

func (n *Node) handleProviderEvent(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeNegotiationEvent(r.Body)
	if err != nil {
		return 0, nil, err
	}
	neg, err := n.addressedNegotiation(r.Context(), r.PathValue("pid"), store.RoleProvider, caller, m.ProviderPID, m.ConsumerPID)
	if err != nil {
		return 0, nil, err
	}
	if m.EventType != dsp.EventAccepted {
		return 0, nil, refusedErr("event.sender", "only the provider sends FINALIZED; a consumer sends ACCEPTED", neg.ID, neg.PeerPID)
	}
	// ACCEPTED follows this provider's counter-offer: decide on it.
	if !dsp.NegotiationState(neg.State).CanMove(dsp.NegAccepted) {
		return 0, nil, transitionErr("contract negotiation "+neg.ID, neg.State, string(dsp.NegAccepted), neg.ID, neg.PeerPID)
	}
	err = n.st.Update(r.Context(), func(tx *store.Tx) error {
		if err := transition(tx, neg, dsp.NegAccepted, caller, "the consumer accepted the counter-offer"); err != nil {
			return err
		}
		return tx.AddTask(taskProviderDecide, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.watch.changed(neg.ID)
	n.tasks.kick(taskProviderDecide, neg.ID)
	return http.StatusOK, nil, nil
}

func (n *Node) handleNegotiationTermination(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		m, err := dsp.DecodeNegotiationTermination(r.Body)
		if err != nil {
			return 0, nil, err
		}
		ctx := r.Context()
		neg, err := n.peerNegotiation(ctx, r.PathValue("pid"), role, caller, m.ProviderPID, m.ConsumerPID)
		if err != nil {
			return 0, nil, err
		}
		reason := strings.Join(m.Reason, "; ")
		if reason == "" {
			reason = "terminated by the counterparty (no reason given)"
		}
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			neg.Code, neg.Rule, neg.Reason, neg.Awaiting = "terminated-by-peer", m.Code, reason, ""
			if err := transition(tx, neg, dsp.NegTerminated, caller, "the counterparty terminated: "+reason); err != nil {
				return err
			}
			if neg.AgreementID != "" {
				if ag, err := tx.Agreement(neg.AgreementID); err == nil && ag.State == store.AgreementPending {
					ag.State, ag.Reason = "refused", reason
					return tx.PutAgreement(ag)
				}
			}
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		n.watch.changed(neg.ID)
		return http.StatusOK, nil, nil
	}
}

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
	m, err := dsp.DecodeContractOffer(r.Body)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	neg, err := n.peerNegotiation(ctx, r.PathValue("pid"), store.RoleConsumer, caller, m.ProviderPID, m.ConsumerPID)
	if err != nil {
		return 0, nil, err
	}
	if !dsp.NegotiationState(neg.State).CanMove(dsp.NegOffered) {
		return 0, nil, transitionErr("contract negotiation "+neg.ID, neg.State, string(dsp.NegOffered), neg.PeerPID, neg.ID)
	}
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
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		neg.Offer = b
		if err := transition(tx, neg, dsp.NegOffered, caller, "provider counter-offered "+offer.ID); err != nil {
			return err
		}
		return tx.AddTask(taskConsumerAccept, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.tasks.kick(taskConsumerAccept, neg.ID)
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

// ---- consumer side

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
		if prov, err = n.peers.discover(ctx, req.ProviderURL); err != nil {
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
		Offer: offer, CallbackAddress: n.callbackURL(), Purpose: neg.Purpose, LegalBasis: neg.LegalBasis}
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
	m, err := dsp.DecodeContractAgreement(r.Body)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	neg, err := n.peerNegotiation(ctx, r.PathValue("pid"), store.RoleConsumer, caller, m.ProviderPID, m.ConsumerPID)
	if err != nil {
		return 0, nil, err
	}
	if !dsp.NegotiationState(neg.State).CanMove(dsp.NegAgreed) {
		return 0, nil, transitionErr("contract negotiation "+neg.ID, neg.State, string(dsp.NegAgreed), neg.PeerPID, neg.ID)
	}
	terms, reason := n.checkAgreement(neg, &m.Agreement)
	if reason != "" {
		if err := n.terminateNegotiation(ctx, neg.ID, n.cfg.ParticipantID, "agreement.mismatch", reason, false); err != nil {
			return 0, nil, err
		}
		return 0, nil, refusedErr("agreement.mismatch", reason, neg.PeerPID, neg.ID)
	}
	p := m.Agreement
	p.Terms = nil
	agJSON, _ := json.Marshal(p)
	termsJSON, _ := json.Marshal(agreementTerms{Terms: *terms})
	ag := &store.Agreement{ID: m.Agreement.ID, NegotiationID: neg.ID, Role: store.RoleConsumer, Provider: neg.Counterparty,
		Consumer: n.cfg.ParticipantID, ProviderURL: neg.PeerURL, DatasetID: neg.DatasetID, Policy: agJSON, PolicyHash: terms.PolicyHash,
		Terms: termsJSON, State: store.AgreementPending, Purpose: neg.Purpose, LegalBasis: neg.LegalBasis}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		neg.AgreementID = ag.ID
		if err := transition(tx, neg, dsp.NegAgreed, caller, "provider sent agreement "+ag.ID); err != nil {
			return err
		}
		return tx.AddTask(taskConsumerVerify, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.tasks.kick(taskConsumerVerify, neg.ID)
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
	case a.Terms == nil:
		return nil, "agreement carries no tdsc:terms to counter-sign"
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
	if h := agPol.Hash(); h != a.Terms.PolicyHash {
		return nil, fmt.Sprintf("tdsc:terms.policyHash %s is not the agreement policy's hash %s", a.Terms.PolicyHash, h)
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
	if neg.State == string(dsp.NegAgreed) {
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
	m, err := dsp.DecodeNegotiationEvent(r.Body)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	neg, err := n.addressedNegotiation(ctx, r.PathValue("pid"), store.RoleConsumer, caller, m.ProviderPID, m.ConsumerPID)
	if err != nil {
		return 0, nil, err
	}
	if m.EventType != dsp.EventFinalized {
		return 0, nil, refusedErr("event.sender", "only a consumer sends ACCEPTED; a provider sends FINALIZED", neg.PeerPID, neg.ID)
	}
	if !dsp.NegotiationState(neg.State).CanMove(dsp.NegFinalized) {
		return 0, nil, transitionErr("contract negotiation "+neg.ID, neg.State, string(dsp.NegFinalized), neg.PeerPID, neg.ID)
	}
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

func (n *Node) registerNegotiationTasks(r *taskRunner) {
	giveUp := func(ctx context.Context, id string, cause error) {
		_ = n.terminateNegotiation(ctx, id, n.cfg.ParticipantID, "gave-up", "gave up after repeated failures: "+cause.Error(), true)
	}
	r.handle(taskProviderDecide, n.providerDecide, giveUp)
	r.handle(taskSendAgreement, n.sendAgreement, giveUp)
	r.handle(taskProviderFinalize, n.providerFinalize, nil)
	r.forever[taskProviderFinalize] = true
	r.handle(taskSendFinalized, n.sendFinalized, nil)
	r.handle(taskSendRequest, n.sendRequest, giveUp)
	r.handle(taskConsumerVerify, n.consumerVerify, giveUp)
	r.handle(taskConsumerAccept, n.consumerAccept, giveUp)
	r.handle(taskSendCounterOffer, n.sendCounterOffer, giveUp)
	r.handle(taskSendNegTerminated, n.sendNegTermination, nil)
}
