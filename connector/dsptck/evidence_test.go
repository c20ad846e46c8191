package dsptck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// TestEvidenceLevels: a standard DSP consumer's agreement rests on
// acknowledged evidence (its verification message), two tdsc nodes' on
// countersigned evidence; the ledger records which, and a space rule that
// demands countersigned evidence for core data refuses an acknowledged
// agreement on core data with the rule named, in the termination the
// consumer gets.
func TestEvidenceLevels(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	b, err := w.sp.Batch(w.sp.Authority(), w.sp.Rules(policy.SpaceRules{CountersignedFor: []policy.Classification{policy.Core}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.led.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	onLedger := func(agreement string) *ledger.Record {
		var rec *ledger.Record
		eventually("agreement.signed/"+agreement+" on the ledger", func() (bool, string) {
			p, err := w.led.Record(ctx, "agreement.signed/"+agreement)
			if err != nil {
				return false, err.Error()
			}
			rec = &p.Record
			return true, ""
		})
		return rec
	}
	if msg := run(func() {
		// A standard peer on general data: acknowledged.
		n := w.cnRequest()
		n.cutAgrees()
		okay("verification")(n.tckVerifies())
		n.cutFinalizes()
		neg := w.mustMgmt("GET", "/api/v1/negotiations/"+n.p, nil)
		rec := onLedger(neg["agreement"].(string))
		if rec.Terms.EvidenceLevel() != policy.EvidenceAcknowledged || rec.Terms.VerificationTokenID == "" ||
			!strings.HasPrefix(rec.Terms.VerificationHash, "sha256:") || rec.Terms.ConsumerSignature != "" {
			fail("a standard peer's agreement on the ledger: terms %+v, want acknowledged evidence with the verification's token id and hash", rec.Terms)
		}

		// A standard peer on core data: the space rule refuses it, named.
		n = w.cnRequestOn("core")
		n.cutAgrees()
		okay("verification")(n.tckVerifies())
		n.state("VERIFIED")
		w.mustMgmt("POST", "/api/v1/negotiations/"+n.p+"/approve", nil) // the operator signs off; the ledger refuses
		m := w.peer.expect("/cb/negotiations/"+n.c+"/termination", dsp.TypeContractNegotiationTerminationMessage)
		if !strings.Contains(string(m.body), policy.RuleCountersigned) {
			fail("termination does not name %s: %s", policy.RuleCountersigned, m.body)
		}
		n.state("TERMINATED")

		// Two tdsc nodes on core data: countersigned, accepted.
		_, offer := w.datasetOf(w.cut, "core-ds-tdsc", false, "core")
		w.peer.delegate.Store(true)
		defer w.peer.delegate.Store(false)
		hn, err := w.helper.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: w.cutU, Provider: cutID, Offer: offer})
		if err != nil {
			fail("tdsc consumer: %v", err)
		}
		var agreement string
		eventually("the tdsc consumer's negotiation FINALIZED", func() (bool, string) {
			x, err := w.helper.Negotiation(ctx, hn.ID)
			if err != nil {
				return false, err.Error()
			}
			agreement = x.AgreementID
			if x.State == "VERIFIED" && x.PeerPID != "" {
				w.mgmt("POST", "/api/v1/negotiations/"+x.PeerPID+"/approve", nil) // the CUT's sign-off (holdFinalize)
			}
			return x.State == "FINALIZED", x.State + " " + x.Reason
		})
		rec = onLedger(agreement)
		if rec.Terms.EvidenceLevel() != policy.EvidenceCountersigned || rec.Terms.ConsumerSignature == "" {
			fail("two tdsc nodes' agreement on the ledger: terms %+v, want countersigned", rec.Terms)
		}
	}); msg != "" {
		t.Fatal(msg)
	}
}

// TestProcessNotRevealed: the binding says a negotiation or transfer is
// revealed only to its counterparty; without a valid token the answer is
// 404, as for a process that does not exist, and the state is unchanged.
func TestProcessNotRevealed(t *testing.T) {
	w := newWorld(t)
	if msg := run(func() {
		n := w.cnRequest()
		for _, tok := range []string{"", "not-a-token"} {
			req, _ := http.NewRequest(http.MethodGet, n.cutURL(""), nil)
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fail("GET: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			refused(fmt.Sprintf("GET with token %q", tok), resp.StatusCode, b, dsp.TypeContractNegotiationError)
			if resp.StatusCode != http.StatusNotFound {
				fail("GET with token %q: %d, want 404: %s", tok, resp.StatusCode, b)
			}
		}
		n.state("REQUESTED")
	}); msg != "" {
		t.Fatal(msg)
	}
}

// TestRetriedMessages: a peer that retries a POST (the TCK does) gets 200
// again and nothing changes; a message that would move a process somewhere
// else is still refused.
func TestRetriedMessages(t *testing.T) {
	w := newWorld(t)
	asP, asC := w.seedAgreements()
	if msg := run(func() {
		n := w.cnRequest()
		// The initial request again: the same negotiation, not a second one.
		status, body := w.peer.send(w.cutU+"/negotiations/request", msg(dsp.TypeContractRequestMessage, "consumerPid", n.c,
			"offer", map[string]any{"@id": n.offerID, "@type": "Offer", "target": n.dataset, "permission": []any{map[string]any{"action": "use"}}},
			"callbackAddress", w.peer.url+"/cb"))
		okay("the initial request, retried")(status, body)
		if field(body, "providerPid") != n.p {
			fail("a retried initial request started another negotiation: %s, want providerPid %s", body, n.p)
		}
		n.cutOffers()
		for i := 0; i < 2; i++ {
			okay(fmt.Sprintf("ACCEPTED #%d", i+1))(n.tckAccepts())
		}
		n.state("ACCEPTED")
		for i := 0; i < 2; i++ {
			okay(fmt.Sprintf("termination #%d", i+1))(n.tckTerminates())
		}
		n.state("TERMINATED")

		c := w.cncRequest()
		for i := 0; i < 2; i++ {
			okay(fmt.Sprintf("offer #%d", i+1))(c.tck("/offers", dsp.TypeContractOfferMessage, "offer", map[string]any{"@id": "urn:tck:offer-retried",
				"@type": "Offer", "target": w.peer.catDataset, "permission": []any{map[string]any{"action": "use"}}}))
		}
		c.state("OFFERED")
		status, body = c.tckOffers() // another offer in OFFERED: not a retry
		refused("a different offer in OFFERED", status, body, negErr)

		x := w.tpRequest(asP)
		// The initial transfer request again: the same transfer, not a
		// second one; the same consumerPid for another agreement is refused.
		status, body = w.peer.send(w.cutU+"/transfers/request", msg(dsp.TypeTransferRequestMessage, "consumerPid", x.c,
			"agreementId", asP, "format", "HttpData-PULL", "callbackAddress", w.peer.url+"/cb"))
		okay("the initial transfer request, retried")(status, body)
		if field(body, "providerPid") != x.p {
			fail("a retried initial transfer request started another transfer: %s, want providerPid %s", body, x.p)
		}
		status, body = w.peer.send(w.cutU+"/transfers/request", msg(dsp.TypeTransferRequestMessage, "consumerPid", x.c,
			"agreementId", asC, "format", "HttpData-PULL", "callbackAddress", w.peer.url+"/cb"))
		refused("a consumerPid reused for another agreement", status, body, dsp.TypeTransferError)
		if !strings.Contains(string(body), "consumerPid.reused") {
			fail("the refusal of a reused consumerPid does not name its rule: %s", body)
		}
		x.cutStarts()
		for i := 0; i < 2; i++ {
			okay(fmt.Sprintf("suspension #%d", i+1))(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		}
		x.state("SUSPENDED")

		y := w.tpcRequest(asC)
		for i := 0; i < 2; i++ {
			okay(fmt.Sprintf("start #%d", i+1))(y.tckStarts())
		}
		y.state("STARTED")
		for i := 0; i < 2; i++ {
			okay(fmt.Sprintf("completion #%d", i+1))(y.tck("/completion", dsp.TypeTransferCompletionMessage))
		}
		y.state("COMPLETED")
	}); msg != "" {
		t.Fatal(msg)
	}
}

// TestBadJSONLDRefused: a message whose JSON-LD cannot be read, or whose
// expansion loses a required term, gets a schema-valid DSP error naming the
// field, and no negotiation is created.
func TestBadJSONLDRefused(t *testing.T) {
	w := newWorld(t)
	if msg := run(func() {
		ds, offer := w.dataset(w.cut, w.cutU, "jsonld-ds", true)
		offerObj := map[string]any{"@id": offer, "@type": "Offer", "target": ds, "permission": []any{map[string]any{"action": "use"}}}
		for _, tc := range []struct {
			name, field string
			msg         map[string]any
		}{
			{"remote context", "@context", map[string]any{"@context": []any{dspCtx, "https://evil.example/ctx.jsonld"}, "@type": "ContractRequestMessage",
				"consumerPid": "urn:tck:bad-1", "callbackAddress": w.peer.url + "/cb", "offer": offerObj}},
			{"a key the context does not define", "consumerPid", map[string]any{"@context": dspCtx, "@type": "ContractRequestMessage",
				"consumerpid": "urn:tck:bad-2", "callbackAddress": w.peer.url + "/cb", "offer": offerObj}},
		} {
			b, _ := json.Marshal(tc.msg)
			tok, _ := w.peer.iss.ProtocolToken(cutID)
			req, _ := http.NewRequest(http.MethodPost, w.cutU+"/negotiations/request", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fail("%s: %v", tc.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			refused(tc.name, resp.StatusCode, body, dsp.TypeContractNegotiationError)
			if err := check(body, dsp.TypeContractNegotiationError); err != nil {
				fail("%s: the error: %v", tc.name, err)
			}
			if !strings.Contains(string(body), tc.field) {
				fail("%s: the error does not name %s: %s", tc.name, tc.field, body)
			}
		}
		var l []map[string]any
		req, _ := http.NewRequest(http.MethodGet, w.cutU+"/api/v1/negotiations", nil)
		req.Header.Set("Authorization", "Bearer "+opToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fail("list: %v", err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if len(l) != 0 {
			fail("refused messages created negotiations: %v", l)
		}
	}); msg != "" {
		t.Fatal(msg)
	}
}
