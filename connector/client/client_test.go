package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
