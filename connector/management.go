package connector

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/policy"
)

// maxManagementBody bounds management API request bodies.
const maxManagementBody = 1 << 20

// APIError is the management API's error body.
type APIError = api.Error

// errBadRequest marks an operator request that is wrong as sent.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func (n *Node) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, api.CodeInternal
	var pe *PeerError
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, policy.ErrInvalidPolicy):
		status, code = http.StatusBadRequest, api.CodeBadRequest
	case errors.Is(err, store.ErrNotFound):
		status, code = http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, store.ErrConflict):
		status, code = http.StatusConflict, api.CodeConflict
	case errors.Is(err, ErrReceiptMismatch):
		status, code = http.StatusUnprocessableEntity, api.CodeHashMismatch
	case errors.Is(err, errInvalidTransition):
		status, code = http.StatusConflict, api.CodeInvalidTransition
	case errors.As(err, &pe):
		status, code = http.StatusBadGateway, api.CodePeerRefused
	case errors.Is(err, ErrPeerUnreachable):
		status, code = http.StatusBadGateway, api.CodePeerUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		status, code = http.StatusGatewayTimeout, api.CodeTimeout
	default:
		var de *dsp.DecodeError
		if errors.As(err, &de) {
			status, code = http.StatusBadGateway, api.CodePeerMalformed
		} else {
			n.log.Error("management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	var e APIError
	e.Error = api.ErrorBody{Code: code, Message: err.Error()}
	writeJSON(w, status, &e)
}

type apiFunc func(r *http.Request) (int, any, error)

func (n *Node) api(f apiFunc) http.Handler { return n.apiBody(maxManagementBody, f) }

// apiBody is api with a body of at most limit bytes.
func (n *Node) apiBody(limit int64, f apiFunc) http.Handler {
	want := sha256.Sum256([]byte(n.opToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(operatorBearer(r)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tdsc-management"`)
			var e APIError
			e.Error = api.ErrorBody{Code: api.CodeUnauthorized, Message: "the management API needs Authorization: Bearer <operator token>"}
			writeJSON(w, http.StatusUnauthorized, &e)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		status, body, err := f(r)
		if err != nil {
			n.writeAPIError(w, r, err)
			return
		}
		if pg, ok := body.(paged); ok {
			if pg.next != "" {
				w.Header().Set("Link", nextLink(r, pg.next))
			}
			body = pg.items
		}
		writeJSON(w, status, view(body))
	})
}

// operatorBearer is the operator's "Authorization: Bearer" token, or "" (the DPoP scheme is not an operator token).
func operatorBearer(r *http.Request) string {
	if scheme, tok, ok := identity.Authorization(r); ok && scheme == identity.SchemeBearer {
		return tok
	}
	return ""
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("empty body: a JSON object is required")
		}
		return badRequest("body: %v", err)
	}
	return nil
}

