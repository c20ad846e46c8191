package connector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/dsp/dspschema"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
)

func twoNodes(t *testing.T) (*testSpace, *testNode, *testNode) {
	s := newSpace(t)
	pk := s.register("did:tdsc:transport-bureau", "CN-BJ", "government")
	ck := s.register("did:tdsc:research-lab", "CN-SH", "research")
	return s, s.node("did:tdsc:transport-bureau", pk, "", ""), s.node("did:tdsc:research-lab", ck, "", "")
}

func TestNegotiationAndTransfer(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	dsID, offerID := provider(t, prov, false)

	cat, err := cons.RemoteCatalog(ctx, prov.url(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Dataset) != 1 || cat.Dataset[0].ID != dsID || cat.Dataset[0].HasPolicy[0].ID != offerID {
		t.Fatalf("catalogue = %+v", cat)
	}

	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	cneg := waitNeg(t, cons, neg.ID, "FINALIZED")
	pneg := peerNegotiation(t, prov, neg.ID)
	if pneg == nil || pneg.State != "FINALIZED" || pneg.AgreementID != cneg.AgreementID {
		t.Fatalf("provider negotiation = %+v", pneg)
	}
	// Every transition the spec asks for, with a reason, on both sides.
	wantProv := []string{"REQUESTED", "AGREED", "VERIFIED", "FINALIZED"}
	wantCons := []string{"REQUESTED", "AGREED", "VERIFIED", "FINALIZED"}
	for side, c := range map[string]struct {
		h    []store.Transition
		want []string
	}{"provider": {pneg.History, wantProv}, "consumer": {cneg.History, wantCons}} {
		if len(c.h) != len(c.want) {
			t.Fatalf("%s history = %+v", side, c.h)
		}
		for i, tr := range c.h {
			if tr.To != c.want[i] || tr.Reason == "" {
				t.Errorf("%s transition %d = %+v, want to %s with a reason", side, i, tr, c.want[i])
			}
		}
	}
	// The agreement is on the ledger, counter-signed by the consumer.
	rec := s.onLedger(t, "agreement.signed/"+cneg.AgreementID)
	if rec.Actor != prov.id || rec.Counterparty != cons.id || rec.Terms.ConsumerKeyID != cons.key.KeyID() || rec.Terms.MaxUses != 5 {
		t.Fatalf("agreement record = %+v terms %+v", rec, rec.Terms)
	}
	if len(rec.Terms.Duties) != 1 || rec.Terms.Duties[0].Action != "delete" || rec.Terms.Duties[0].Due == "" {
		t.Fatalf("duties = %+v", rec.Terms.Duties)
	}
	duties, _ := cons.Store().View(ctx).Duties(cneg.AgreementID)
	if len(duties) != 1 || duties[0].State != store.DutyOwed {
		t.Fatalf("consumer duties = %+v", duties)
	}

	// Transfer: authorised on the ledger before the start message carries the token.
	x, err := cons.StartTransfer(ctx, cneg.AgreementID, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "STARTED")
	if !strings.Contains(string(cx.DataAddress), "authorization") {
		t.Fatalf("data address = %s", cx.DataAddress)
	}
	auth := s.onLedger(t, "transfer.authorized/"+cx.PeerPID)
	if auth.Agreement != cneg.AgreementID || auth.TokenID == "" || auth.FromRegion != "CN-BJ" || auth.ToRegion != "CN-SH" {
		t.Fatalf("transfer.authorized = %+v", auth)
	}
	// Pull the data with the access token, bound to the consumer's key.
	var addr dsp.DataAddress
	if err := json.Unmarshal(cx.DataAddress, &addr); err != nil {
		t.Fatal(err)
	}
	tok := addr.Property("authorization")
	out := filepath.Join(t.TempDir(), "traffic.csv")
	res, err := pull.Download(ctx, addr.Endpoint, tok, dataplane.KeyProof(cons.key, tok), out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != trafficCSV || res.Expected == "" {
		t.Fatalf("pulled %q (result %+v)", got, res)
	}
	// A stolen token without its proof is refused; the denial names the
	// consumer of the transfer in the URL, as the token's claims are untrusted.
	if _, err := pull.Download(ctx, addr.Endpoint, tok, func(string, string) (string, error) { return "", nil }, out+".stolen"); err == nil {
		t.Fatal("a token without its proof was taken")
	}
	eventually(t, "transfer.denied for the stolen token", func() (bool, string) {
		p, err := s.led.Query(ctx, ledger.Query{Transfer: cx.PeerPID, Kind: ledger.KindTransferDenied})
		if err != nil || len(p.Records) != 1 {
			return false, fmt.Sprint("records: ", err)
		}
		r := p.Records[0].Record
		return r.Actor == prov.id && r.Counterparty == cons.id && r.Agreement == cneg.AgreementID && r.Rule == "dataplane.proof-invalid", fmt.Sprintf("%+v", r)
	})
	done := s.onLedger(t, "transfer.completed/"+cx.PeerPID+"/"+prov.id)
	if done.Bytes != int64(len(trafficCSV)) || done.ContentHash != testSuite.HashName()+":"+res.Sum || done.Decision != ledger.DecisionAllow {
		t.Fatalf("provider's transfer.completed = %+v", done)
	}
	// The consumer records what it received; a second receipt records nothing more.
	if _, err := cons.RecordReceipt(ctx, x.ID, connector.Receipt{Bytes: res.Size, ContentHash: testSuite.HashName() + ":" + res.Sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.RecordReceipt(ctx, x.ID, connector.Receipt{Bytes: res.Size, ContentHash: testSuite.HashName() + ":" + res.Sum}); err != nil {
		t.Fatal(err)
	}
	got := s.onLedger(t, "transfer.completed/"+cx.PeerPID+"/"+cons.id)
	if got.Actor != cons.id || got.Counterparty != prov.id || got.Transfer != cx.PeerPID || got.Bytes != res.Size ||
		got.ContentHash != done.ContentHash || got.Decision != ledger.DecisionAllow || got.TokenID != auth.TokenID {
		t.Fatalf("consumer's transfer.completed = %+v", got)
	}
	if _, err := cons.CompleteTransfer(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, prov, cx.PeerPID, "COMPLETED")
	s.onLedger(t, "usage.logged/"+x.ID)
	if err := cons.FulfilDuty(ctx, cneg.AgreementID, duties[0].DutyID); err != nil {
		t.Fatal(err)
	}
	s.onLedger(t, "duty.fulfilled/"+cneg.AgreementID+"/"+duties[0].DutyID)
	for _, id := range []string{"dataset.registered/" + dsID, "offer.published/" + offerID} {
		s.onLedger(t, id)
	}
	s.schema.mu.Lock()
	checked := s.schema.checked
	s.schema.mu.Unlock()
	if checked < 12 {
		t.Errorf("only %d DSP bodies were schema-checked; the nodes' traffic is not going through the check", checked)
	}
}

func TestRefusedNegotiation(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, false)
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "marketing"})
	if err != nil {
		t.Fatal(err)
	}
	cneg := waitNeg(t, cons, neg.ID, "TERMINATED")
	pneg := peerNegotiation(t, prov, neg.ID)
	if pneg.State != "TERMINATED" || pneg.Rule == "" || !strings.Contains(pneg.Reason, "research") {
		t.Fatalf("provider side = %+v", pneg)
	}
	if !strings.Contains(cneg.Reason, "research") {
		t.Fatalf("consumer side reason %q does not say why", cneg.Reason)
	}
	rec := s.onLedger(t, "negotiation.denied/"+pneg.ID)
	if rec.Kind != ledger.KindNegotiationDenied || rec.Rule != pneg.Rule || rec.Reason != pneg.Reason || rec.Counterparty != cons.id {
		t.Fatalf("denial record = %+v", rec)
	}
}

func TestRevokedAgreementRefusesTransfer(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, false)
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	cneg := waitNeg(t, cons, neg.ID, "FINALIZED")
	if _, err := prov.Revoke(ctx, cneg.AgreementID, "consumer breached the purpose"); err != nil {
		t.Fatal(err)
	}
	s.onLedger(t, "agreement.revoked/"+cneg.AgreementID)
	x, err := cons.StartTransfer(ctx, cneg.AgreementID, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "TERMINATED")
	if !strings.Contains(cx.Reason, "revoked") || !strings.Contains(cx.Reason, "breached") {
		t.Fatalf("consumer transfer reason = %q", cx.Reason)
	}
}

