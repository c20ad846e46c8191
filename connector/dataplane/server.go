package dataplane

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/ledger/digest"
)

// Config tunes the provider's data plane. Start from DefaultConfig.
type Config struct {
	// Audience is this data plane's id: the aud access tokens must carry.
	Audience string
	// BaseURL is the scheme and authority clients use to reach this server
	// ("https://provider.example:8443"); the DPoP proof's htu is checked against
	// BaseURL + request path. Empty: taken from the request (Host, TLS).
	BaseURL string
	// MaxConcurrent bounds streams across all transfers (503 when full);
	// MaxPerTransfer bounds streams of one transfer (429 when full).
	MaxConcurrent, MaxPerTransfer int
	// BufferSize and Buffers: each stream holds Buffers buffers of BufferSize.
	BufferSize, Buffers int
	// WriteIdleTimeout ends a stream whose client accepts no bytes for this long.
	WriteIdleTimeout time.Duration
	// HashEverySend makes every send of a local file hash its bytes, even
	// when the file's version was read in full before and its hash is known.
	// Off (the default), such a send goes zero-copy with sendfile under the
	// known hash; SHA-256 costs about a core per 2 GB/s, more than sending.
	HashEverySend bool
	// HashSettle is how much older than the start of a full read a file's
	// change time must be for the read's hash to be kept for its version (so a
	// write in the same tick of the file system's clock is never missed).
	HashSettle time.Duration
	// RetryAfter is the delay suggested to a client refused for load.
	RetryAfter time.Duration
	// Hash is the content-hash algorithm of the space's suite: "sha256"
	// (intl, the default when empty) or "sm3" (gm). Every send is hashed with
	// it, the Repr-Digest announces it, and registered hashes of another
	// algorithm never match.
	Hash string
	// Now is the clock; Logger receives operational events (never tokens or bytes).
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer, if set, receives the tdsc_dataplane_* metrics.
	Registerer prometheus.Registerer
}

// hashAlg is the configured algorithm, sha256 when empty.
func hashAlg(alg string) string {
	if alg == "" {
		return digest.SHA256
	}
	return alg
}

// DefaultConfig returns limits suited to a small node: 32 streams, 4 per
// transfer, 3 × 1 MiB buffers per stream (96 MiB at most in buffers). Buffers
// of 1 MiB measured ~40% faster than 256 KiB on loopback (fewer syscalls and
// hand-offs per byte); see docs/dataplane.md.
func DefaultConfig() Config {
	return Config{
		MaxConcurrent:    32,
		MaxPerTransfer:   4,
		BufferSize:       1 << 20,
		Buffers:          3,
		WriteIdleTimeout: 30 * time.Second,
		HashSettle:       time.Second,
		RetryAfter:       time.Second,
		Now:              time.Now,
		Logger:           slog.Default(),
	}
}

// Validate names the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Audience == "":
		return errors.New("dataplane: config field Audience: must name this data plane (the tokens' aud)")
	case c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://"):
		return fmt.Errorf("dataplane: config field BaseURL: must be http(s)://host[:port], got %q", c.BaseURL)
	case c.MaxConcurrent < 1:
		return fmt.Errorf("dataplane: config field MaxConcurrent: must be at least 1, got %d", c.MaxConcurrent)
	case c.MaxPerTransfer < 1:
		return fmt.Errorf("dataplane: config field MaxPerTransfer: must be at least 1, got %d", c.MaxPerTransfer)
	case c.BufferSize < 4<<10 || c.BufferSize > 16<<20:
		return fmt.Errorf("dataplane: config field BufferSize: must be 4 KiB to 16 MiB, got %d", c.BufferSize)
	case c.Buffers < 2 || c.Buffers > 64:
		return fmt.Errorf("dataplane: config field Buffers: must be 2 to 64, got %d", c.Buffers)
	case c.WriteIdleTimeout <= 0:
		return errors.New("dataplane: config field WriteIdleTimeout: must be positive")
	case c.HashSettle < 0:
		return fmt.Errorf("dataplane: config field HashSettle: must not be negative, got %v", c.HashSettle)
	case digest.NewHash(hashAlg(c.Hash)) == nil:
		return fmt.Errorf("dataplane: config field Hash: must be %s or %s, got %q", digest.SHA256, digest.SM3, c.Hash)
	case c.Now == nil:
		return errors.New("dataplane: config field Now: must be a clock")
	case c.Logger == nil:
		return errors.New("dataplane: config field Logger: must be set")
	}
	return nil
}