func (n *Node) mountManagement(mux *http.ServeMux) {
	h := func(pattern string, f apiFunc) { mux.Handle(pattern, n.api(f)) }
	h("GET /api/v1/datasets", n.apiListDatasets)
	h("POST /api/v1/datasets", n.apiAddDataset)
	h("GET /api/v1/datasets/{id...}", n.apiGetDataset)
	h("GET /api/v1/offers", n.apiListOffers)
	h("POST /api/v1/offers", n.apiAddOffer)
	h("GET /api/v1/catalog", n.apiRemoteCatalog)
	h("GET /api/v1/negotiations", n.apiListNegotiations)
	h("POST /api/v1/negotiations", n.apiStartNegotiation)
	h("GET /api/v1/negotiations/{id}", n.apiGetNegotiation)
	h("POST /api/v1/negotiations/{id}/approve", n.apiApprove(true))
	h("POST /api/v1/negotiations/{id}/counter", n.apiCounter)
	h("POST /api/v1/negotiations/{id}/reject", n.apiApprove(false))
	h("POST /api/v1/negotiations/{id}/terminate", n.apiTerminateNegotiation)
	h("POST /api/v1/negotiations/{id}/accept", n.apiAcceptOffer)
	h("GET /api/v1/agreements", n.apiListAgreements)
	h("GET /api/v1/agreements/{id}", n.apiGetAgreement)
	h("POST /api/v1/agreements/{id}/revoke", n.apiRevoke)
	h("GET /api/v1/transfers", n.apiListTransfers)
	h("POST /api/v1/transfers", n.apiStartTransfer)
	h("GET /api/v1/transfers/{id}", n.apiGetTransfer)
	h("POST /api/v1/transfers/{id}/complete", n.apiTransferAction("complete"))
	h("POST /api/v1/transfers/{id}/receipt", n.apiReceipt)
	h("GET /api/v1/transfers/{id}/expected-hash", n.apiExpectedHash)
	h("POST /api/v1/transfers/{id}/suspend", n.apiTransferAction("suspend"))
	h("POST /api/v1/transfers/{id}/terminate", n.apiTransferAction("terminate"))
	h("POST /api/v1/transfers/{id}/resume", n.apiTransferAction("resume"))
	h("POST /api/v1/transfers/{id}/start", n.apiTransferAction("start"))
	h("GET /api/v1/duties", n.apiListDuties)
	h("POST /api/v1/duties/fulfil", n.apiFulfilDuty)
	h("GET /api/v1/outbox", n.apiOutbox)
	h("GET /api/v1/identity", n.apiIdentity)
	h("GET /api/v1/outbox/records", n.apiOutboxRecords)
	mux.Handle("POST /api/v1/agreements/{id}/compute", n.apiCompute())
}

// paged is a page of a list: the items answered as the body, and the
// cursor of the next page, answered as an RFC 8288 Link with rel="next".
type paged struct {
	items any
	next  string
}

// pageOf reads ?limit= and ?after= of a list request.
func pageOf(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p, err := store.ParsePage(q.Get("limit"), q.Get("after"))
	if err != nil {
		return p, badRequest("%v", err)
	}
	return p, nil
}

// nextLink is the Link header naming the page after the one r asked for:
// the same request with after set to the cursor.
func nextLink(r *http.Request, next string) string {
	q := r.URL.Query()
	q.Set("after", next)
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return "<" + u.String() + `>; rel="next"`
}

// ---- datasets and offers

func (n *Node) apiAddDataset(r *http.Request) (int, any, error) {
	var in NewDataset
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	d, err := n.AddDataset(r.Context(), in)
	return http.StatusCreated, d, err
}

func (n *Node) apiListDatasets(r *http.Request) (int, any, error) {
	l, err := n.st.View(r.Context()).Datasets()
	return http.StatusOK, nonNil(l), err
}

func (n *Node) apiGetDataset(r *http.Request) (int, any, error) {
	d, err := n.st.View(r.Context()).Dataset(r.PathValue("id"))
	return http.StatusOK, d, err
}

func (n *Node) apiAddOffer(r *http.Request) (int, any, error) {
	var in NewOffer
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	o, err := n.AddOffer(r.Context(), in)
	return http.StatusCreated, o, err
}

func (n *Node) apiListOffers(r *http.Request) (int, any, error) {
	l, err := n.st.View(r.Context()).Offers(r.URL.Query().Get("dataset"))
	return http.StatusOK, nonNil(l), err
}

func (n *Node) apiRemoteCatalog(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	c, err := n.RemoteCatalog(r.Context(), q.Get("from"), q.Get("provider"))
	return http.StatusOK, c, err
}

// ---- negotiations

func (n *Node) apiStartNegotiation(r *http.Request) (int, any, error) {
	var in StartNegotiation
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	neg, err := n.StartNegotiation(r.Context(), in)
	return http.StatusAccepted, neg, err
}

