package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
)

// Task kinds of the transfer state machines.
const (
	taskTransferRequest    = "tp.consumer.send-request"
	taskTransferStart      = "tp.provider.start"
	taskSendTransferStart  = "tp.provider.send-start"
	taskSendTransferState  = "tp.send-state"
	transferFormatPull     = "HttpData-PULL"
	endpointTypeHTTP       = "https://w3id.org/idsa/v4.1/HTTP"
	transferPropertyAuth   = "authorization"
	transferPropertyAuthTy = "authType"
)

func trMsg(x *store.Transfer) dsp.TransferProcess {
	p, c := pids(x.Role, x.ID, x.PeerPID)
	return dsp.TransferProcess{Header: dsp.NewHeader(dsp.TypeTransferProcess), ProviderPID: p, ConsumerPID: c, State: x.State}
}

func (n *Node) ownTransfer(ctx context.Context, pid, role, caller string) (*store.Transfer, error) {
	x, err := n.st.View(ctx).Transfer(pid)
	if errors.Is(err, store.ErrNotFound) || err == nil && (x.Role != role || x.Counterparty != caller) {
		return nil, notFoundErr("transfer process", pid)
	}
	return x, err
}

func moveTransfer(tx *store.Tx, x *store.Transfer, to dsp.TransferState, actor, reason string) error {
	from := x.State
	if !dsp.TransferState(from).CanMove(to) {
		p, c := pids(x.Role, x.ID, x.PeerPID)
		return transitionErr("transfer process "+x.ID, from, string(to), p, c)
	}
	x.State = string(to)
	return tx.UpdateTransfer(x, from, actor, reason)
}

// peerTransfer is ownTransfer for a message naming both pids: a consumer
// transfer that does not know the provider's pid yet takes it, and a message
// whose pids do not match is refused.
func (n *Node) peerTransfer(ctx context.Context, pid, role, caller, providerPid, consumerPid string) (*store.Transfer, error) {
	x, err := n.ownTransfer(ctx, pid, role, caller)
	if err != nil {
		return nil, err
	}
	if x.PeerPID == "" && role == store.RoleConsumer {
		x.PeerPID = providerPid
	}
	if err := checkTransferPids(x, providerPid, consumerPid); err != nil {
		return nil, err
	}
	return x, nil
}

func checkTransferPids(x *store.Transfer, providerPid, consumerPid string) error {
	wantP, wantC := pids(x.Role, x.ID, x.PeerPID)
	if providerPid != wantP || consumerPid != wantC {
		return refusedErr("pid-mismatch", fmt.Sprintf("message names providerPid %q and consumerPid %q; this transfer is providerPid %q, consumerPid %q",
			providerPid, consumerPid, wantP, wantC), providerPid, consumerPid)
	}
	return nil
}

// ---- operator actions and peer failures, either role

func (n *Node) transferPeerFailed(ctx context.Context, x *store.Transfer, err error) error {
	var pe *PeerError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.alreadyApplied() {
		return nil
	}
	terr := n.terminateTransfer(ctx, x.ID, x.Counterparty, "peer-refused", "", "the counterparty refused: "+pe.Reason(), false)
	if terr != nil && !errors.Is(terr, errInvalidTransition) {
		return terr
	}
	return err
}

// terminateTransfer moves a transfer to TERMINATED, telling the peer if notify.
func (n *Node) terminateTransfer(ctx context.Context, id, actor, code, rule, reason string, notify bool) error {
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		x, err := tx.Transfer(id)
		if err != nil {
			return err
		}
		x.Code, x.Rule, x.Reason = code, rule, reason
		if err := moveTransfer(tx, x, dsp.TransferTerminated, actor, reason); err != nil {
			return err
		}
		if notify {
			return tx.AddTask(taskSendTransferState, x.ID)
		}
		return nil
	})
	if err == nil {
		n.watch.changed(id)
	}
	if err == nil && notify {
		n.tasks.kick(taskSendTransferState, id)
	}
	return err
}