// Server is the provider's pull handler.
type Server struct {
	cfg      Config
	verifier TokenVerifier
	live     LiveCheck
	datasets Datasets
	rec      Recorder
	limits   *limiter
	bufs     *bufferPool
	hashes   *hashCache
	metrics  *metrics
}

// hashCacheEntries bounds the file versions whose hash a server remembers.
const hashCacheEntries = 4096

// NewServer builds the pull handler. All four collaborators are required.
func NewServer(cfg Config, v TokenVerifier, live LiveCheck, ds Datasets, rec Recorder) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if v == nil || live == nil || ds == nil || rec == nil {
		return nil, errors.New("dataplane: NewServer needs a TokenVerifier, LiveCheck, Datasets and Recorder")
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dataplane: registering metrics: %w", err)
	}
	return &Server{
		cfg: cfg, verifier: v, live: live, datasets: ds, rec: rec,
		limits:  newLimiter(cfg.MaxConcurrent, cfg.MaxPerTransfer),
		bufs:    newBufferPool(cfg.BufferSize, cfg.Buffers),
		hashes:  newHashCache(hashCacheEntries, cfg.HashSettle),
		metrics: m,
	}, nil
}

// PathPrefix is where the pull handler lives: GET /data/{transfer}[/path].
const PathPrefix = "/data/"

// Handler serves GET and HEAD on /data/{transfer} and /data/{transfer}/{path...}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /data/{transfer}", s.serve)
	mux.HandleFunc("GET /data/{transfer}/{path...}", s.serve)
	return mux
}

func (s *Server) htu(r *http.Request) string { return requestURL(s.cfg.BaseURL, r) }

// requestURL is the URL a DPoP proof's htu must name: base (or the request's
// scheme and Host) and the escaped path, without query.
func requestURL(base string, r *http.Request) string {
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + r.URL.EscapedPath()
}

func (s *Server) busy(w http.ResponseWriter, status int, msg string) {
	s.metrics.outcome.WithLabelValues(outcomeBusy).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.cfg.RetryAfter.Round(time.Second)/time.Second))))
	writeError(w, status, ReasonBusy, msg)
}

func (s *Server) deny(ctx context.Context, w http.ResponseWriter, r *http.Request, g Grant, transfer string, err error) {
	reason, status := denial(err)
	s.metrics.outcome.WithLabelValues(outcomeDenied).Inc()
	s.metrics.denied.WithLabelValues(reason).Inc()
	d := DenialInfo{
		Role: RoleProvider, Transfer: transfer, Agreement: g.Agreement, Dataset: g.Dataset,
		Consumer: g.Subject, TokenID: g.TokenID, Reason: reason, Detail: err.Error(),
		Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr, Time: s.cfg.Now(),
	}
	if rerr := s.rec.Denied(ctx, d); rerr != nil {
		s.cfg.Logger.ErrorContext(ctx, "dataplane: recording transfer.denied failed", "transfer", transfer, "reason", reason, "err", rerr)
	}
	s.cfg.Logger.InfoContext(ctx, "dataplane: request refused", "transfer", transfer, "reason", reason, "remote", r.RemoteAddr)
	writeError(w, status, reason, err.Error())
}

