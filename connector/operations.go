// The node's domain operations for its operator: register datasets and
// offers, read a remote catalogue, approve or reject negotiations, revoke
// agreements, fulfil duties and report the outbox. management.go serves them
// over HTTP (/api/v1/); the demo and tests call them in process.

package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// NewDataset is the operator's registration of a dataset.
type NewDataset = api.NewDataset

// AddDataset registers a dataset and records dataset.registered (outbox).
func (n *Node) AddDataset(ctx context.Context, in NewDataset) (*store.Dataset, error) {
	if in.ID == "" {
		in.ID = n.newID()
	}
	if strings.TrimSpace(in.Title) == "" {
		return nil, badRequest("title: required")
	}
	if err := policy.Classification(in.Classification).Validate(); err != nil {
		return nil, badRequest("classification: %v", err)
	}
	if strings.TrimSpace(in.Category) == "" {
		return nil, badRequest("category: required (the catalogue category the space's negative list is checked against)")
	}
	if len(in.Rights) == 0 {
		in.Rights = []string{ledger.RightHolding}
	}
	for i, r := range in.Rights {
		if r != ledger.RightHolding && r != ledger.RightUse && r != ledger.RightOperation {
			return nil, badRequest("rights[%d]: must be holding, use or operation; got %q", i, r)
		}
	}
	if err := n.checkContent(ctx, &in); err != nil {
		return nil, err
	}
	d := &store.Dataset{ID: in.ID, Title: in.Title, Description: in.Description, Classification: in.Classification,
		Category: in.Category, Rights: in.Rights, ContentHash: in.ContentHash, Source: in.Source, ManualApproval: in.ManualApproval}
	rec := &ledger.Record{ID: "dataset.registered/" + d.ID, Kind: ledger.KindDatasetRegistered, Dataset: d.ID,
		RegistrationCode: in.RegistrationCode, Classification: policy.Classification(d.Classification), Category: d.Category,
		Rights: d.Rights, ContentHash: d.ContentHash}
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutDataset(d); err != nil {
			return err
		}
		return n.lw.enqueue(tx, rec)
	})
	if err != nil {
		return nil, err
	}
	n.lw.wake()
	return d, nil
}

// checkContent checks a registration's source and content hash: the hash is
// <alg>:<64 hex> in the space's suite (sha256, or sm3 in a gm space); a file: source must be a readable regular file, which the
// data plane hashes — the registered hash must be its hash, and is taken from
// it when not given (the data plane keeps it, so the first send of this
// version goes zero-copy); a dir: source must be a directory. An http(s)
// source is not fetched here.
func (n *Node) checkContent(ctx context.Context, in *NewDataset) error {
	if in.ContentHash != "" {
		alg := n.hashAlg()
		d, err := digest.Parse(in.ContentHash)
		if err == nil && d.Algorithm() != alg {
			return badRequest("contentHash: %q: this space's suite is %s: a %s hash is not allowed, want %s:<hex> (rule %s)", in.ContentHash, n.cs, d.Algorithm(), alg, suite.RuleHash)
		}
		if err != nil || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(in.ContentHash)), alg+":") {
			return badRequest("contentHash: must be %s: and 64 hex digits, got %q", alg, in.ContentHash)
		}
		in.ContentHash = d.String()
	}
	src := in.Source
	switch {
	case src == "", strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		return nil
	case strings.HasPrefix(src, "dir:"):
		fi, err := os.Stat(n.localPath(strings.TrimPrefix(src, "dir:")))
		if err != nil || !fi.IsDir() {
			return badRequest("source: %s: no such directory under the node's dataSources", src)
		}
		return nil
	case strings.HasPrefix(src, "file:"):
		sum, err := n.dp.HashFile(ctx, n.localPath(strings.TrimPrefix(src, "file:")))
		if errors.Is(err, dataplane.ErrNotFound) {
			return badRequest("source: %s: no such regular file under the node's dataSources", src)
		} else if err != nil {
			return fmt.Errorf("source: %s: hashing the file: %w", src, err)
		}
		if in.ContentHash == "" {
			in.ContentHash = n.hashAlg() + ":" + sum
		} else if in.ContentHash != n.hashAlg()+":"+sum {
			return badRequest("contentHash: the file of source %s hashes to %s:%s, not %s; register the hash of the file as it is (or leave contentHash out)", src, n.hashAlg(), sum, in.ContentHash)
		}
		return nil
	default:
		return badRequest("source: must be file:PATH, dir:PATH or an http(s) URL, got %q", src)
	}
}

// NewOffer is the operator's offer of a dataset under an ODRL policy.
type NewOffer = api.NewOffer