// CompleteTransfer is the consumer's completion of a started transfer: it
// records usage.logged and tells the provider.
func (n *Node) CompleteTransfer(ctx context.Context, id string) (*store.Transfer, error) {
	var x *store.Transfer
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if x, err = tx.Transfer(id); err != nil {
			return err
		}
		if err := moveTransfer(tx, x, dsp.TransferCompleted, "operator", "completed by the operator"); err != nil {
			return err
		}
		if x.Role == store.RoleConsumer {
			rec := &ledger.Record{ID: "usage.logged/" + x.ID, Kind: ledger.KindUsageLogged, Counterparty: x.Counterparty,
				Agreement: x.AgreementID, Dataset: x.DatasetID, Transfer: x.ID}
			if err := n.lw.enqueue(tx, rec); err != nil {
				return err
			}
		}
		return tx.AddTask(taskSendTransferState, x.ID)
	})
	if err != nil {
		return nil, err
	}
	n.lw.wake()
	n.tasks.kick(taskSendTransferState, id)
	return x, nil
}

// SuspendTransfer suspends a started transfer and tells the peer.
func (n *Node) SuspendTransfer(ctx context.Context, id, reason string) (*store.Transfer, error) {
	var x *store.Transfer
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if x, err = tx.Transfer(id); err != nil {
			return err
		}
		x.Code, x.Rule, x.Reason = codeSuspendedHere, "", reason
		if err := moveTransfer(tx, x, dsp.TransferSuspended, "operator", "suspended by the operator: "+reason); err != nil {
			return err
		}
		return tx.AddTask(taskSendTransferState, x.ID)
	})
	if err != nil {
		return nil, err
	}
	n.tasks.kick(taskSendTransferState, id)
	return x, nil
}

// codeSuspendedHere is a transfer's code when this node's operator suspended
// it: the counterparty cannot resume it, only this node can.
const codeSuspendedHere = "suspended"

// ResumeTransfer resumes a suspended transfer. The provider re-authorises it
// (see providerStart): the agreement's policy and the space rules are
// evaluated again, no new use is counted (the transfer's use was counted when
// it was first authorised), and a pull gets a fresh access token, sent to the
// consumer in a start message. On the consumer, ResumeTransfer asks the
// provider with a start message (a push names a fresh push token in it) and
// returns once the provider has taken the request; the transfer moves to
// STARTED when the provider's start message arrives.
func (n *Node) ResumeTransfer(ctx context.Context, id string) (*store.Transfer, error) {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil {
		return nil, err
	}
	if x.State != string(dsp.TransferSuspended) {
		p, c := pids(x.Role, x.ID, x.PeerPID)
		return nil, transitionErr("transfer process "+x.ID, x.State, string(dsp.TransferStarted), p, c)
	}
	// A suspension this node sent must reach the peer before the resume
	// does, or the peer would take the resume for a repeat and the late
	// suspension would stop the resumed transfer.
	wctx, cancel := context.WithTimeout(ctx, n.cfg.PeerTimeout)
	err = n.tasks.settled(wctx, taskSendTransferState, x.ID)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: transfer %s: the suspension is not yet delivered to %s; resume once it is", errInvalidTransition, x.ID, x.Counterparty)
	}
	if x.Role == store.RoleProvider {
		if err := n.st.Update(ctx, func(tx *store.Tx) error { return tx.AddTask(taskTransferStart, x.ID) }); err != nil {
			return nil, err
		}
		n.tasks.kick(taskTransferStart, x.ID)
		return x, nil
	}
	msg := &dsp.TransferStartMessage{Header: dsp.NewHeader(dsp.TypeTransferStartMessage), ProviderPID: x.PeerPID, ConsumerPID: x.ID}
	if x.Format == transferFormatPush {
		// The push token issued with the request may have expired.
		if msg.DataAddress, err = n.issuePushAddress(ctx, x); err != nil {
			return nil, err
		}
	}
	if _, err := n.peers.post(ctx, x.Counterparty, joinURL(x.PeerURL, "/transfers/"+x.PeerPID+"/start"), msg); err != nil {
		return nil, fmt.Errorf("asking provider %s to resume transfer %s: %w", x.Counterparty, x.ID, err)
	}
	return x, nil
}

