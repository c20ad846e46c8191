package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/identity"
)

func TestPullTransferWithProgress(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20)
	rand.Read(data)
	src := filepath.Join(dir, "src.bin")
	os.WriteFile(src, data, 0o600)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	provKey, _ := identity.GenerateEd25519()
	consKey, _ := identity.GenerateES256()
	reg := identity.NewRegistry(identity.NewMemorySource(
		identity.Participant{ID: "p", Keys: []identity.JWK{provKey.JWK()}, Status: identity.StatusActive},
		identity.Participant{ID: "c", Keys: []identity.JWK{consKey.JWK()}, Status: identity.StatusActive},
	))
	issuer, _ := identity.NewIssuer("p", provKey)
	ver, err := identity.NewVerifier(reg, identity.WithSelf("p"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := dataplane.DefaultConfig()
	cfg.Audience = "p/data"
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	live := &benchAgreement{agreement: "a", dataset: "d", notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)}
	srv, err := dataplane.NewServer(cfg, dataplane.IdentityVerifier{V: ver}, live,
		dataplane.DatasetMap{"d": {ID: "d", Source: dataplane.FileSource{Path: src}, ContentHash: want}},
		&benchRecorder{last: make(chan dataplane.TransferResult, 1)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	tok, err := issuer.AccessToken(identity.AccessGrant{Consumer: "c", Audience: "p/data", Agreement: "a", Dataset: "d", Transfer: "t", ConsumerKeyThumbprint: consKey.KeyID()})
	if err != nil {
		t.Fatal(err)
	}
	progressFile, _ := os.Create(filepath.Join(dir, "progress.log"))
	defer progressFile.Close()
	out := filepath.Join(dir, "out.bin")
	bar := newPullBar(progressFile, out)
	res, err := pull.Download(context.Background(), dataplane.DataURL(hs.URL, "t", ""), tok, dataplane.KeyProof(consKey, tok), out, pull.WithProgress(bar.update))
	bar.finish(res, err)
	if err != nil || res.SHA256 != want {
		t.Fatalf("pullTransfer = %+v, %v; want hash %s", res, err, want)
	}
	log, _ := os.ReadFile(progressFile.Name())
	if !strings.Contains(string(log), "100% 3.0 MiB/3.0 MiB") || strings.Contains(string(log), "\r") {
		t.Errorf("plain progress output %q", log)
	}
	_, err = pull.Download(context.Background(), dataplane.DataURL(hs.URL, "t", ""), tok, dataplane.KeyProof(consKey, tok), out, pull.WithExpectedHash(strings.Repeat("0", 64)))
	if !errors.Is(err, dataplane.ErrHashMismatch) {
		t.Errorf("pullTransfer against a wrong registered hash: %v, want ErrHashMismatch", err)
	}
}
