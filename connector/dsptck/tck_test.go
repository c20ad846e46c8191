package dsptck_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/dsp"
)

var updateDocs = flag.Bool("update", false, "rewrite the results column of docs/dsp-conformance.md")

// tckCase is one TCK test case, ported: id is the TCK's display id.
type tckCase struct {
	id  string
	run func(w *world, agr agreements)
}

type agreements struct{ asProvider, asConsumer string }

// disabled are the cases the TCK itself disables (@Disabled, no reason
// given): a consumer resuming the transfer it suspended with a
// TransferStartMessage. The tier runs them like the others: the HTTPS
// binding lets the consumer POST a start after a suspension
// (transfer.process.binding.https.md, "Transfer Start Endpoint"), though the
// protocol's message table names the provider as its sender.
var disabled = map[string]bool{"TP:02-04": true, "TP_C:02-04": true}

// knownFailing are cases tdsc does not pass yet, each with why; the tier
// fails if one of them starts passing (so the list and the docs stay true)
// or if any other case fails.
var knownFailing = map[string]string{
	"TP_C:02-04": "the consumer stays SUSPENDED after asking the provider to resume until the provider's TransferStartMessage arrives (with a pull's fresh access token); the case expects STARTED once its start is acknowledged. The protocol's message table names the provider as the sender of TransferStartMessage, resulting state STARTED (transfer.process.protocol.md); the HTTPS binding lets the consumer POST one \"to attempt to start\" a suspended transfer (transfer.process.binding.https.md)",
}

const (
	negErr = dsp.TypeContractNegotiationError
	tpErr  = dsp.TypeTransferError
)