// TerminateTransfer terminates a transfer and tells the peer.
func (n *Node) TerminateTransfer(ctx context.Context, id, reason string) error {
	return n.terminateTransfer(ctx, id, "operator", "terminated", "", "terminated by the operator: "+reason, true)
}

// sendTransferState tells the peer the transfer's new state (completion,
// suspension or termination), whichever it is now.
func (n *Node) sendTransferState(ctx context.Context, id string) error {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil || x.PeerPID == "" {
		return err
	}
	p, c := pids(x.Role, x.ID, x.PeerPID)
	var msg any
	var path string
	reason := []string{x.Reason}
	if x.Reason == "" {
		reason = nil
	}
	code := x.Rule
	if code == "" {
		code = x.Code
	}
	switch dsp.TransferState(x.State) {
	case dsp.TransferCompleted:
		msg, path = &dsp.TransferCompletionMessage{Header: dsp.NewHeader(dsp.TypeTransferCompletionMessage), ProviderPID: p, ConsumerPID: c}, "completion"
	case dsp.TransferSuspended:
		msg, path = &dsp.TransferSuspensionMessage{Header: dsp.NewHeader(dsp.TypeTransferSuspensionMessage), ProviderPID: p, ConsumerPID: c, Code: code, Reason: reason}, "suspension"
	case dsp.TransferTerminated:
		msg, path = &dsp.TransferTerminationMessage{Header: dsp.NewHeader(dsp.TypeTransferTerminationMessage), ProviderPID: p, ConsumerPID: c, Code: code, Reason: reason}, "termination"
	default:
		return nil
	}
	_, err = n.peers.post(ctx, x.Counterparty, joinURL(x.PeerURL, "/transfers/"+x.PeerPID+"/"+path), msg)
	var pe *PeerError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: peer did not take the %s: %v", errPermanent, path, pe)
	}
	return err
}

// ---- DSP handlers for either role

func (n *Node) handleTransferGet(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		x, err := n.ownTransfer(r.Context(), r.PathValue("pid"), role, caller)
		if err != nil {
			return 0, nil, err
		}
		msg := trMsg(x)
		return http.StatusOK, &msg, nil
	}
}

func (n *Node) handleTransferStartMsg(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		m, err := dsp.DecodeTransferStart(r.Body)
		if err != nil {
			return 0, nil, err
		}
		ctx := r.Context()
		x, err := n.peerTransfer(ctx, r.PathValue("pid"), role, caller, m.ProviderPID, m.ConsumerPID)
		if err != nil {
			return 0, nil, err
		}
		if x.State == string(dsp.TransferStarted) {
			return http.StatusOK, nil, nil // a retried start: already so
		}
		if !dsp.TransferState(x.State).CanMove(dsp.TransferStarted) {
			p, c := pids(x.Role, x.ID, x.PeerPID)
			return 0, nil, transitionErr("transfer process "+x.ID, x.State, string(dsp.TransferStarted), p, c)
		}
		if role == store.RoleProvider {
			// The consumer asks to resume a suspended transfer: authorise again,
			// unless this node suspended it.
			if x.State == string(dsp.TransferSuspended) && x.Code == codeSuspendedHere {
				return 0, nil, refusedErr("transfer.suspended-by-provider",
					fmt.Sprintf("provider %s suspended transfer %s (%s); only the provider resumes it", n.cfg.ParticipantID, x.ID, x.Reason), x.ID, x.PeerPID)
			}
			if x.Format == transferFormatPush && m.DataAddress != nil {
				// A fresh push token from the consumer.
				if err := checkPushAddress(m.DataAddress); err != nil {
					return 0, nil, refusedErr("dataAddress.invalid", err.Error(), x.ID, x.PeerPID)
				}
				x.DataAddress, _ = json.Marshal(m.DataAddress)
				if x.TokenID, err = tokenID(m.DataAddress.Property(transferPropertyAuth)); err != nil {
					return 0, nil, refusedErr("dataAddress.invalid", err.Error(), x.ID, x.PeerPID)
				}
			}
			err := n.st.Update(ctx, func(tx *store.Tx) error {
				if err := tx.UpdateTransfer(x, x.State, "", ""); err != nil {
					return err
				}
				return tx.AddTask(taskTransferStart, x.ID)
			})
			if err != nil {
				return 0, nil, err
			}
			n.tasks.kick(taskTransferStart, x.ID)
			return http.StatusOK, nil, nil
		}
		if m.DataAddress != nil {
			x.DataAddress, _ = json.Marshal(m.DataAddress)
		}
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			return moveTransfer(tx, x, dsp.TransferStarted, caller, "provider started the transfer")
		})
		if err != nil {
			return 0, nil, err
		}
		n.watch.changed(x.ID)
		return http.StatusOK, nil, nil
	}
}

