// Package client is a typed client of a tdsc node's management API
// (/api/v1/, wire types in connector/api), built on resty. The tdsc CLI and
// the demo reach nodes only through it; it owns the API's paths.
//
// Pull is the consumer's whole download: it checks the received bytes
// against the dataset's hash registered on the ledger (which the node reads),
// not the provider's word, and records the consumer's receipt.
package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dsp"
)

// Client talks to one node's management API with its operator token.
type Client struct {
	r   *resty.Client
	tls *tls.Config
}

type options struct {
	tls     *tls.Config
	timeout time.Duration
}

// Option configures New.
type Option func(*options)

// WithTLS trusts this TLS configuration (a space's own CA, say) for the
// management API and for the data plane of Pull.
func WithTLS(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithTimeout bounds each request (6 minutes by default: a GET may wait up
// to 5 minutes for a state change).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New returns a client of the node at baseURL (e.g. http://127.0.0.1:8181)
// authorised with the operator token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	o := options{timeout: 6 * time.Minute}
	for _, f := range opts {
		f(&o)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api: %q must be the node's http(s) base URL", baseURL)
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("operator token: empty")
	}
	r := resty.New().SetBaseURL(strings.TrimRight(baseURL, "/")+"/api/v1").SetAuthToken(token).
		SetTimeout(o.timeout).SetHeader("Accept", "application/json")
	if o.tls != nil {
		// Each user gets its own copy: an HTTP/2-capable transport adds "h2"
		// to the config's NextProtos, and the data plane's HTTP/1.1 client
		// must not then be offered HTTP/2 by ALPN.
		r.SetTLSClientConfig(o.tls.Clone())
	}
	return &Client{r: r, tls: o.tls}, nil
}

// Error is a refusal by the node: the HTTP status and the API's error body.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code) }

// ErrNotFound matches (errors.Is) an Error with the not-found code.
var ErrNotFound = errors.New("not found")

// Is lets errors.Is(err, ErrNotFound) match a 404.
func (e *Error) Is(target error) bool { return target == ErrNotFound && e.Code == api.CodeNotFound }

// call sends one request; out receives the JSON answer.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	req := c.r.R().SetContext(ctx)
	if body != nil {
		req.SetBody(body)
	}
	resp, err := req.Execute(method, path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.IsError() {
		return errorOf(method, path, resp.StatusCode(), resp.Body())
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return fmt.Errorf("%s %s: answer: %w", method, path, err)
		}
	}
	return nil
}

// errorOf is the *Error of a management API answer with an error status.
func errorOf(method, path string, status int, body []byte) *Error {
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return &Error{Status: status, Code: e.Error.Code, Message: e.Error.Message}
	}
	return &Error{Status: status, Code: http.StatusText(status),
		Message: fmt.Sprintf("%s %s: HTTP %d: %.300s", method, path, status, body)}
}

func esc(id string) string { return url.PathEscape(id) }

// list reads a whole list page by page: the node answers one page and, when
// more follow, a Link with rel="next" whose after= cursor asks for the next.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	all := []T{}
	for {
		p := path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		resp, err := c.r.R().SetContext(ctx).Get(p)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", p, err)
		}
		if resp.IsError() {
			return nil, errorOf(http.MethodGet, p, resp.StatusCode(), resp.Body())
		}
		var page []T
		if err := json.Unmarshal(resp.Body(), &page); err != nil {
			return nil, fmt.Errorf("GET %s: answer: %w", p, err)
		}
		all = append(all, page...)
		next, err := nextCursor(resp.Header().Get("Link"))
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", p, err)
		}
		if next == "" {
			return all, nil
		}
		if next == q.Get("after") {
			return nil, fmt.Errorf("GET %s: the node answered the same page's cursor again", p)
		}
		q.Set("after", next)
	}
}