func TestRestartMidNegotiation(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, true) // the dataset needs the operator's approval
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	var pneg *store.Negotiation
	eventually(t, "provider waits for approval", func() (bool, string) {
		pneg = peerNegotiation(t, prov, neg.ID)
		return pneg != nil && pneg.Awaiting == "operator approval", ""
	})
	// The consumer goes away; the provider approves, agrees, and cannot deliver.
	cons.stop()
	if _, err := prov.Approve(ctx, pneg.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	waitNeg(t, prov, pneg.ID, "AGREED")
	// The provider restarts too: its pending step must survive in the store.
	prov = prov.restart()
	cons = cons.restart()
	waitNeg(t, cons, neg.ID, "FINALIZED")
	pneg = waitNeg(t, prov, pneg.ID, "FINALIZED")
	s.onLedger(t, "agreement.signed/"+pneg.AgreementID)
}

func TestLedgerOutageOutbox(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	s.gate.down.Store(true)
	dsID, offerID := provider(t, prov, false)
	// A negotiation during the outage waits at VERIFIED: agreement.signed is strict.
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	var pneg *store.Negotiation
	eventually(t, "provider at VERIFIED", func() (bool, string) {
		pneg = peerNegotiation(t, prov, neg.ID)
		return pneg != nil && pneg.State == "VERIFIED", ""
	})
	eventually(t, "the outbox to hold dataset, offer and agreement records", func() (bool, string) {
		st, err := prov.Outbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Counts[store.OutboxPending]+st.Counts[store.OutboxBatched] == 3 && !st.LedgerHealthy, fmt.Sprint(st.Counts)
	})
	if _, err := s.led.Record(ctx, "dataset.registered/"+dsID); err == nil {
		t.Fatal("record reached the ledger during the outage")
	}
	// The ledger returns, and the first answer is lost after the commit: the
	// writer must re-send the same batch and not double anything.
	s.gate.loseAnswers.Store(1)
	s.gate.down.Store(false)
	waitNeg(t, cons, neg.ID, "FINALIZED")
	ids := []string{"dataset.registered/" + dsID, "offer.published/" + offerID, "agreement.signed/" + pneg.AgreementID}
	for _, id := range ids {
		s.onLedger(t, id)
	}
	eventually(t, "outbox drained", func() (bool, string) {
		st, _ := prov.Outbox(ctx)
		return st.Counts[store.OutboxPending]+st.Counts[store.OutboxBatched] == 0 && st.Counts[store.OutboxRefused] == 0, ""
	})
	page, err := s.led.Query(ctx, ledger.Query{Participant: prov.id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range page.Records {
		seen[e.Record.ID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("record %s is on the ledger %d times, want once", id, seen[id])
		}
	}
}

func TestOutOfOrderMessageChangesNothing(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, false)
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	waitNeg(t, cons, neg.ID, "FINALIZED")
	pneg := peerNegotiation(t, prov, neg.ID)
	// A verification for a FINALIZED negotiation is out of order.
	status, body := cons.sendDSP(t, prov, "/negotiations/"+pneg.ID+"/agreement/verification", &dsp.ContractAgreementVerificationMessage{
		Header: dsp.NewHeader(dsp.TypeContractAgreementVerificationMessage), ProviderPID: pneg.ID, ConsumerPID: neg.ID})
	if status != 400 || !strings.Contains(body, "ContractNegotiationError") || !strings.Contains(body, "FINALIZED") {
		t.Fatalf("out-of-order verification: %d %s", status, body)
	}
	if err := dspschema.Validate([]byte(body)); err != nil {
		t.Fatalf("error body: %v", err)
	}
	after := negState(t, prov, pneg.ID)
	if after.State != "FINALIZED" || len(after.History) != len(pneg.History) {
		t.Fatalf("state changed: %+v", after)
	}
}

func TestCatalogueShowsWhatTheConsumerMaySee(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	dsID, open := provider(t, prov, false)
	healthOnly := `{"@id":"offer-health","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"industry","operator":"eq","rightOperand":"healthcare"}]}]}`
	if _, err := prov.AddOffer(ctx, connector.NewOffer{Dataset: dsID, Policy: json.RawMessage(healthOnly)}); err != nil {
		t.Fatal(err)
	}
	cat, err := cons.RemoteCatalog(ctx, prov.url(), prov.id)
	if err != nil {
		t.Fatal(err)
	}
	var offers []string
	for _, d := range cat.Dataset {
		for _, p := range d.HasPolicy {
			offers = append(offers, p.ID)
		}
	}
	if len(offers) != 1 || offers[0] != open {
		t.Fatalf("a research-industry consumer sees offers %v, want only %s", offers, open)
	}
	// Negotiating the hidden offer by id is refused with the reason.
	_, err = cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: "offer-health", Purpose: "research"})
	if err == nil || !strings.Contains(err.Error(), "not in") {
		t.Fatalf("negotiating a hidden offer: %v", err)
	}
}

