package pull

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/ledger/digest"
)

// Progress is reported while bytes arrive: Done of Total bytes (Total -1 when
// unknown), of which Resumed were already on disk when this download began.
type Progress struct {
	Done, Total, Resumed int64
	Started              time.Time
}

// Result describes a finished download.
type Result struct {
	Path string
	// Size is the file's final size; Bytes how many arrived in this call; From
	// the offset it resumed at (0 for a fresh download).
	Size, Bytes, From int64
	// Sum is the hex hash of the whole file in Algorithm ("sha256" or "sm3",
	// the space's suite: WithHash); SHA256 repeats it when Algorithm is
	// sha256. Expected is the registered hash it was checked against ("" when
	// none was known).
	Sum, Algorithm   string
	SHA256, Expected string
	ETag             string
}

type options struct {
	resume     bool
	progress   func(Progress)
	client     *http.Client
	expected   string
	retries    int
	bufferSize int
	now        func() time.Time
	hash       string // digest algorithm; sha256 when empty
}

// alg is the content-hash algorithm: WithHash's; else that of the expected
// hash when it names one; else sha256. resolve may take the provider's
// Repr-Digest's algorithm before this is read.
func (o options) alg() string {
	if o.hash != "" {
		return o.hash
	}
	if d, err := digest.Parse(o.expected); err == nil && strings.Contains(o.expected, ":") {
		return d.Algorithm()
	}
	return digest.SHA256
}

// resolve fixes the algorithm of a download without WithHash or an expected
// hash naming one: the algorithm of the provider's Repr-Digest when it is a
// known one. (The consumer's node records the hash only in its own suite's
// algorithm, so a provider cannot choose another for the ledger.)
func (o *options) resolve(resp *http.Response) {
	if o.hash != "" || strings.Contains(o.expected, ":") {
		return
	}
	if d, ok := digest.ParseReprDigest(resp.Header.Get("Repr-Digest")); ok {
		o.hash = d.Algorithm()
	}
}

// Option configures Download.
type Option func(*options)

// WithResume continues from the partial file at out (its size), asking for the
// rest with Range and If-Range; if the dataset changed meanwhile the server
// sends it whole and the file starts over.
func WithResume() Option { return func(o *options) { o.resume = true } }

// WithProgress calls fn as bytes arrive (at most every 64 KiB read) and once at the end.
func WithProgress(fn func(Progress)) Option { return func(o *options) { o.progress = fn } }

// WithClient uses c instead of a client with a 30 s response-header timeout.
func WithClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithHash hashes the file with the space's content-hash algorithm: "sha256"
// or "sm3" (a gm space). The provider's Repr-Digest and the expected hash are
// read in that algorithm. Without it, the algorithm is the expected hash's,
// else the provider's Repr-Digest's, else sha256.
func WithHash(alg string) Option { return func(o *options) { o.hash = alg } }

// WithExpectedHash checks the file against this registered hash (hex, or
// "sha256:hex" / "sm3:hex" in the WithHash algorithm) instead of the
// Repr-Digest the provider announces.
func WithExpectedHash(h string) Option { return func(o *options) { o.expected = h } }

// WithRetries makes up to n more attempts after a cut connection or a busy
// server (429/503), each resuming where the file stopped, with exponential
// backoff from 200 ms (or the server's Retry-After). Refusals are not retried.
func WithRetries(n int) Option { return func(o *options) { o.retries = n } }

// WithClock sets the clock used for Progress.Started.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithTLS uses the default client's settings with this TLS configuration
// (a space's own CA, say).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.client = newClient(cfg) } }

var defaultClient = newClient(nil)

func newClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		ResponseHeaderTimeout: 30 * time.Second,
		ReadBufferSize:        256 << 10,
		TLSClientConfig:       cfg,
	}}
}

// sidecar holds what a resume needs beside the partial file.
type sidecar struct {
	URL  string `json:"url"`
	ETag string `json:"etag"`
}

func sidecarPath(out string) string { return out + ".tdsc-partial" }