// nextCursor reads the after= cursor of a Link header's rel="next" target
// ("" without one).
func nextCursor(link string) (string, error) {
	if link == "" {
		return "", nil
	}
	target, params, ok := strings.Cut(link, ";")
	target = strings.TrimSpace(target)
	if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") ||
		strings.TrimSpace(params) != `rel="next"` {
		return "", fmt.Errorf("header Link: %.200q is not one <URL>; rel=\"next\"", link)
	}
	u, err := url.Parse(target[1 : len(target)-1])
	if err != nil || u.Query().Get("after") == "" {
		return "", fmt.Errorf("header Link: %.200q names no after= cursor", link)
	}
	return u.Query().Get("after"), nil
}

// Compute submits a WASI module to the provider of a consumer agreement
// (docs/sandbox.md) and returns the result the provider let leave; a
// refusal is an *Error naming the provider's rule in its message.
func (c *Client) Compute(ctx context.Context, agreement string, wasm []byte) (*api.ComputeResult, error) {
	var out api.ComputeResult
	req := c.r.R().SetContext(ctx).SetHeader("Content-Type", "application/wasm").SetBody(wasm)
	path := "/agreements/" + esc(agreement) + "/compute"
	resp, err := req.Post(path)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.IsError() {
		return nil, errorOf(http.MethodPost, path, resp.StatusCode(), resp.Body())
	}
	if err := json.Unmarshal(resp.Body(), &out); err != nil {
		return nil, fmt.Errorf("POST %s: answer: %w", path, err)
	}
	return &out, nil
}

// ---- datasets and offers

// AddDataset registers a dataset (the node hashes a file: source).
func (c *Client) AddDataset(ctx context.Context, in api.NewDataset) (*api.Dataset, error) {
	var d api.Dataset
	return &d, c.call(ctx, http.MethodPost, "/datasets", in, &d)
}

// Datasets lists the node's datasets.
func (c *Client) Datasets(ctx context.Context) ([]*api.Dataset, error) {
	var l []*api.Dataset
	return l, c.call(ctx, http.MethodGet, "/datasets", nil, &l)
}

// AddOffer offers a dataset under an ODRL policy.
func (c *Client) AddOffer(ctx context.Context, in api.NewOffer) (*api.Offer, error) {
	var o api.Offer
	return &o, c.call(ctx, http.MethodPost, "/offers", in, &o)
}

// Offers lists the node's offers.
func (c *Client) Offers(ctx context.Context) ([]*api.Offer, error) {
	var l []*api.Offer
	return l, c.call(ctx, http.MethodGet, "/offers", nil, &l)
}

// Catalog fetches another connector's catalogue through this node, as this
// node may see it; provider "" is discovered from the provider's metadata.
func (c *Client) Catalog(ctx context.Context, providerURL, provider string) (*dsp.Catalog, error) {
	q := url.Values{"from": {providerURL}}
	if provider != "" {
		q.Set("provider", provider)
	}
	var cat dsp.Catalog
	return &cat, c.call(ctx, http.MethodGet, "/catalog?"+q.Encode(), nil, &cat)
}

// ---- negotiations and agreements

// StartNegotiation starts negotiating an offer; the steps run at the node.
func (c *Client) StartNegotiation(ctx context.Context, in api.StartNegotiation) (*api.Negotiation, error) {
	var n api.Negotiation
	return &n, c.call(ctx, http.MethodPost, "/negotiations", in, &n)
}

// Negotiations lists every negotiation, newest first, in state if not "".
func (c *Client) Negotiations(ctx context.Context, state string) ([]*api.Negotiation, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	return list[*api.Negotiation](ctx, c, "/negotiations", q)
}

// Negotiation reads one negotiation with its history; wait > 0 (at most 5
// minutes) waits at the node until it settles, answering its state then.
func (c *Client) Negotiation(ctx context.Context, id string, wait time.Duration) (*api.Negotiation, error) {
	p := "/negotiations/" + esc(id)
	if wait > 0 {
		p += "?wait=" + wait.String()
	}
	var n api.Negotiation
	return &n, c.call(ctx, http.MethodGet, p, nil, &n)
}

