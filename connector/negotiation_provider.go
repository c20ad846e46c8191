// The provider's side of a contract negotiation: DSP handlers for the
// consumer's messages (request, counter-request, event, verification) and
// the steps the provider takes (decide, send the agreement, finalize).

package connector

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/policy"
)

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
	// A retried initial request (same caller, same consumerPid) gets the
	// negotiation it already started.
	if prev, err := n.st.View(ctx).NegotiationByPeer(store.RoleProvider, caller, m.ConsumerPID); err == nil {
		msg := negMsg(prev)
		return http.StatusCreated, &msg, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, nil, err
	}
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
	if err := n.checkCallbackHost(ctx, m.CallbackAddress); err != nil {
		return 0, nil, refusedErr("callback.invalid", err.Error(), "", m.ConsumerPID)
	}
	neg := &store.Negotiation{ID: n.newID(), Role: store.RoleProvider, PeerPID: m.ConsumerPID, Counterparty: caller,
		PeerURL: m.CallbackAddress, DatasetID: offer.DatasetID, OfferID: offer.ID, Offer: reqJSON,
		State: string(dsp.NegRequested), Purpose: m.Purpose, LegalBasis: m.LegalBasis, Profiles: strings.Join(m.Profiles, " ")}
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
	// Every use the agreement would grant is judged: the data leaving (use,
	// as a transfer evaluates it) and computing where it is (compute, the
	// program judged at each run). The first refusal decides.
	grants := c.Grants()
	if len(grants) == 0 {
		return &decision{rule: "permission", reason: "the requested policy grants no action", fromRegion: self.Region, toRegion: consumer.Region}, nil
	}
	var decs []policy.Decision
	for _, action := range grants {
		req := policy.Request{Action: action, Purpose: neg.Purpose, Time: now,
			AgreementStart: now, Consumer: party(consumer), Dataset: datasetInfo(ds, self.Region), LegalBasis: neg.LegalBasis}
		if action == policy.ActionCompute {
			req.Compute = &policy.Compute{Negotiation: true}
		}
		d := policy.EvaluateWithRules(ctx, c, rules, req)
		if !d.Allowed {
			return &decision{rule: d.Rule, reason: d.Reason, fromRegion: self.Region, toRegion: consumer.Region}, nil
		}
		decs = append(decs, d)
	}
	out := &decision{allowed: true, fromRegion: self.Region, toRegion: consumer.Region}
	ag, err := toDSP(reqPol)
	if err != nil {
		return nil, err
	}
	ag.ID, ag.Type, ag.Target = n.newID(), dsp.TypeAgreement, neg.DatasetID
	ag.Assigner, ag.Assignee, ag.Timestamp = n.cfg.ParticipantID, neg.Counterparty, now.UTC().Format(time.RFC3339)
	out.terms = termsOf(c, decs, reqPol.HashWith(n.hashAlg()))
	out.agreement = ag
	out.reason = "the policy and the space's rules allow the consumer's registered attributes"
	if out.terms.ComputeOnly {
		out.reason = fmt.Sprintf("compute-only (results in groups of at least %d rows): the policy and the space's rules allow the consumer's registered attributes", out.terms.GroupSize)
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
	// tdsc:terms go only to a consumer that advertised the countersigned
	// profile: a standard peer gets an agreement in DSP terms alone.
	if slices.Contains(strings.Fields(neg.Profiles), dsp.ProfileCountersigned) {
		p.Terms = &t.Terms
	}
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

func (n *Node) handleVerification(r *http.Request, caller string) (int, any, error) {
	// The body is kept: with acknowledged evidence its hash goes on the ledger.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, &dsp.DecodeError{Type: dsp.TypeContractAgreementVerificationMessage, Reason: "reading body: " + err.Error(), Err: dsp.ErrTooLarge}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	m, neg, err := openNegotiation(n, r, caller, store.RoleProvider, dsp.DecodeAgreementVerification, addressed, "")
	if err != nil {
		return 0, nil, err
	}
	if neg.State == string(dsp.NegVerified) {
		return http.StatusOK, nil, nil // a retried verification: already so (the first one's evidence stands)
	}
	if err := canMove(neg, dsp.NegVerified); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	ag, err := n.st.View(ctx).Agreement(neg.AgreementID)
	if err != nil {
		return 0, nil, err
	}
	t, err := readTerms(ag)
	if err != nil {
		return 0, nil, err
	}
	ds, err := n.st.View(ctx).Dataset(ag.DatasetID)
	if err != nil {
		return 0, nil, err
	}
	how := "consumer verified the agreement and counter-signed its terms"
	if m.KeyID == "" && m.Signature == "" {
		// A consumer without tdsc's countersigned profile (a standard DSP
		// peer): its authenticated verification message is the evidence.
		// The ledger may still refuse it for the dataset's classification
		// (space.countersigned-evidence); providerFinalize then terminates.
		t.ConsumerKeyID, t.ConsumerSignature = "", ""
		t.Evidence, t.VerificationTokenID, t.VerificationHash = policy.EvidenceAcknowledged, callerTokenID(ctx), digest.Of(n.hashAlg(), body).String()
		how = "consumer verified the agreement (acknowledged: its verification message " + t.VerificationHash + ", token " + t.VerificationTokenID + ")"
	} else {
		t.ConsumerKeyID, t.ConsumerSignature = m.KeyID, m.Signature
		t.Evidence, t.VerificationTokenID, t.VerificationHash = "", "", ""
		if err := n.checkConsumerSignature(ctx, agreementRecord(ag, t, ds)); err != nil {
			return 0, nil, refusedErr(rulebookSignatureRule, err.Error(), neg.ID, neg.PeerPID)
		}
	}
	ag.Terms, _ = json.Marshal(t)
	rec := agreementRecord(ag, t, ds)
	hold := n.cfg.HoldFinalize
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		if hold {
			// The operator signs off first (approve); providerFinalize then
			// puts the record in the outbox.
			neg.Awaiting = awaitFinalize
		}
		if err := transition(tx, neg, dsp.NegVerified, caller, how); err != nil {
			return err
		}
		if hold {
			return nil
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
	n.watch.changed(neg.ID)
	if !hold {
		n.lw.wake()
		n.tasks.kick(taskProviderFinalize, neg.ID)
	}
	return http.StatusOK, nil, nil
}

// callerTokenID is the id (jti) of the protocol token the request came with.
func callerTokenID(ctx context.Context) string {
	c, _ := identity.FromContext(ctx)
	switch c := c.(type) {
	case *identity.ProtocolClaims:
		return c.ID
	case *dcp.Result: // a DID peer: the jti of its self-issued ID token
		return c.Claims.ID
	}
	return ""
}

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

func (n *Node) handleCounterRequest(r *http.Request, caller string) (int, any, error) {
	m, neg, err := openNegotiation(n, r, caller, store.RoleProvider, dsp.DecodeContractRequest, addressed, dsp.NegRequested)
	if err != nil {
		return 0, nil, err
	}
	if m.Offer.Target != "" && m.Offer.Target != neg.DatasetID {
		return 0, nil, refusedErr("offer.target", fmt.Sprintf("the counter-request is for %q; this negotiation is about dataset %q", m.Offer.Target, neg.DatasetID), neg.ID, neg.PeerPID)
	}
	req := m.Offer
	req.Target = neg.DatasetID
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return 0, nil, err
	}
	// The counter-request replaces the request; the provider decides on it
	// as on a first request (its operator, for a manual dataset).
	err = n.st.Update(r.Context(), func(tx *store.Tx) error {
		neg.Offer, neg.Awaiting = reqJSON, ""
		if err := transition(tx, neg, dsp.NegRequested, caller, "the consumer counter-requested "+req.ID); err != nil {
			return err
		}
		return tx.AddTask(taskProviderDecide, neg.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.watch.changed(neg.ID)
	n.tasks.kick(taskProviderDecide, neg.ID)
	msg := negMsg(neg)
	return http.StatusOK, &msg, nil
}

func (n *Node) handleProviderEvent(r *http.Request, caller string) (int, any, error) {
	m, neg, err := openNegotiation(n, r, caller, store.RoleProvider, dsp.DecodeNegotiationEvent, addressed, "")
	if err != nil {
		return 0, nil, err
	}
	if m.EventType != dsp.EventAccepted {
		return 0, nil, refusedErr("event.sender", "only the provider sends FINALIZED; a consumer sends ACCEPTED", neg.ID, neg.PeerPID)
	}
	if neg.State == string(dsp.NegAccepted) {
		return http.StatusOK, nil, nil // a retried ACCEPTED: already so
	}
	// ACCEPTED follows this provider's counter-offer: decide on it.
	if err := canMove(neg, dsp.NegAccepted); err != nil {
		return 0, nil, err
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
