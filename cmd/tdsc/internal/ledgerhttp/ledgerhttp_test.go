package ledgerhttp_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/cmd/tdsc/internal/ledgerhttp"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/service"
)

// TestSuspendedReaderRefusedWithinTheFollow: the ledger service drops its
// cached entry of a participant whose directory entry changes (Options.
// Context), so a suspended participant's role token, accepted a moment
// before, is refused within about a second rather than the registry's TTL
// (30 s).
func TestSuspendedReaderRefusedWithinTheFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(ctx, t.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	h, err := ledgerhttp.Embedded(st, ledgerhttp.Options{Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	appendAll := func(recs ...ledger.Record) {
		t.Helper()
		b, err := s.Batch(s.Authority(), recs...)
		if err == nil {
			_, err = st.Append(ctx, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	reg, err := s.Participant("p1", "CN-BJ")
	if err != nil {
		t.Fatal(err)
	}
	appendAll(reg)
	p1, err := identity.NewIssuer("p1", s.Keys["p1"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()), client.WithTokenSource(func(context.Context) (string, error) {
		return p1.RoleToken(identity.RoleParticipant, "p1", "ledger", nil, 5*time.Minute)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, ledger.Query{}); err != nil {
		t.Fatalf("p1 reading its records: %v", err) // the service now caches p1's entry
	}
	appendAll(s.Suspend("p1"))
	start := time.Now()
	for {
		_, err := c.Query(ctx, ledger.Query{})
		if errors.Is(err, service.ErrUnauthorized) && strings.Contains(err.Error(), "suspended") {
			t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("a suspended participant still reads after 5 s (the registry's TTL is 30 s): %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