// Download fetches url into the file out with the access token; proof makes the
// DPoP proof for each request. A refusal is returned as *dataplane.Error
// naming the server's reason; a file that does not hash to the registered
// hash yields dataplane.ErrHashMismatch (the file is kept, for inspection);
// a partial file whose dataset changed yields a fresh download.
func Download(ctx context.Context, url, token string, proof dataplane.ProofFunc, out string, opts ...Option) (Result, error) {
	o := options{client: defaultClient, bufferSize: 256 << 10, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if token == "" || proof == nil {
		return Result{}, errors.New("pull: Download needs an access token and a ProofFunc")
	}
	res, err := download(ctx, url, token, proof, out, o)
	for attempt := 0; err != nil && attempt < o.retries; attempt++ {
		wait, ok := retryable(ctx, err, attempt)
		if !ok {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return res, err
		}
		o.resume = true
		res, err = download(ctx, url, token, proof, out, o)
	}
	return res, err
}

// retryable says whether err may pass on a new attempt, and after how long:
// a cut connection or a busy server may; a refusal, a hash mismatch or a
// cancelled context may not.
func retryable(ctx context.Context, err error, attempt int) (time.Duration, bool) {
	if ctx.Err() != nil || errors.Is(err, dataplane.ErrHashMismatch) {
		return 0, false
	}
	backoff := min(200*time.Millisecond<<attempt, 10*time.Second)
	var derr *dataplane.Error
	if errors.As(err, &derr) {
		if derr.Reason != dataplane.ReasonBusy {
			return 0, false
		}
		return max(backoff, derr.RetryAfter), true
	}
	return backoff, true
}

func download(ctx context.Context, url, token string, proof dataplane.ProofFunc, out string, o options) (Result, error) {
	var from int64
	var etag string
	if o.resume {
		from, etag = partial(out, url)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{}, fmt.Errorf("pull: %w", err)
	}
	p, err := proof(http.MethodGet, url)
	if err != nil {
		return Result{}, fmt.Errorf("pull: make the DPoP proof: %w", err)
	}
	req.Header.Set("Authorization", "DPoP "+token)
	req.Header.Set("DPoP", p)
	if from > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
		req.Header.Set("If-Range", etag)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("pull: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	o.resolve(resp)

	flags := os.O_CREATE | os.O_WRONLY
	var total int64 = -1
	switch resp.StatusCode {
	case http.StatusOK:
		from = 0
		flags |= os.O_TRUNC
		total = resp.ContentLength
	case http.StatusPartialContent:
		start, size, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != from {
			return Result{}, fmt.Errorf("pull: server answered range %q to a request from byte %d", resp.Header.Get("Content-Range"), from)
		}
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		if _, size, ok := contentRange(resp.Header.Get("Content-Range")); ok && size == from {
			// The partial file is already whole; verify it below.
			sum, err := hashFile(o.alg(), out, from, o.bufferSize)
			if err != nil {
				return Result{}, err
			}
			return finish(out, from, 0, from, etag, sum, resp, o)
		}
		return Result{}, respError(resp)
	default:
		return Result{}, respError(resp)
	}

	etag = resp.Header.Get("ETag")
	if strings.HasPrefix(etag, `"`) {
		b, _ := json.Marshal(sidecar{URL: url, ETag: etag})
		if err := os.WriteFile(sidecarPath(out), b, 0o600); err != nil {
			return Result{}, fmt.Errorf("pull: write resume state: %w", err)
		}
	}
	f, err := os.OpenFile(out, flags, 0o640)
	if err != nil {
		return Result{}, fmt.Errorf("pull: open %s: %w", out, err)
	}
	if from > 0 {
		if err := f.Truncate(from); err != nil {
			f.Close()
			return Result{}, fmt.Errorf("pull: truncate %s: %w", out, err)
		}
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			f.Close()
			return Result{}, err
		}
	}
	// Hash what is already on disk, then every byte as it arrives.
	sum, err := hashPrefix(o.alg(), out, from, o.bufferSize)
	if err != nil {
		f.Close()
		return Result{}, err
	}
	started := o.now()
	pw := &progressWriter{w: io.MultiWriter(f, sum), p: Progress{Done: from, Total: total, Resumed: from, Started: started}, fn: o.progress}
	buf := make([]byte, o.bufferSize)
	n, err := io.CopyBuffer(pw, struct{ io.Reader }{resp.Body}, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Result{Path: out, Bytes: n, From: from, ETag: etag}, fmt.Errorf("pull: after %d bytes: %w (resume with WithResume / --resume)", from+n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return Result{Path: out, Bytes: n, From: from, ETag: etag}, fmt.Errorf("pull: got %d of %d bytes: %w", n, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	pw.report(true)
	return finish(out, from+n, n, from, etag, hex.EncodeToString(sum.Sum(nil)), resp, o)
}

// finish hashes the whole file and checks it against the expected hash.
func finish(out string, size, n, from int64, etag, sum string, resp *http.Response, o options) (Result, error) {
	res := Result{Path: out, Size: size, Bytes: n, From: from, Sum: sum, Algorithm: o.alg(), ETag: etag}
	if res.Algorithm == digest.SHA256 {
		res.SHA256 = sum
	}
	res.Expected = digest.Hex(o.alg(), o.expected)
	if res.Expected == "" {
		res.Expected = reprDigest(o.alg(), resp.Header.Get("Repr-Digest"))
	}
	os.Remove(sidecarPath(out))
	if res.Expected != "" && res.Expected != res.Sum {
		return res, fmt.Errorf("%w: %s hashes to %s:%s, registered %s", dataplane.ErrHashMismatch, out, res.Algorithm, res.Sum, res.Expected)
	}
	return res, nil
}

// partial returns the size of out and the ETag it was fetched under, or 0 when
// there is nothing safe to resume.
func partial(out, url string) (int64, string) {
	st, err := os.Stat(out)
	if err != nil || st.Size() == 0 {
		return 0, ""
	}
	b, err := os.ReadFile(sidecarPath(out))
	if err != nil {
		return 0, ""
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil || sc.URL != url || sc.ETag == "" {
		return 0, ""
	}
	return st.Size(), sc.ETag
}

// hashPrefix hashes the first n bytes of path with algorithm alg.
func hashPrefix(alg, path string, n int64, bufSize int) (hash.Hash, error) {
	h := digest.NewHash(alg)
	if h == nil {
		return nil, fmt.Errorf("pull: option WithHash: %q is not %s or %s", alg, digest.SHA256, digest.SM3)
	}
	if n == 0 {
		return h, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pull: hash the partial file: %w", err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(h, io.LimitReader(f, n), make([]byte, bufSize)); err != nil {
		return nil, fmt.Errorf("pull: hash the partial file: %w", err)
	}
	return h, nil
}

func hashFile(alg, path string, n int64, bufSize int) (string, error) {
	h, err := hashPrefix(alg, path, n, bufSize)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func contentRange(v string) (start, size int64, ok bool) {
	v, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, total, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if span == "*" {
		return 0, size, true
	}
	first, _, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err = strconv.ParseInt(first, 10, 64)
	return start, size, err == nil
}

func respError(resp *http.Response) error {
	e := &dataplane.Error{Status: resp.StatusCode}
	var body dataplane.ErrorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err == nil && body.Reason != "" {
		e.Reason, e.Message = body.Reason, body.Message
	} else {
		e.Reason, e.Message = "http-"+strconv.Itoa(resp.StatusCode), resp.Status
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// reprDigest is the hex of the alg member of an RFC 9530 Repr-Digest header, or "".
func reprDigest(alg, v string) string {
	if d, ok := digest.ParseReprDigest(v); ok && d.Algorithm() == alg {
		return d.Hex()
	}
	return ""
}

type progressWriter struct {
	w       io.Writer
	p       Progress
	fn      func(Progress)
	pending int64
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.Done += int64(n)
	pw.pending += int64(n)
	if pw.pending >= 64<<10 {
		pw.report(false)
	}
	return n, err
}

func (pw *progressWriter) report(final bool) {
	if pw.fn != nil && (pw.pending > 0 || final) {
		pw.fn(pw.p)
	}
	pw.pending = 0
}