var cases = []tckCase{
	// ---- MET
	{"MET:01-01", func(w *world, _ agreements) {
		_, m := w.peer.getPlain(w.cutU + "/.well-known/dspace-version")
		versions, _ := m["protocolVersions"].([]any)
		for _, v := range versions {
			e, _ := v.(map[string]any)
			if e["version"] == "2025-1" && e["path"] != nil && e["binding"] != nil {
				return
			}
		}
		fail("no protocolVersions entry with version 2025-1, path and binding: %v", m)
	}},
	// ---- CAT
	{"CAT:01-01", func(w *world, _ agreements) {
		ds, _ := w.dataset(w.cut, w.cutU, w.uid("cat-ds"), false)
		status, body := w.peer.send(w.cutU+"/catalog/request", msg(dsp.TypeCatalogRequestMessage))
		ok2xx("CatalogRequestMessage", status, body)
		if err := check(body, dsp.TypeCatalog); err != nil {
			fail("catalogue: %v", err)
		}
		if !expandedHas(body, "http://www.w3.org/ns/dcat#dataset", ds) {
			fail("catalogue has no dcat:dataset %s after expansion: %s", ds, body)
		}
	}},
	{"CAT:01-02", func(w *world, _ agreements) {
		ds, _ := w.dataset(w.cut, w.cutU, w.uid("cat-ds"), false)
		status, m := w.peer.get(w.cutU + "/catalog/datasets/" + ds)
		if status != 200 || m["@id"] != ds {
			fail("dataset request: %d %v", status, m)
		}
		b, _ := json.Marshal(m)
		if err := check(b, dsp.TypeDataset); err != nil {
			fail("dataset: %v", err)
		}
	}},
	{"CAT:01-03", func(w *world, _ agreements) {
		status, m := w.peer.get(w.cutU + "/catalog/datasets/" + w.uid("no-such-dataset"))
		b, _ := json.Marshal(m)
		refused("dataset request for an unknown dataset", status, b, dsp.TypeCatalogError)
	}},

	// ---- CN: the CUT is the provider
	{"CN:01-01", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		n.state("OFFERED")
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN:01-02", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		n.state("OFFERED")
		status, body := n.tckCounters()
		ok2xx("counter-request", status, body)
		if typeOf(body) != dsp.TypeContractNegotiation || field(body, "state") != "REQUESTED" {
			fail("answer to the counter-request: want ContractNegotiation REQUESTED, got %s", body)
		}
		n.waitOperator()
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN:01-03", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		n.state("OFFERED")
		okay("ACCEPTED event")(n.tckAccepts())
		n.state("ACCEPTED")
		n.cutAgreesAfterAccept()
		n.state("AGREED")
		okay("verification")(n.tckVerifies())
		n.cutFinalizes()
		n.state("FINALIZED")
	}},
	{"CN:01-04", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutAgrees()
		n.state("AGREED")
		okay("verification")(n.tckVerifies())
		n.cutFinalizes()
		n.state("FINALIZED")
	}},
	{"CN:02-01", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN:02-02", func(w *world, _ agreements) {
		n := w.cnRequest()
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN:02-03", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutAgrees()
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN:02-04", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN:02-05", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		n.state("OFFERED")
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN:02-06", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		okay("ACCEPTED event")(n.tckAccepts())
		n.state("ACCEPTED")
		n.waitOperator()
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN:02-07", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutAgrees()
		okay("verification")(n.tckVerifies())
		n.state("VERIFIED")
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN:03-01", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutAgrees()
		okay("verification")(n.tckVerifies())
		n.cutFinalizes()
		n.state("FINALIZED")
		status, body := n.tckTerminates()
		refused("termination of a FINALIZED negotiation", status, body, negErr)
		n.state("FINALIZED")
	}},
	{"CN:03-02", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		n.state("OFFERED")
		status, body := n.tckVerifies()
		refused("verification in OFFERED", status, body, negErr)
		n.state("OFFERED")
	}},
	{"CN:03-03", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		okay("ACCEPTED event")(n.tckAccepts())
		n.w.peer.quiet(300 * time.Millisecond) // the TCK expects no agreement yet
		n.state("ACCEPTED")
		status, body := n.tckVerifies()
		refused("verification in ACCEPTED", status, body, negErr)
		n.state("ACCEPTED")
	}},
	{"CN:03-04", func(w *world, _ agreements) {
		n := w.cnRequest()
		n.cutOffers()
		n.state("OFFERED")
		status, body := n.tckCounters()
		ok2xx("counter-request", status, body)
		n.state("REQUESTED")
		status, body = n.tckCounters()
		refused("a second counter-request while REQUESTED", status, body, negErr)
		n.state("REQUESTED")
	}},

	// ---- CN_C: the CUT is the consumer
	{"CN_C:01-01", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutAccepts()
		n.state("ACCEPTED")
		okay("agreement")(n.tckAgrees())
		n.expectVerification()
		n.state("VERIFIED")
		okay("FINALIZED event")(n.tckFinalizes())
		n.state("FINALIZED")
	}},
	{"CN_C:01-02", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutRestsOffered()
		n.cutCounters()
		n.state("REQUESTED")
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN_C:01-03", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutRestsOffered()
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN_C:01-04", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("agreement")(n.tckAgrees())
		n.expectVerification()
		n.state("VERIFIED")
		okay("FINALIZED event")(n.tckFinalizes())
		n.state("FINALIZED")
	}},
	{"CN_C:02-01", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN_C:02-02", func(w *world, _ agreements) {
		n := w.cncRequest()
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN_C:02-03", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("agreement")(n.tckAgrees())
		n.cutRestsAgreedOrVerifies()
		n.cutTerminates()
		n.state("TERMINATED")
	}},
	{"CN_C:02-04", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutRestsOffered()
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN_C:02-05", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutAccepts()
		n.state("ACCEPTED")
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN_C:02-06", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("agreement")(n.tckAgrees())
		n.expectVerification()
		n.state("VERIFIED")
		okay("termination")(n.tckTerminates())
		n.state("TERMINATED")
	}},
	{"CN_C:03-01", func(w *world, _ agreements) {
		n := w.cncRequest()
		status, body := n.tckFinalizes()
		refused("FINALIZED in REQUESTED", status, body, negErr)
		n.state("REQUESTED")
	}},
	{"CN_C:03-02", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutRestsOffered()
		status, body := n.tckAgrees()
		refused("agreement in OFFERED (the consumer has not accepted)", status, body, negErr)
		n.state("OFFERED")
	}},
	{"CN_C:03-03", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutRestsOffered()
		status, body := n.tckFinalizes()
		refused("FINALIZED in OFFERED", status, body, negErr)
		n.state("OFFERED")
	}},
	{"CN_C:03-04", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutAccepts()
		n.state("ACCEPTED")
		status, body := n.tckFinalizes()
		refused("FINALIZED in ACCEPTED", status, body, negErr)
		n.state("ACCEPTED")
	}},
	{"CN_C:03-05", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutAccepts()
		n.state("ACCEPTED")
		status, body := n.tckOffers()
		refused("offer in ACCEPTED", status, body, negErr)
		n.state("ACCEPTED")
	}},
	{"CN_C:03-06", func(w *world, _ agreements) {
		n := w.cncRequest()
		okay("offer")(n.tckOffers())
		n.cutAccepts()
		n.state("ACCEPTED")
		okay("agreement")(n.tckAgrees())
		n.cutRestsAgreedOrVerifies()
		status, body := n.tckFinalizes()
		if st := n.currentState(); st == "AGREED" {
			refused("FINALIZED in AGREED", status, body, negErr)
			n.state("AGREED")
		} else {
			// The CUT verified at once (AGREED → VERIFIED is its own step);
			// FINALIZED is then legal. The TCK's consumer waits in AGREED
			// only if told to; see docs/dsp-conformance.md.
			fail("the consumer left AGREED on its own (%s); the TCK expects it to stay AGREED", st)
		}
	}},

	// ---- TP: the CUT is the provider
	{"TP:01-01", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		x.state("STARTED")
		x.cutDoes("terminate", "/termination", dsp.TypeTransferTerminationMessage)
		x.state("TERMINATED")
	}},
	{"TP:01-02", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		x.cutDoes("complete", "/completion", dsp.TypeTransferCompletionMessage)
		x.state("COMPLETED")
	}},
	{"TP:01-03", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		x.cutDoes("suspend", "/suspension", dsp.TypeTransferSuspensionMessage)
		x.state("SUSPENDED")
		x.cutDoes("terminate", "/termination", dsp.TypeTransferTerminationMessage)
		x.state("TERMINATED")
	}},
	{"TP:01-04", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		x.cutDoes("suspend", "/suspension", dsp.TypeTransferSuspensionMessage)
		x.state("SUSPENDED")
		x.cutDoes("resume", "/start", dsp.TypeTransferStartMessage)
		x.state("STARTED")
		x.cutDoes("complete", "/completion", dsp.TypeTransferCompletionMessage)
		x.state("COMPLETED")
	}},
	{"TP:01-05", func(w *world, a agreements) {
		x := w.tpRequestHeld(a.asProvider)
		x.cutDoes("terminate", "/termination", dsp.TypeTransferTerminationMessage)
		x.state("TERMINATED")
	}},
	{"TP:02-01", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
	}},
	{"TP:02-02", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("completion")(x.tck("/completion", dsp.TypeTransferCompletionMessage))
		x.state("COMPLETED")
	}},
	{"TP:02-03", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("suspension")(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("SUSPENDED")
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
	}},
	{"TP:02-04", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("suspension")(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("SUSPENDED")
		okay("start (resume)")(x.tck("/start", dsp.TypeTransferStartMessage))
		x.state("STARTED")
		// tdsc, as EDC's provider does (TransferProcessorsImpl.processResuming),
		// answers a consumer's resume with its own start carrying a fresh data
		// address; the case's sequence does not list it. Taken here, it cannot
		// arrive during the next case's quiet check (it did once, in CI).
		if m := x.expect("/start", dsp.TypeTransferStartMessage); !strings.Contains(string(m.body), "dataAddress") {
			fail("the provider's start after a resume carries no dataAddress: %s", m.body)
		}
		okay("completion")(x.tck("/completion", dsp.TypeTransferCompletionMessage))
		x.state("COMPLETED")
	}},
	{"TP:02-05", func(w *world, a agreements) {
		x := w.tpRequestHeld(a.asProvider)
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
	}},
	{"TP:03-01", func(w *world, a agreements) {
		x := w.tpRequestHeld(a.asProvider)
		status, body := x.tck("/completion", dsp.TypeTransferCompletionMessage)
		refused("completion in REQUESTED", status, body, tpErr)
		x.state("REQUESTED")
	}},
	{"TP:03-02", func(w *world, a agreements) {
		x := w.tpRequestHeld(a.asProvider)
		status, body := x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"})
		refused("suspension in REQUESTED", status, body, tpErr)
		x.state("REQUESTED")
	}},
	{"TP:03-03", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("suspension")(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("SUSPENDED")
		status, body := x.tck("/completion", dsp.TypeTransferCompletionMessage)
		refused("completion in SUSPENDED", status, body, tpErr)
		x.state("SUSPENDED")
	}},
	{"TP:03-04", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
		status, body := x.tck("/start", dsp.TypeTransferStartMessage)
		refused("start in TERMINATED", status, body, tpErr)
		x.state("TERMINATED")
	}},
	{"TP:03-05", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
		status, body := x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"})
		refused("suspension in TERMINATED", status, body, tpErr)
		x.state("TERMINATED")
	}},
	{"TP:03-06", func(w *world, a agreements) {
		x := w.tpRequest(a.asProvider)
		x.cutStarts()
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
		status, body := x.tck("/completion", dsp.TypeTransferCompletionMessage)
		refused("completion in TERMINATED", status, body, tpErr)
		x.state("TERMINATED")
	}},

	// ---- TP_C: the CUT is the consumer
	{"TP_C:01-01", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		x.state("STARTED")
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
	}},
	{"TP_C:01-02", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		x.state("STARTED")
		okay("completion")(x.tck("/completion", dsp.TypeTransferCompletionMessage))
		x.state("COMPLETED")
	}},
	{"TP_C:01-03", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		okay("suspension")(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("SUSPENDED")
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
	}},
	{"TP_C:01-04", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		okay("suspension")(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("SUSPENDED")
		okay("start (resume)")(x.tckStarts())
		x.state("STARTED")
		okay("completion")(x.tck("/completion", dsp.TypeTransferCompletionMessage))
		x.state("COMPLETED")
	}},
	{"TP_C:01-05", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
	}},
	{"TP_C:02-01", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		x.state("STARTED")
		x.cutDoes("terminate", "/termination", dsp.TypeTransferTerminationMessage)
		x.state("TERMINATED")
	}},
	{"TP_C:02-02", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		x.state("STARTED")
		x.cutDoes("complete", "/completion", dsp.TypeTransferCompletionMessage)
		x.state("COMPLETED")
	}},
	{"TP_C:02-03", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		x.state("STARTED")
		x.cutDoes("suspend", "/suspension", dsp.TypeTransferSuspensionMessage)
		x.state("SUSPENDED")
		x.cutDoes("terminate", "/termination", dsp.TypeTransferTerminationMessage)
		x.state("TERMINATED")
	}},
	{"TP_C:02-04", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		x.cutDoes("suspend", "/suspension", dsp.TypeTransferSuspensionMessage)
		x.cutDoes("resume", "/start", dsp.TypeTransferStartMessage)
		x.state("STARTED")
		x.cutDoes("complete", "/completion", dsp.TypeTransferCompletionMessage)
		x.state("COMPLETED")
	}},
	{"TP_C:02-05", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		x.cutDoes("terminate", "/termination", dsp.TypeTransferTerminationMessage)
		x.state("TERMINATED")
	}},
	{"TP_C:03-01", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		status, body := x.tck("/completion", dsp.TypeTransferCompletionMessage)
		refused("completion in REQUESTED", status, body, tpErr)
		x.state("REQUESTED")
	}},
	{"TP_C:03-02", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		status, body := x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"})
		refused("suspension in REQUESTED", status, body, tpErr)
		x.state("REQUESTED")
	}},
	{"TP_C:03-03", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		okay("suspension")(x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("SUSPENDED")
		status, body := x.tck("/completion", dsp.TypeTransferCompletionMessage)
		refused("completion in SUSPENDED", status, body, tpErr)
		x.state("SUSPENDED")
	}},
	{"TP_C:03-04", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
		status, body := x.tckStarts()
		refused("start in TERMINATED", status, body, tpErr)
		x.state("TERMINATED")
	}},
	{"TP_C:03-05", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
		status, body := x.tck("/suspension", dsp.TypeTransferSuspensionMessage, "code", "tck", "reason", []any{"tck"})
		refused("suspension in TERMINATED", status, body, tpErr)
		x.state("TERMINATED")
	}},
	{"TP_C:03-06", func(w *world, a agreements) {
		x := w.tpcRequest(a.asConsumer)
		okay("start")(x.tckStarts())
		okay("termination")(x.tck("/termination", dsp.TypeTransferTerminationMessage, "code", "tck", "reason", []any{"tck"}))
		x.state("TERMINATED")
		status, body := x.tck("/completion", dsp.TypeTransferCompletionMessage)
		refused("completion in TERMINATED", status, body, tpErr)
		x.state("TERMINATED")
	}},
}

