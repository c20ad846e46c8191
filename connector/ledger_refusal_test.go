package connector_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/ledger/service"
)

// TestLedgerRefusalReadsOnce drives a refusal through every hop — the
// provider connector's outbox, the ledger client, the ledger service, the
// embedded store's rulebook — and checks that each fact of it (the rule, the
// record, the reason) reaches the connector, its outbox and its denial once.
func TestLedgerRefusalReadsOnce(t *testing.T) {
	s := newSpace(t)
	pk := s.register("did:tdsc:transport-bureau", "CN-BJ", "government")
	ck := s.register("did:tdsc:research-lab", "CN-SH", "research")
	h, err := service.New(service.Config{Backend: s.led,
		Authorize: func(*http.Request) (service.Principal, error) {
			return service.Principal{}, errors.New("no reads here")
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	lc, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	prov := s.node("did:tdsc:transport-bureau", pk, "", "", connector.WithLedger(lc))
	cons := s.node("did:tdsc:research-lab", ck, "", "")
	ctx := context.Background()
	_, offerID := provider(t, prov, false)
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	cneg := waitNeg(t, cons, neg.ID, "FINALIZED")

	// The consumer revokes the agreement on the ledger behind the provider's
	// back: the provider still holds it active, so only the ledger refuses
	// the transfer it authorises.
	rec := s.sp.Revoked(cons.id, cneg.AgreementID)
	rec.ID, rec.Counterparty, rec.Reason = "agreement.revoked/"+cneg.AgreementID, prov.id, "breach"
	b, err := s.sp.Batch(cons.id, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.led.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	x, err := cons.StartTransfer(ctx, cneg.AgreementID, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "TERMINATED")

	authorized := "transfer.authorized/" + cx.PeerPID
	var out *connector.OutboxStatus
	eventually(t, "the provider's outbox refuses "+authorized, func() (bool, string) {
		out, err = prov.Outbox(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range out.Refused {
			if r.RecordID == authorized {
				return true, ""
			}
		}
		return false, "not refused yet"
	})
	var stored string
	for _, r := range out.Refused {
		if r.RecordID == authorized {
			stored = r.Error
		}
	}
	rule := rulebook.RuleAgreementLive
	for _, check := range []struct{ where, msg string }{
		{"outbox error", stored},
		{"consumer's transfer reason", cx.Reason},
	} {
		if strings.Count(check.msg, rule) > 1 || strings.Count(check.msg, "is revoked") != 1 ||
			strings.Count(check.msg, "refused") != 1 || strings.Count(check.msg, "ledger: ") > 1 {
			t.Errorf("%s names a fact more than once (or not at all): %q", check.where, check.msg)
		}
	}
	if strings.Count(stored, rule) != 1 {
		t.Errorf("outbox error %q does not name rule %s once", stored, rule)
	}
	if want := "ledger: refused by rule " + rule + ": record " + authorized + ": field "; !strings.HasPrefix(stored, want) {
		t.Errorf("outbox error = %q, want it to start %q", stored, want)
	}
	denied := s.onLedger(t, "transfer.denied/"+cx.PeerPID)
	if denied.Rule != rule || strings.Contains(denied.Reason, rule) || strings.Count(denied.Reason, "refused") != 1 {
		t.Errorf("denial on the ledger: rule %q reason %q; want rule %s, named once", denied.Rule, denied.Reason, rule)
	}
}
