package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/suite"
)

type dataplaneBenchResult struct {
	Suite         string `json:"suite"`
	SizeBytes     int64  `json:"sizeBytes"`
	Rounds        int    `json:"rounds"`
	Cores         int    `json:"cores"`
	HashEverySend bool   `json:"hashEverySend"`
	// BytesPerSecond is the median data-plane round after the first: the
	// file's version was hashed in full by the first round, so these go
	// zero-copy under the known hash (unless hashEverySend). Ratio is it over
	// the median baseline round.
	BytesPerSecond         float64 `json:"bytesPerSecond"`
	BaselineBytesPerSecond float64 `json:"baselineBytesPerSecond"`
	Ratio                  float64 `json:"ratio"`
	// ColdBytesPerSecond is the first data-plane round, which hashes every
	// byte as it sends (a version's first send, or every send with
	// hashEverySend); ColdRatio is it over the median baseline.
	ColdBytesPerSecond float64 `json:"coldBytesPerSecond"`
	ColdRatio          float64 `json:"coldRatio"`
	MaxRSSBytes        int64   `json:"maxRSSBytes"`
	// SHA256BytesPerSecond is one core hashing in memory with the suite's
	// hash (SM3 in a gm space, despite the name, kept for the intl figures'
	// continuity; HashAlgorithm says which): the ceiling of any send that
	// hashes every byte; HashCeilingRatio is coldBytesPerSecond over it.
	HashAlgorithm        string              `json:"hashAlgorithm"`
	SHA256BytesPerSecond float64             `json:"sha256BytesPerSecond"`
	HashCeilingRatio     float64             `json:"hashCeilingRatio"`
	ContentHash          string              `json:"contentHash"`
	HashVerified         bool                `json:"hashVerified"`
	PerRound             []dataplaneBenchRun `json:"perRound"`
}

// dataplaneBenchRun is one round: the baseline's rate, the data plane's, and
// how the data plane's completion hash was obtained (streamed or known).
type dataplaneBenchRun struct {
	BaselineBytesPerSecond float64 `json:"baselineBytesPerSecond"`
	BytesPerSecond         float64 `json:"bytesPerSecond"`
	Hash                   string  `json:"hash"`
}