// authorize verifies token and proof and re-checks the agreement; it returns
// the grant or records and answers the refusal.
func (s *Server) authorize(ctx context.Context, w http.ResponseWriter, r *http.Request, transfer string) (Grant, bool) {
	token, proof := accessToken(r)
	if token == "" {
		s.deny(ctx, w, r, Grant{}, transfer, fmt.Errorf("%w: send Authorization: DPoP <access token> with a DPoP proof", ErrNoToken))
		return Grant{}, false
	}
	g, err := s.verifier.VerifyAccess(ctx, token, proof, r.Method, s.htu(r), s.cfg.Audience)
	if errors.Is(err, ErrBusy) {
		s.busy(w, http.StatusServiceUnavailable, "the data plane cannot check more proofs now; retry later")
		return Grant{}, false
	}
	if err != nil {
		s.deny(ctx, w, r, Grant{}, transfer, err)
		return Grant{}, false
	}
	if g.Transfer != transfer {
		s.deny(ctx, w, r, g, transfer, fmt.Errorf("%w: token names transfer %q, the URL %q", ErrWrongTransfer, g.Transfer, transfer))
		return Grant{}, false
	}
	if err := s.live.CheckTransfer(ctx, g); err != nil {
		s.deny(ctx, w, r, g, transfer, err)
		return Grant{}, false
	}
	return g, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	transfer, p := r.PathValue("transfer"), r.PathValue("path")
	if !s.limits.acquireGlobal() {
		s.busy(w, http.StatusServiceUnavailable, "the data plane is serving its maximum number of streams; retry later")
		return
	}
	defer s.limits.releaseGlobal()

	g, ok := s.authorize(ctx, w, r, transfer)
	if !ok {
		return
	}
	ctx = NewContext(ctx, g)
	if !s.limits.acquire(transfer) {
		s.busy(w, http.StatusTooManyRequests, fmt.Sprintf("transfer %q already has %d streams open; retry later", transfer, s.cfg.MaxPerTransfer))
		return
	}
	defer s.limits.release(transfer)

	ds, err := s.datasets.Dataset(ctx, g.Dataset)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			s.deny(ctx, w, r, g, transfer, fmt.Errorf("%w: this data plane holds no dataset %q", ErrWrongDataset, g.Dataset))
			return
		}
		s.internal(ctx, w, transfer, err)
		return
	}
	info, err := ds.Source.Stat(ctx, p)
	if errors.Is(err, ErrIsDirectory) {
		s.list(ctx, w, r, transfer, ds)
		return
	}
	if s.sourceFailed(ctx, w, transfer, ds.ID, p, err) {
		return
	}
	// A local file is opened once and described by its descriptor's stat, so
	// the headers, the bytes and the version checked all name one file.
	f, fi, local, err := openLocal(ds.Source, p)
	if s.sourceFailed(ctx, w, transfer, ds.ID, p, err) {
		return
	}
	if local {
		defer f.Close()
		info = fileInfo(fi, info.ContentType)
	}
	s.send(ctx, w, r, g, ds, p, info, f, fi)
}

// sourceFailed answers a source error, if err is one: 404 for an object the
// dataset does not hold, 502 for a source that failed.
func (s *Server) sourceFailed(ctx context.Context, w http.ResponseWriter, transfer, dataset, p string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotFound):
		s.metrics.outcome.WithLabelValues(outcomeOther).Inc()
		writeError(w, http.StatusNotFound, ReasonNotFound, fmt.Sprintf("dataset %q has no object at %q", dataset, p))
	default:
		s.internal(ctx, w, transfer, err)
	}
	return true
}

func (s *Server) internal(ctx context.Context, w http.ResponseWriter, transfer string, err error) {
	s.metrics.outcome.WithLabelValues(outcomeOther).Inc()
	s.cfg.Logger.ErrorContext(ctx, "dataplane: source failed", "transfer", transfer, "err", err)
	writeError(w, http.StatusBadGateway, ReasonInternal, "the dataset's source failed; retry later")
}

