package connector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/policy"
)

func (n *Node) handleCatalogRequest(r *http.Request, caller string) (int, any, error) {
	if _, err := dsp.DecodeCatalogRequest(r.Body); err != nil {
		return 0, nil, err
	}
	cat, err := n.catalog(r.Context(), caller, "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cat, nil
}

func (n *Node) handleDatasetRequest(r *http.Request, caller string) (int, any, error) {
	id := r.PathValue("id")
	cat, err := n.catalog(r.Context(), caller, id)
	if err != nil {
		return 0, nil, err
	}
	if len(cat.Dataset) == 0 {
		return 0, nil, notFoundErr("dataset", id)
	}
	d := cat.Dataset[0]
	d.Context = dsp.DefaultContext()
	return http.StatusOK, &d, nil
}

// catalog builds the catalogue as consumer may see it: a dataset the space
// rules would never let flow to the consumer is left out, and so is an offer
// whose constraints on who the consumer is (industry, org type, membership,
// recipient, region) its registered attributes do not meet. Only one dataset
// if only is set.
func (n *Node) catalog(ctx context.Context, consumer, only string) (*dsp.Catalog, error) {
	svc := dsp.DataService{ID: n.cfg.PublicURL + "#dsp", Type: "DataService", EndpointURL: n.cfg.PublicURL}
	cat := &dsp.Catalog{Context: dsp.DefaultContext(), ID: n.cfg.PublicURL + "#catalog", Type: dsp.TypeCatalog,
		ParticipantID: n.cfg.ParticipantID, Service: []dsp.DataService{svc}}
	who, err := n.registry.Participant(ctx, consumer)
	if err != nil {
		return nil, err
	}
	self, err := n.registry.Participant(ctx, n.cfg.ParticipantID)
	if err != nil {
		return nil, err
	}
	rules, err := n.spaceRules(ctx)
	if err != nil {
		return nil, err
	}
	var datasets []*store.Dataset
	if only != "" {
		d, err := n.st.View(ctx).Dataset(only)
		if errors.Is(err, store.ErrNotFound) {
			return cat, nil
		} else if err != nil {
			return nil, err
		}
		datasets = []*store.Dataset{d}
	} else if datasets, err = n.st.View(ctx).Datasets(); err != nil {
		return nil, err
	}
	for _, d := range datasets {
		flow := policy.Flow{Category: d.Category, Classification: policy.Classification(d.Classification), FromRegion: self.Region, ToRegion: who.Region}
		// An offer is shown when the space rules would let its flow through
		// (a legal basis aside: the consumer states one when it asks): a
		// compute-only offer's flow stays with this node.
		flowOK := func(l policy.Limits) bool {
			f := flow
			f.ComputeOnly, f.GroupSize = l.ComputeOnly, l.GroupSize
			ref := rules.CheckFlow(f)
			return ref == nil || ref.Rule == policy.RuleLegalBasis
		}
		offers, err := n.st.View(ctx).Offers(d.ID)
		if err != nil {
			return nil, err
		}
		entry := dsp.Dataset{ID: d.ID, Type: dsp.TypeDataset, Title: d.Title, Description: d.Description,
			Classification: d.Classification, Category: d.Category, ContentHash: d.ContentHash,
			Distribution: []dsp.Distribution{
				{Type: "Distribution", Format: transferFormatPull, AccessService: dsp.ServiceRef{ID: svc.ID}},
				{Type: "Distribution", Format: transferFormatPush, AccessService: dsp.ServiceRef{ID: svc.ID}}}}
		for _, o := range offers {
			co, err := n.offerPolicy(o)
			if err != nil {
				n.log.Warn("offer skipped from the catalogue", "offer", o.ID, "err", err)
				continue
			}
			if !flowOK(co.c.Limits()) || !co.admits(ctx, policy.Request{Time: n.now(), Consumer: party(who), Dataset: datasetInfo(d, self.Region)}) {
				continue
			}
			var p dsp.Policy
			if err := json.Unmarshal(o.Policy, &p); err != nil {
				return nil, err
			}
			p.ID, p.Type, p.Target, p.Assigner, p.Assignee = o.ID, dsp.TypeOffer, "", "", ""
			entry.HasPolicy = append(entry.HasPolicy, p)
		}
		if len(entry.HasPolicy) > 0 {
			cat.Dataset = append(cat.Dataset, entry)
		}
	}
	return cat, nil
}
