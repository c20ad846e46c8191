package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/ledger"
)

// Errors the DSP surface maps to the spec's error objects.
var (
	// errInvalidTransition: the message is not allowed in the process's
	// current state (out of order or repeated). Nothing changed; HTTP 400.
	errInvalidTransition = errors.New("invalid state transition")
	// errNotFound: no such process, or the caller is not its counterparty
	// (the spec answers both with 404 so ids cannot be probed).
	errNotFound = errors.New("not found")
	// errRefused: the request was understood and refused by a rule; HTTP 400
	// with the rule and reason.
	errRefused = errors.New("refused")
)

// protoErr is an error with the DSP error code and the process ids to echo.
type protoErr struct {
	kind     error
	code     string
	reason   string
	provider string
	consumer string
}

func (e *protoErr) Error() string { return e.code + ": " + e.reason }
func (e *protoErr) Unwrap() error { return e.kind }

func transitionErr(what, from, to, provider, consumer string) error {
	return &protoErr{kind: errInvalidTransition, code: "invalid-transition", provider: provider, consumer: consumer,
		reason: fmt.Sprintf("%s is %s; the spec does not allow moving to %s from there (message out of order or repeated); nothing was changed", what, from, to)}
}

func notFoundErr(what, id string) error {
	return &protoErr{kind: errNotFound, code: "not-found", reason: fmt.Sprintf("no %s %q for this caller", what, id)}
}

func refusedErr(code, reason, provider, consumer string) error {
	return &protoErr{kind: errRefused, code: code, reason: reason, provider: provider, consumer: consumer}
}

// statusOf is the one place errors become HTTP statuses.
func statusOf(err error) (int, string) {
	var de *dsp.DecodeError
	var pe *protoErr
	switch {
	case errors.As(err, &de):
		if errors.Is(err, dsp.ErrTooLarge) {
			return http.StatusRequestEntityTooLarge, "too-large"
		}
		return http.StatusBadRequest, "malformed"
	case errors.As(err, &pe):
		switch {
		case errors.Is(err, errNotFound):
			return http.StatusNotFound, pe.code
		case errors.Is(err, errInvalidTransition), errors.Is(err, errRefused):
			return http.StatusBadRequest, pe.code
		}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not-found"
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ledger.ErrUnavailable):
		// The registry or the rules could not be read: an outage, not a refusal.
		return http.StatusServiceUnavailable, "unavailable"
	}
	if s := dcp.StatusCode(err); s != 500 {
		return s, "unauthorized"
	}
	return http.StatusInternalServerError, "internal"
}