func (n *Node) peerTransferMove(r *http.Request, role, caller, providerPid, consumerPid string, to dsp.TransferState, code string, reason []string) (int, any, error) {
	ctx := r.Context()
	x, err := n.peerTransfer(ctx, r.PathValue("pid"), role, caller, providerPid, consumerPid)
	if err != nil {
		return 0, nil, err
	}
	if x.State == string(to) {
		return http.StatusOK, nil, nil // a retried message: already so
	}
	why := strings.Join(reason, "; ")
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if to != dsp.TransferCompleted {
			x.Code, x.Rule, x.Reason = "by-peer", code, why
		}
		msg := "the counterparty moved the transfer to " + string(to)
		if why != "" {
			msg += ": " + why
		}
		if err := moveTransfer(tx, x, to, caller, msg); err != nil {
			return err
		}
		if to == dsp.TransferCompleted && x.Role == store.RoleConsumer {
			// The provider completed it (a push): the consumer logs its use
			// as when it completes a pull itself.
			return n.lw.enqueue(tx, &ledger.Record{ID: "usage.logged/" + x.ID, Kind: ledger.KindUsageLogged, Counterparty: x.Counterparty,
				Agreement: x.AgreementID, Dataset: x.DatasetID, Transfer: x.ID})
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	n.lw.wake()
	n.watch.changed(x.ID)
	return http.StatusOK, nil, nil
}

func (n *Node) handleTransferCompletion(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		m, err := dsp.DecodeTransferCompletion(r.Body)
		if err != nil {
			return 0, nil, err
		}
		return n.peerTransferMove(r, role, caller, m.ProviderPID, m.ConsumerPID, dsp.TransferCompleted, "", nil)
	}
}

func (n *Node) handleTransferSuspension(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		m, err := dsp.DecodeTransferSuspension(r.Body)
		if err != nil {
			return 0, nil, err
		}
		return n.peerTransferMove(r, role, caller, m.ProviderPID, m.ConsumerPID, dsp.TransferSuspended, m.Code, m.Reason)
	}
}

func (n *Node) handleTransferTermination(role string) dspFunc {
	return func(r *http.Request, caller string) (int, any, error) {
		m, err := dsp.DecodeTransferTermination(r.Body)
		if err != nil {
			return 0, nil, err
		}
		return n.peerTransferMove(r, role, caller, m.ProviderPID, m.ConsumerPID, dsp.TransferTerminated, m.Code, m.Reason)
	}
}

func (n *Node) registerTransferTasks(r *taskRunner) {
	giveUp := func(ctx context.Context, id string, cause error) {
		_ = n.terminateTransfer(ctx, id, n.cfg.ParticipantID, "gave-up", "", "gave up after repeated failures: "+cause.Error(), true)
	}
	r.handle(taskTransferRequest, n.sendTransferRequest, giveUp)
	r.handle(taskTransferStart, n.providerStart, giveUp)
	r.forever[taskTransferStart] = true
	r.handle(taskSendTransferStart, n.sendTransferStart, nil)
	r.handle(taskSendTransferState, n.sendTransferState, nil)
	r.handle(taskPush, n.providerPush, giveUp)
}

func (n *Node) registerTasks(r *taskRunner) {
	n.registerNegotiationTasks(r)
	n.registerTransferTasks(r)
}
