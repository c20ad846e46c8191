package dataplane_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tdsc/tdsc/connector/dataplane"
)

// runSourceTests is the conformance suite every Source passes: Stat, ranged
// Open, and ErrNotFound for a missing path.
func runSourceTests(t *testing.T, src dataplane.Source, p string, want []byte, missing string) {
	t.Helper()
	ctx := context.Background()
	info, err := src.Stat(ctx, p)
	if err != nil || info.Size != int64(len(want)) {
		t.Fatalf("Stat(%q) = %+v, %v; want size %d", p, info, err, len(want))
	}
	for _, r := range []dataplane.ByteRange{{0, int64(len(want))}, {3, 5}, {int64(len(want)) - 1, 1}} {
		rc, err := src.Open(ctx, p, r)
		if err != nil {
			t.Fatalf("Open(%q, %+v): %v", p, r, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(want[r.Start:r.End()]) {
			t.Errorf("Open(%q, %+v) read %q, %v; want %q", p, r, got, err, want[r.Start:r.End()])
		}
	}
	if _, err := src.Stat(ctx, missing); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("Stat(%q) error %v, want ErrNotFound", missing, err)
	}
}

func TestSources(t *testing.T) {
	dir := t.TempDir()
	content := []byte("0123456789abcdefghij")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "a.csv"), content, 0o600)
	os.WriteFile(filepath.Join(dir, ".secret"), []byte("x"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer backend-secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer backend.Close()
	auth := func(r *http.Request) error { r.Header.Set("Authorization", "Bearer backend-secret"); return nil }

	t.Run("file", func(t *testing.T) {
		runSourceTests(t, dataplane.FileSource{Path: filepath.Join(dir, "sub", "a.csv")}, "", content, "x")
	})
	t.Run("dir", func(t *testing.T) {
		src := dataplane.DirSource{Root: dir}
		runSourceTests(t, src, "sub/a.csv", content, "sub/../.secret")
		for _, bad := range []string{".secret", "link", "../etc/passwd", "sub/./a.csv"} {
			if _, err := src.Stat(context.Background(), bad); !errors.Is(err, dataplane.ErrNotFound) {
				t.Errorf("Stat(%q) error %v, want ErrNotFound", bad, err)
			}
		}
		list, err := src.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"sub/a.csv"}, paths(list)); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
	})
	t.Run("http", func(t *testing.T) {
		runSourceTests(t, dataplane.HTTPSource{URL: backend.URL, Authorize: auth}, "sub/a.csv", content, "sub/none")
		if _, err := (dataplane.HTTPSource{URL: backend.URL}).Stat(context.Background(), "sub/a.csv"); err == nil {
			t.Error("backend without credentials: Stat succeeded")
		}
	})
}

func paths(es []dataplane.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

func TestDirectoryDatasetOverHTTP(t *testing.T) {
	e := newEnv(t, 1<<10)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "one.csv"), []byte("a,b\n1,2\n"), 0o600)
	e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: dataplane.DirSource{Root: dir}}
	tok := e.token(nil)
	resp := e.get(t, "t1", tok, e.proof(e.consumer, tok), nil)
	var listing struct{ Files []dataplane.Entry }
	json.NewDecoder(resp.Body).Decode(&listing)
	resp.Body.Close()
	if len(listing.Files) != 1 || listing.Files[0].Path != "one.csv" {
		t.Fatalf("listing %+v", listing)
	}
	u := dataplane.DataURL(e.srv.URL, "t1", "one.csv")
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	proof, _ := e.proof(e.consumer, tok)(http.MethodGet, u)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "a,b\n1,2\n" {
		t.Errorf("file body %q", b)
	}
}