func TestMalformedAndOversizedMessagesChangeNothing(t *testing.T) {
	_, prov, cons := twoNodes(t)
	provider(t, prov, false)
	tests := []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"missing consumerPid", map[string]any{"@context": []string{dsp.Context}, "@type": "ContractRequestMessage", "callbackAddress": "http://x",
			"offer": map[string]any{"@id": "offer-research", "@type": "Offer", "permission": []any{map[string]any{"action": "use"}}}}, 400, `consumerPid`},
		{"wrong type", map[string]any{"@context": []string{dsp.Context}, "@type": "ContractOfferMessage"}, 400, `ContractRequestMessage`},
		{"oversized", map[string]any{"@context": []string{dsp.Context}, "@type": "ContractRequestMessage", "consumerPid": strings.Repeat("x", dsp.MaxMessageBytes)}, 413, "too-large"},
		{"unknown offer", map[string]any{"@context": []string{dsp.Context}, "@type": "ContractRequestMessage", "consumerPid": "c9", "callbackAddress": "http://x",
			"offer": map[string]any{"@id": "no-such-offer", "@type": "Offer", "permission": []any{map[string]any{"action": "use"}}}}, 400, "catalogue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := cons.sendDSP(t, prov, "/negotiations/request", tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) || !strings.Contains(body, "ContractNegotiationError") {
				t.Fatalf("%d %s", status, body)
			}
			if err := dspschema.Validate([]byte(body)); err != nil {
				t.Fatal(err)
			}
		})
	}
	l, _, err := prov.Store().View(context.Background()).Negotiations("", store.Page{})
	if err != nil || len(l) != 0 {
		t.Fatalf("negotiations after refused messages: %d, %v", len(l), err)
	}
}