func (n *Node) apiListNegotiations(r *http.Request) (int, any, error) {
	p, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	l, next, err := n.st.View(r.Context()).Negotiations(r.URL.Query().Get("state"), p)
	return http.StatusOK, paged{nonNil(l), next}, err
}

// waitParam reads ?wait=DURATION (at most 5 minutes): how long a GET may wait
// for a negotiation to settle or a transfer to leave REQUESTED.
func waitParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 5*time.Minute {
		return 0, badRequest("wait: %q must be a duration up to 5m, e.g. 30s", s)
	}
	return d, nil
}

func (n *Node) apiGetNegotiation(r *http.Request) (int, any, error) {
	wait, err := waitParam(r)
	if err != nil {
		return 0, nil, err
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		neg, err := n.WaitNegotiation(ctx, r.PathValue("id"))
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		return http.StatusOK, neg, err
	}
	neg, err := n.Negotiation(r.Context(), r.PathValue("id"))
	return http.StatusOK, neg, err
}

type reasonBody = api.Reason

func optionalReason(r *http.Request) (string, error) {
	var b reasonBody
	if r.ContentLength == 0 {
		return "", nil
	}
	if err := decodeBody(r, &b); err != nil {
		return "", err
	}
	return b.Reason, nil
}

func (n *Node) apiApprove(approve bool) apiFunc {
	return func(r *http.Request) (int, any, error) {
		reason, err := optionalReason(r)
		if err != nil {
			return 0, nil, err
		}
		neg, err := n.Approve(r.Context(), r.PathValue("id"), approve, reason)
		return http.StatusOK, neg, err
	}
}

// ExpectedHashAnswer is GET /transfers/{id}/expected-hash.
type ExpectedHashAnswer = api.ExpectedHash

func (n *Node) apiExpectedHash(r *http.Request) (int, any, error) {
	h, src, err := n.ExpectedHash(r.Context(), r.PathValue("id"))
	return http.StatusOK, &ExpectedHashAnswer{ContentHash: h, Source: src}, err
}

// CounterOfferRequest is the body of POST /negotiations/{id}/counter: the
// provider's counter-offer to a request waiting for approval, or the
// consumer's counter-request to an offer it rests on (ManualOffers).
type CounterOfferRequest = api.CounterOffer

