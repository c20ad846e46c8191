package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
	"github.com/tdsc/tdsc/policy"
)

// Client talks to one ledger service.
type Client struct {
	r     *resty.Client
	token func(ctx context.Context) (string, error)
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends a fixed role token on reads.
func WithToken(tok string) Option {
	return func(c *Client) { c.token = func(context.Context) (string, error) { return tok, nil } }
}

// WithTokenSource obtains a (fresh) role token for each read.
func WithTokenSource(f func(ctx context.Context) (string, error)) Option {
	return func(c *Client) { c.token = f }
}

// WithHTTPClient uses hc (for instance an httptest server's client).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		own := *hc // SetTimeout writes the client's Timeout: keep the caller's as it is
		c.r = resty.NewWithClient(&own).SetBaseURL(c.r.BaseURL).SetTimeout(c.r.GetClient().Timeout)
	}
}

// New makes a client of the service at base (e.g. "http://127.0.0.1:7070").
func New(base string, opts ...Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ledger client: base URL %q: must be http(s)://host:port", base)
	}
	c := &Client{r: resty.New().SetBaseURL(strings.TrimRight(base, "/")).SetTimeout(60 * time.Second)}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func (c *Client) req(ctx context.Context, auth bool) (*resty.Request, error) {
	r := c.r.R().SetContext(ctx).SetError(&api.Error{})
	if auth {
		if c.token == nil {
			return nil, fmt.Errorf("%w: the client has no role token (WithToken)", api.ErrUnauthorized)
		}
		tok, err := c.token(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", api.ErrUnauthorized, err)
		}
		r.SetAuthToken(tok)
	}
	return r, nil
}

// do runs a request and turns an error answer back into the ledger's errors
// through api.Error.Err, the one decoder of the ledger's wire errors.
func do(resp *resty.Response, err error) error {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("ledger client: %w", err)
		}
		// Not reached (refused, reset, timed out): an outage, which callers
		// answer with "retry later" rather than an internal error.
		return fmt.Errorf("%w: ledger client: %w", ledger.ErrUnavailable, err)
	}
	if !resp.IsError() {
		return nil
	}
	if s := resp.StatusCode(); s == 502 || s == 503 || s == 504 {
		return fmt.Errorf("%w: ledger client: %s", ledger.ErrUnavailable, resp.Status())
	}
	body, _ := resp.Error().(*api.Error)
	if body == nil || body.Kind == "" {
		return fmt.Errorf("ledger client: %s: %s", resp.Status(), strings.TrimSpace(string(resp.Body())))
	}
	if body.Kind == api.KindInternal {
		return fmt.Errorf("ledger client: %s: %s", resp.Status(), body.Reason)
	}
	return body.Err()
}

// Append posts a batch and returns its receipt.
func (c *Client) Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error) {
	var rc ledger.Receipt
	r, _ := c.req(ctx, false)
	err := do(r.SetHeader("Content-Type", "application/json").SetBody(b).SetResult(&rc).Post("/ledger/v1/batches"))
	return rc, err
}

// Record gets a record with its inclusion proof and checkpoint (role token needed).
func (c *Client) Record(ctx context.Context, id string) (ledger.Proven, error) {
	var p ledger.Proven
	r, err := c.req(ctx, true)
	if err != nil {
		return p, err
	}
	err = do(r.SetResult(&p).Get("/ledger/v1/records/" + url.PathEscape(id)))
	return p, err
}

// Query gets one page of records (role token needed).
func (c *Client) Query(ctx context.Context, q ledger.Query) (ledger.Page, error) {
	var p ledger.Page
	r, err := c.req(ctx, true)
	if err != nil {
		return p, err
	}
	v := url.Values{}
	for k, s := range map[string]string{"participant": q.Participant, "dataset": q.Dataset, "agreement": q.Agreement,
		"transfer": q.Transfer, "kind": string(q.Kind), "classification": string(q.Classification), "region": q.Region,
		"from": q.From, "to": q.To, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	err = do(r.SetQueryParamsFromValues(v).SetResult(&p).Get("/ledger/v1/records"))
	return p, err
}

// Checkpoint gets the latest signed checkpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	r, _ := c.req(ctx, false)
	resp, err := r.Get("/ledger/v1/checkpoint")
	if err := do(resp, err); err != nil {
		return nil, err
	}
	return resp.Body(), nil
}

// ConsistencyProof gets the proof that tree size from is a prefix of size to.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	var out api.ConsistencyResponse
	r, _ := c.req(ctx, false)
	err := do(r.SetQueryParam("from", strconv.FormatUint(from, 10)).SetQueryParam("to", strconv.FormatUint(to, 10)).
		SetResult(&out).Get("/ledger/v1/proof/consistency"))
	return out.Proof, err
}

