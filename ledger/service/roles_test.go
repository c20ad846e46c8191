package service_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/service"
)

// TestRoleTokens wires real identity role tokens, verified against the
// participants registered on the very ledger being read.
func TestRoleTokens(t *testing.T) {
	ctx := context.Background()
	s, _ := ledgertest.NewSpace()
	st, err := embedded.Open(ctx, t.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	reg := identity.NewRegistry(st, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	v, err := identity.NewVerifier(reg, identity.WithAuthority(s.Authority()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := service.New(service.Config{Backend: st, Authorize: service.RoleTokens(v, "ledger")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	writer, _ := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	populate(t, s, writer)

	auth, err := identity.NewIssuer(s.Authority(), s.AuthorityKey)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := identity.NewIssuer("p1", s.Keys["p1"])
	if err != nil {
		t.Fatal(err)
	}
	tokSource := func(iss *identity.Issuer, role, sub string) client.Option {
		return client.WithTokenSource(func(context.Context) (string, error) {
			return iss.RoleToken(role, sub, "ledger", nil, 5*time.Minute)
		})
	}
	for _, tc := range []struct {
		name string
		opt  client.Option
		want int
		err  error
	}{
		{"auditor token from the authority", tokSource(auth, identity.RoleAuditor, "auditor-1"), 6, nil},
		{"participant's own token", tokSource(p1, identity.RoleParticipant, "p1"), 3, nil},
		{"auditor token self-issued by a participant", tokSource(p1, identity.RoleAuditor, "p1"), 0, service.ErrUnauthorized},
		{"participant token for someone else", tokSource(p1, identity.RoleParticipant, "p2"), 0, service.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := client.New(srv.URL, client.WithHTTPClient(srv.Client()), tc.opt)
			p, err := c.Query(ctx, ledger.Query{})
			if !errors.Is(err, tc.err) || err == nil && len(p.Records) != tc.want {
				t.Fatalf("got %d records, err %v; want %d, %v", len(p.Records), err, tc.want, tc.err)
			}
		})
	}
}