// Approve lets a negotiation waiting for the operator proceed.
func (c *Client) Approve(ctx context.Context, id, reason string) (*api.Negotiation, error) {
	return c.negotiationAction(ctx, id, "approve", api.Reason{Reason: reason})
}

// Reject refuses a negotiation waiting for the operator, with the reason.
func (c *Client) Reject(ctx context.Context, id, reason string) (*api.Negotiation, error) {
	return c.negotiationAction(ctx, id, "reject", api.Reason{Reason: reason})
}

// Counter answers a request waiting for the operator with a counter-offer.
func (c *Client) Counter(ctx context.Context, id string, in api.CounterOffer) (*api.Negotiation, error) {
	return c.negotiationAction(ctx, id, "counter", in)
}

// TerminateNegotiation ends a negotiation in any state that is not final,
// as provider or consumer; the counterparty is told.
func (c *Client) TerminateNegotiation(ctx context.Context, id, reason string) (*api.Negotiation, error) {
	return c.negotiationAction(ctx, id, "terminate", api.Reason{Reason: reason})
}

// Accept accepts what a consumer negotiation rests on (a node with
// manualOffers): an offer in OFFERED, or an agreement in AGREED.
func (c *Client) Accept(ctx context.Context, id string) (*api.Negotiation, error) {
	return c.negotiationAction(ctx, id, "accept", nil)
}

func (c *Client) negotiationAction(ctx context.Context, id, action string, body any) (*api.Negotiation, error) {
	var n api.Negotiation
	return &n, c.call(ctx, http.MethodPost, "/negotiations/"+esc(id)+"/"+action, body, &n)
}

// Agreements lists every agreement, newest first.
func (c *Client) Agreements(ctx context.Context) ([]*api.Agreement, error) {
	return list[*api.Agreement](ctx, c, "/agreements", url.Values{})
}

// Agreement reads one agreement.
func (c *Client) Agreement(ctx context.Context, id string) (*api.Agreement, error) {
	var a api.Agreement
	return &a, c.call(ctx, http.MethodGet, "/agreements/"+esc(id), nil, &a)
}

// Revoke revokes an agreement this node provides, with the reason.
func (c *Client) Revoke(ctx context.Context, id, reason string) (*api.Agreement, error) {
	var a api.Agreement
	return &a, c.call(ctx, http.MethodPost, "/agreements/"+esc(id)+"/revoke", api.Reason{Reason: reason}, &a)
}

// ---- transfers

// StartTransfer asks the provider for a transfer under an agreement.
func (c *Client) StartTransfer(ctx context.Context, in api.StartTransfer) (*api.Transfer, error) {
	var x api.Transfer
	return &x, c.call(ctx, http.MethodPost, "/transfers", in, &x)
}

// Transfers lists every transfer, newest first, of one agreement if not "".
func (c *Client) Transfers(ctx context.Context, agreement string) ([]*api.Transfer, error) {
	q := url.Values{}
	if agreement != "" {
		q.Set("agreement", agreement)
	}
	return list[*api.Transfer](ctx, c, "/transfers", q)
}

// Transfer reads one transfer with its history.
func (c *Client) Transfer(ctx context.Context, id string) (*api.Transfer, error) {
	var x api.Transfer
	return &x, c.call(ctx, http.MethodGet, "/transfers/"+esc(id), nil, &x)
}

// WaitTransfer waits at the node (at most 5 minutes) until the transfer
// reaches until (api.UntilStarted, api.UntilDone, api.UntilResumed) and
// answers it then, or as it is when wait runs out.
func (c *Client) WaitTransfer(ctx context.Context, id, until string, wait time.Duration) (*api.Transfer, error) {
	q := url.Values{"wait": {wait.String()}}
	if until != "" {
		q.Set("until", until)
	}
	var x api.Transfer
	return &x, c.call(ctx, http.MethodGet, "/transfers/"+esc(id)+"?"+q.Encode(), nil, &x)
}

