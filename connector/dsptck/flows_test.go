package dsptck_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dsp"
)

func msg(typ string, kv ...any) map[string]any {
	m := map[string]any{"@context": []any{dspCtx}, "@type": typ}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func (w *world) uid(prefix string) string { return fmt.Sprintf("%s-%d", prefix, w.nextID.Add(1)) }

// ---- CN: the CUT is the provider

// cn is one negotiation with the CUT as provider.
type cn struct {
	w                *world
	p, c             string // providerPid (the CUT's), consumerPid (the peer's)
	dataset, offerID string
}

func (n *cn) cutURL(suffix string) string { return n.w.cutU + "/negotiations/" + n.p + suffix }

// cnRequest: TCK→CUT ContractRequestMessage, CUT→TCK ContractNegotiation
// (REQUESTED). The dataset waits for the CUT's operator, who acts for the
// provider in the steps that follow.
func (w *world) cnRequest() *cn { return w.cnRequestOn("general") }

// cnRequestOn is cnRequest for a dataset of classification class.
func (w *world) cnRequestOn(class string) *cn {
	ds, offer := w.datasetOf(w.cut, w.uid("cn-ds"), true, class)
	n := &cn{w: w, c: w.uid("urn:tck:c"), dataset: ds, offerID: offer}
	status, body := w.peer.send(w.cutU+"/negotiations/request", msg(dsp.TypeContractRequestMessage, "consumerPid", n.c,
		"offer", map[string]any{"@id": offer, "@type": "Offer", "target": ds, "permission": []any{map[string]any{"action": "use"}}},
		"callbackAddress", w.peer.url+"/cb"))
	ok2xx("ContractRequestMessage", status, body)
	if typeOf(body) != dsp.TypeContractNegotiation || field(body, "state") != "REQUESTED" || field(body, "consumerPid") != n.c {
		fail("answer to the contract request: want ContractNegotiation REQUESTED for %s, got %s", n.c, body)
	}
	n.p = field(body, "providerPid")
	n.waitOperator()
	return n
}

// waitOperator waits until the CUT's operator has something to decide.
func (n *cn) waitOperator() {
	eventually("the CUT's negotiation waiting for its operator", func() (bool, string) {
		_, neg := n.w.mgmt("GET", "/api/v1/negotiations/"+n.p, nil)
		return neg["awaiting"] != nil && neg["awaiting"] != "", fmt.Sprint(neg)
	})
}

// state: TCK verifies the provider's state (DSP GET).
func (n *cn) state(want string) {
	eventually("provider state "+want, func() (bool, string) {
		_, m := n.w.peer.get(n.cutURL(""))
		return m["state"] == want, fmt.Sprint(m)
	})
}

// cutOffers: the CUT's operator sends an offer (CUT→TCK ContractOfferMessage).
func (n *cn) cutOffers() {
	// hold: the provider's agreement is a step of its own in the TCK.
	n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.p+"/counter", map[string]any{"hold": true, "policy": map[string]any{
		"@context": dspCtx, "@id": n.offerID + "-counter", "@type": "Offer", "permission": []any{map[string]any{"action": "use"}}}})
	m := n.w.peer.expect("/cb/negotiations/"+n.c+"/offers", dsp.TypeContractOfferMessage)
	if field(m.body, "providerPid") != n.p || field(m.body, "consumerPid") != n.c {
		fail("offer names the wrong negotiation: %s", m.body)
	}
}

// cutAgrees: the CUT's operator agrees (CUT→TCK ContractAgreementMessage).
func (n *cn) cutAgrees() {
	n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.p+"/approve", nil)
	n.expectAgreement()
}

func (n *cn) expectAgreement() {
	m := n.w.peer.expect("/cb/negotiations/"+n.c+"/agreement", dsp.TypeContractAgreementMessage)
	if field(m.body, "providerPid") != n.p || field(m.body, "consumerPid") != n.c {
		fail("agreement names the wrong negotiation: %s", m.body)
	}
	// The peer advertised no tdsc profile: the agreement is DSP terms alone.
	if strings.Contains(string(m.body), `"tdsc:`) || strings.Contains(string(m.body), dsp.TDSCNamespace) {
		fail("the agreement to a standard peer carries tdsc terms: %s", m.body)
	}
}

// cutTerminates: the CUT's operator terminates (CUT→TCK termination).
func (n *cn) cutTerminates() {
	n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.p+"/terminate", map[string]any{"reason": "the TCK case says the provider terminates"})
	n.w.peer.expect("/cb/negotiations/"+n.c+"/termination", dsp.TypeContractNegotiationTerminationMessage)
}

