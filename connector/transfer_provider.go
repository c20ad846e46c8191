// The provider's side of a transfer process: the DSP handler for the
// consumer's request and the start (policy evaluated again, access token
// issued, the data address sent).

package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

func (n *Node) handleTransferRequest(r *http.Request, caller string) (int, any, error) {
	m, err := dsp.DecodeTransferRequest(r.Body)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	// A retried initial request (same caller, same consumerPid) gets the
	// transfer it already started; a consumerPid reused for another
	// agreement is refused.
	if prev, err := n.st.View(ctx).TransferByPeer(store.RoleProvider, caller, m.ConsumerPID); err == nil {
		if prev.AgreementID != m.AgreementID {
			return 0, nil, refusedErr("consumerPid.reused", fmt.Sprintf("consumerPid %q already names transfer %s under agreement %s; use a new consumerPid for agreement %s",
				m.ConsumerPID, prev.ID, prev.AgreementID, m.AgreementID), prev.ID, m.ConsumerPID)
		}
		msg := trMsg(prev)
		return http.StatusCreated, &msg, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, nil, err
	}
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
	if err := n.checkCallbackHost(ctx, m.CallbackAddress); err != nil {
		return 0, nil, refusedErr("callback.invalid", err.Error(), "", m.ConsumerPID)
	}
	x := &store.Transfer{ID: n.newID(), Role: store.RoleProvider, PeerPID: m.ConsumerPID, Counterparty: caller, PeerURL: m.CallbackAddress,
		AgreementID: ag.ID, DatasetID: ag.DatasetID, Format: m.Format, State: string(dsp.TransferRequested), DataAddress: pushTo}
	// With HoldTransfers every request rests in REQUESTED until the
	// operator starts (POST /api/v1/transfers/{id}/start) or terminates it.
	held := n.cfg.HoldTransfers
	why := "transfer request under agreement " + ag.ID
	if held {
		why += "; held for the operator (holdTransfers)"
	}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutTransfer(x, caller, why); err != nil {
			return err
		}
		if held {
			return nil
		}
		return tx.AddTask(taskTransferStart, x.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	if !held {
		n.tasks.kick(taskTransferStart, x.ID)
	}
	msg := trMsg(x)
	return http.StatusCreated, &msg, nil
}

// StartHeldTransfer is the provider operator's start of a transfer held in
// REQUESTED (Config.HoldTransfers): it is authorised as any other (policy,
// ledger) and the start message goes to the consumer.
func (n *Node) StartHeldTransfer(ctx context.Context, id string) (*store.Transfer, error) {
	x, err := n.st.View(ctx).Transfer(id)
	if err != nil {
		return nil, err
	}
	if x.Role != store.RoleProvider || x.State != string(dsp.TransferRequested) {
		return nil, fmt.Errorf("%w: transfer %s is a %s transfer in %s; only a provider's request in REQUESTED is started by its operator (a suspended one is resumed)", errInvalidTransition, x.ID, x.Role, x.State)
	}
	if err := n.st.Update(ctx, func(tx *store.Tx) error { return tx.AddTask(taskTransferStart, x.ID) }); err != nil {
		return nil, err
	}
	n.tasks.kick(taskTransferStart, x.ID)
	return x, nil
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
	if t, err := readTerms(ag); err != nil {
		return err
	} else if t.ComputeOnly {
		return deny(rulebook.RuleComputeOnly, computeOnlyReason(ag))
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
		c, err := agreementPolicy(ag)
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
					dsp.EndpointProperty{Type: "EndpointProperty", Name: transferPropertyHash, Value: n.hashAlg() + ":" + digest.Hex(n.hashAlg(), ds.ContentHash)})
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
