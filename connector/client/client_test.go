package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector/client"
)

func TestNewRefusesABadBaseURLAndEmptyToken(t *testing.T) {
	for _, tc := range []struct{ url, tok string }{
		{"127.0.0.1:8181", "t"}, {"ftp://x", "t"}, {"http://", "t"}, {"http://127.0.0.1:1", " "},
	} {
		if _, err := client.New(tc.url, tc.tok); err == nil {
			t.Errorf("New(%q, %q): no error", tc.url, tc.tok)
		}
	}
}

// A refusal reads as the node wrote it, once, with its code; a 404 matches
// ErrNotFound; a body that is not the API's error form still names the call.
func TestErrorsReadOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		switch r.URL.Path {
		case "/api/v1/transfers/missing":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"not-found","message":"transfer missing: not found"}}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`upstream down`))
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Transfer(context.Background(), "missing")
	if !errors.Is(err, client.ErrNotFound) || err.Error() != "transfer missing: not found (not-found)" {
		t.Errorf("Transfer(missing) = %v", err)
	}
	_, err = c.Datasets(context.Background())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadGateway || errors.Is(err, client.ErrNotFound) {
		t.Errorf("Datasets against a 502 = %v", err)
	}
}

// The caller's TLS configuration is not changed by the client: an
// HTTP/2-capable transport adds "h2" to the NextProtos of the config it is
// given, and a shared config then made the data plane's HTTP/1.1 pull
// negotiate HTTP/2 (the HTTPS walkthrough caught it).
func TestTLSConfigNotShared(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[]`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = nil
	c, err := client.New(srv.URL, "tok", client.WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Datasets(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(cfg.NextProtos) != 0 {
		t.Errorf("the caller's TLS config now offers %v", cfg.NextProtos)
	}
}

// A list follows the node's Link rel="next" until the last page, keeping the
// query; a malformed Link or a cursor answered twice is an error, not a
// silently short list.
func TestListFollowsPages(t *testing.T) {
	pages := map[string]struct{ body, link string }{
		"":   {`[{"id":"t-3"},{"id":"t-2"}]`, `</api/v1/transfers?after=c1&agreement=ag+1>; rel="next"`},
		"c1": {`[{"id":"t-1"}]`, ""},
		"c2": {`[]`, `<?after=c2>; rel="next"`},
		"c3": {`[]`, `</x>; rel="prev"`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("agreement"); got != "ag 1" {
			t.Errorf("page %q asked for agreement %q", r.URL.Query().Get("after"), got)
		}
		p, ok := pages[r.URL.Query().Get("after")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"bad-request","message":"after: not a cursor"}}`))
			return
		}
		if p.link != "" {
			w.Header().Set("Link", p.link)
		}
		w.Write([]byte(p.body))
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Transfers(context.Background(), "ag 1")
	if err != nil || len(l) != 3 || l[0].ID != "t-3" || l[2].ID != "t-1" {
		t.Fatalf("Transfers = %d rows, %v", len(l), err)
	}
	for start, want := range map[string]string{"c2": "same page's cursor", "c3": "not one <URL>"} {
		pages[""] = struct{ body, link string }{`[]`, `</api/v1/transfers?after=` + start + `>; rel="next"`}
		if _, err := c.Transfers(context.Background(), "ag 1"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("start at %s: %v, want an error saying %q", start, err, want)
		}
	}
}