// Participant gets a participant as currently registered (public, no token);
// an unknown id is ledger.ErrNotFound. It satisfies identity.Source.
func (c *Client) Participant(ctx context.Context, id string) (identity.Participant, error) {
	var p identity.Participant
	r, _ := c.req(ctx, false)
	err := do(r.SetResult(&p).Get("/ledger/v1/participants/" + url.PathEscape(id)))
	return p, err
}

// ParticipantByDID gets the participant registered with did (public, no
// token); ledger.ErrNotFound when none is.
func (c *Client) ParticipantByDID(ctx context.Context, did string) (identity.Participant, error) {
	var p identity.Participant
	r, _ := c.req(ctx, false)
	err := do(r.SetResult(&p).Get("/ledger/v1/participants?" + url.Values{"did": {did}}.Encode()))
	return p, err
}

// DirectoryChanges gets the participants whose directory entries changed at
// record index since or later (public, no token; see
// ledger.ReadDirectoryChanges): at most limit (0: the ledger's default page).
func (c *Client) DirectoryChanges(ctx context.Context, since uint64, limit int) (ledger.DirectoryChanges, error) {
	var ch ledger.DirectoryChanges
	r, _ := c.req(ctx, false)
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	err := do(r.SetResult(&ch).Get("/ledger/v1/directory/changes?" + q.Encode()))
	return ch, err
}

// RegisteredDataset gets a dataset's dataset.registered record, the space's
// public catalogue entry of it (no token needed); ledger.ErrNotFound if the
// dataset was never registered.
func (c *Client) RegisteredDataset(ctx context.Context, id string) (ledger.Entry, error) {
	var e ledger.Entry
	r, _ := c.req(ctx, false)
	err := do(r.SetResult(&e).Get("/ledger/v1/datasets/" + url.PathEscape(id)))
	return e, err
}

// Rules gets the current space rules.
func (c *Client) Rules(ctx context.Context) (policy.SpaceRules, error) {
	var rules policy.SpaceRules
	r, _ := c.req(ctx, false)
	err := do(r.SetResult(&rules).Get("/ledger/v1/rules"))
	return rules, err
}

// Genesis gets the genesis the ledger was created from.
func (c *Client) Genesis(ctx context.Context) (ledger.Genesis, error) {
	var g ledger.Genesis
	r, _ := c.req(ctx, false)
	err := do(r.SetResult(&g).Get("/ledger/v1/genesis"))
	return g, err
}

// VerifierKey gets the checkpoint verifier key the service announces. An
// auditor should pin the key it was given instead of trusting this one.
func (c *Client) VerifierKey(ctx context.Context) (string, error) {
	r, _ := c.req(ctx, false)
	resp, err := r.Get("/ledger/v1/checkpoint/key")
	if err := do(resp, err); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(resp.Body())), nil
}

// Batches pages through the stored batches (auditor or regulator token needed).
func (c *Client) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	for {
		var page api.BatchPage
		r, err := c.req(ctx, true)
		if err != nil {
			return err
		}
		if err := do(r.SetQueryParam("from", strconv.FormatUint(from, 10)).SetResult(&page).Get("/ledger/v1/batches")); err != nil {
			return err
		}
		for _, sb := range page.Batches {
			if err := fn(sb); err != nil {
				return err
			}
		}
		if page.Next == 0 || len(page.Batches) == 0 {
			return nil
		}
		from = page.Next
	}
}

// CheckpointPage gets one page of stored checkpoints, those of tree size
// q.From or more (role token needed). Pass the page's Next as q.From for the
// next page; Next is 0 on the last one.
func (c *Client) CheckpointPage(ctx context.Context, q ledger.CheckpointQuery) (ledger.CheckpointPage, error) {
	var page ledger.CheckpointPage
	r, err := c.req(ctx, true)
	if err != nil {
		return page, err
	}
	if q.From != 0 {
		r.SetQueryParam("from", strconv.FormatUint(q.From, 10))
	}
	if q.Limit != 0 {
		r.SetQueryParam("limit", strconv.Itoa(q.Limit))
	}
	err = do(r.SetResult(&page).Get("/ledger/v1/checkpoints"))
	return page, err
}

// Checkpoints pages through every stored checkpoint in order of tree size,
// ledger.MaxCheckpointPageSize at a time (role token needed). With Batches it
// makes the client a verify.Source, for tdsc audit verify over HTTP.
func (c *Client) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	q := ledger.CheckpointQuery{Limit: ledger.MaxCheckpointPageSize}
	for {
		page, err := c.CheckpointPage(ctx, q)
		if err != nil {
			return err
		}
		for _, cp := range page.Checkpoints {
			if err := fn(cp.Size, cp.Note); err != nil {
				return err
			}
		}
		if page.Next == 0 {
			return nil
		}
		if page.Next <= q.From {
			return fmt.Errorf("ledger client: checkpoints: the service's next page starts at tree size %d, not after %d", page.Next, q.From)
		}
		q.From = page.Next
	}
}