// TestTCK runs every TCK case against a real tdsc node.
func TestTCK(t *testing.T) {
	if len(cases) != 67 {
		t.Fatalf("%d cases ported, the TCK has 67", len(cases))
	}
	w := newWorld(t)
	asP, asC := w.seedAgreements()
	agr := agreements{asProvider: asP, asConsumer: asC}
	results := map[string]string{}
	for _, c := range cases {
		w.peer.drain()
		start := time.Now()
		failure := run(func() { c.run(w, agr) })
		why, known := knownFailing[c.id]
		switch {
		case failure == "" && known:
			t.Errorf("%s passes now but is listed as failing (%s): take it off knownFailing and rerun with -update", c.id, why)
			results[c.id] = "pass"
		case failure == "":
			results[c.id] = "pass"
			if disabled[c.id] {
				results[c.id] = "pass (disabled in the TCK, run here)"
			}
			t.Logf("%s pass (%s)", c.id, time.Since(start).Round(time.Millisecond))
		case known && disabled[c.id]:
			results[c.id] = "disabled in the TCK; run here, not passed: " + why
			t.Logf("%s (disabled in the TCK) fails as known: %s (%s)", c.id, why, failure)
		case known:
			results[c.id] = "**fails**: " + why
			t.Logf("%s fails as known: %s (%s)", c.id, why, failure)
		default:
			results[c.id] = "**fails**: " + oneLine(failure)
			t.Errorf("%s: %s", c.id, failure)
		}
	}
	if *updateDocs {
		writeResults(t, results)
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}

var rowRE = regexp.MustCompile(`^\| ([A-Z_]+:\d\d-\d\d) \|(.*)\| [^|]* \|$`)

// writeResults rewrites the results column of docs/dsp-conformance.md.
func writeResults(t *testing.T, results map[string]string) {
	const path = "../../docs/dsp-conformance.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	seen := map[string]bool{}
	for i, l := range lines {
		m := rowRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		r, ok := results[m[1]]
		if !ok {
			continue
		}
		seen[m[1]] = true
		lines[i] = fmt.Sprintf("| %s |%s| %s |", m[1], m[2], r)
	}
	var missing []string
	for id := range results {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("cases missing from %s: %v", path, missing)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expandedHas reports whether the expanded body's property prop lists a
// node with @id id.
func expandedHas(body []byte, prop, id string) bool {
	exp, err := dsp.Expand(body)
	if err != nil || len(exp) != 1 {
		return false
	}
	node, _ := exp[0].(map[string]any)
	list, _ := node[prop].([]any)
	for _, x := range list {
		if m, _ := x.(map[string]any); m["@id"] == id {
			return true
		}
	}
	return false
}

// getPlain reads a public, non-DSP-message resource (dspace-version).
func (p *peer) getPlain(url string) (int, map[string]any) {
	resp, err := http.Get(url)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// ---- steps only some cases use

// cutAgreesAfterAccept: after the consumer's ACCEPTED, the provider agrees
// (on its own, or by its operator).
func (n *cn) cutAgreesAfterAccept() {
	select {
	case m := <-n.w.peer.in:
		n.w.peer.in <- m
	case <-time.After(300 * time.Millisecond):
		n.w.mustMgmt("POST", "/api/v1/negotiations/"+n.p+"/approve", nil)
	}
	n.expectAgreement()
}

// cutRestsAgreedOrVerifies: after an agreement, the consumer either waits
// in AGREED or verifies at once; either is allowed by the spec.
func (n *cnc) cutRestsAgreedOrVerifies() {
	select {
	case m := <-n.w.peer.in:
		if !strings.HasSuffix(m.path, "/agreement/verification") {
			fail("after the agreement the CUT sent %s to %s: %s", m.typ, m.path, m.body)
		}
	case <-time.After(300 * time.Millisecond):
		n.state("AGREED")
	}
}

func (n *cnc) currentState() string {
	_, m := n.w.peer.get(n.cutURL(""))
	s, _ := m["state"].(string)
	return s
}

// tpRequestHeld is tpRequest for the cases where the provider must stay in
// REQUESTED (the TCK sends or expects nothing from it before the next
// step): the CUT must not start the transfer on its own.
func (w *world) tpRequestHeld(agreement string) *tp {
	x := w.tpRequest(agreement)
	w.peer.quiet(300 * time.Millisecond)
	x.state("REQUESTED")
	return x
}
