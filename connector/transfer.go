package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/policy"
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

// ---- consumer side

// StartTransfer asks the provider of an active agreement for a transfer.
func (n *Node) StartTransfer(ctx context.Context, agreementID, format string) (*store.Transfer, error) {
	if format == "" {
		format = transferFormatPull
	}
	if format != transferFormatPull && format != transferFormatPush {
		return nil, badRequest("format %q: must be %s or %s", format, transferFormatPull, transferFormatPush)
	}
	ag, err := n.st.View(ctx).Agreement(agreementID)
	if err != nil {
		return nil, err
	}
	if ag.Role != store.RoleConsumer {
		return nil, badRequest("agreement %s: this node is its provider; transfers are started by the consumer", ag.ID)
	}
	if ag.State != store.AgreementActive {
		return nil, fmt.Errorf("%w: agreement %s is %s, not active: %s", errInvalidTransition, ag.ID, ag.State, ag.Reason)
	}
	x := &store.Transfer{ID: n.newID(), Role: store.RoleConsumer, Counterparty: ag.Provider, PeerURL: ag.ProviderURL,
		AgreementID: ag.ID, DatasetID: ag.DatasetID, Format: format, State: string(dsp.TransferRequested)}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutTransfer(x, "operator", "operator requested a transfer under agreement "+ag.ID); err != nil {
			return err
		}
		return tx.AddTask(taskTransferRequest, x.ID)
	})
	if err != nil {
		return nil, err
	}
	n.tasks.kick(taskTransferRequest, x.ID)
	return x, nil
}

func (n *Node) sendTransferRequest(ctx context.Context, id string) error {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil || x.State != string(dsp.TransferRequested) || x.PeerPID != "" {
		return err
	}
	msg := &dsp.TransferRequestMessage{Header: dsp.NewHeader(dsp.TypeTransferRequestMessage), ConsumerPID: x.ID,
		AgreementID: x.AgreementID, Format: x.Format, CallbackAddress: n.callbackURL()}
	if x.Format == transferFormatPush {
		// The push token is issued once and kept, so a re-sent request
		// carries the same one.
		if len(x.DataAddress) == 0 {
			if _, err := n.issuePushAddress(ctx, x); err != nil {
				return err
			}
		}
		msg.DataAddress = &dsp.DataAddress{}
		if err := json.Unmarshal(x.DataAddress, msg.DataAddress); err != nil {
			return err
		}
	}
	body, err := n.peers.post(ctx, x.Counterparty, joinURL(x.PeerURL, "/transfers/request"), msg)
	if err != nil {
		return n.transferPeerFailed(ctx, x, err)
	}
	tp, err := dsp.DecodeTransferProcess(strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("provider's answer: %w", err)
	}
	return n.st.Update(ctx, func(tx *store.Tx) error { return tx.SetTransferPeer(x.ID, tp.ProviderPID) })
}

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

// ---- provider side