// writeDSPError answers with the spec's error object of type typ
// (CatalogError, ContractNegotiationError or TransferError).
func (n *Node) writeDSPError(w http.ResponseWriter, r *http.Request, typ string, err error) {
	status, code := statusOf(err)
	e := dsp.Error{Header: dsp.NewHeader(typ), Code: code}
	var pe *protoErr
	if errors.As(err, &pe) {
		e.ProviderPID, e.ConsumerPID = pe.provider, pe.consumer
		e.Reason = []string{pe.reason}
	} else if status == http.StatusServiceUnavailable {
		n.log.Warn("DSP request deferred: the ledger is unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		e.Reason = []string{"the provider cannot reach the space's ledger (participant registry or rules) now; retry later"}
	} else if status == http.StatusInternalServerError {
		n.log.Error("DSP request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e.Reason = []string{"internal error; the provider's operator can find it in the logs"}
	} else {
		e.Reason = []string{err.Error()}
	}
	if typ != dsp.TypeCatalogError && (e.ProviderPID == "" || e.ConsumerPID == "") {
		// The negotiation and transfer error schemas require both ids.
		if e.ProviderPID == "" {
			e.ProviderPID = "unknown"
		}
		if e.ConsumerPID == "" {
			e.ConsumerPID = "unknown"
		}
	}
	writeJSON(w, status, &e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// dspFunc is a DSP endpoint: it gets the verified caller and returns the
// status and body to answer with, or an error.
type dspFunc func(r *http.Request, caller string) (int, any, error)

// dspEndpoint wraps f with the protocol token check, the body limit and the
// error mapping to errType.
func (n *Node) dspEndpoint(errType string, f dspFunc) http.Handler {
	return n.dspHandler(errType, "", f)
}

// dspLookup is dspEndpoint for the GET of one negotiation or transfer
// (what): a caller that cannot authenticate gets 404, as one that is not
// its party does, so that the binding's rule holds — a process is never
// revealed to anyone but its counterparty.
func (n *Node) dspLookup(errType, what string, f dspFunc) http.Handler {
	return n.dspHandler(errType, what, f)
}

func (n *Node) dspHandler(errType, hidden string, f dspFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, dsp.MaxMessageBytes)
		tok := identity.BearerToken(r)
		if tok == "" && hidden != "" {
			n.writeDSPError(w, r, errType, notFoundErr(hidden, r.PathValue("pid")))
			return
		}
		if tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dsp"`)
			n.writeDSPError(w, r, errType, fmt.Errorf("%w: Authorization: Bearer <protocol token> is required on every DSP call", identity.ErrMalformed))
			return
		}
		claims, err := n.authenticate(r.Context(), tok)
		if err != nil && hidden != "" {
			n.writeDSPError(w, r, errType, notFoundErr(hidden, r.PathValue("pid")))
			return
		}
		if err != nil {
			n.writeDSPError(w, r, errType, err)
			return
		}
		status, body, err := f(r.WithContext(identity.NewContext(r.Context(), claims)), claims.Caller())
		if err != nil {
			n.writeDSPError(w, r, errType, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	ce, ne, te := dsp.TypeCatalogError, dsp.TypeContractNegotiationError, dsp.TypeTransferError
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, n.instrument(pattern, h)) }
	// Catalogue (provider).
	handle("POST /catalog/request", n.dspEndpoint(ce, n.handleCatalogRequest))
	handle("GET /catalog/datasets/{id...}", n.dspEndpoint(ce, n.handleDatasetRequest))
	// Negotiation, provider paths.
	handle("POST /negotiations/request", n.dspEndpoint(ne, n.handleNegotiationRequest))
	handle("GET /negotiations/{pid}", n.dspLookup(ne, "contract negotiation", n.handleNegotiationGet(store.RoleProvider)))
	handle("POST /negotiations/{pid}/request", n.dspEndpoint(ne, n.handleCounterRequest))
	handle("POST /negotiations/{pid}/events", n.dspEndpoint(ne, n.handleProviderEvent))
	handle("POST /negotiations/{pid}/agreement/verification", n.dspEndpoint(ne, n.handleVerification))
	handle("POST /negotiations/{pid}/termination", n.dspEndpoint(ne, n.handleNegotiationTermination(store.RoleProvider)))
	handle("POST /negotiations/offers", n.dspEndpoint(ne, n.handleInitialOffer))
	// Negotiation, consumer callback paths (callbackAddress = <publicURL>/callback).
	handle("GET /callback/negotiations/{pid}", n.dspLookup(ne, "contract negotiation", n.handleNegotiationGet(store.RoleConsumer)))
	handle("POST /callback/negotiations/{pid}/offers", n.dspEndpoint(ne, n.handleCounterOffer))
	handle("POST /callback/negotiations/{pid}/agreement", n.dspEndpoint(ne, n.handleAgreement))
	handle("POST /callback/negotiations/{pid}/events", n.dspEndpoint(ne, n.handleConsumerEvent))
	handle("POST /callback/negotiations/{pid}/termination", n.dspEndpoint(ne, n.handleNegotiationTermination(store.RoleConsumer)))
	// Transfer process, provider paths.
	handle("POST /transfers/request", n.dspEndpoint(te, n.handleTransferRequest))
	handle("GET /transfers/{pid}", n.dspLookup(te, "transfer process", n.handleTransferGet(store.RoleProvider)))
	handle("POST /transfers/{pid}/start", n.dspEndpoint(te, n.handleTransferStartMsg(store.RoleProvider)))
	handle("POST /transfers/{pid}/completion", n.dspEndpoint(te, n.handleTransferCompletion(store.RoleProvider)))
	handle("POST /transfers/{pid}/suspension", n.dspEndpoint(te, n.handleTransferSuspension(store.RoleProvider)))
	handle("POST /transfers/{pid}/termination", n.dspEndpoint(te, n.handleTransferTermination(store.RoleProvider)))
	// Transfer process, consumer callback paths.
	handle("GET /callback/transfers/{pid}", n.dspLookup(te, "transfer process", n.handleTransferGet(store.RoleConsumer)))
	handle("POST /callback/transfers/{pid}/start", n.dspEndpoint(te, n.handleTransferStartMsg(store.RoleConsumer)))
	handle("POST /callback/transfers/{pid}/completion", n.dspEndpoint(te, n.handleTransferCompletion(store.RoleConsumer)))
	handle("POST /callback/transfers/{pid}/suspension", n.dspEndpoint(te, n.handleTransferSuspension(store.RoleConsumer)))
	handle("POST /callback/transfers/{pid}/termination", n.dspEndpoint(te, n.handleTransferTermination(store.RoleConsumer)))

	// Computation at the provider, next to the DSP paths (docs/sandbox.md).
	handle("POST /compute/{agreement}", http.HandlerFunc(n.handleCompute))

	mux.HandleFunc("GET "+dsp.VersionPath, n.handleVersion)
	mux.Handle("GET "+dsp.TDSCContextPath, dsp.ContextHandler())
	mux.HandleFunc("GET /healthz", n.handleHealth)
	if n.dcp != nil {
		// The node's DID document and Credential Service (DCP).
		for _, p := range n.dcp.Paths() {
			mux.Handle(p, n.dcp.Handler())
		}
	}
	n.mountManagement(mux)
	if n.data != nil {
		mux.Handle("/data/", n.data)
	}
	mux.Handle(dataplane.PushPrefix, n.push)
	return mux
}

func (n *Node) handleVersion(w http.ResponseWriter, r *http.Request) {
	path := "/"
	if u, err := url.Parse(n.cfg.PublicURL); err == nil && u.Path != "" {
		path = u.Path
	}
	v := dsp.NewVersionResponse(n.cfg.ParticipantID, path, dsp.ProfileCountersigned)
	if n.dcp != nil {
		v.ProtocolVersions = append(v.ProtocolVersions, dsp.DCPVersion(n.dcp.Document.ID, path))
	}
	writeJSON(w, http.StatusOK, v)
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	body := map[string]any{"status": "ok", "ledger": "ok"}
	if !n.lw.healthy() {
		body["ledger"] = "unreachable; records are held in the outbox"
	}
	if c, err := n.st.View(r.Context()).OutboxCounts(); err == nil {
		body["outbox"] = c
	} else {
		status, body["status"] = http.StatusServiceUnavailable, "store: "+err.Error()
	}
	writeJSON(w, status, body)
}

// callbackURL is where peers send consumer-side messages for this node.
func (n *Node) callbackURL() string { return n.cfg.PublicURL + "/callback" }
