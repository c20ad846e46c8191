package connector

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/policy"
)

// taskSendCounterOffer sends the provider's counter-offer to the consumer.
const taskSendCounterOffer = "neg.provider.send-offer"

// CounterOffer is the provider operator's answer to a request waiting for
// approval: instead of agreeing to the requested policy, offer a narrower
// one (fewer uses, a shorter window, a narrower purpose). It must be the
// request or narrower (policy.Match), so a consumer that asked for more can
// take it. The negotiation moves REQUESTED → OFFERED and the offer goes to
// the consumer (ContractOfferMessage); when the consumer accepts (ACCEPTED),
// the provider decides on the counter-offer as on a request — policy and
// space rules against the consumer's registered attributes — and agrees on
// it. Reason is kept in the negotiation's history.
func (n *Node) CounterOffer(ctx context.Context, id string, offer json.RawMessage, reason string) (*store.Negotiation, error) {
	return n.counterOffer(ctx, id, offer, reason, false)
}

// counterOffer is CounterOffer; with hold, the operator decides again once
// the consumer accepts (CounterOfferRequest.Hold).
func (n *Node) counterOffer(ctx context.Context, id string, offer json.RawMessage, reason string, hold bool) (*store.Negotiation, error) {
	neg, err := n.awaitingApproval(ctx, id, "a counter-offer")
	if err != nil {
		return nil, err
	}
	if neg.State != string(dsp.NegRequested) {
		return nil, fmt.Errorf("%w: negotiation %s is %s; only a request takes a counter-offer", errInvalidTransition, id, neg.State)
	}
	if len(offer) == 0 {
		return nil, badRequest("policy: required (an ODRL Offer, the request or narrower)")
	}
	counter, err := policy.Parse(offer)
	if err != nil {
		return nil, err
	}
	if _, err := policy.Compile(counter); err != nil {
		return nil, err
	}
	var reqWire dsp.Policy
	if err := json.Unmarshal(neg.Offer, &reqWire); err != nil {
		return nil, err
	}
	req, err := toPolicy(reqWire)
	if err != nil {
		return nil, err
	}
	req.Target, counter.Target = "", ""
	if err := policy.Match(req, counter); err != nil {
		return nil, badRequest("policy: a counter-offer must be the consumer's request or narrower: %v", err)
	}
	wire, err := toDSP(counter)
	if err != nil {
		return nil, err
	}
	wire.ID, wire.Type, wire.Target = n.newID(), dsp.TypeOffer, neg.DatasetID
	b, err := json.Marshal(wire)
	if err != nil {
		return nil, err
	}
	why := "counter-offered " + wire.ID + " by the operator"
	if reason != "" {
		why += ": " + reason
	}
	var out *store.Negotiation // as this operation left it
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		// The operator has decided; the consumer's acceptance is all that is
		// left — unless the operator holds the decision for after it.
		neg.Offer, neg.Awaiting = b, awaitApproved
		if hold {
			neg.Awaiting = ""
		}
		if err := transition(tx, neg, dsp.NegOffered, "operator", why); err != nil {
			return err
		}
		if err := tx.AddTask(taskSendCounterOffer, neg.ID); err != nil {
			return err
		}
		out, err = tx.NegotiationWithHistory(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.watch.changed(neg.ID)
	n.tasks.kick(taskSendCounterOffer, neg.ID)
	return out, nil
}

func (n *Node) sendCounterOffer(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegOffered) {
		return err
	}
	var offer dsp.Policy
	if err := json.Unmarshal(neg.Offer, &offer); err != nil {
		return err
	}
	msg := &dsp.ContractOfferMessage{Header: dsp.NewHeader(dsp.TypeContractOfferMessage), ProviderPID: neg.ID, ConsumerPID: neg.PeerPID,
		Offer: offer}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/offers"), msg)
	return n.peerFailed(ctx, neg, err)
}

// taskSendCounterRequest sends the consumer's counter-request to the provider.
const taskSendCounterRequest = "neg.consumer.send-counter-request"

// What a consumer with ManualOffers rests on: an offer (OFFERED) or an
// agreement to verify (AGREED).
const (
	awaitOffer  = "operator decision on the offer"
	awaitVerify = "operator verification of the agreement"
	// awaitFinalize: a provider with HoldFinalize, in VERIFIED.
	awaitFinalize = "operator sign-off of the verified agreement"
)

