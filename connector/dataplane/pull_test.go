package dataplane_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/identity"
)

const fileSize = 6<<20 + 12345 // a multi-megabyte file, not a buffer multiple

func TestPullWholeFile(t *testing.T) {
	e := newEnv(t, fileSize)
	tok := e.token(nil)
	out := filepath.Join(t.TempDir(), "out.bin")
	var last pull.Progress
	res, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), out,
		pull.WithProgress(func(p pull.Progress) { last = p }))
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if res.SHA256 != e.hash || res.Expected != e.hash || res.Size != fileSize {
		t.Errorf("Download = %+v; want hash %s, size %d", res, e.hash, fileSize)
	}
	if got := fileHash(t, out); got != e.hash {
		t.Errorf("file hash %s, want %s", got, e.hash)
	}
	if last.Done != fileSize || last.Total != fileSize {
		t.Errorf("last progress %+v, want %d of %d", last, fileSize, fileSize)
	}
	completed := e.rec.waitCompleted(t, 1)
	_, denied := e.rec.snapshot()
	if len(denied) != 0 || len(completed) != 1 {
		t.Fatalf("records: %d completed, %d denied; want 1, 0", len(completed), len(denied))
	}
	c := completed[0]
	if c.ContentHash != e.hash || c.Bytes != fileSize || c.Mismatch || c.Transfer != "t1" || c.Consumer != consumerID || c.Provider != providerID {
		t.Errorf("completion record %+v", c)
	}
}

func TestPullHashMismatchIsSeenAndRecorded(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: dataplane.FileSource{Path: e.file},
		ContentHash: "sha256:" + strings.Repeat("ab", 32)}
	tok := e.token(nil)
	_, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), filepath.Join(t.TempDir(), "o"))
	if !errors.Is(err, dataplane.ErrHashMismatch) {
		t.Fatalf("Download error = %v, want ErrHashMismatch", err)
	}
	completed := e.rec.waitCompleted(t, 1)
	if len(completed) != 1 || !completed[0].Mismatch || completed[0].ContentHash != e.hash {
		t.Errorf("provider's completion records %+v, want one with Mismatch and the sent hash", completed)
	}
}

func TestResumeAfterCutGivesIdenticalFile(t *testing.T) {
	// Far more than loopback's socket buffers hold, so the cut lands before
	// the last byte however fast the reader drains them (with a 6 MiB file
	// the cancel could lose the race and the download complete).
	const fileSize = 48 << 20
	e := newEnv(t, fileSize)
	tok := e.token(nil)
	out := filepath.Join(t.TempDir(), "out.bin")

	// Cut the connection after about 2 MiB.
	ctx, cancel := context.WithCancel(context.Background())
	_, err := pull.Download(ctx, e.url("t1"), tok, e.proof(e.consumer, tok), out,
		pull.WithProgress(func(p pull.Progress) {
			if p.Done > 2<<20 {
				cancel()
			}
		}))
	cancel()
	if err == nil {
		t.Fatal("first Download: completed, want it cut")
	}
	st, err := os.Stat(out)
	if err != nil || st.Size() == 0 || st.Size() >= fileSize {
		t.Fatalf("partial file: %v, size %d", err, st.Size())
	}
	res, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), out, pull.WithResume())
	if err != nil {
		t.Fatalf("resumed Download: %v", err)
	}
	if res.From != st.Size() || res.Bytes != fileSize-st.Size() {
		t.Errorf("resumed from %d with %d bytes; want from %d", res.From, res.Bytes, st.Size())
	}
	if got := fileHash(t, out); got != e.hash {
		t.Fatalf("resumed file hash %s, want %s", got, e.hash)
	}
	// The provider records the resumed request with the hash of the whole
	// file. (The first request may be recorded too: it can have handed every
	// byte to the kernel before the client cut the connection.)
	var resumed, completed []dataplane.TransferResult
	for n := 1; len(resumed) == 0 && n <= 2; n++ {
		completed = e.rec.waitCompleted(t, n)
		resumed = resumed[:0]
		for _, c := range completed {
			if c.Offset == st.Size() {
				resumed = append(resumed, c)
			}
		}
	}
	if len(resumed) != 1 || resumed[0].ContentHash != e.hash || resumed[0].Mismatch || resumed[0].Bytes != fileSize-st.Size() {
		t.Errorf("provider's completions %+v, want one of the whole file resumed from offset %d", completed, st.Size())
	}
}