func (s *Server) list(ctx context.Context, w http.ResponseWriter, r *http.Request, transfer string, ds Dataset) {
	s.metrics.outcome.WithLabelValues(outcomeOther).Inc()
	l, ok := ds.Source.(Lister)
	if !ok {
		writeError(w, http.StatusNotFound, ReasonNotFound, "name a file of the dataset")
		return
	}
	entries, err := l.List(ctx)
	if err != nil {
		s.internal(ctx, w, transfer, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Dataset string  `json:"dataset"`
		Files   []Entry `json:"files"`
	}{ds.ID, entries})
}

// send answers conditionals and ranges, then streams the object: hashing
// every byte as it goes, or, for a local file whose version was read in full
// before, zero-copy under the known hash (see sendKnown). f and fi are the
// opened local file and its stat, nil for other sources.
func (s *Server) send(ctx context.Context, w http.ResponseWriter, r *http.Request, g Grant, ds Dataset, p string, info Info, f *os.File, fi fs.FileInfo) {
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Type", info.ContentType)
	if info.ETag != "" {
		h.Set("ETag", info.ETag)
	}
	if !info.ModTime.IsZero() {
		h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	}
	registered := ""
	if p == "" && ds.ContentHash != "" {
		registered = digest.Hex(hashAlg(s.cfg.Hash), ds.ContentHash)
		if d, err := digest.Parse(ds.ContentHash); err == nil {
			h.Set("Repr-Digest", d.ReprDigest())
		}
	}

	cond := checkConditions(r, info.ETag)
	if cond == condPreconditionFailed || cond == condNotModified {
		s.metrics.outcome.WithLabelValues(outcomeOther).Inc()
	}
	switch cond {
	case condPreconditionFailed:
		writeError(w, http.StatusPreconditionFailed, ReasonPrecondition, "the dataset's ETag is now "+info.ETag+"; start again from byte 0")
		return
	case condNotModified:
		w.WriteHeader(http.StatusNotModified)
		return
	case condIgnoreRange:
		r.Header.Del("Range")
	}

	rng, partial, err := ParseRange(r.Header.Get("Range"), info.Size)
	if err != nil {
		s.metrics.outcome.WithLabelValues(outcomeOther).Inc()
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, ReasonRange, fmt.Sprintf("the object has %d bytes", info.Size))
		return
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.Start, rng.End()-1, info.Size))
	} else {
		rng = ByteRange{0, info.Size}
	}
	h.Set("Content-Length", strconv.FormatInt(rng.Length, 10))
	if r.Method == http.MethodHead {
		s.metrics.outcome.WithLabelValues(outcomePartial).Inc()
		w.WriteHeader(status)
		return
	}

	started := s.cfg.Now()
	toEnd := rng.End() == info.Size
	var (
		ver       fileVersion
		versioned bool
		sum       string
		known     bool
	)
	if f != nil {
		ver, versioned = versionOf(fi)
	}
	if versioned && !s.cfg.HashEverySend {
		sum, known = s.hashes.lookup(ver)
	}
	sum256 := digest.NewHash(hashAlg(s.cfg.Hash)) // the suite's hash: SHA-256 or SM3
	began := time.Now()                           // the file system's clock, for the version's settle time
	var src io.ReadCloser
	if !known {
		if rng.Start > 0 && toEnd {
			// Resumed to the end: hash the prefix the client already holds, so
			// the completion record carries the hash of the whole object.
			if err := s.hashPrefix(ctx, ds.Source, p, f, rng.Start, sum256); err != nil {
				s.internal(ctx, w, g.Transfer, err)
				return
			}
		}
		if f != nil {
			src = sectionFile{io.NewSectionReader(f, rng.Start, rng.Length), f}
		} else if src, err = ds.Source.Open(ctx, p, rng); err != nil {
			s.internal(ctx, w, g.Transfer, err)
			return
		}
		// Close the source as soon as the client goes away, even mid-read.
		stopClose := context.AfterFunc(ctx, func() { src.Close() })
		defer func() {
			if stopClose() {
				src.Close()
			}
		}()
	}

	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	s.metrics.active.Inc()
	var n int64
	if known {
		n, err = s.sendKnown(ctx, w, r, rc, f, ver, rng)
	} else {
		n, err = hashCopy(ctx, w, src, rng.Length, sum256, s.bufs, func() error {
			return rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteIdleTimeout))
		})
		sum = hex.EncodeToString(sum256.Sum(nil))
	}
	s.metrics.active.Dec()
	s.metrics.bytes.Add(float64(n))
	if err != nil {
		s.metrics.outcome.WithLabelValues(outcomeAborted).Inc()
		lvl := slog.LevelInfo
		if isReadError(err) && ctx.Err() == nil {
			lvl = slog.LevelError
		}
		s.cfg.Logger.Log(ctx, lvl, "dataplane: stream ended early", "transfer", g.Transfer, "path", p, "sent", n, "of", rng.Length, "err", err)
		panic(http.ErrAbortHandler) // the client must not take a short body for a whole one
	}
	if !toEnd {
		s.metrics.outcome.WithLabelValues(outcomePartial).Inc()
		return
	}
	s.metrics.outcome.WithLabelValues(outcomeCompleted).Inc()
	if known {
		s.metrics.hashes.WithLabelValues(hashKnown).Inc()
	} else {
		s.metrics.hashes.WithLabelValues(hashStreamed).Inc()
		// The whole object was hashed; if the file's version did not move
		// while it was read, later sends of this version can use the hash.
		if versioned {
			s.keepHash(f, ver, sum, began)
		}
	}
	res := TransferResult{
		Role: RoleProvider, Transfer: g.Transfer, Agreement: g.Agreement, Dataset: g.Dataset,
		Provider: g.Issuer, Consumer: g.Subject, TokenID: g.TokenID, Path: p,
		Size: info.Size, Offset: rng.Start, Bytes: n,
		ContentHash: sum, HashKnown: known, RegisteredHash: registered,
		Started: started, Finished: s.cfg.Now(),
	}
	res.Mismatch = registered != "" && res.ContentHash != registered
	if res.Mismatch {
		s.cfg.Logger.ErrorContext(ctx, "dataplane: sent bytes do not match the registered hash", "transfer", g.Transfer, "dataset", g.Dataset, "sent", res.ContentHash, "registered", registered)
	}
	if err := s.rec.Completed(context.WithoutCancel(ctx), res); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "dataplane: recording transfer.completed failed", "transfer", g.Transfer, "err", err)
	}
}

