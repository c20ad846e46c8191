package connector

import (
	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/store"
)

// view turns what a management handler returns into the management API's
// wire form (connector/api): stored entities are never served as they are
// stored. Anything else (a catalogue, a ledger record) passes through.
func view(v any) any {
	switch x := v.(type) {
	case *store.Dataset:
		return nilOr(x, datasetView)
	case []*store.Dataset:
		return views(x, datasetView)
	case *store.Offer:
		return nilOr(x, offerView)
	case []*store.Offer:
		return views(x, offerView)
	case *store.Negotiation:
		return nilOr(x, negotiationView)
	case []*store.Negotiation:
		return views(x, negotiationView)
	case *store.Agreement:
		return nilOr(x, agreementView)
	case []*store.Agreement:
		return views(x, agreementView)
	case *store.Transfer:
		return nilOr(x, transferView)
	case []*store.Transfer:
		return views(x, transferView)
	case []*store.Duty:
		return views(x, dutyView)
	}
	return v
}

func nilOr[S, T any](x *S, f func(*S) *T) *T {
	if x == nil {
		return nil
	}
	return f(x)
}

// views converts a list; never nil, so an empty list is [] on the wire.
func views[S, T any](l []*S, f func(*S) *T) []*T {
	out := make([]*T, 0, len(l))
	for _, x := range l {
		out = append(out, f(x))
	}
	return out
}

func datasetView(d *store.Dataset) *api.Dataset {
	return &api.Dataset{ID: d.ID, Title: d.Title, Description: d.Description, Classification: d.Classification,
		Category: d.Category, Rights: d.Rights, ContentHash: d.ContentHash, Source: d.Source,
		ManualApproval: d.ManualApproval, CreatedAt: d.CreatedAt}
}

func offerView(o *store.Offer) *api.Offer {
	return &api.Offer{ID: o.ID, DatasetID: o.DatasetID, Policy: o.Policy, PolicyHash: o.PolicyHash, CreatedAt: o.CreatedAt}
}

func historyView(h []store.Transition) []api.Transition {
	if h == nil {
		return nil
	}
	out := make([]api.Transition, len(h))
	for i, t := range h {
		out[i] = api.Transition(t)
	}
	return out
}

func negotiationView(n *store.Negotiation) *api.Negotiation {
	return &api.Negotiation{ID: n.ID, Role: api.Role(n.Role), PeerPID: n.PeerPID, Counterparty: n.Counterparty,
		PeerURL: n.PeerURL, DatasetID: n.DatasetID, OfferID: n.OfferID, Offer: n.Offer,
		State: api.NegotiationState(n.State), Awaiting: n.Awaiting, AgreementID: n.AgreementID, Code: n.Code,
		Rule: n.Rule, Reason: n.Reason, Purpose: n.Purpose, LegalBasis: n.LegalBasis, CreatedAt: n.CreatedAt,
		UpdatedAt: n.UpdatedAt, History: historyView(n.History)}
}

func agreementView(a *store.Agreement) *api.Agreement {
	return &api.Agreement{ID: a.ID, NegotiationID: a.NegotiationID, Role: api.Role(a.Role), Provider: a.Provider,
		Consumer: a.Consumer, ProviderURL: a.ProviderURL, DatasetID: a.DatasetID, Policy: a.Policy,
		PolicyHash: a.PolicyHash, Terms: a.Terms, State: api.AgreementState(a.State), Uses: a.Uses,
		RecordID: a.RecordID, Reason: a.Reason, SignedAt: a.SignedAt, Purpose: a.Purpose,
		LegalBasis: a.LegalBasis, UpdatedAt: a.UpdatedAt}
}

func transferView(x *store.Transfer) *api.Transfer {
	return &api.Transfer{ID: x.ID, Role: api.Role(x.Role), PeerPID: x.PeerPID, Counterparty: x.Counterparty,
		PeerURL: x.PeerURL, AgreementID: x.AgreementID, DatasetID: x.DatasetID, Format: x.Format,
		State: api.TransferState(x.State), DataAddress: x.DataAddress, TokenID: x.TokenID, Code: x.Code,
		Rule: x.Rule, Reason: x.Reason, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt,
		History: historyView(x.History)}
}

func dutyView(d *store.Duty) *api.Duty {
	return &api.Duty{AgreementID: d.AgreementID, DutyID: d.DutyID, Action: d.Action, Due: d.Due,
		State: api.DutyState(d.State), RecordID: d.RecordID, UpdatedAt: d.UpdatedAt, Overdue: d.Overdue}
}

func outboxView(o *store.OutboxRecord) *api.OutboxRecord {
	return &api.OutboxRecord{RecordID: o.RecordID, Seq: o.Seq, Record: o.Record, State: o.State,
		BatchRoot: o.BatchRoot, Solo: o.Solo, Error: o.Error, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}