func TestResumeOfChangedDatasetStartsOver(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: dataplane.FileSource{Path: e.file}}
	tok := e.token(nil)
	out := filepath.Join(t.TempDir(), "out.bin")
	ctx, cancel := context.WithCancel(context.Background())
	pull.Download(ctx, e.url("t1"), tok, e.proof(e.consumer, tok), out,
		pull.WithProgress(func(p pull.Progress) { cancel() }))
	// The dataset is rewritten: new bytes, new ETag.
	newPath, newHash := writeRandom(t, t.TempDir(), 1<<20)
	b, _ := os.ReadFile(newPath)
	os.WriteFile(e.file, b, 0o600)
	os.Chtimes(e.file, time.Now().Add(time.Minute), time.Now().Add(time.Minute))

	res, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), out, pull.WithResume())
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if res.From != 0 || fileHash(t, out) != newHash {
		t.Errorf("after a change: from %d, hash %s; want a fresh copy with %s", res.From, fileHash(t, out), newHash)
	}
}

func TestRefusedRequestsAreRecorded(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *env) (tok string, proof dataplane.ProofFunc, transfer string)
		wantReason string
		wantStatus int
	}{
		{"expired", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(func(g *identity.AccessGrant) { g.TTL = time.Minute })
			e.clock.Add(10 * time.Minute)
			return tok, e.proof(e.consumer, tok), "t1"
		}, dataplane.ReasonTokenExpired, 401},
		{"revoked", func(e *env) (string, dataplane.ProofFunc, string) {
			e.live.set("agr-1", func(a *agreement) { a.revoked = true })
			tok := e.token(nil)
			return tok, e.proof(e.consumer, tok), "t1"
		}, dataplane.ReasonRevoked, 403},
		{"over count", func(e *env) (string, dataplane.ProofFunc, string) {
			e.live.set("agr-1", func(a *agreement) { a.maxUses, a.uses = 3, 3 })
			tok := e.token(nil)
			return tok, e.proof(e.consumer, tok), "t1"
		}, dataplane.ReasonUseCountExceeded, 403},
		{"outside window", func(e *env) (string, dataplane.ProofFunc, string) {
			e.live.set("agr-1", func(a *agreement) { a.notAfter = e.clock.Now().Add(-time.Second) })
			tok := e.token(nil)
			return tok, e.proof(e.consumer, tok), "t1"
		}, dataplane.ReasonOutsideWindow, 403},
		{"wrong dataset", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(func(g *identity.AccessGrant) { g.Dataset = "ds-2" })
			return tok, e.proof(e.consumer, tok), "t1"
		}, dataplane.ReasonWrongDataset, 403},
		{"wrong transfer", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(nil)
			return tok, e.proof(e.consumer, tok), "t2"
		}, dataplane.ReasonWrongTransfer, 403},
		{"stolen without proof", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(nil)
			return tok, func(string, string) (string, error) { return "", nil }, "t1"
		}, dataplane.ReasonProofInvalid, 401},
		{"stolen with the thief's proof", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(nil)
			return tok, e.proof(e.thief, tok), "t1"
		}, dataplane.ReasonProofInvalid, 401},
		{"proof for another URL", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(nil)
			return tok, func(m, u string) (string, error) { return e.proof(e.consumer, tok)(m, u+"/x") }, "t1"
		}, dataplane.ReasonProofInvalid, 401},
		{"forged token", func(e *env) (string, dataplane.ProofFunc, string) {
			tok := e.token(nil)
			forged := tok[:len(tok)-4] + "AAAA"
			return forged, e.proof(e.consumer, forged), "t1"
		}, dataplane.ReasonTokenInvalid, 401},
		{"no token", func(e *env) (string, dataplane.ProofFunc, string) {
			return "", nil, "t1"
		}, dataplane.ReasonNoToken, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 64<<10)
			tok, proof, transfer := tt.setup(e)
			resp := e.get(t, transfer, tok, proof, nil)
			defer resp.Body.Close()
			var derr *dataplane.Error
			err := readError(resp)
			if !errors.As(err, &derr) || derr.Reason != tt.wantReason || derr.Status != tt.wantStatus {
				t.Fatalf("response %v, want %d %s", err, tt.wantStatus, tt.wantReason)
			}
			completed, denied := e.rec.snapshot()
			if len(completed) != 0 || len(denied) != 1 || denied[0].Reason != tt.wantReason || denied[0].Transfer != transfer {
				t.Errorf("records: completed %v, denied %+v; want one denial %s", completed, denied, tt.wantReason)
			}
		})
	}
}

