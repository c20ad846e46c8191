package dataplane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPSource is a dataset served by an HTTP(S) backend that the provider
// proxies. The backend's credentials stay on the provider: Authorize adds them
// to each backend request (from a file or the environment, never a flag), and
// nothing of the backend's response headers but size, tag, time and type
// reaches the consumer.
type HTTPSource struct {
	// URL is the backend object; a sub-path p is resolved against URL + "/".
	URL string
	// Client defaults to a client with a 30 s response-header timeout.
	Client *http.Client
	// Authorize, if set, adds the backend credentials to req.
	Authorize func(req *http.Request) error
}

var defaultBackendClient = &http.Client{Transport: &http.Transport{
	Proxy:                 nil,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	MaxIdleConnsPerHost:   16,
	ReadBufferSize:        256 << 10,
}}

func (s HTTPSource) target(p string) (string, error) {
	if p == "" {
		return s.URL, nil
	}
	if strings.Contains(p, "..") || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %q: path must be clean and relative", ErrNotFound, p)
	}
	base, err := url.Parse(strings.TrimSuffix(s.URL, "/") + "/")
	if err != nil {
		return "", fmt.Errorf("dataplane: backend URL %q: %w", s.URL, err)
	}
	rel, err := url.Parse((&url.URL{Path: p}).EscapedPath())
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrNotFound, p)
	}
	return base.ResolveReference(rel).String(), nil
}

func (s HTTPSource) do(ctx context.Context, method, target string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if s.Authorize != nil {
		if err := s.Authorize(req); err != nil {
			return nil, fmt.Errorf("dataplane: backend credentials: %w", err)
		}
	}
	c := s.Client
	if c == nil {
		c = defaultBackendClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dataplane: backend %s: %w", method, err)
	}
	return resp, nil
}

// Stat implements Source with a HEAD request.
func (s HTTPSource) Stat(ctx context.Context, p string) (Info, error) {
	target, err := s.target(p)
	if err != nil {
		return Info{}, err
	}
	resp, err := s.do(ctx, http.MethodHead, target, nil)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	if err := backendStatus(resp, http.StatusOK); err != nil {
		return Info{}, err
	}
	if resp.ContentLength < 0 {
		return Info{}, fmt.Errorf("dataplane: backend HEAD %s: no Content-Length; the data plane needs the size", target)
	}
	info := Info{Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}
	if et := resp.Header.Get("ETag"); strings.HasPrefix(et, `"`) {
		info.ETag = et // strong tags only; a weak tag cannot guard a range
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.ModTime = lm
	}
	if info.ContentType == "" {
		info.ContentType = "application/octet-stream"
	}
	return info, nil
}

// Open implements Source with a ranged GET. A backend that ignores the range
// and answers 200 is read from the start and the prefix skipped.
func (s HTTPSource) Open(ctx context.Context, p string, r ByteRange) (io.ReadCloser, error) {
	target, err := s.target(p)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if r.Length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	h.Set("Range", "bytes="+strconv.FormatInt(r.Start, 10)+"-"+strconv.FormatInt(r.End()-1, 10))
	resp, err := s.do(ctx, http.MethodGet, target, h)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, r.Start); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("dataplane: backend GET %s: skipping to %d: %w", target, r.Start, err)
		}
	default:
		resp.Body.Close()
		return nil, backendStatus(resp, http.StatusPartialContent)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, r.Length), resp.Body}, nil
}

func backendStatus(resp *http.Response, want int) error {
	switch {
	case resp.StatusCode == want || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("%w: backend %s answered %s", ErrNotFound, resp.Request.URL.Redacted(), resp.Status)
	}
	return fmt.Errorf("dataplane: backend %s answered %s", resp.Request.URL.Redacted(), resp.Status)
}