func newBenchDataplaneCmd() *cobra.Command {
	var (
		size      int64
		rounds    int
		dir       string
		out       string
		hashEvery bool
		suiteName string
	)
	cmd := &cobra.Command{
		Use:   "dataplane [--size BYTES] [--rounds N] [--suite intl|gm] [-o json]",
		Short: "Serve one file through the data plane (tokens, DPoP, live check, SHA-256) and through a plain net/http file server",
		Long: `Writes a temporary file of --size bytes, lets it settle past the data plane's
HashSettle, then, alternating for --rounds rounds, downloads it over loopback
from (1) a plain net/http file server (http.FileServer, which uses sendfile)
and (2) the data plane: an access token and a fresh DPoP proof verified
against a real registry, the live agreement check on every request, and the
content hash recorded at completion (checked here against the file's).

The data plane's first round hashes every byte as it sends it (SHA-256, the
first send of this file version): coldBytesPerSecond, coldRatio. It keeps
that hash for the file's version (device, inode, size, mtime, ctime), so the
later rounds send zero-copy under the known hash, the version re-checked
before the last byte: bytesPerSecond, the median of those rounds, and
ratio = bytesPerSecond / baselineBytesPerSecond (the median baseline round).
--hash-every-send hashes in every round, as the data plane's HashEverySend.

The same Go client reads both into io.Discard with a 256 KiB buffer.
maxRSSBytes is the process's peak resident memory (VmHWM).
sha256BytesPerSecond is one core hashing memory (best of rounds): no send that
hashes every byte can beat it; hashCeilingRatio is the cold round over it.

--suite gm runs it in a gm space: SM2 tokens and DPoP proofs, SM3 content
hash (Repr-Digest sm3), and the in-memory ceiling is a bare SM3 loop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if size <= 0 {
				return fmt.Errorf("flag --size: must be positive, got %d", size)
			}
			if rounds < 2 {
				return fmt.Errorf("flag --rounds: must be at least 2 (a cold round and a measured one), got %d", rounds)
			}
			if out != "text" && out != "json" {
				return fmt.Errorf("flag -o: must be text or json, got %q", out)
			}
			cs, err := suite.Lookup(suiteName)
			if err != nil {
				return fmt.Errorf("flag --suite: %w", err)
			}
			res, err := benchDataplane(cmd.Context(), cs, size, rounds, dir, hashEvery)
			if err != nil {
				return err
			}
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "suite\t%s\nsize\t%d bytes\nrounds\t%d\ncores\t%d\n", res.Suite, res.SizeBytes, res.Rounds, res.Cores)
			how := "known hash, zero-copy"
			if res.HashEverySend {
				how = "hashing every byte"
			}
			fmt.Fprintf(w, "data plane (%s)\t%.1f MiB/s\nbaseline (net/http file server)\t%.1f MiB/s\nratio\t%.3f\n",
				how, res.BytesPerSecond/(1<<20), res.BaselineBytesPerSecond/(1<<20), res.Ratio)
			fmt.Fprintf(w, "first send (hashing every byte)\t%.1f MiB/s\ncold ratio\t%.3f\n", res.ColdBytesPerSecond/(1<<20), res.ColdRatio)
			fmt.Fprintf(w, "%s, one core, in memory\t%.1f MiB/s\nfirst send / %s ceiling\t%.3f\n", res.HashAlgorithm, res.SHA256BytesPerSecond/(1<<20), res.HashAlgorithm, res.HashCeilingRatio)
			fmt.Fprintf(w, "max RSS\t%.1f MiB\ncontent hash\t%s (verified %v)\n", float64(res.MaxRSSBytes)/(1<<20), res.ContentHash, res.HashVerified)
			return w.Flush()
		},
	}
	cmd.Flags().Int64Var(&size, "size", 256<<20, "file size in bytes")
	cmd.Flags().IntVar(&rounds, "rounds", 5, "alternating rounds of baseline and data plane: the first data-plane round is the cold one, the median of the rest is reported")
	cmd.Flags().StringVar(&suiteName, "suite", "intl", "crypto suite of the space: intl (Ed25519, SHA-256) or gm (SM2, SM3)")
	cmd.Flags().BoolVar(&hashEvery, "hash-every-send", false, "hash every byte in every round (the data plane's HashEverySend)")
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the temporary file (default: the system temp dir)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	return cmd
}

// benchAgreement is the bench's LiveCheck: one agreement with a time window
// and a revocation flag, evaluated on every request like the connector's.
type benchAgreement struct {
	agreement, dataset  string
	notBefore, notAfter time.Time
	revoked             bool
}

func (a *benchAgreement) CheckTransfer(_ context.Context, g dataplane.Grant) error {
	now := time.Now()
	switch {
	case g.Agreement != a.agreement:
		return fmt.Errorf("%w: %q", dataplane.ErrUnknownTransfer, g.Agreement)
	case a.revoked:
		return dataplane.ErrRevoked
	case g.Dataset != a.dataset:
		return dataplane.ErrWrongDataset
	case now.Before(a.notBefore) || now.After(a.notAfter):
		return dataplane.ErrOutsideWindow
	}
	return nil
}

// benchRecorder keeps the last completion so the bench can check its hash.
type benchRecorder struct{ last chan dataplane.TransferResult }

func (r *benchRecorder) Completed(_ context.Context, t dataplane.TransferResult) error {
	select {
	case r.last <- t:
	default:
	}
	return nil
}

func (r *benchRecorder) Denied(_ context.Context, d dataplane.DenialInfo) error {
	return fmt.Errorf("bench: request refused: %s: %s", d.Reason, d.Detail)
}

func benchDataplane(ctx context.Context, cs *suite.Suite, size int64, rounds int, dir string, hashEvery bool) (*dataplaneBenchResult, error) {
	alg := cs.HashName()
	tmp, err := os.MkdirTemp(dir, "tdsc-bench-dataplane-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "dataset.bin")
	contentHash, err := writeBenchFile(alg, path, size)
	if err != nil {
		return nil, err
	}

	// The baseline: a plain net/http file server.
	baseURL, stopBase, err := serveLoopback(http.FileServer(http.Dir(tmp)))
	if err != nil {
		return nil, err
	}
	defer stopBase()

	// The data plane with a real identity space.
	provKey, err := identity.Generate(cs, "")
	if err != nil {
		return nil, err
	}
	consKey, err := identity.Generate(cs, "")
	if err != nil {
		return nil, err
	}
	reg := identity.NewRegistry(identity.NewMemorySource(
		identity.Participant{ID: "provider", Name: "provider", Keys: []identity.JWK{provKey.JWK()}, Region: "CN-BJ", Status: identity.StatusActive},
		identity.Participant{ID: "consumer", Name: "consumer", Keys: []identity.JWK{consKey.JWK()}, Region: "CN-SH", Status: identity.StatusActive},
	))
	issuer, err := identity.NewIssuer("provider", provKey)
	if err != nil {
		return nil, err
	}
	verifier, err := identity.NewVerifier(reg, identity.WithSelf("provider"), identity.WithSuite(cs))
	if err != nil {
		return nil, err
	}
	cfg := dataplane.DefaultConfig()
	cfg.Audience = "provider/data"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.HashEverySend, cfg.Hash = hashEvery, alg
	rec := &benchRecorder{last: make(chan dataplane.TransferResult, 1)}
	live := &benchAgreement{agreement: "agr-bench", dataset: "ds-bench", notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(24 * time.Hour)}
	srv, err := dataplane.NewServer(cfg, dataplane.IdentityVerifier{V: verifier}, live,
		dataplane.DatasetMap{"ds-bench": {ID: "ds-bench", Source: dataplane.FileSource{Path: path}, ContentHash: alg + ":" + contentHash}}, rec)
	if err != nil {
		return nil, err
	}
	dpURL, stopDP, err := serveLoopback(srv.Handler())
	if err != nil {
		return nil, err
	}
	defer stopDP()

	// A version whose change time is younger than HashSettle is never kept:
	// wait so the first round's hash can be (as for any file not just written).
	select {
	case <-time.After(cfg.HashSettle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true, ReadBufferSize: 256 << 10}}
	buf := make([]byte, 256<<10)
	res := &dataplaneBenchResult{Suite: cs.Name(), HashAlgorithm: alg, SizeBytes: size, Rounds: rounds, Cores: runtime.GOMAXPROCS(0), HashEverySend: hashEvery, ContentHash: contentHash}
	for round := range rounds {
		d, err := timedGet(ctx, client, baseURL+"/dataset.bin", nil, size, buf)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		run := dataplaneBenchRun{BaselineBytesPerSecond: float64(size) / d.Seconds()}
		res.SHA256BytesPerSecond = max(res.SHA256BytesPerSecond, hashRate(alg, min(size, 256<<20)))

		tok, err := issuer.AccessToken(identity.AccessGrant{Consumer: "consumer", Audience: cfg.Audience,
			Agreement: "agr-bench", Dataset: "ds-bench", Transfer: "t-bench", ConsumerKeyThumbprint: consKey.KeyID()})
		if err != nil {
			return nil, err
		}
		u := dataplane.DataURL(dpURL, "t-bench", "")
		proof, err := identity.DPoPProof(consKey, http.MethodGet, u, tok)
		if err != nil {
			return nil, err
		}
		h := http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {proof}}
		d, err = timedGet(ctx, client, u, h, size, buf)
		if err != nil {
			return nil, fmt.Errorf("data plane: %w", err)
		}
		run.BytesPerSecond = float64(size) / d.Seconds()
		select {
		case done := <-rec.last:
			if done.ContentHash != contentHash || done.Mismatch {
				return nil, fmt.Errorf("data plane: completion hash %s, file %s", done.ContentHash, contentHash)
			}
			run.Hash = "streamed"
			if done.HashKnown {
				run.Hash = "known"
			}
			if wantKnown := round > 0 && !hashEvery; done.HashKnown != wantKnown {
				return nil, fmt.Errorf("data plane: round %d sent with hash %s, want known=%v", round+1, run.Hash, wantKnown)
			}
			res.HashVerified = true
		case <-time.After(5 * time.Second):
			return nil, errors.New("data plane: no completion recorded")
		}
		res.PerRound = append(res.PerRound, run)
	}
	var base, warm []float64
	for i, r := range res.PerRound {
		base = append(base, r.BaselineBytesPerSecond)
		if i > 0 {
			warm = append(warm, r.BytesPerSecond)
		}
	}
	res.BaselineBytesPerSecond = median(base)
	res.BytesPerSecond = median(warm)
	res.ColdBytesPerSecond = res.PerRound[0].BytesPerSecond
	res.Ratio = res.BytesPerSecond / res.BaselineBytesPerSecond
	res.ColdRatio = res.ColdBytesPerSecond / res.BaselineBytesPerSecond
	res.HashCeilingRatio = res.ColdBytesPerSecond / res.SHA256BytesPerSecond
	res.MaxRSSBytes = maxRSS()
	return res, nil
}

// median of a non-empty slice (which it sorts).
func median(v []float64) float64 {
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// hashRate hashes n bytes of memory on one core with algorithm alg (sha256 or
// sm3) and returns bytes per second.
func hashRate(alg string, n int64) float64 {
	b := make([]byte, 1<<20)
	h := digest.NewHash(alg)
	start := time.Now()
	for left := n; left > 0; left -= int64(len(b)) {
		h.Write(b[:min(left, int64(len(b)))])
	}
	h.Sum(nil)
	return float64(n) / time.Since(start).Seconds()
}

// writeBenchFile writes size bytes (a random 1 MiB block repeated) and returns their hash (alg, hex).
func writeBenchFile(alg, path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	block := make([]byte, 1<<20)
	rand.Read(block)
	h := digest.NewHash(alg)
	w := io.MultiWriter(f, h)
	for left := size; left > 0; {
		n := min(left, int64(len(block)))
		if _, err := w.Write(block[:n]); err != nil {
			f.Close()
			return "", err
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func timedGet(ctx context.Context, c *http.Client, url string, h http.Header, size int64, buf []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
	if err != nil {
		return 0, err
	}
	if n != size {
		return 0, fmt.Errorf("GET %s: %d bytes, want %d", url, n, size)
	}
	return time.Since(start), nil
}

// maxRSS is the peak resident set: VmHWM from /proc/self/status, else getrusage.
func maxRSS() int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		return ru.Maxrss << 10 // kilobytes on Linux
	}
	return -1
}