// get sends a GET with token and a proof (none when proof is nil or returns "").
func (e *env) get(t *testing.T, transfer, tok string, proof dataplane.ProofFunc, h http.Header) *http.Response {
	t.Helper()
	u := e.url(transfer)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set("Authorization", "DPoP "+tok)
	}
	if proof != nil {
		p, err := proof(http.MethodGet, u)
		if err != nil {
			t.Fatal(err)
		}
		if p != "" {
			req.Header.Set("DPoP", p)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readError(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	return decodeError(resp)
}

func TestConditionalAndRangeRequests(t *testing.T) {
	e := newEnv(t, 100_000)
	tok := e.token(nil)
	first := e.get(t, "t1", tok, e.proof(e.consumer, tok), http.Header{"Range": {"bytes=10-19"}})
	body, _ := io.ReadAll(first.Body)
	first.Body.Close()
	etag := first.Header.Get("ETag")
	whole, _ := os.ReadFile(e.file)
	if first.StatusCode != 206 || string(body) != string(whole[10:20]) || first.Header.Get("Content-Range") != "bytes 10-19/100000" || etag == "" {
		t.Fatalf("range: %s %q, %d bytes", first.Status, first.Header.Get("Content-Range"), len(body))
	}
	tests := []struct {
		name   string
		h      http.Header
		status int
		length int
	}{
		{"if-none-match same", http.Header{"If-None-Match": {etag}}, 304, 0},
		{"if-none-match other", http.Header{"If-None-Match": {`"other"`}}, 200, 100_000},
		{"if-match other", http.Header{"If-Match": {`"other"`}}, 412, -1},
		{"if-match same", http.Header{"If-Match": {etag}, "Range": {"bytes=-5"}}, 206, 5},
		{"if-range same", http.Header{"If-Range": {etag}, "Range": {"bytes=99990-"}}, 206, 10},
		{"if-range other", http.Header{"If-Range": {`"other"`}, "Range": {"bytes=99990-"}}, 200, 100_000},
		{"unsatisfiable", http.Header{"Range": {"bytes=100000-"}}, 416, -1},
		{"multiple ranges served whole", http.Header{"Range": {"bytes=0-1,5-6"}}, 200, 100_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), tt.h)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d (%s)", resp.Status, tt.status, b)
			}
			if tt.length >= 0 && len(b) != tt.length {
				t.Errorf("body %d bytes, want %d", len(b), tt.length)
			}
			if tt.status == 416 && resp.Header.Get("Content-Range") != "bytes */100000" {
				t.Errorf("416 Content-Range %q", resp.Header.Get("Content-Range"))
			}
		})
	}
}

// slowSource hands out a reader that yields 1 KiB per 10 ms and reports when
// it is closed.
type slowSource struct {
	dataplane.FileSource
	closed chan struct{}
	opened chan struct{}
}

type slowReader struct {
	io.ReadCloser
	s    *slowSource
	once sync.Once
}

func (r *slowReader) Read(p []byte) (int, error) {
	time.Sleep(10 * time.Millisecond)
	return r.ReadCloser.Read(p[:min(len(p), 1024)])
}

func (r *slowReader) Close() error {
	r.once.Do(func() { close(r.s.closed) })
	return r.ReadCloser.Close()
}

func (s *slowSource) Open(ctx context.Context, p string, br dataplane.ByteRange) (io.ReadCloser, error) {
	rc, err := s.FileSource.Open(ctx, p, br)
	if err != nil {
		return nil, err
	}
	close(s.opened)
	return &slowReader{ReadCloser: rc, s: s}, nil
}

