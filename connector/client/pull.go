package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/identity"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Resume continues a partial file at out.
	Resume bool
	// Retries is how many times a cut connection or a busy provider is
	// retried, resuming each time.
	Retries int
	// Progress receives progress as bytes arrive.
	Progress func(pull.Progress)
}

// PullResult is a finished pull: the download, and where the hash it was
// checked against came from ("ledger", or "provider" when the ledger's
// registration could not be read).
type PullResult struct {
	pull.Result
	HashSource string
}

// ErrNotStarted: the transfer is not STARTED, so there is nothing to pull.
var ErrNotStarted = errors.New("transfer not started")

// Pull downloads a STARTED pull transfer's data into out with the consumer's
// key (which signs each request's proof of possession), checks the bytes
// against the hash the node reads from the ledger's registration of the
// dataset, and records the consumer's receipt (its transfer.completed) —
// also when the hash does not match, which is then returned as
// dataplane.ErrHashMismatch.
func (c *Client) Pull(ctx context.Context, transfer, out string, key *identity.Key, o PullOptions) (PullResult, error) {
	if key == nil {
		return PullResult{}, errors.New("key: required (the consumer's key signs each request's proof of possession)")
	}
	x, err := c.Transfer(ctx, transfer)
	if err != nil {
		return PullResult{}, err
	}
	if x.State != api.TransferState("STARTED") {
		return PullResult{}, fmt.Errorf("transfer %s is %s: %w%s", x.ID, x.State, ErrNotStarted, reasonSuffix(x.Reason))
	}
	addr, err := x.Address()
	if err != nil {
		return PullResult{}, err
	}
	// The node reads the hash registered on the ledger; when it cannot be
	// asked, the provider's word in the data address, then its Repr-Digest.
	eh, err := c.ExpectedHash(ctx, x.ID)
	if err != nil || eh.ContentHash == "" {
		eh = &api.ExpectedHash{ContentHash: addr.Property("contentHash"), Source: "provider"}
	}
	// The file is hashed in the consumer key's suite (SM3 in a gm space).
	opts := []pull.Option{pull.WithHash(key.JWK().Suite().HashName())}
	if eh.ContentHash != "" {
		opts = append(opts, pull.WithExpectedHash(eh.ContentHash))
	}
	if c.tls != nil {
		opts = append(opts, pull.WithTLS(c.tls.Clone()))
	}
	if o.Resume {
		opts = append(opts, pull.WithResume())
	}
	if o.Retries > 0 {
		opts = append(opts, pull.WithRetries(o.Retries))
	}
	if o.Progress != nil {
		opts = append(opts, pull.WithProgress(o.Progress))
	}
	tok := addr.Property("authorization")
	res, err := pull.Download(ctx, addr.Endpoint, tok, dataplane.KeyProof(key, tok), out, opts...)
	pr := PullResult{Result: res, HashSource: eh.Source}
	if err != nil && !errors.Is(err, dataplane.ErrHashMismatch) {
		return pr, err
	}
	// The consumer's own transfer.completed: what it received.
	rerr := c.RecordReceipt(ctx, x.ID, api.Receipt{Bytes: res.Size, ContentHash: res.Algorithm + ":" + res.Sum})
	if err != nil {
		return pr, fmt.Errorf("pulled %d bytes to %s but the content hash does not match the registered one (%s): %w", res.Size, out, eh.Source, err)
	}
	if rerr != nil {
		return pr, fmt.Errorf("pulled %d bytes to %s, but recording the receipt failed: %w", res.Size, out, rerr)
	}
	return pr, nil
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}