// AddOffer parses and compiles the policy, stores the offer and records
// offer.published (outbox).
func (n *Node) AddOffer(ctx context.Context, in NewOffer) (*store.Offer, error) {
	if in.Dataset == "" {
		return nil, badRequest("dataset: required")
	}
	if len(in.Policy) == 0 {
		return nil, badRequest("policy: required (an ODRL Offer)")
	}
	if _, err := n.st.View(ctx).Dataset(in.Dataset); err != nil {
		return nil, err
	}
	p, err := policy.Parse(in.Policy)
	if err != nil {
		return nil, err
	}
	if _, err := policy.Compile(p); err != nil {
		return nil, err
	}
	if in.ID == "" {
		in.ID = p.ID
	}
	if in.ID == "" {
		in.ID = n.newID()
	}
	p.ID, p.Type, p.Target = in.ID, dsp.TypeOffer, ""
	norm, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	o := &store.Offer{ID: in.ID, DatasetID: in.Dataset, Policy: norm, PolicyHash: p.HashWith(n.hashAlg())}
	rec := &ledger.Record{ID: "offer.published/" + o.ID, Kind: ledger.KindOfferPublished, Offer: o.ID, Dataset: o.DatasetID, PolicyHash: o.PolicyHash}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutOffer(o); err != nil {
			return err
		}
		return n.lw.enqueue(tx, rec)
	})
	if err != nil {
		return nil, err
	}
	n.lw.wake()
	return o, nil
}

// RemoteCatalog fetches another connector's catalogue as this node may see it.
func (n *Node) RemoteCatalog(ctx context.Context, providerURL, provider string) (*dsp.Catalog, error) {
	if providerURL == "" {
		return nil, badRequest("from: required (the provider's DSP base URL)")
	}
	if provider == "" {
		var err error
		if provider, providerURL, err = n.peers.discover(ctx, providerURL); err != nil {
			return nil, err
		}
	}
	return n.peers.catalog(ctx, provider, providerURL)
}

