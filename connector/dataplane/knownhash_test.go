package dataplane_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
)

// settled lets a version be kept as soon as it has been read in full.
func settled(c *dataplane.Config, _ *env) { c.HashSettle = 0 }

// pullOnce downloads t1 and returns the provider's completion.
func (e *env) pullOnce(t *testing.T, n int) (pull.Result, dataplane.TransferResult) {
	t.Helper()
	tok := e.token(nil)
	out := filepath.Join(t.TempDir(), "o")
	res, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), out, pull.WithClient(e.srv.Client()))
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if got := fileHash(t, out); got != res.SHA256 {
		t.Fatalf("downloaded file hashes to %s, the client reported %s", got, res.SHA256)
	}
	return res, e.rec.waitCompleted(t, n)[n-1]
}

func TestKnownHashSendsLaterVersionsZeroCopy(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, fileSize, settled, func(c *dataplane.Config, _ *env) { c.Registerer = reg })
	for i, wantKnown := range []bool{false, true, true} {
		res, c := e.pullOnce(t, i+1)
		if res.SHA256 != e.hash || c.ContentHash != e.hash || c.Mismatch || c.Bytes != fileSize {
			t.Errorf("pull %d: client %s, completion %+v; want hash %s", i+1, res.SHA256, c, e.hash)
		}
		if c.HashKnown != wantKnown {
			t.Errorf("pull %d: HashKnown = %v, want %v", i+1, c.HashKnown, wantKnown)
		}
	}
	got := gather(t, reg)
	if got["tdsc_dataplane_content_hashes_total/streamed"] != 1 || got["tdsc_dataplane_content_hashes_total/known"] != 2 {
		t.Errorf("content hash counters %v, want streamed 1, known 2", got)
	}
}

func TestHashEverySendNeverUsesAKnownHash(t *testing.T) {
	e := newEnv(t, 1<<20, settled, func(c *dataplane.Config, _ *env) { c.HashEverySend = true })
	for i := range 2 {
		if _, c := e.pullOnce(t, i+1); c.HashKnown || c.ContentHash != e.hash {
			t.Errorf("pull %d: completion %+v, want a streamed hash %s", i+1, c, e.hash)
		}
	}
}

func TestUnsettledVersionIsNotKept(t *testing.T) {
	e := newEnv(t, 1<<20, func(c *dataplane.Config, _ *env) { c.HashSettle = time.Hour })
	for i := range 2 {
		if _, c := e.pullOnce(t, i+1); c.HashKnown {
			t.Errorf("pull %d: a version changed under an hour ago was sent under a known hash", i+1)
		}
	}
}

// rewrite changes the file's bytes in place (same size) until its change
// time moves: two writes within one tick of the file system's clock may
// share it, and the version would not change.
func rewrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	before := ctime(t, path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for ctime(t, path) == before {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func ctime(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no change time on this system")
	}
	return st.Ctim.Nano()
}

func TestChangedFileIsHashedAgain(t *testing.T) {
	e := newEnv(t, 1<<20, settled)
	e.pullOnce(t, 1)
	if _, c := e.pullOnce(t, 2); !c.HashKnown {
		t.Fatal("second pull did not use the known hash")
	}
	rewrite(t, e.file, 4096, bytes.Repeat([]byte{0x5a}, 100))
	tok := e.token(nil)
	_, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), filepath.Join(t.TempDir(), "o"))
	if !errors.Is(err, dataplane.ErrHashMismatch) {
		t.Fatalf("Download of a changed file: %v, want ErrHashMismatch", err)
	}
	c := e.rec.waitCompleted(t, 3)[2]
	if c.HashKnown || !c.Mismatch || c.ContentHash != fileHash(t, e.file) {
		t.Errorf("completion after the change %+v: want a streamed hash of the new bytes and a mismatch", c)
	}
}