func (n *cn) pidsKV(kv ...any) []any {
	return append([]any{"providerPid", n.p, "consumerPid", n.c}, kv...)
}

// tck sends a message to the CUT's negotiation (suffix under /negotiations/{pid}).
func (n *cn) tck(suffix, typ string, kv ...any) (int, []byte) {
	return n.w.peer.send(n.cutURL(suffix), msg(typ, n.pidsKV(kv...)...))
}

func (n *cn) tckTerminates() (int, []byte) {
	return n.tck("/termination", dsp.TypeContractNegotiationTerminationMessage, "code", "tck", "reason", []any{"the TCK case says the consumer terminates"})
}
func (n *cn) tckAccepts() (int, []byte) {
	return n.tck("/events", dsp.TypeContractNegotiationEventMessage, "eventType", "ACCEPTED")
}
func (n *cn) tckVerifies() (int, []byte) {
	return n.tck("/agreement/verification", dsp.TypeContractAgreementVerificationMessage)
}
func (n *cn) tckCounters() (int, []byte) {
	return n.tck("/request", dsp.TypeContractRequestMessage, "offer", map[string]any{"@id": n.offerID + "-tck-counter", "@type": "Offer",
		"target": n.dataset, "permission": []any{map[string]any{"action": "use"}}})
}

// cutFinalizes: the provider finalizes the verified agreement — its
// operator signs it off (holdFinalize), then FINALIZED comes.
func (n *cn) cutFinalizes() {
	select {
	case m := <-n.w.peer.in:
		n.w.peer.in <- m
	case <-time.After(300 * time.Millisecond):
		n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.p+"/approve", nil)
	}
	n.expectFinalized()
}

func (n *cn) expectFinalized() {
	m := n.w.peer.expect("/cb/negotiations/"+n.c+"/events", dsp.TypeContractNegotiationEventMessage)
	if field(m.body, "eventType") != "FINALIZED" {
		fail("want the FINALIZED event, got %s", m.body)
	}
}

// ---- CN_C: the CUT is the consumer

type cnc struct {
	w    *world
	p, c string // the peer's providerPid, the CUT's consumerPid
}

func (n *cnc) cutURL(suffix string) string {
	return n.w.cutU + "/callback/negotiations/" + n.c + suffix
}

// cncRequest: TCK signals the CUT (its operator) to negotiate the peer's
// offer; CUT→TCK ContractRequestMessage, TCK→CUT ContractNegotiation.
func (w *world) cncRequest() *cnc {
	w.mustMgmt("POST", "/api/v1/negotiations", map[string]any{"providerUrl": w.peer.url, "provider": tckID, "offer": w.peer.catOffer})
	m := w.peer.expect("/negotiations/request", dsp.TypeContractRequestMessage)
	n := &cnc{w: w, c: field(m.body, "consumerPid")}
	n.p = fmt.Sprintf("urn:tck:neg:%d", w.peer.next.Load())
	n.state("REQUESTED")
	return n
}

// state: TCK verifies the consumer's state (DSP GET on its callback).
func (n *cnc) state(want string) {
	eventually("consumer state "+want, func() (bool, string) {
		_, m := n.w.peer.get(n.cutURL(""))
		return m["state"] == want && m["providerPid"] == n.p, fmt.Sprint(m)
	})
}

func (n *cnc) tck(suffix, typ string, kv ...any) (int, []byte) {
	return n.w.peer.send(n.cutURL(suffix), msg(typ, append([]any{"providerPid", n.p, "consumerPid", n.c}, kv...)...))
}

func (n *cnc) tckOffers() (int, []byte) {
	return n.tck("/offers", dsp.TypeContractOfferMessage, "offer", map[string]any{"@id": n.w.uid("urn:tck:offer"), "@type": "Offer",
		"target": n.w.peer.catDataset, "permission": []any{map[string]any{"action": "use"}}})
}

func (n *cnc) tckAgrees() (int, []byte) {
	return n.tck("/agreement", dsp.TypeContractAgreementMessage, "agreement", map[string]any{"@id": n.w.uid("urn:tck:agreement"), "@type": "Agreement",
		"target": n.w.peer.catDataset, "assigner": tckID, "assignee": cutID, "timestamp": time.Now().UTC().Format(time.RFC3339),
		"permission": []any{map[string]any{"action": "use"}}})
}

func (n *cnc) tckFinalizes() (int, []byte) {
	return n.tck("/events", dsp.TypeContractNegotiationEventMessage, "eventType", "FINALIZED")
}

func (n *cnc) tckTerminates() (int, []byte) {
	return n.tck("/termination", dsp.TypeContractNegotiationTerminationMessage, "code", "tck", "reason", []any{"the TCK case says the provider terminates"})
}