func (n *Node) handleTransferRequest(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeTransferRequest(r.Body)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	ag, err := n.st.View(ctx).Agreement(m.AgreementID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (ag.Role != store.RoleProvider || ag.Consumer != caller) {
		return 0, nil, refusedErr("agreement.unknown", fmt.Sprintf("no agreement %q between %s and %s", m.AgreementID, n.cfg.ParticipantID, caller), "", m.ConsumerPID)
	} else if err != nil {
		return 0, nil, err
	}
	if err := checkCallback(m.CallbackAddress); err != nil {
		return 0, nil, refusedErr("callback.invalid", err.Error(), "", m.ConsumerPID)
	}
	if m.Format != transferFormatPull && m.Format != transferFormatPush {
		return 0, nil, refusedErr("format.unsupported", fmt.Sprintf("format %q is not offered; use %q or %q", m.Format, transferFormatPull, transferFormatPush), "", m.ConsumerPID)
	}
	var pushTo json.RawMessage
	if m.Format == transferFormatPush {
		if err := checkPushAddress(m.DataAddress); err != nil {
			return 0, nil, refusedErr("dataAddress.invalid", err.Error(), "", m.ConsumerPID)
		}
		pushTo, _ = json.Marshal(m.DataAddress)
	}
	if ag.State != store.AgreementActive {
		reason := fmt.Sprintf("agreement %s is %s", ag.ID, ag.State)
		if ag.Reason != "" {
			reason += ": " + ag.Reason
		}
		rule := "agreement.live"
		if ag.State == store.AgreementRevoked {
			rule = "agreement.revoked"
		}
		rec := &ledger.Record{ID: "transfer.denied/" + n.newID(), Kind: ledger.KindTransferDenied, Counterparty: caller,
			Agreement: ag.ID, Dataset: ag.DatasetID, Decision: ledger.DecisionDeny, Rule: rule, Reason: reason}
		if err := n.lw.record(ctx, rec); err != nil {
			return 0, nil, err
		}
		return 0, nil, refusedErr(rule, reason, "", m.ConsumerPID)
	}
	x := &store.Transfer{ID: n.newID(), Role: store.RoleProvider, PeerPID: m.ConsumerPID, Counterparty: caller, PeerURL: m.CallbackAddress,
		AgreementID: ag.ID, DatasetID: ag.DatasetID, Format: m.Format, State: string(dsp.TransferRequested), DataAddress: pushTo}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutTransfer(x, caller, "transfer request under agreement "+ag.ID); err != nil {
			return err
		}
		return tx.AddTask(taskTransferStart, x.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	n.tasks.kick(taskTransferStart, x.ID)
	msg := trMsg(x)
	return http.StatusCreated, &msg, nil
}

// dataAudience is the aud of this node's access tokens: its data plane.
func (n *Node) dataAudience() string { return n.cfg.PublicURL + "/data" }

// providerStart authorises a requested (or suspended) transfer: the
// agreement's policy is evaluated again, transfer.authorized is committed to
// the ledger (strict), and only then is the access token released in the
// start message.
func (n *Node) providerStart(ctx context.Context, id string) error {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil {
		return err
	}
	if x.State != string(dsp.TransferRequested) && x.State != string(dsp.TransferSuspended) {
		return nil
	}
	ag, err := n.st.View(ctx).Agreement(x.AgreementID)
	if err != nil {
		return err
	}
	ds, err := n.st.View(ctx).Dataset(x.DatasetID)
	if err != nil {
		return err
	}
	deny := func(rule, reason string) error {
		rec := &ledger.Record{ID: "transfer.denied/" + x.ID, Kind: ledger.KindTransferDenied,
			Counterparty: x.Counterparty, Agreement: ag.ID, Dataset: ag.DatasetID, Transfer: x.ID, Decision: ledger.DecisionDeny, Rule: rule, Reason: reason,
			Classification: policy.Classification(ds.Classification), Category: ds.Category}
		err := n.st.Update(ctx, func(tx *store.Tx) error {
			x.Code, x.Rule, x.Reason = "refused", rule, reason
			if err := moveTransfer(tx, x, dsp.TransferTerminated, n.cfg.ParticipantID, "refused by "+rule+": "+reason); err != nil {
				return err
			}
			if err := n.lw.enqueue(tx, rec); err != nil {
				return err
			}
			return tx.AddTask(taskSendTransferState, x.ID)
		})
		if err != nil {
			return err
		}
		n.lw.wake()
		n.tasks.kick(taskSendTransferState, x.ID)
		return fmt.Errorf("%w: %s: %s", errPermanent, rule, reason)
	}
	if ag.State != store.AgreementActive {
		return deny("agreement.live", fmt.Sprintf("agreement %s is %s: %s", ag.ID, ag.State, ag.Reason))
	}
	consumer, err := n.registry.Participant(ctx, x.Counterparty)
	if notRegistered(err) {
		return deny("participant.registered", err.Error())
	} else if err != nil {
		return err // the registry could not be read (ledger away): retry, never refuse
	}
	self, err := n.registry.Participant(ctx, n.cfg.ParticipantID)
	if err != nil {
		return err
	}
	// A suspended transfer that was authorised before is being resumed: it
	// is evaluated again, but its use is already counted, on the ledger and
	// here, and its transfer.authorized stays the one record of it.
	resuming := x.State == string(dsp.TransferSuspended) && x.TokenID != ""
	if x.TokenID == "" || resuming {
		uses := ag.Uses
		if resuming {
			uses = max(uses-1, 0)
		}
		var p dsp.Policy
		if err := json.Unmarshal(ag.Policy, &p); err != nil {
			return err
		}
		pol, err := toPolicy(p)
		if err != nil {
			return err
		}
		c, err := policy.Compile(pol)
		if err != nil {
			return err
		}
		rules, err := n.spaceRules(ctx)
		if err != nil {
			return err
		}
		start, _ := ledger.ParseTime(ag.SignedAt)
		d := policy.EvaluateWithRules(ctx, c, rules, policy.Request{Action: "use", Purpose: ag.Purpose, Time: n.now(), AgreementStart: start,
			Uses: uses, Consumer: party(consumer), Dataset: datasetInfo(ds, self.Region), LegalBasis: ag.LegalBasis})
		if !d.Allowed {
			return deny(d.Rule, d.Reason)
		}
		if x.Format == transferFormatPush {
			// The consumer issued the token this node presents when it
			// pushes; the authorisation names that token.
			var addr dsp.DataAddress
			if err := json.Unmarshal(x.DataAddress, &addr); err != nil {
				return deny("dataAddress.invalid", err.Error())
			}
			if x.TokenID, err = tokenID(addr.Property(transferPropertyAuth)); err != nil {
				return deny("dataAddress.invalid", err.Error())
			}
		} else {
			if len(consumer.Keys) == 0 {
				return deny("participant.keys", "the consumer has no registered key to bind the access token to")
			}
			tok, err := n.issuer.AccessToken(identity.AccessGrant{Consumer: x.Counterparty, Audience: n.dataAudience(), Agreement: ag.ID,
				Dataset: ag.DatasetID, Transfer: x.ID, TTL: n.cfg.AccessTTL, ConsumerKeyThumbprint: consumer.Keys[0].Kid})
			if err != nil {
				return err
			}
			var claims jwt.RegisteredClaims
			if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
				return err
			}
			addr := dsp.DataAddress{Type: "DataAddress", EndpointType: endpointTypeHTTP, Endpoint: n.cfg.PublicURL + "/data/" + x.ID,
				EndpointProperties: []dsp.EndpointProperty{
					{Type: "EndpointProperty", Name: transferPropertyAuth, Value: tok},
					{Type: "EndpointProperty", Name: transferPropertyAuthTy, Value: "DPoP"},
				}}
			if ds.ContentHash != "" {
				addr.EndpointProperties = append(addr.EndpointProperties,
					dsp.EndpointProperty{Type: "EndpointProperty", Name: transferPropertyHash, Value: "sha256:" + digest.SHA256Hex(ds.ContentHash)})
			}
			x.DataAddress, _ = json.Marshal(addr)
			x.TokenID = claims.ID
		}
		if resuming {
			return n.resumed(ctx, x)
		}
		rec := &ledger.Record{ID: "transfer.authorized/" + x.ID, Kind: ledger.KindTransferAuthorized, Counterparty: x.Counterparty,
			Agreement: ag.ID, Dataset: ag.DatasetID, Transfer: x.ID, TokenID: x.TokenID, Decision: ledger.DecisionAllow,
			Classification: policy.Classification(ds.Classification), Category: ds.Category, PolicyHash: ag.PolicyHash,
			FromRegion: self.Region, ToRegion: consumer.Region, CrossBorder: policy.CrossBorder(self.Region, consumer.Region), LegalBasis: ag.LegalBasis}
		if !rec.CrossBorder {
			rec.LegalBasis = ""
		}
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			if err := tx.UpdateTransfer(x, x.State, "", ""); err != nil {
				return err
			}
			return n.lw.enqueue(tx, rec)
		})
		if err != nil {
			return err
		}
	}
	recID := "transfer.authorized/" + x.ID
	wctx, cancel := context.WithTimeout(ctx, n.cfg.StrictTimeout)
	err = n.lw.wait(wctx, recID)
	cancel()
	if errors.Is(err, ErrLedgerRefused) {
		rule, reason := refusal(err)
		return deny(rule, "the ledger refused the authorisation: "+reason)
	}
	if err != nil {
		return err
	}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		ag2, err := tx.Agreement(ag.ID)
		if err != nil {
			return err
		}
		ag2.Uses++
		if err := tx.PutAgreement(ag2); err != nil {
			return err
		}
		if err := moveTransfer(tx, x, dsp.TransferStarted, n.cfg.ParticipantID, "transfer.authorized committed to the ledger; access token "+x.TokenID+" issued"); err != nil {
			return err
		}
		return tx.AddTask(taskSendTransferStart, x.ID)
	})
	if err != nil {
		return err
	}
	n.tasks.kick(taskSendTransferStart, x.ID)
	return nil
}

