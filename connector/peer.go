package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tdsc/tdsc/connector/dsp"
)

// peerClient makes DSP calls to other connectors, each with a fresh protocol
// token addressed to the callee.
type peerClient struct {
	n  *Node
	hc *http.Client
}

// ErrPeerUnreachable: the peer could not be reached or answered with a
// server error. Steps retry it; an operator should check the peer's URL and
// that it is up.
var ErrPeerUnreachable = errors.New("connector: peer unreachable")

// PeerError is a peer's refusal: an HTTP 4xx with the spec's error object.
// Retrying the same message will not help; the reason says what to change.
type PeerError struct {
	Status int
	URL    string
	Err    *dsp.Error
}

func (e *PeerError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("peer %s answered %d", e.URL, e.Status)
	}
	return fmt.Sprintf("peer %s answered %d: %s", e.URL, e.Status, e.Err.Error())
}

// Unwrap marks a peer refusal permanent for the task runner.
func (e *PeerError) Unwrap() error { return errPermanent }

// alreadyApplied reports whether the peer refused a message as an invalid
// state transition: it is past the state the message leads to, as when a
// message is re-sent after a restart.
func (e *PeerError) alreadyApplied() bool {
	return e.Status == 400 && e.Err != nil && e.Err.Code == "invalid-transition"
}

// Reason is the peer's reason text, joined.
func (e *PeerError) Reason() string {
	if e.Err == nil || len(e.Err.Reason) == 0 {
		return fmt.Sprintf("peer answered HTTP %d", e.Status)
	}
	return strings.Join(e.Err.Reason, "; ")
}

func joinURL(base, path string) string {
	return strings.TrimRight(base, "/") + path
}

// do sends one DSP request; a 2xx body is returned, a 4xx is a *PeerError,
// anything else an error worth retrying.
func (c *peerClient) do(ctx context.Context, method, aud, url string, msg any) ([]byte, int, error) {
	var body io.Reader
	if msg != nil {
		b, err := json.Marshal(msg)
		if err != nil {
			return nil, 0, err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, c.n.cfg.PeerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: bad peer URL %q: %v", errPermanent, url, err)
	}
	tok, err := c.n.peerToken(aud)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if msg != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s %s: %w", ErrPeerUnreachable, method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, dsp.MaxCatalogBytes+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("connector: %s %s: read response: %w", method, url, err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return data, resp.StatusCode, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout:
		pe := &PeerError{Status: resp.StatusCode, URL: url}
		if e, err := dsp.DecodeErrorObject(bytes.NewReader(data)); err == nil {
			pe.Err = e
		}
		return nil, resp.StatusCode, pe
	}
	// A transient failure (5xx, 429): retried by the caller. Say what the
	// peer said, from its error object when it sent one.
	if e, err := dsp.DecodeErrorObject(bytes.NewReader(data)); err == nil {
		return nil, resp.StatusCode, fmt.Errorf("%w: %s %s: HTTP %d %s: %s", ErrPeerUnreachable, method, url, resp.StatusCode, e.Code, strings.Join(e.Reason, "; "))
	}
	return nil, resp.StatusCode, fmt.Errorf("%w: %s %s: HTTP %d: %.200s", ErrPeerUnreachable, method, url, resp.StatusCode, data)
}

func (c *peerClient) post(ctx context.Context, aud, url string, msg any) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodPost, aud, url, msg)
	return b, err
}

// Catalog fetches a provider's catalogue.
func (c *peerClient) catalog(ctx context.Context, aud, base string) (*dsp.Catalog, error) {
	b, err := c.post(ctx, aud, joinURL(base, "/catalog/request"), &dsp.CatalogRequestMessage{Header: dsp.NewHeader(dsp.TypeCatalogRequestMessage)})
	if err != nil {
		return nil, err
	}
	return dsp.DecodeCatalog(bytes.NewReader(b))
}

// discover reads a peer's DSP 2025-1 entry in the version document at the
// root of base's host: its participant id and its DSP base URL (the entry's
// path resolved against the document's URL).
func (c *peerClient) discover(ctx context.Context, base string) (id, dspBase string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.n.cfg.PeerTimeout)
	defer cancel()
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%w: provider URL %q is not an absolute URL", errBadRequest, base)
	}
	doc := u.Scheme + "://" + u.Host + dsp.VersionPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("%w: discover %s: %w", ErrPeerUnreachable, base, err)
	}
	defer resp.Body.Close()
	v, err := dsp.DecodeVersionResponse(resp.Body)
	if err != nil {
		return "", "", fmt.Errorf("%w: discover %s: %w", errBadRequest, doc, err)
	}
	if dspBase, err = v.BaseURL(doc); err != nil {
		return "", "", fmt.Errorf("%w: discover %s: path %q: %w", errBadRequest, doc, v.Path, err)
	}
	if v.ParticipantID == "" && isDIDPeer(v.ServiceID) {
		// A DCP peer names itself by its did:web (serviceId), which is
		// also how the ledger names it.
		return v.ServiceID, dspBase, nil
	}
	if v.ParticipantID == "" {
		return "", dspBase, fmt.Errorf("%w: discover %s: its DSP 2025-1 entry names no participant id; pass the provider's id explicitly", errBadRequest, doc)
	}
	return v.ParticipantID, dspBase, nil
}