// cutAccepts: the consumer accepts the offer — by its operator's policy on
// its own, or by its operator (POST …/accept).
func (n *cnc) cutAccepts() {
	select {
	case m := <-n.w.peer.in:
		n.w.peer.in <- m // let expect judge it
	case <-time.After(300 * time.Millisecond):
		n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.c+"/accept", nil)
	}
	m := n.w.peer.expect("/negotiations/"+n.p+"/events", dsp.TypeContractNegotiationEventMessage)
	if field(m.body, "eventType") != "ACCEPTED" {
		fail("want the ACCEPTED event, got %s", m.body)
	}
}

// cutRestsOffered: the consumer waits in OFFERED for its operator.
func (n *cnc) cutRestsOffered() {
	n.w.peer.quiet(300 * time.Millisecond)
	n.state("OFFERED")
}

// expectVerification: the consumer verifies the agreement — on its own,
// or when its operator accepts it (POST …/accept).
func (n *cnc) expectVerification() {
	select {
	case m := <-n.w.peer.in:
		n.w.peer.in <- m
	case <-time.After(300 * time.Millisecond):
		n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.c+"/accept", nil)
	}
	n.w.peer.expect("/negotiations/"+n.p+"/agreement/verification", dsp.TypeContractAgreementVerificationMessage)
}

func (n *cnc) cutTerminates() {
	n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.c+"/terminate", map[string]any{"reason": "the TCK case says the consumer terminates"})
	n.w.peer.expect("/negotiations/"+n.p+"/termination", dsp.TypeContractNegotiationTerminationMessage)
}

func (n *cnc) cutCounters() {
	n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.c+"/counter", map[string]any{"policy": map[string]any{
		"@context": dspCtx, "@id": n.w.uid("urn:cut:counter"), "@type": "Offer", "permission": []any{map[string]any{"action": "use"}}}})
	n.w.peer.expect("/negotiations/"+n.p+"/request", dsp.TypeContractRequestMessage)
}

// ---- agreements the transfer cases start from

// seedAgreements negotiates, once, an agreement with the CUT as provider and
// one with the CUT as consumer, between the CUT and a real tdsc node holding
// the TCK's identity (served at the peer's URL).
func (w *world) seedAgreements() (asProvider, asConsumer string) {
	ctx := context.Background()
	w.peer.delegate.Store(true)
	defer w.peer.delegate.Store(false)
	_, offer := w.dataset(w.cut, w.cutU, "tp-ds", false)
	neg, err := w.helper.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: w.cutU, Provider: cutID, Offer: offer})
	if err != nil {
		w.t.Fatalf("seeding the TP agreement: %v", err)
	}
	asProvider = w.finalized(w.helper, neg.ID)
	_, offer = w.dataset(w.helper, w.peer.url, "tpc-ds", false)
	out := w.mustMgmtT("POST", "/api/v1/negotiations", map[string]any{"providerUrl": w.peer.url, "provider": tckID, "offer": offer})
	asConsumer = w.finalized(w.cut, out["id"].(string))
	return asProvider, asConsumer
}

func (w *world) mustMgmtT(method, path string, body any) map[string]any {
	var out map[string]any
	if msg := run(func() { out = w.mustMgmt(method, path, body) }); msg != "" {
		w.t.Fatal(msg)
	}
	return out
}

