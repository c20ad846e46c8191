package dataplane_test

import (
	"context"
	"io"
	"net/http"
	"testing"
)

// BenchmarkPull streams an 8 MiB file through the handler with a verified
// token, a fresh DPoP proof, the live check and SHA-256, per iteration.
// `tdsc bench dataplane` is the side-by-side harness against net/http.
func BenchmarkPull(b *testing.B) {
	e := newEnvB(b, 8<<20)
	tok := e.token(nil)
	proof := e.proof(e.consumer, tok)
	u := e.url("t1")
	buf := make([]byte, 256<<10)
	b.SetBytes(8 << 20)
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		p, err := proof(http.MethodGet, u)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", p)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
		resp.Body.Close()
		if err != nil || n != 8<<20 {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