// resumed moves a re-authorised transfer back to STARTED and queues the
// start message with its new data address.
func (n *Node) resumed(ctx context.Context, x *store.Transfer) error {
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		x.Code, x.Rule, x.Reason = "", "", ""
		if err := moveTransfer(tx, x, dsp.TransferStarted, n.cfg.ParticipantID,
			"resumed: policy evaluated again, access token "+x.TokenID+" issued; no new use (counted when the transfer was authorised)"); err != nil {
			return err
		}
		return tx.AddTask(taskSendTransferStart, x.ID)
	})
	if err != nil {
		return err
	}
	n.watch.changed(x.ID)
	n.tasks.kick(taskSendTransferStart, x.ID)
	return nil
}

func (n *Node) sendTransferStart(ctx context.Context, id string) error {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil || x.State != string(dsp.TransferStarted) {
		return err
	}
	msg := &dsp.TransferStartMessage{Header: dsp.NewHeader(dsp.TypeTransferStartMessage), ProviderPID: x.ID, ConsumerPID: x.PeerPID}
	if x.Format != transferFormatPush {
		// A pull start carries the provider's data address; a push start
		// carries none (the consumer named its own in the request).
		msg.DataAddress = &dsp.DataAddress{}
		if err := json.Unmarshal(x.DataAddress, msg.DataAddress); err != nil {
			return err
		}
	}
	_, err = n.peers.post(ctx, x.Counterparty, joinURL(x.PeerURL, "/transfers/"+x.PeerPID+"/start"), msg)
	var pe *PeerError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: consumer did not take the start: %v", errPermanent, pe)
	}
	if err != nil || x.Format != transferFormatPush {
		return err
	}
	// The consumer is STARTED and knows the provider's pid: push now.
	if err := n.st.Update(ctx, func(tx *store.Tx) error { return tx.AddTask(taskPush, x.ID) }); err != nil {
		return err
	}
	n.tasks.kick(taskPush, x.ID)
	return nil
}

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