// Complete, Suspend, Terminate and Resume change a transfer's state.
func (c *Client) Complete(ctx context.Context, id string) (*api.Transfer, error) {
	return c.transferAction(ctx, id, "complete", "")
}

// Suspend suspends a started transfer, with the reason sent to the peer.
func (c *Client) Suspend(ctx context.Context, id, reason string) (*api.Transfer, error) {
	return c.transferAction(ctx, id, "suspend", reason)
}

// Terminate terminates a transfer, with the reason sent to the peer.
func (c *Client) Terminate(ctx context.Context, id, reason string) (*api.Transfer, error) {
	return c.transferAction(ctx, id, "terminate", reason)
}

// StartHeld starts a transfer the provider holds in REQUESTED (a node with
// holdTransfers).
func (c *Client) StartHeld(ctx context.Context, id string) (*api.Transfer, error) {
	return c.transferAction(ctx, id, "start", "")
}

// Resume asks for a suspended transfer to resume: the provider evaluates the
// agreement again and issues a fresh access token.
func (c *Client) Resume(ctx context.Context, id string) (*api.Transfer, error) {
	return c.transferAction(ctx, id, "resume", "")
}

func (c *Client) transferAction(ctx context.Context, id, action, reason string) (*api.Transfer, error) {
	var x api.Transfer
	return &x, c.call(ctx, http.MethodPost, "/transfers/"+esc(id)+"/"+action, api.Reason{Reason: reason}, &x)
}

// ExpectedHash is the hash a download of the transfer is checked against:
// the one registered on the ledger, or the provider's when the ledger cannot
// be read (Source says which).
func (c *Client) ExpectedHash(ctx context.Context, id string) (*api.ExpectedHash, error) {
	var h api.ExpectedHash
	return &h, c.call(ctx, http.MethodGet, "/transfers/"+esc(id)+"/expected-hash", nil, &h)
}

// RecordReceipt records the consumer's transfer.completed for what it
// received; a mismatch with the registered hash is recorded and answered as
// an Error with code hash-mismatch.
func (c *Client) RecordReceipt(ctx context.Context, id string, rc api.Receipt) error {
	return c.call(ctx, http.MethodPost, "/transfers/"+esc(id)+"/receipt", rc, nil)
}

// ---- duties and outbox

// Duties lists duties, of one agreement if not "".
func (c *Client) Duties(ctx context.Context, agreement string) ([]*api.Duty, error) {
	var l []*api.Duty
	return l, c.call(ctx, http.MethodGet, "/duties?agreement="+url.QueryEscape(agreement), nil, &l)
}

// FulfilDuty marks a duty fulfilled (records duty.fulfilled) and answers the
// agreement's duties.
func (c *Client) FulfilDuty(ctx context.Context, agreement, duty string) ([]*api.Duty, error) {
	var l []*api.Duty
	return l, c.call(ctx, http.MethodPost, "/duties/fulfil", api.FulfilDuty{Agreement: agreement, Duty: duty}, &l)
}

// OutboxRecords lists every record of the node's outbox in state (pending,
// batched, committed or refused; "" for all), oldest first, page by page.
func (c *Client) OutboxRecords(ctx context.Context, state string) ([]*api.OutboxRecord, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	return list[*api.OutboxRecord](ctx, c, "/outbox/records", q)
}

// Identity reports how the node identifies itself (its DID and credentials).
func (c *Client) Identity(ctx context.Context) (*api.Identity, error) {
	var id api.Identity
	return &id, c.call(ctx, http.MethodGet, "/identity", nil, &id)
}

// Outbox reports the node's outbox.
func (c *Client) Outbox(ctx context.Context) (*api.OutboxStatus, error) {
	var o api.OutboxStatus
	return &o, c.call(ctx, http.MethodGet, "/outbox", nil, &o)
}
