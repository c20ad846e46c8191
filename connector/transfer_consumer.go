// The consumer's side of a transfer process: the operator's start and the
// transfer request sent to the provider.

package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
)

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
