package connector

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tdsc/tdsc/connector/api"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
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

func (n *Node) api(f apiFunc) http.Handler {
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
		r.Body = http.MaxBytesReader(w, r.Body, maxManagementBody)
		status, body, err := f(r)
		if err != nil {
			n.writeAPIError(w, r, err)
			return
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
	h("GET /api/v1/duties", n.apiListDuties)
	h("POST /api/v1/duties/fulfil", n.apiFulfilDuty)
	h("GET /api/v1/outbox", n.apiOutbox)
}

func limitOf(r *http.Request) int {
	l, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	return l
}

// ---- datasets and offers

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
// sha256:<64 hex>; a file: source must be a readable regular file, which the
// data plane hashes — the registered hash must be its hash, and is taken from
// it when not given (the data plane keeps it, so the first send of this
// version goes zero-copy); a dir: source must be a directory. An http(s)
// source is not fetched here.
func (n *Node) checkContent(ctx context.Context, in *NewDataset) error {
	if in.ContentHash != "" {
		d, err := digest.Parse(in.ContentHash)
		if err != nil || d.Algorithm() != digest.SHA256 || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(in.ContentHash)), "sha256:") {
			return badRequest("contentHash: must be sha256: and 64 hex digits, got %q", in.ContentHash)
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
			in.ContentHash = "sha256:" + sum
		} else if in.ContentHash != "sha256:"+sum {
			return badRequest("contentHash: the file of source %s hashes to sha256:%s, not %s; register the hash of the file as it is (or leave contentHash out)", src, sum, in.ContentHash)
		}
		return nil
	default:
		return badRequest("source: must be file:PATH, dir:PATH or an http(s) URL, got %q", src)
	}
}

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
	o := &store.Offer{ID: in.ID, DatasetID: in.Dataset, Policy: norm, PolicyHash: p.Hash()}
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

// RemoteCatalog fetches another connector's catalogue as this node may see it.
func (n *Node) RemoteCatalog(ctx context.Context, providerURL, provider string) (*dsp.Catalog, error) {
	if providerURL == "" {
		return nil, badRequest("from: required (the provider's DSP base URL)")
	}
	if provider == "" {
		var err error
		if provider, err = n.peers.discover(ctx, providerURL); err != nil {
			return nil, err
		}
	}
	return n.peers.catalog(ctx, provider, providerURL)
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
	l, err := n.st.View(r.Context()).Negotiations(r.URL.Query().Get("state"), limitOf(r))
	return http.StatusOK, nonNil(l), err
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
		err = n.st.Update(ctx, func(tx *store.Tx) error {
			neg.Awaiting = awaitApproved
			if err := tx.UpdateNegotiation(neg, neg.State, "", ""); err != nil {
				return err
			}
			return tx.AddTask(taskProviderDecide, neg.ID)
		})
		if err != nil {
			return nil, err
		}
		n.tasks.kick(taskProviderDecide, neg.ID)
	}
	return n.st.View(ctx).NegotiationWithHistory(id)
}

// awaitingApproval reads provider negotiation id, refusing one that is not a
// request waiting for the operator's approval (what, if set, says what only
// such a request takes).
func (n *Node) awaitingApproval(ctx context.Context, id, what string) (*store.Negotiation, error) {
	neg, err := n.st.View(ctx).Negotiation(id)
	if err != nil {
		return nil, err
	}
	if neg.Role != store.RoleProvider || neg.State != string(dsp.NegRequested) || neg.Awaiting != awaitApproval {
		if what != "" {
			what = "; only a request waiting for approval takes " + what
		}
		return nil, fmt.Errorf("%w: negotiation %s is %s and not waiting for operator approval%s", errInvalidTransition, id, neg.State, what)
	}
	return neg, nil
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

// CounterOfferRequest is the body of POST /negotiations/{id}/counter.
type CounterOfferRequest = api.CounterOffer

func (n *Node) apiCounter(r *http.Request) (int, any, error) {
	var in CounterOfferRequest
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	neg, err := n.CounterOffer(r.Context(), r.PathValue("id"), in.Policy, in.Reason)
	return http.StatusOK, neg, err
}

// ---- agreements

func (n *Node) apiListAgreements(r *http.Request) (int, any, error) {
	l, err := n.st.View(r.Context()).Agreements(limitOf(r))
	return http.StatusOK, nonNil(l), err
}

func (n *Node) apiGetAgreement(r *http.Request) (int, any, error) {
	a, err := n.st.View(r.Context()).Agreement(r.PathValue("id"))
	return http.StatusOK, a, err
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
		xs, err := tx.Transfers(ag.ID, 0)
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
	l, err := n.st.View(r.Context()).Transfers(r.URL.Query().Get("agreement"), limitOf(r))
	return http.StatusOK, nonNil(l), err
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
	v := n.st.View(r.Context())
	x, err := v.Transfer(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	x.History, err = v.History(x.ID)
	return http.StatusOK, x, err
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

// OutboxStatus is what the outbox holds.
type OutboxStatus = api.OutboxStatus

// Outbox reports the outbox: counts by state, refused and pending records.
func (n *Node) Outbox(ctx context.Context) (*OutboxStatus, error) {
	v := n.st.View(ctx)
	c, err := v.OutboxCounts()
	if err != nil {
		return nil, err
	}
	ref, err := v.Outbox(store.OutboxRefused, 100)
	if err != nil {
		return nil, err
	}
	pen, err := v.Outbox(store.OutboxPending, 100)
	if err != nil {
		return nil, err
	}
	return &OutboxStatus{Counts: c, LedgerHealthy: n.lw.healthy(), Refused: views(ref, outboxView), Pending: views(pen, outboxView)}, nil
}

// OutboxRecords lists up to limit (at most 10,000) of the outbox's records
// in one state: pending, batched, committed or refused.
func (n *Node) OutboxRecords(ctx context.Context, state string, limit int) ([]*store.OutboxRecord, error) {
	switch state {
	case store.OutboxPending, store.OutboxBatched, store.OutboxCommitted, store.OutboxRefused:
	default:
		return nil, badRequest("state: %q must be pending, batched, committed or refused", state)
	}
	if limit <= 0 || limit > 10000 {
		return nil, badRequest("limit: %d must be 1 to 10000", limit)
	}
	return n.st.View(ctx).Outbox(state, limit)
}

// OutboxRecordState says where one record is in the outbox: pending,
// batched, committed or refused.
func (n *Node) OutboxRecordState(ctx context.Context, recordID string) (string, error) {
	state, _, err := n.st.View(ctx).OutboxState(recordID)
	return state, err
}

// Negotiation reads a negotiation with its history.
func (n *Node) Negotiation(ctx context.Context, id string) (*store.Negotiation, error) {
	return n.st.View(ctx).NegotiationWithHistory(id)
}

func (n *Node) apiOutbox(r *http.Request) (int, any, error) {
	o, err := n.Outbox(r.Context())
	return http.StatusOK, o, err
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}
