package connector_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/store"
)

// TestProviderCounterOffer: a request for the research offer (up to 5 uses)
// waits for the provider's operator, who counter-offers 2 uses; the consumer
// takes it (it is narrower), and the agreement signed on the ledger is the
// counter-offer. A counter-offer broader than the request is refused with
// the reason, and only a request waiting for approval takes one.
func TestProviderCounterOffer(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, true)
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	var pid string
	eventually(t, "the request waits for the provider's operator", func() (bool, string) {
		p := peerNegotiation(t, prov, neg.ID)
		if p == nil {
			return false, "not yet"
		}
		pid = p.ID
		return p.Awaiting == "operator approval", p.State + " " + p.Awaiting
	})

	broader := strings.ReplaceAll(researchOffer, `"rightOperand": 5`, `"rightOperand": 9`)
	if _, err := prov.CounterOffer(ctx, pid, json.RawMessage(broader), ""); err == nil || !strings.Contains(err.Error(), "the consumer's request or narrower") {
		t.Fatalf("broader counter-offer: %v, want refused as broader than the request", err)
	}
	narrower := strings.ReplaceAll(researchOffer, `"rightOperand": 5`, `"rightOperand": 2`)
	pn, err := prov.CounterOffer(ctx, pid, json.RawMessage(narrower), "two uses for a first project")
	if err != nil {
		t.Fatal(err)
	}
	if pn.State != "OFFERED" || !strings.Contains(pn.History[len(pn.History)-1].Reason, "two uses for a first project") {
		t.Fatalf("provider after the counter-offer: %s, %+v", pn.State, pn.History)
	}
	cneg := waitNeg(t, cons, neg.ID, "FINALIZED")
	var states []string
	for _, h := range cneg.History {
		states = append(states, h.To)
	}
	if got := strings.Join(states, " "); got != "REQUESTED OFFERED ACCEPTED AGREED VERIFIED FINALIZED" {
		t.Errorf("consumer's path %s", got)
	}
	rec := s.onLedger(t, "agreement.signed/"+cneg.AgreementID)
	if rec.Terms == nil || rec.Terms.MaxUses != 2 {
		t.Fatalf("agreement on the ledger %+v, want the counter-offer's 2 uses", rec.Terms)
	}
	if _, err := prov.CounterOffer(ctx, pid, json.RawMessage(narrower), ""); err == nil || !strings.Contains(err.Error(), "not waiting for operator approval") {
		t.Errorf("counter-offer on a finalized negotiation: %v, want refused", err)
	}
	ph := peerNegotiation(t, prov, neg.ID)
	if ph.State != "FINALIZED" || ph.Role != store.RoleProvider {
		t.Errorf("provider's negotiation %+v", ph)
	}
}