// offerWaiting reads consumer negotiation id, refusing one that is not an
// offer waiting for the operator.
func (n *Node) offerWaiting(ctx context.Context, id, what string) (*store.Negotiation, error) {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil {
		return nil, err
	}
	if neg.Role != store.RoleConsumer || neg.State != string(dsp.NegOffered) && (what != "an acceptance" || neg.State != string(dsp.NegAgreed) || neg.Awaiting != awaitVerify) {
		return nil, fmt.Errorf("%w: negotiation %s is a %s negotiation in %s; only a consumer's offer in OFFERED (or, to accept, an agreement in AGREED awaiting verification) takes %s", errInvalidTransition, id, neg.Role, neg.State, what)
	}
	return neg, nil
}

// AcceptOffer is the consumer operator's acceptance of what its negotiation
// rests on (ManualOffers): an offer (ACCEPTED goes to the provider) or an
// agreement (it is verified).
func (n *Node) AcceptOffer(ctx context.Context, id string) (*store.Negotiation, error) {
	neg, err := n.offerWaiting(ctx, id, "an acceptance")
	if err != nil {
		return nil, err
	}
	task, what := taskConsumerAccept, "the operator accepts the offer"
	if neg.State == string(dsp.NegAgreed) {
		task, what = taskConsumerVerify, "the operator accepts the agreement"
	}
	var out *store.Negotiation // as this operation left it
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		neg.Awaiting = ""
		if err := tx.UpdateNegotiation(neg, neg.State, "operator", what); err != nil {
			return err
		}
		if err := tx.AddTask(task, neg.ID); err != nil {
			return err
		}
		out, err = tx.NegotiationWithHistory(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.tasks.kick(task, neg.ID)
	return out, nil
}

// CounterRequest answers the offer a consumer rests on with a
// counter-request (ContractRequestMessage to the provider): the negotiation
// moves OFFERED → REQUESTED and the provider decides again.
func (n *Node) CounterRequest(ctx context.Context, id string, offer json.RawMessage, reason string) (*store.Negotiation, error) {
	neg, err := n.offerWaiting(ctx, id, "a counter-request")
	if err != nil {
		return nil, err
	}
	if len(offer) == 0 {
		return nil, badRequest("policy: required (an ODRL Offer: what the consumer asks for instead)")
	}
	p, err := policy.Parse(offer)
	if err != nil {
		return nil, err
	}
	if _, err := policy.Compile(p); err != nil {
		return nil, err
	}
	wire, err := toDSP(p)
	if err != nil {
		return nil, err
	}
	wire.Type, wire.Target = dsp.TypeOffer, neg.DatasetID
	if wire.ID == "" {
		wire.ID = n.newID()
	}
	b, err := json.Marshal(wire)
	if err != nil {
		return nil, err
	}
	why := "counter-requested " + wire.ID + " by the operator"
	if reason != "" {
		why += ": " + reason
	}
	var out *store.Negotiation // as this operation left it
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		neg.Offer, neg.Awaiting = b, ""
		if err := transition(tx, neg, dsp.NegRequested, "operator", why); err != nil {
			return err
		}
		if err := tx.AddTask(taskSendCounterRequest, neg.ID); err != nil {
			return err
		}
		out, err = tx.NegotiationWithHistory(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.watch.changed(neg.ID)
	n.tasks.kick(taskSendCounterRequest, neg.ID)
	return out, nil
}

func (n *Node) sendCounterRequest(ctx context.Context, id string) error {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil || neg.State != string(dsp.NegRequested) || neg.PeerPID == "" {
		return err
	}
	var offer dsp.Policy
	if err := json.Unmarshal(neg.Offer, &offer); err != nil {
		return err
	}
	msg := &dsp.ContractRequestMessage{Header: dsp.NewHeader(dsp.TypeContractRequestMessage), ProviderPID: neg.PeerPID,
		ConsumerPID: neg.ID, Offer: offer, Profiles: []string{dsp.ProfileCountersigned}}
	_, err = n.peers.post(ctx, neg.Counterparty, joinURL(neg.PeerURL, "/negotiations/"+neg.PeerPID+"/request"), msg)
	return n.peerFailed(ctx, neg, err)
}