func (n *Node) apiCounter(r *http.Request) (int, any, error) {
	var in CounterOfferRequest
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	neg, err := n.st.View(r.Context()).Negotiation(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if neg.Role == store.RoleConsumer {
		neg, err = n.CounterRequest(r.Context(), neg.ID, in.Policy, in.Reason)
		return http.StatusOK, neg, err
	}
	neg, err = n.counterOffer(r.Context(), neg.ID, in.Policy, in.Reason, in.Hold)
	return http.StatusOK, neg, err
}

func (n *Node) apiAcceptOffer(r *http.Request) (int, any, error) {
	neg, err := n.AcceptOffer(r.Context(), r.PathValue("id"))
	return http.StatusOK, neg, err
}

func (n *Node) apiTerminateNegotiation(r *http.Request) (int, any, error) {
	reason, err := optionalReason(r)
	if err != nil {
		return 0, nil, err
	}
	neg, err := n.TerminateNegotiation(r.Context(), r.PathValue("id"), reason)
	return http.StatusOK, neg, err
}

// ---- agreements

func (n *Node) apiListAgreements(r *http.Request) (int, any, error) {
	p, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	l, next, err := n.st.View(r.Context()).Agreements(p)
	return http.StatusOK, paged{nonNil(l), next}, err
}

func (n *Node) apiGetAgreement(r *http.Request) (int, any, error) {
	a, err := n.st.View(r.Context()).Agreement(r.PathValue("id"))
	return http.StatusOK, a, err
}

func (n *Node) apiRevoke(r *http.Request) (int, any, error) {
	reason, err := optionalReason(r)
	if err != nil {
		return 0, nil, err
	}
	a, err := n.Revoke(r.Context(), r.PathValue("id"), reason)
	return http.StatusOK, a, err
}

// ---- transfers

// StartTransferRequest is the operator's request for a transfer.
type StartTransferRequest = api.StartTransfer

func (n *Node) apiStartTransfer(r *http.Request) (int, any, error) {
	var in StartTransferRequest
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Agreement == "" {
		return 0, nil, badRequest("agreement: required")
	}
	x, err := n.StartTransfer(r.Context(), in.Agreement, in.Format)
	return http.StatusAccepted, x, err
}

func (n *Node) apiListTransfers(r *http.Request) (int, any, error) {
	p, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	l, next, err := n.st.View(r.Context()).Transfers(r.URL.Query().Get("agreement"), p)
	return http.StatusOK, paged{nonNil(l), next}, err
}

func (n *Node) apiGetTransfer(r *http.Request) (int, any, error) {
	wait, err := waitParam(r)
	if err != nil {
		return 0, nil, err
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		waitFor := n.WaitTransfer
		switch u := r.URL.Query().Get("until"); u {
		case "", "started":
		case "done":
			waitFor = n.WaitTransferDone
		case "resumed":
			waitFor = n.WaitTransferResumed
		default:
			return 0, nil, badRequest("until: %q must be started (leaves REQUESTED), done (COMPLETED, TERMINATED or SUSPENDED) or resumed (leaves SUSPENDED)", u)
		}
		x, err := waitFor(ctx, r.PathValue("id"))
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		return http.StatusOK, x, err
	}
	x, err := n.st.View(r.Context()).TransferWithHistory(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, x, nil
}

// apiReceipt records the consumer's transfer.completed for a pull it
// downloaded (RecordReceipt); a mismatch is recorded and answered 422.
func (n *Node) apiReceipt(r *http.Request) (int, any, error) {
	var in Receipt
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	rec, err := n.RecordReceipt(r.Context(), r.PathValue("id"), in)
	return http.StatusOK, rec, err
}

func (n *Node) apiTransferAction(action string) apiFunc {
	return func(r *http.Request) (int, any, error) {
		reason, err := optionalReason(r)
		if err != nil {
			return 0, nil, err
		}
		ctx, id := r.Context(), r.PathValue("id")
		switch action {
		case "complete":
			_, err = n.CompleteTransfer(ctx, id)
		case "suspend":
			_, err = n.SuspendTransfer(ctx, id, reason)
		case "terminate":
			err = n.TerminateTransfer(ctx, id, reason)
		case "resume":
			_, err = n.ResumeTransfer(ctx, id)
		case "start":
			_, err = n.StartHeldTransfer(ctx, id)
		}
		if err != nil {
			return 0, nil, err
		}
		x, err := n.st.View(ctx).Transfer(id)
		return http.StatusOK, x, err
	}
}

// ---- duties and outbox

func (n *Node) apiListDuties(r *http.Request) (int, any, error) {
	l, err := n.Duties(r.Context(), r.URL.Query().Get("agreement"))
	return http.StatusOK, l, err
}

type fulfilBody = api.FulfilDuty

func (n *Node) apiFulfilDuty(r *http.Request) (int, any, error) {
	var in fulfilBody
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if err := n.FulfilDuty(r.Context(), in.Agreement, in.Duty); err != nil {
		return 0, nil, err
	}
	l, err := n.st.View(r.Context()).Duties(in.Agreement)
	return http.StatusOK, l, err
}

func (n *Node) apiOutbox(r *http.Request) (int, any, error) {
	o, err := n.Outbox(r.Context())
	return http.StatusOK, o, err
}

func (n *Node) apiOutboxRecords(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	p, err := store.ParseOutboxPage(q.Get("limit"), q.Get("after"))
	if err != nil {
		return 0, nil, badRequest("%v", err)
	}
	l, next, err := n.OutboxRecords(r.Context(), q.Get("state"), p)
	return http.StatusOK, paged{nonNil(views(l, outboxView)), next}, err
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}