// errVersionMoved: the file was written while it was being sent under a
// known hash; the client's copy is cut short so it cannot take it for whole.
var errVersionMoved = errors.New("the file changed while it was being sent")

// sendKnown sends rng of f, whose version ver was hashed in full before, with
// sendfile on plain HTTP/1 connections (through one buffer otherwise). The
// version is read again from the descriptor before the last piece goes out;
// if it moved, the stream is cut before the end and the hash forgotten, so no
// client completes a copy the known hash does not describe. Chunks grow while
// the client keeps up and shrink when it is slow, so WriteIdleTimeout still
// bounds how long a client may accept nothing.
func (s *Server) sendKnown(ctx context.Context, w http.ResponseWriter, r *http.Request, rc *http.ResponseController, f *os.File, ver fileVersion, rng ByteRange) (int64, error) {
	// A client that goes away ends a blocked sendfile at once.
	stop := context.AfterFunc(ctx, func() { rc.SetWriteDeadline(time.Now()) })
	defer stop()
	if _, err := f.Seek(rng.Start, io.SeekStart); err != nil {
		return 0, &readError{err}
	}
	dst := io.Writer(w) // *http.response: ReadFrom hands a file to sendfile
	if r.TLS != nil || r.ProtoMajor != 1 {
		buf := s.bufs.pool.Get().(*[]byte)
		defer s.bufs.pool.Put(buf)
		dst = &bufferedWriter{w: w, buf: *buf}
	}
	idle := s.cfg.WriteIdleTimeout
	tail := min(rng.Length, 256<<10)
	chunk := int64(4 << 20)
	var sent int64
	for _, end := range [2]int64{rng.Length - tail, rng.Length} {
		if end == rng.Length && tail > 0 {
			after, err := f.Stat()
			if err != nil {
				return sent, &readError{err}
			}
			if v, ok := versionOf(after); !ok || v != ver {
				s.hashes.forget(ver)
				return sent, &readError{errVersionMoved}
			}
		}
		for sent < end {
			if err := ctx.Err(); err != nil {
				return sent, err
			}
			if err := rc.SetWriteDeadline(time.Now().Add(idle)); err != nil {
				return sent, err
			}
			t0 := time.Now()
			m, err := io.Copy(dst, &io.LimitedReader{R: f, N: min(chunk, end-sent)})
			sent += m
			if err != nil {
				return sent, err
			}
			if m == 0 {
				s.hashes.forget(ver)
				return sent, &readError{io.ErrUnexpectedEOF} // the file shrank
			}
			switch d := time.Since(t0); {
			case d < idle/16 && chunk < 64<<20:
				chunk *= 2
			case d > idle/4 && chunk > 256<<10:
				chunk /= 2
			}
		}
	}
	return sent, nil
}