func (w *world) finalized(n *connector.Node, id string) string {
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		neg, err := n.Negotiation(context.Background(), id)
		if err != nil {
			w.t.Fatal(err)
		}
		if neg.State == "FINALIZED" {
			return neg.AgreementID
		}
		if n == w.helper && neg.State == "VERIFIED" && neg.PeerPID != "" {
			// the CUT, as provider, holds the verified agreement for its
			// operator's sign-off (holdFinalize); a repeat is refused, harmlessly
			w.mgmt("POST", "/api/v1/negotiations/"+neg.PeerPID+"/approve", nil)
		}
		if neg.State == "AGREED" && neg.Awaiting != "" {
			// the CUT's operator accepts the agreement (manualOffers)
			w.mustMgmtT("POST", "/api/v1/negotiations/"+id+"/accept", nil)
		}
		if neg.State == "TERMINATED" {
			w.t.Fatalf("seeding an agreement: negotiation %s terminated: %s %s", id, neg.Code, neg.Reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.t.Fatalf("seeding an agreement: negotiation %s not FINALIZED", id)
	return ""
}

// ---- TP: the CUT is the provider

type tp struct {
	w    *world
	p, c string
}

func (x *tp) cutURL(suffix string) string { return x.w.cutU + "/transfers/" + x.p + suffix }

// tpRequest: TCK→CUT TransferRequestMessage, CUT→TCK TransferProcess.
func (w *world) tpRequest(agreement string) *tp {
	x := &tp{w: w, c: w.uid("urn:tck:tc")}
	status, body := w.peer.send(w.cutU+"/transfers/request", msg(dsp.TypeTransferRequestMessage, "consumerPid", x.c,
		"agreementId", agreement, "format", "HttpData-PULL", "callbackAddress", w.peer.url+"/cb"))
	ok2xx("TransferRequestMessage", status, body)
	if typeOf(body) != dsp.TypeTransferProcess || field(body, "consumerPid") != x.c {
		fail("answer to the transfer request: want TransferProcess for %s, got %s", x.c, body)
	}
	x.p = field(body, "providerPid")
	return x
}

func (x *tp) state(want string) {
	eventually("provider transfer state "+want, func() (bool, string) {
		_, m := x.w.peer.get(x.cutURL(""))
		return m["state"] == want, fmt.Sprint(m)
	})
}

func (x *tp) expect(suffix, typ string) inMsg {
	m := x.w.peer.expect("/cb/transfers/"+x.c+suffix, typ)
	if field(m.body, "providerPid") != x.p || field(m.body, "consumerPid") != x.c {
		fail("%s names the wrong transfer: %s", typ, m.body)
	}
	return m
}

// cutStarts: the provider starts the transfer (its operator starts the
// request it holds).
func (x *tp) cutStarts() {
	x.w.mustMgmt("POST", "/api/v1/transfers/"+x.p+"/start", nil)
	m := x.expect("/start", dsp.TypeTransferStartMessage)
	if !strings.Contains(string(m.body), "dataAddress") {
		fail("a pull transfer's start message carries no dataAddress: %s", m.body)
	}
}

func (x *tp) cutDoes(action, suffix, typ string) {
	x.w.mustMgmt("POST", "/api/v1/transfers/"+x.p+"/"+action, map[string]any{"reason": "the TCK case says the provider " + action + "s"})
	x.expect(suffix, typ)
}

func (x *tp) tck(suffix, typ string, kv ...any) (int, []byte) {
	return x.w.peer.send(x.cutURL(suffix), msg(typ, append([]any{"providerPid", x.p, "consumerPid", x.c}, kv...)...))
}

// ---- TP_C: the CUT is the consumer

type tpc struct {
	w    *world
	p, c string
}

func (x *tpc) cutURL(suffix string) string { return x.w.cutU + "/callback/transfers/" + x.c + suffix }

// tpcRequest: TCK signals the CUT to request a transfer; CUT→TCK
// TransferRequestMessage, TCK→CUT TransferProcess.
func (w *world) tpcRequest(agreement string) *tpc {
	w.mustMgmt("POST", "/api/v1/transfers", map[string]any{"agreement": agreement, "format": "HttpData-PULL"})
	m := w.peer.expect("/transfers/request", dsp.TypeTransferRequestMessage)
	x := &tpc{w: w, c: field(m.body, "consumerPid")}
	x.p = fmt.Sprintf("urn:tck:tp:%d", w.peer.next.Load())
	x.state("REQUESTED")
	return x
}

func (x *tpc) state(want string) {
	eventually("consumer transfer state "+want, func() (bool, string) {
		_, m := x.w.peer.get(x.cutURL(""))
		return m["state"] == want && m["providerPid"] == x.p, fmt.Sprint(m)
	})
}

func (x *tpc) tck(suffix, typ string, kv ...any) (int, []byte) {
	return x.w.peer.send(x.cutURL(suffix), msg(typ, append([]any{"providerPid", x.p, "consumerPid", x.c}, kv...)...))
}

func (x *tpc) tckStarts() (int, []byte) {
	return x.tck("/start", dsp.TypeTransferStartMessage, "dataAddress", map[string]any{"@type": "DataAddress",
		"endpointType": "https://w3id.org/idsa/v4.1/HTTP", "endpoint": x.w.peer.url + "/tck-data/" + x.c,
		"endpointProperties": []any{map[string]any{"@type": "EndpointProperty", "name": "authorization", "value": "tck-token"}}})
}

func (x *tpc) cutDoes(action, suffix, typ string) {
	x.w.mustMgmt("POST", "/api/v1/transfers/"+x.c+"/"+action, map[string]any{"reason": "the TCK case says the consumer " + action + "s"})
	m := x.w.peer.expect("/transfers/"+x.p+suffix, typ)
	if field(m.body, "providerPid") != x.p || field(m.body, "consumerPid") != x.c {
		fail("%s names the wrong transfer: %s", typ, m.body)
	}
}
