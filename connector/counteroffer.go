package connector

import (
	"context"
	"encoding/json"

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
	neg, err := n.awaitingApproval(ctx, id, "a counter-offer")
	if err != nil {
		return nil, err
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
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		// The operator has decided; the consumer's acceptance is all that is left.
		neg.Offer, neg.Awaiting = b, awaitApproved
		if err := transition(tx, neg, dsp.NegOffered, "operator", why); err != nil {
			return err
		}
		return tx.AddTask(taskSendCounterOffer, neg.ID)
	})
	if err != nil {
		return nil, err
	}
	n.watch.changed(neg.ID)
	n.tasks.kick(taskSendCounterOffer, neg.ID)
	return n.st.View(ctx).NegotiationWithHistory(id)
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
