package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
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

// negotiationMessage is a DSP message about an existing negotiation.
type negotiationMessage interface {
	PIDs() (providerPid, consumerPid string)
}

// How openNegotiation finds the negotiation a message addresses.
const (
	// addressed: the message must name both of the negotiation's pids.
	addressed = false
	// adopting: a consumer negotiation that does not know the provider's pid
	// yet takes it from the message (it overtook the provider's 201).
	adopting = true
)

// openNegotiation is the shared opening of every DSP handler for a message
// about an existing negotiation: decode the body, find the caller's
// negotiation of this role that the message addresses and, unless to is "",
// check that the negotiation may move to `to`. The state-transition rules
// themselves are dsp.NegotiationState.CanMove.
func openNegotiation[M negotiationMessage](n *Node, r *http.Request, caller, role string, decode func(io.Reader) (M, error), adopt bool, to dsp.NegotiationState) (M, *store.Negotiation, error) {
	m, err := decode(r.Body)
	if err != nil {
		return m, nil, err
	}
	providerPid, consumerPid := m.PIDs()
	find := n.addressedNegotiation
	if adopt {
		find = n.peerNegotiation
	}
	neg, err := find(r.Context(), r.PathValue("pid"), role, caller, providerPid, consumerPid)
	if err != nil {
		return m, nil, err
	}
	if to != "" {
		if err := canMove(neg, to); err != nil {
			return m, nil, err
		}
	}
	return m, neg, nil
}

// canMove refuses a move the DSP state machine does not allow from neg's state.
func canMove(neg *store.Negotiation, to dsp.NegotiationState) error {
	if !dsp.NegotiationState(neg.State).CanMove(to) {
		p, c := pids(neg.Role, neg.ID, neg.PeerPID)
		return transitionErr("contract negotiation "+neg.ID, neg.State, string(to), p, c)
	}
	return nil
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

const (
	awaitApproval = "operator approval"
	awaitApproved = "approved"
)

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

// TerminateNegotiation ends negotiation id on its operator's word, in any
// state that is not final, on either side, and tells the counterparty (once
// it knows the counterparty's pid). A final negotiation is refused with
// errInvalidTransition and is left as it is.
func (n *Node) TerminateNegotiation(ctx context.Context, id, reason string) (*store.Negotiation, error) {
	if reason == "" {
		reason = "terminated by the operator"
	}
	if err := n.terminateNegotiation(ctx, id, "operator", "operator.terminated", reason, true); err != nil {
		return nil, err
	}
	return n.Negotiation(ctx, id) // final now: what the termination left
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

const rulebookSignatureRule = "agreement.consumer-signature"

// refusal is the rule a ledger refusal names and its reason without the rule.
func refusal(err error) (rule, reason string) {
	if rule, reason, ok := ledger.RefusalOf(err); ok {
		return rule, reason
	}
	return "ledger.refused", err.Error()
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

func (n *Node) handleNegotiationTermination(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		m, neg, err := openNegotiation(n, r, caller, role, dsp.DecodeNegotiationTermination, adopting, "")
		if err != nil {
			return 0, nil, err
		}
		if neg.State == string(dsp.NegTerminated) {
			return http.StatusOK, nil, nil // a retried (or crossing) termination: already so
		}
		ctx := r.Context()
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
	r.handle(taskSendCounterRequest, n.sendCounterRequest, giveUp)
	r.handle(taskSendNegTerminated, n.sendNegTermination, nil)
}
