package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/progress"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/identity"
)

// pullOptions are what `tdsc transfer start --out FILE [--resume]` passes to
// pullTransfer once the provider has started the transfer and returned the
// data address (URL) and the access token.
type pullOptions struct {
	// URL is the data address: {provider}/data/{transfer}.
	URL string
	// Token is the access token; Key the consumer's key it is bound to, which
	// signs a DPoP proof for every request.
	Token string
	Key   *identity.Key
	// Out is the file to write; Resume continues a partial Out.
	Out    string
	Resume bool
	// Retries is how many times a cut connection or a busy provider is retried,
	// resuming each time (pull.WithRetries); 3 is a good CLI default.
	Retries int
	// ExpectedHash is the dataset's registered SHA-256 from the ledger or
	// catalogue; empty: the provider's Repr-Digest is the reference.
	ExpectedHash string
	// Progress receives the bar (on a terminal) or plain lines; usually stderr.
	Progress *os.File
}

// pullTransfer downloads a transfer's data with a progress bar, resuming when
// asked, and checks the content hash. The caller records the consumer's
// transfer.completed from the result (bytes, SHA256), including on
// dataplane.ErrHashMismatch, which it must also show the user.
func pullTransfer(ctx context.Context, o pullOptions) (pull.Result, error) {
	if o.Key == nil {
		return pull.Result{}, fmt.Errorf("transfer: no consumer key to sign DPoP proofs (flag --key)")
	}
	var w io.Writer = io.Discard
	terminal := false
	if o.Progress != nil {
		w, terminal = o.Progress, progress.IsTerminal(o.Progress)
	}
	bar := progress.New(w, o.Out, terminal)
	opts := []pull.Option{pull.WithProgress(func(p pull.Progress) { bar.Update(p.Done, p.Total, p.Resumed) })}
	if tc, err := cliTLS(); err != nil {
		return pull.Result{}, fmt.Errorf("TDSC_TLS_CA_FILE: %w", err)
	} else if tc != nil {
		opts = append(opts, pull.WithTLS(tc))
	}
	if o.Resume {
		opts = append(opts, pull.WithResume())
	}
	if o.Retries > 0 {
		opts = append(opts, pull.WithRetries(o.Retries))
	}
	if o.ExpectedHash != "" {
		opts = append(opts, pull.WithExpectedHash(o.ExpectedHash))
	}
	res, err := pull.Download(ctx, o.URL, o.Token, dataplane.KeyProof(o.Key, o.Token), o.Out, opts...)
	if err == nil || res.Size > 0 {
		bar.Finish(res.Size, res.Size)
	} else if o.Progress != nil && terminal {
		fmt.Fprintln(w)
	}
	return res, err
}
