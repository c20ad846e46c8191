package dataplane

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tdsc/tdsc/ledger/digest"
)

// PushPrefix is where a consumer's push receiver lives: PUT /push/{transfer}[/path].
const PushPrefix = "/push/"

// ReceiverConfig tunes the consumer's push receiver. Start from DefaultReceiverConfig.
type ReceiverConfig struct {
	// Audience is the aud the tokens this consumer issued to providers carry.
	Audience string
	// BaseURL as in Config: the external scheme and authority for htu checks.
	BaseURL string
	// Dir receives the files: Dir/{transfer}/{path}, or Dir/{transfer}/dataset.
	Dir string
	// MaxBytes bounds one body (http.MaxBytesReader).
	MaxBytes int64
	// MaxConcurrent and MaxPerTransfer bound concurrent bodies (503 / 429).
	MaxConcurrent, MaxPerTransfer int
	BufferSize, Buffers           int
	// ReadIdleTimeout ends a body that delivers no bytes for this long.
	ReadIdleTimeout time.Duration
	Now             func() time.Time
	Logger          *slog.Logger
	// Live, if set, re-checks every push against the consumer's own view of
	// the transfer and agreement (started, not revoked) after the token
	// verified; its errors are refusals as for pull.
	Live LiveCheck
	// Hash is the content-hash algorithm of the space's suite, as in Config.
	Hash string
}

// DefaultReceiverConfig returns a receiver for bodies up to 1 TiB.
func DefaultReceiverConfig() ReceiverConfig {
	return ReceiverConfig{
		MaxBytes: 1 << 40, MaxConcurrent: 16, MaxPerTransfer: 1,
		BufferSize: 256 << 10, Buffers: 4, ReadIdleTimeout: 30 * time.Second,
		Now: time.Now, Logger: slog.Default(),
	}
}

// Validate names the first field out of range.
func (c ReceiverConfig) Validate() error {
	switch {
	case c.Audience == "":
		return errors.New("dataplane: receiver config field Audience: must name this endpoint (the tokens' aud)")
	case c.Dir == "":
		return errors.New("dataplane: receiver config field Dir: must name a directory for received files")
	case c.MaxBytes < 1:
		return errors.New("dataplane: receiver config field MaxBytes: must be positive")
	case c.MaxConcurrent < 1 || c.MaxPerTransfer < 1:
		return errors.New("dataplane: receiver config fields MaxConcurrent, MaxPerTransfer: must be at least 1")
	case c.BufferSize < 4<<10 || c.BufferSize > 16<<20 || c.Buffers < 2 || c.Buffers > 64:
		return errors.New("dataplane: receiver config fields BufferSize, Buffers: 4 KiB–16 MiB, 2–64")
	case c.ReadIdleTimeout <= 0 || c.Now == nil || c.Logger == nil:
		return errors.New("dataplane: receiver config fields ReadIdleTimeout, Now, Logger: must be set")
	case digest.NewHash(hashAlg(c.Hash)) == nil:
		return fmt.Errorf("dataplane: receiver config field Hash: must be %s or %s, got %q", digest.SHA256, digest.SM3, c.Hash)
	}
	return nil
}

// HashLookup returns the registered content hash of a dataset ("" if none,
// and then the Repr-Digest the provider sends is the reference); the consumer
// resolves it from the ledger, not from the provider. An error answers 503,
// so the provider pushes again later.
type HashLookup func(ctx context.Context, dataset string) (string, error)

// Receiver is the consumer's push endpoint: it verifies the provider's token
// and proof, writes the body to a file while hashing it, and records the
// completion. A body whose hash differs from the registered one is kept aside
// as NAME.rejected and answered 422 with reason hash-mismatch.
type Receiver struct {
	cfg      ReceiverConfig
	verifier TokenVerifier
	hashes   HashLookup
	rec      Recorder
	limits   *limiter
	bufs     *bufferPool
}

// NewReceiver builds the push receiver; hashes may be nil, in which case the
// Repr-Digest the provider sends is the reference.
func NewReceiver(cfg ReceiverConfig, v TokenVerifier, hashes HashLookup, rec Recorder) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if v == nil || rec == nil {
		return nil, errors.New("dataplane: NewReceiver needs a TokenVerifier and a Recorder")
	}
	return &Receiver{cfg: cfg, verifier: v, hashes: hashes, rec: rec,
		limits: newLimiter(cfg.MaxConcurrent, cfg.MaxPerTransfer),
		bufs:   newBufferPool(cfg.BufferSize, cfg.Buffers)}, nil
}