func TestCancelledClientStopsProviderRead(t *testing.T) {
	slow := &slowSource{closed: make(chan struct{}), opened: make(chan struct{})}
	e := newEnv(t, 4<<20, func(c *dataplane.Config, e *env) {
		slow.FileSource = dataplane.FileSource{Path: e.file}
		e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: slow}
	})
	tok := e.token(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pull.Download(ctx, e.url("t1"), tok, e.proof(e.consumer, tok), filepath.Join(t.TempDir(), "o"))
		done <- err
	}()
	<-slow.opened
	time.Sleep(50 * time.Millisecond)
	cancel()
	cancelled := time.Now()
	select {
	case <-slow.closed:
		if d := time.Since(cancelled); d > time.Second {
			t.Errorf("source closed %v after the client cancelled, want under 1 s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("source still open 5 s after the client cancelled")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Download error %v, want context.Canceled", err)
	}
	if completed, _ := e.rec.snapshot(); len(completed) != 0 {
		t.Errorf("a cancelled transfer was recorded completed: %+v", completed)
	}
}

func TestConcurrencyLimits(t *testing.T) {
	slow := &slowSource{closed: make(chan struct{}), opened: make(chan struct{})}
	e := newEnv(t, 4<<20, func(c *dataplane.Config, e *env) {
		c.MaxPerTransfer = 1
		c.MaxConcurrent = 2
		slow.FileSource = dataplane.FileSource{Path: e.file}
		e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: slow}
		e.live.byAgr["agr-2"] = &agreement{dataset: "ds-2", notBefore: e.clock.Now().Add(-time.Hour), notAfter: e.clock.Now().Add(time.Hour)}
	})
	tok := e.token(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pull.Download(ctx, e.url("t1"), tok, e.proof(e.consumer, tok), filepath.Join(t.TempDir(), "o"))
	<-slow.opened

	resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second stream of t1: %s Retry-After %q, want 429 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	// Another transfer fits in the global limit of 2.
	tok2 := e.token(func(g *identity.AccessGrant) { g.Transfer, g.Agreement, g.Dataset = "t2", "agr-2", "ds-2" })
	resp = e.get(t, "t2", tok2, e.proof(e.consumer, tok2), http.Header{"Range": {"bytes=0-0"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		t.Errorf("stream of t2: %s, want 206", resp.Status)
	}
}

func TestStalledClientFreesItsSlot(t *testing.T) {
	e := newEnv(t, 32<<20, func(c *dataplane.Config, e *env) {
		c.MaxPerTransfer = 1
		c.WriteIdleTimeout = 200 * time.Millisecond
	})
	tok := e.token(nil)
	// A client that reads the headers and then nothing: the kernel's socket
	// buffers fill, the provider's write blocks, and the idle deadline ends it.
	stalled := e.get(t, "t1", tok, e.proof(e.consumer, tok), nil)
	defer stalled.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), http.Header{"Range": {"bytes=0-0"}})
		resp.Body.Close()
		if resp.StatusCode == http.StatusPartialContent {
			return
		}
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("second request: %s; want 206 once the stalled stream timed out", resp.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cuttingSource fails its first reader after limit bytes, as a provider whose
// connection breaks mid-stream.
type cuttingSource struct {
	dataplane.FileSource
	limit int64
	mu    sync.Mutex
	cuts  int
}

type failAfter struct {
	io.ReadCloser
	left int64
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("disk unplugged")
	}
	n, err := f.ReadCloser.Read(p[:min(int64(len(p)), f.left)])
	f.left -= int64(n)
	return n, err
}

func (s *cuttingSource) Open(ctx context.Context, p string, r dataplane.ByteRange) (io.ReadCloser, error) {
	rc, err := s.FileSource.Open(ctx, p, r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Start == 0 && r.Length > s.limit && s.cuts == 0 {
		s.cuts++
		return &failAfter{ReadCloser: rc, left: s.limit}, nil
	}
	return rc, nil
}

func TestDownloadRetriesAfterProviderCut(t *testing.T) {
	cut := &cuttingSource{limit: 3 << 20}
	e := newEnv(t, fileSize, func(c *dataplane.Config, e *env) {
		cut.FileSource = dataplane.FileSource{Path: e.file}
		e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: cut, ContentHash: e.hash}
	})
	tok := e.token(nil)
	out := filepath.Join(t.TempDir(), "out.bin")
	res, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), out, pull.WithRetries(2))
	if err != nil {
		t.Fatalf("Download with retries: %v", err)
	}
	if cut.cuts != 1 || res.From == 0 || fileHash(t, out) != e.hash {
		t.Errorf("cuts %d, resumed from %d, hash %s; want one cut, a resume and hash %s", cut.cuts, res.From, fileHash(t, out), e.hash)
	}
}