func TestKnownSendIsCutWhenTheFileChangesMidway(t *testing.T) {
	const size = 64 << 20 // far more than loopback socket buffers hold
	e := newEnv(t, size, settled)
	e.pullOnce(t, 1)
	tok := e.token(nil)
	resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %v", resp.Status, readError(resp))
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	rewrite(t, e.file, 0, []byte("changed"))
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || 1<<20+n >= size {
		t.Fatalf("read %d more bytes, err %v: a send whose file changed must be cut before its end", n, err)
	}
	if completed, _ := e.rec.snapshot(); len(completed) != 1 {
		t.Errorf("%d completions, want only the first pull's", len(completed))
	}
	// The next send hashes the new bytes.
	tok = e.token(nil)
	_, err = pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), filepath.Join(t.TempDir(), "o"))
	if !errors.Is(err, dataplane.ErrHashMismatch) {
		t.Fatalf("Download after the change: %v, want ErrHashMismatch", err)
	}
	if c := e.rec.waitCompleted(t, 2)[1]; c.HashKnown {
		t.Error("a changed file was sent under the old version's hash")
	}
}

func TestKnownSendRanges(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, fileSize, settled, func(_ *dataplane.Config, e *env) { e.tls = tls })
			want, err := os.ReadFile(e.file)
			if err != nil {
				t.Fatal(err)
			}
			e.pullOnce(t, 1)
			for _, c := range []struct {
				rng        string
				start, end int
				completes  bool
			}{
				{"", 0, fileSize, true},
				{"bytes=100-", 100, fileSize, true},
				{"bytes=5000000-5999999", 5000000, 6000000, false},
				{"bytes=-10", fileSize - 10, fileSize, true},
			} {
				before, _ := e.rec.snapshot()
				tok := e.token(nil)
				h := http.Header{}
				if c.rng != "" {
					h.Set("Range", c.rng)
				}
				resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), h)
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode >= 300 {
					t.Fatalf("%q: %s, %v", c.rng, resp.Status, err)
				}
				if !bytes.Equal(got, want[c.start:c.end]) {
					t.Errorf("%q: %d bytes that differ from the file's [%d:%d]", c.rng, len(got), c.start, c.end)
				}
				if !c.completes {
					continue
				}
				done := e.rec.waitCompleted(t, len(before)+1)[len(before)]
				if !done.HashKnown || done.ContentHash != e.hash || done.Offset != int64(c.start) || done.Bytes != int64(c.end-c.start) {
					t.Errorf("%q: completion %+v, want the whole file's known hash from offset %d", c.rng, done, c.start)
				}
			}
		})
	}
}

func TestCancelledClientStopsKnownSend(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, 64<<20, settled, func(c *dataplane.Config, _ *env) { c.Registerer = reg })
	e.pullOnce(t, 1)
	tok := e.token(nil)
	resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), nil)
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	closed := time.Now()
	for gather(t, reg)["tdsc_dataplane_requests_total/aborted"] != 1 {
		if time.Since(closed) > 5*time.Second {
			t.Fatalf("the send still runs 5 s after the client went away: %v", gather(t, reg))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(closed); d > time.Second {
		t.Errorf("the send stopped %v after the client went away, want under 1 s", d)
	}
	if got := gather(t, reg); got["tdsc_dataplane_active_streams"] != 0 || got["tdsc_dataplane_content_hashes_total/known"] != 0 {
		t.Errorf("metrics after the cut: %v", got)
	}
}

// gather flattens a registry's counters and gauges to name/label values.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[name] = m.Gauge.GetValue()
			}
		}
	}
	return got
}

func TestHashFileWarmsTheFirstSend(t *testing.T) {
	e := newEnv(t, 3<<20, settled)
	got, err := e.server.HashFile(context.Background(), e.file)
	if err != nil || got != e.hash {
		t.Fatalf("HashFile = %s, %v; want %s", got, err, e.hash)
	}
	if _, c := e.pullOnce(t, 1); !c.HashKnown || c.ContentHash != e.hash {
		t.Errorf("first send after HashFile: %+v, want the known hash %s", c, e.hash)
	}
	for _, p := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		if _, err := e.server.HashFile(context.Background(), p); !errors.Is(err, dataplane.ErrNotFound) {
			t.Errorf("HashFile(%s) error %v, want ErrNotFound", p, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.server.HashFile(ctx, e.file); !errors.Is(err, context.Canceled) {
		t.Errorf("HashFile with a cancelled context: %v", err)
	}
}