// bufferedWriter copies a reader through buf into w: for connections where
// sendfile does not apply (TLS, HTTP/2).
type bufferedWriter struct {
	w   io.Writer
	buf []byte
}

func (b *bufferedWriter) Write(p []byte) (int, error) { return b.w.Write(p) }

func (b *bufferedWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{b.w}, r, b.buf)
}

func (s *Server) hashPrefix(ctx context.Context, src Source, p string, f *os.File, n int64, h hash.Hash) error {
	var rc io.ReadCloser
	var err error
	if f != nil {
		rc = io.NopCloser(io.NewSectionReader(f, 0, n))
	} else if rc, err = src.Open(ctx, p, ByteRange{0, n}); err != nil {
		return err
	}
	defer rc.Close()
	_, err = hashCopy(ctx, io.Discard, rc, n, h, s.bufs, nil)
	return err
}

type condition int

const (
	condProceed condition = iota
	condPreconditionFailed
	condNotModified
	condIgnoreRange
)

// checkConditions evaluates If-Match, If-None-Match and If-Range (RFC 9110
// §13.2.2) against the object's strong ETag.
func checkConditions(r *http.Request, etag string) condition {
	if im := r.Header.Get("If-Match"); im != "" && !matchETag(im, etag, true) {
		return condPreconditionFailed
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchETag(inm, etag, false) {
		return condNotModified
	}
	if ir := r.Header.Get("If-Range"); ir != "" && r.Header.Get("Range") != "" {
		if etag == "" || strings.TrimSpace(ir) != etag {
			return condIgnoreRange // a date or another tag: send the whole object
		}
	}
	return condProceed
}

// matchETag reports whether the list (or "*") matches etag; strong comparison
// refuses weak tags.
func matchETag(list, etag string, strong bool) bool {
	if etag == "" {
		return false
	}
	list = strings.TrimSpace(list)
	if list == "*" {
		return true
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if strings.HasPrefix(t, "W/") {
			if strong {
				continue
			}
			t = t[2:]
		}
		if t == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// DataURL is the pull URL of a transfer (and optional path) under base.
func DataURL(base, transfer, p string) string {
	u := strings.TrimSuffix(base, "/") + PathPrefix + url.PathEscape(transfer)
	if p != "" {
		u += "/" + (&url.URL{Path: p}).EscapedPath()
	}
	return u
}