// PushReceipt is the receiver's answer to a push. ContentHash is the
// received bytes' hash in the space's suite ("sha256:<hex>" or "sm3:<hex>");
// SHA256 repeats its hex in an intl space, for pushers that read only it.
type PushReceipt struct {
	Transfer    string `json:"transfer"`
	Path        string `json:"path,omitempty"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256,omitempty"`
	ContentHash string `json:"contentHash,omitempty"`
	Mismatch    bool   `json:"mismatch,omitempty"`
}

// hex is the receipt's hash as hex in algorithm alg ("" when it carries none).
func (pr PushReceipt) hex(alg string) string {
	if pr.ContentHash != "" {
		return digest.Hex(alg, pr.ContentHash)
	}
	if alg == digest.SHA256 {
		return pr.SHA256
	}
	return ""
}

// Handler serves PUT and POST on /push/{transfer}[/{path...}].
func (rv *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, m := range []string{"PUT", "POST"} {
		mux.HandleFunc(m+" /push/{transfer}", rv.receive)
		mux.HandleFunc(m+" /push/{transfer}/{path...}", rv.receive)
	}
	return mux
}

func (rv *Receiver) deny(ctx context.Context, w http.ResponseWriter, r *http.Request, g Grant, transfer string, err error) {
	reason, status := denial(err)
	d := DenialInfo{Role: RoleConsumer, Transfer: transfer, Agreement: g.Agreement, Dataset: g.Dataset,
		Consumer: g.Issuer, TokenID: g.TokenID, Reason: reason, Detail: err.Error(),
		Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr, Time: rv.cfg.Now()}
	if rerr := rv.rec.Denied(ctx, d); rerr != nil {
		rv.cfg.Logger.ErrorContext(ctx, "dataplane: recording transfer.denied failed", "transfer", transfer, "err", rerr)
	}
	writeError(w, status, reason, err.Error())
}