// Approve lets a negotiation waiting for the operator proceed to the policy
// decision (approve) or refuses it with the operator's reason.
func (n *Node) Approve(ctx context.Context, id string, approve bool, reason string) (*store.Negotiation, error) {
	neg, err := n.awaitingApproval(ctx, id, "")
	if err != nil {
		return nil, err
	}
	if !approve {
		if reason == "" {
			reason = "the provider's operator did not approve the request"
		}
		ds, _ := n.st.View(ctx).Dataset(neg.DatasetID)
		if err := n.providerDeny(ctx, neg, ds, "operator.rejected", reason, "", ""); err != nil {
			return nil, err
		}
	} else {
		// A verified agreement held for sign-off (HoldFinalize) goes on to the
		// ledger; a request or an accepted counter-offer to the decision.
		task := taskProviderDecide
		if neg.State == string(dsp.NegVerified) {
			task = taskProviderFinalize
		}
		var out *store.Negotiation
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			neg.Awaiting = awaitApproved
			if err := tx.UpdateNegotiation(neg, neg.State, "operator", "the operator approves"); err != nil {
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
	// Refused: TERMINATED, final, so a snapshot read now is what the
	// refusal left.
	return n.Negotiation(ctx, id)
}

// awaitingApproval reads provider negotiation id, refusing one that is not a
// request waiting for the operator's approval (what, if set, says what only
// such a request takes).
func (n *Node) awaitingApproval(ctx context.Context, id, what string) (*store.Negotiation, error) {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil {
		return nil, err
	}
	held := neg.State == string(dsp.NegVerified) && neg.Awaiting == awaitFinalize
	if neg.Role != store.RoleProvider || !held && (neg.State != string(dsp.NegRequested) && neg.State != string(dsp.NegAccepted) || neg.Awaiting != awaitApproval) {
		if what != "" {
			what = "; only a request waiting for approval takes " + what
		}
		return nil, fmt.Errorf("%w: negotiation %s is %s and not waiting for operator approval%s", errInvalidTransition, id, neg.State, what)
	}
	return neg, nil
}

// Revoke revokes an active agreement: agreement.revoked goes to the ledger
// (outbox), the node refuses further transfers at once, and this provider's
// running transfers under it are terminated.
func (n *Node) Revoke(ctx context.Context, id, reason string) (*store.Agreement, error) {
	if reason == "" {
		reason = "revoked by the operator of " + n.cfg.ParticipantID
	}
	var ag *store.Agreement
	var ended []string
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if ag, err = tx.Agreement(id); err != nil {
			return err
		}
		if ag.State != store.AgreementActive {
			return fmt.Errorf("%w: agreement %s is %s, only an active agreement can be revoked", errInvalidTransition, id, ag.State)
		}
		ag.State, ag.Reason = store.AgreementRevoked, reason
		if err := tx.PutAgreement(ag); err != nil {
			return err
		}
		counter := ag.Consumer
		if ag.Role == store.RoleConsumer {
			counter = ag.Provider
		}
		rec := &ledger.Record{ID: "agreement.revoked/" + ag.ID, Kind: ledger.KindAgreementRevoked, Counterparty: counter,
			Agreement: ag.ID, Dataset: ag.DatasetID, Reason: reason}
		if err := n.lw.enqueue(tx, rec); err != nil {
			return err
		}
		xs, err := tx.AllTransfers(ag.ID) // every live one ends, however many
		if err != nil {
			return err
		}
		for _, x := range xs {
			if dsp.TransferState(x.State).Final() {
				continue
			}
			x.Code, x.Rule, x.Reason = "agreement.revoked", "agreement.revoked", "agreement "+ag.ID+" was revoked: "+reason
			if err := moveTransfer(tx, x, dsp.TransferTerminated, "operator", x.Reason); err != nil {
				return err
			}
			if err := tx.AddTask(taskSendTransferState, x.ID); err != nil {
				return err
			}
			ended = append(ended, x.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.lw.wake()
	for _, id := range ended {
		n.tasks.kick(taskSendTransferState, id)
	}
	return ag, nil
}

// Duties lists the duties owed under an agreement ("" for all), each marked
// Overdue when owed and past its due time.
func (n *Node) Duties(ctx context.Context, agreement string) ([]*store.Duty, error) {
	l, err := n.st.View(ctx).Duties(agreement)
	now := n.now()
	for _, d := range l {
		if due, perr := ledger.ParseTime(d.Due); perr == nil && d.Due != "" && d.State == store.DutyOwed && now.After(due) {
			d.Overdue = true
		}
	}
	return nonNil(l), err
}

// FulfilDuty marks a duty owed under an agreement fulfilled and records
// duty.fulfilled (outbox).
func (n *Node) FulfilDuty(ctx context.Context, agreementID, dutyID string) error {
	if agreementID == "" || dutyID == "" {
		return badRequest("agreement and duty: required")
	}
	defer n.lw.wake() // after the transaction commits
	return n.st.Update(ctx, func(tx *store.Tx) error {
		ds, err := tx.Duties(agreementID)
		if err != nil {
			return err
		}
		ag, err := tx.Agreement(agreementID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.DutyID != dutyID {
				continue
			}
			rec := &ledger.Record{ID: "duty.fulfilled/" + agreementID + "/" + dutyID, Kind: ledger.KindDutyFulfilled,
				Counterparty: ag.Provider, Agreement: agreementID, Dataset: ag.DatasetID, Duty: &ledger.Duty{ID: d.DutyID, Action: d.Action, Due: d.Due}}
			if err := tx.FulfilDuty(agreementID, dutyID, rec.ID); err != nil {
				return err
			}
			return n.lw.enqueue(tx, rec)
		}
		return fmt.Errorf("%w: agreement %s owes no duty %q", store.ErrNotFound, agreementID, dutyID)
	})
}

// OutboxStatus is what the outbox holds.
type OutboxStatus = api.OutboxStatus

// Outbox reports the outbox: counts by state, refused and pending records,
// all of one snapshot (the counts are of the records listed).
func (n *Node) Outbox(ctx context.Context) (*OutboxStatus, error) {
	var c map[string]int
	var ref, pen []*store.OutboxRecord
	err := n.st.Read(ctx, func(tx *store.Tx) (err error) {
		if c, err = tx.OutboxCounts(); err != nil {
			return err
		}
		if ref, _, err = tx.OutboxPage(store.OutboxRefused, store.Page{Limit: 100}); err != nil {
			return err
		}
		pen, _, err = tx.OutboxPage(store.OutboxPending, store.Page{Limit: 100})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &OutboxStatus{Counts: c, LedgerHealthy: n.lw.healthy(), Refused: views(ref, outboxView), Pending: views(pen, outboxView)}, nil
}

// OutboxRecords lists one page of the outbox's records in a state
// (pending, batched, committed or refused; "" for every state), oldest
// first, and the cursor of the next page ("" at the end).
func (n *Node) OutboxRecords(ctx context.Context, state string, p store.Page) ([]*store.OutboxRecord, string, error) {
	switch state {
	case "", store.OutboxPending, store.OutboxBatched, store.OutboxCommitted, store.OutboxRefused:
	default:
		return nil, "", badRequest("state: %q must be pending, batched, committed or refused (or empty for all)", state)
	}
	return n.st.View(ctx).OutboxPage(state, p)
}

// OutboxRecordState says where one record is in the outbox: pending,
// batched, committed or refused.
func (n *Node) OutboxRecordState(ctx context.Context, recordID string) (string, error) {
	state, _, err := n.st.View(ctx).OutboxState(recordID)
	return state, err
}

// Negotiation reads a negotiation with its history, both of one snapshot
// (the state is the history's last step).
func (n *Node) Negotiation(ctx context.Context, id string) (*store.Negotiation, error) {
	return n.st.View(ctx).NegotiationWithHistory(id)
}