func TestConsumerTakesANarrowerCounterOffer(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, true) // the provider holds the request for approval
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	var pneg *store.Negotiation
	eventually(t, "provider holds the request", func() (bool, string) {
		pneg = peerNegotiation(t, prov, neg.ID)
		return pneg != nil && pneg.Awaiting != "", ""
	})
	counter := func(maxUses string) *dsp.ContractOfferMessage {
		var p dsp.Policy
		json.Unmarshal([]byte(strings.ReplaceAll(researchOffer, `"rightOperand": 5`, `"rightOperand": "`+maxUses+`"`)), &p)
		p.Target = "ds-traffic"
		return &dsp.ContractOfferMessage{Header: dsp.NewHeader(dsp.TypeContractOfferMessage), ProviderPID: pneg.ID, ConsumerPID: neg.ID, Offer: p}
	}
	// A counter-offer allowing more uses than requested is broader: refused, with the reason.
	broader := counter("50")
	if status, body := prov.sendDSP(t, cons, "/callback/negotiations/"+neg.ID+"/offers", broader); status != 200 {
		t.Fatalf("broader counter-offer: %d %s", status, body)
	}
	c := waitNeg(t, cons, neg.ID, "TERMINATED")
	if !strings.Contains(c.Reason, "broader") {
		t.Fatalf("reason = %q", c.Reason)
	}
	// A fresh negotiation, and a narrower counter-offer (3 uses): OFFERED, then ACCEPTED.
	neg, err = cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "provider holds the second request", func() (bool, string) {
		pneg = peerNegotiation(t, prov, neg.ID)
		return pneg != nil && pneg.Awaiting != "", ""
	})
	if status, body := prov.sendDSP(t, cons, "/callback/negotiations/"+neg.ID+"/offers", counter("3")); status != 200 {
		t.Fatalf("narrower counter-offer: %d %s", status, body)
	}
	c = waitNeg(t, cons, neg.ID, "ACCEPTED")
	if n := len(c.History); n != 3 || c.History[1].To != "OFFERED" {
		t.Fatalf("history = %+v", c.History)
	}
}