func (rv *Receiver) target(transfer, p string) (string, error) {
	if p == "" {
		p = "dataset"
	}
	clean := path.Clean("/" + p)[1:]
	if clean != p || strings.HasPrefix(transfer, ".") || strings.ContainsAny(transfer, `/\`) {
		return "", fmt.Errorf("path %q: must be clean and relative", p)
	}
	for _, el := range strings.Split(clean, "/") {
		if strings.HasPrefix(el, ".") {
			return "", fmt.Errorf("path %q: hidden names are refused", p)
		}
	}
	return filepath.Join(rv.cfg.Dir, transfer, filepath.FromSlash(clean)), nil
}

func (rv *Receiver) receive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	transfer, p := r.PathValue("transfer"), r.PathValue("path")
	if !rv.limits.acquireGlobal() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, ReasonBusy, "the receiver is full; retry later")
		return
	}
	defer rv.limits.releaseGlobal()

	token, proof := accessToken(r)
	if token == "" {
		rv.deny(ctx, w, r, Grant{}, transfer, ErrNoToken)
		return
	}
	g, err := rv.verifier.VerifyAccess(ctx, token, proof, r.Method, requestURL(rv.cfg.BaseURL, r), rv.cfg.Audience)
	if err != nil {
		rv.deny(ctx, w, r, Grant{}, transfer, err)
		return
	}
	if g.Transfer != transfer {
		rv.deny(ctx, w, r, g, transfer, fmt.Errorf("%w: token names transfer %q, the URL %q", ErrWrongTransfer, g.Transfer, transfer))
		return
	}
	if rv.cfg.Live != nil {
		if err := rv.cfg.Live.CheckTransfer(ctx, g); err != nil {
			rv.deny(ctx, w, r, g, transfer, err)
			return
		}
	}
	if !rv.limits.acquire(transfer) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, ReasonBusy, "a push of this transfer is already in progress")
		return
	}
	defer rv.limits.release(transfer)

	dst, err := rv.target(transfer, p)
	if err != nil {
		writeError(w, http.StatusBadRequest, ReasonBadRequest, err.Error())
		return
	}
	registered := ""
	if rv.hashes != nil {
		if registered, err = rv.hashes(ctx, g.Dataset); err != nil {
			rv.cfg.Logger.ErrorContext(ctx, "dataplane: registered hash lookup failed", "dataset", g.Dataset, "err", err)
			writeError(w, http.StatusServiceUnavailable, ReasonInternal, "cannot resolve the dataset's registered hash; retry later")
			return
		}
	}
	alg := hashAlg(rv.cfg.Hash)
	if registered == "" && p == "" {
		registered = reprDigest(alg, r.Header.Get("Repr-Digest"))
	}
	registered = digest.Hex(alg, registered)

	started := rv.cfg.Now()
	res, err := rv.write(ctx, w, r, dst)
	if err != nil {
		rv.cfg.Logger.InfoContext(ctx, "dataplane: push body not received", "transfer", transfer, "err", err)
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, ReasonBadRequest, "the body was not received whole: "+err.Error())
		return
	}
	tr := TransferResult{Role: RoleConsumer, Transfer: transfer, Agreement: g.Agreement, Dataset: g.Dataset,
		Provider: g.Subject, Consumer: g.Issuer, TokenID: g.TokenID, Path: p,
		Size: res.Bytes, Bytes: res.Bytes, ContentHash: res.hex(alg), RegisteredHash: registered,
		Started: started, Finished: rv.cfg.Now()}
	tr.Mismatch = registered != "" && registered != tr.ContentHash
	final := dst
	if tr.Mismatch {
		final = dst + ".rejected"
	}
	if err := os.Rename(dst+".part", final); err != nil {
		rv.cfg.Logger.ErrorContext(ctx, "dataplane: storing pushed file failed", "transfer", transfer, "err", err)
		writeError(w, http.StatusInternalServerError, ReasonInternal, "cannot store the file")
		return
	}
	if err := rv.rec.Completed(context.WithoutCancel(ctx), tr); err != nil {
		rv.cfg.Logger.ErrorContext(ctx, "dataplane: recording transfer.completed failed", "transfer", transfer, "err", err)
	}
	receipt := res
	receipt.Transfer, receipt.Path, receipt.Mismatch = transfer, p, tr.Mismatch
	w.Header().Set("Content-Type", "application/json")
	if tr.Mismatch {
		w.WriteHeader(http.StatusUnprocessableEntity)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	_ = json.NewEncoder(w).Encode(receipt)
}

func (rv *Receiver) write(ctx context.Context, w http.ResponseWriter, r *http.Request, dst string) (PushReceipt, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return PushReceipt{}, err
	}
	f, err := os.OpenFile(dst+".part", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return PushReceipt{}, err
	}
	body := http.MaxBytesReader(w, r.Body, rv.cfg.MaxBytes)
	alg := hashAlg(rv.cfg.Hash)
	sum := digest.NewHash(alg)
	idle := idleReader{body, http.NewResponseController(w), rv.cfg.ReadIdleTimeout}
	n, err := hashCopy(ctx, f, idle, r.ContentLength, sum, rv.bufs, nil)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst + ".part")
		return PushReceipt{}, err
	}
	d, err := digest.New(alg, sum.Sum(nil))
	if err != nil {
		return PushReceipt{}, err
	}
	pr := PushReceipt{Bytes: n, ContentHash: d.String()}
	if alg == digest.SHA256 {
		pr.SHA256 = d.Hex()
	}
	return pr, nil
}

// idleReader extends the connection's read deadline before every read, so a
// provider that stops sending frees its slot after the idle timeout.
type idleReader struct {
	io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (ir idleReader) Read(p []byte) (int, error) {
	_ = ir.rc.SetReadDeadline(time.Now().Add(ir.idle))
	return ir.Reader.Read(p)
}

// reprDigest extracts the hex of the alg member of a Repr-Digest
// ("sha-256=:BASE64:", "sm3=:BASE64:").
func reprDigest(alg, v string) string {
	if d, ok := digest.ParseReprDigest(v); ok && d.Algorithm() == alg {
		return d.Hex()
	}
	return ""
}

// PushRequest is one push by the provider to the endpoint the consumer named.
type PushRequest struct {
	// URL is the consumer's endpoint, e.g. https://consumer/push/{transfer}.
	URL string
	// Token is the access token the consumer issued for the push; Proof signs
	// each request with the provider's key.
	Token string
	Proof ProofFunc
	// Grant names the transfer for the completion record (Issuer = provider).
	Grant   Grant
	Dataset Dataset
	Path    string
}

// Pusher is the provider's push client.
type Pusher struct {
	Client   *http.Client
	Recorder Recorder
	Now      func() time.Time
	// Hash is the content-hash algorithm of the space's suite, as in Config.
	Hash string
	bufs *bufferPool
}

// NewPusher returns a pusher with 256 KiB buffers; client nil means a client
// with a 30 s response-header timeout.
func NewPusher(client *http.Client, rec Recorder, now func() time.Time) *Pusher {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second, WriteBufferSize: 256 << 10}}
	}
	if now == nil {
		now = time.Now
	}
	return &Pusher{Client: client, Recorder: rec, Now: now, bufs: newBufferPool(256<<10, 4)}
}

// Push streams the dataset (or the file at Path) to the consumer, hashing it,
// and records transfer.completed. It returns ErrHashMismatch when the
// consumer's hash, the provider's and the registered one disagree, and *Error
// when the consumer refused the push.
func (pu *Pusher) Push(ctx context.Context, req PushRequest) (TransferResult, error) {
	src := req.Dataset.Source
	info, err := src.Stat(ctx, req.Path)
	if err != nil {
		return TransferResult{}, fmt.Errorf("dataplane: push: stat the source: %w", err)
	}
	rc, err := src.Open(ctx, req.Path, ByteRange{0, info.Size})
	if err != nil {
		return TransferResult{}, fmt.Errorf("dataplane: push: open the source: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	alg := hashAlg(pu.Hash)
	sum := digest.NewHash(alg)
	if sum == nil {
		return TransferResult{}, fmt.Errorf("dataplane: push: field Hash: %q is not %s or %s", pu.Hash, digest.SHA256, digest.SM3)
	}
	copied := make(chan error, 1)
	go func() {
		_, err := hashCopy(ctx, pw, rc, info.Size, sum, pu.bufs, nil)
		pw.CloseWithError(err)
		copied <- err
	}()
	started := pu.Now()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPut, req.URL, pr)
	if err != nil {
		pr.CloseWithError(err)
		<-copied
		return TransferResult{}, err
	}
	hreq.ContentLength = info.Size
	proof, err := req.Proof(http.MethodPut, req.URL)
	if err != nil {
		pr.CloseWithError(err)
		<-copied
		return TransferResult{}, fmt.Errorf("dataplane: push: make the proof: %w", err)
	}
	hreq.Header.Set("Authorization", "DPoP "+req.Token)
	hreq.Header.Set("DPoP", proof)
	hreq.Header.Set("Content-Type", info.ContentType)
	registered := digest.Hex(alg, req.Dataset.ContentHash)
	if d, err := digest.Parse(req.Dataset.ContentHash); err == nil && req.Path == "" {
		hreq.Header.Set("Repr-Digest", d.ReprDigest())
	}
	resp, err := pu.Client.Do(hreq)
	pr.CloseWithError(errors.New("dataplane: push: request ended"))
	cerr := <-copied
	if err != nil {
		return TransferResult{}, fmt.Errorf("dataplane: push to %s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusUnprocessableEntity {
		return TransferResult{}, responseError(resp)
	}
	if cerr != nil {
		return TransferResult{}, fmt.Errorf("dataplane: push: reading the source: %w", cerr)
	}
	var receipt PushReceipt
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&receipt); err != nil {
		return TransferResult{}, fmt.Errorf("dataplane: push: the consumer's receipt: %w", err)
	}
	g := req.Grant
	res := TransferResult{Role: RoleProvider, Transfer: g.Transfer, Agreement: g.Agreement, Dataset: g.Dataset,
		Provider: g.Issuer, Consumer: g.Subject, TokenID: g.TokenID, Path: req.Path,
		Size: info.Size, Bytes: info.Size, ContentHash: hex.EncodeToString(sum.Sum(nil)),
		RegisteredHash: registered, Started: started, Finished: pu.Now()}
	res.Mismatch = (registered != "" && res.ContentHash != registered) || receipt.hex(alg) != res.ContentHash || receipt.Bytes != info.Size
	if pu.Recorder != nil {
		if err := pu.Recorder.Completed(context.WithoutCancel(ctx), res); err != nil {
			return res, fmt.Errorf("dataplane: push: recording transfer.completed: %w", err)
		}
	}
	if res.Mismatch {
		return res, fmt.Errorf("%w: sent %s (%d bytes), consumer hashed %s (%d bytes), registered %q", ErrHashMismatch, res.ContentHash, info.Size, receipt.hex(alg), receipt.Bytes, registered)
	}
	return res, nil
}

// responseError decodes a refusal into *Error.
func responseError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	var body ErrorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err == nil {
		e.Reason, e.Message = body.Reason, body.Message
	} else {
		e.Reason, e.Message = "http-"+strconv.Itoa(resp.StatusCode), resp.Status
	}
	return e
}
