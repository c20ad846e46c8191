package authority

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/service"
)

// TestOverLedgerService drives the authority against the real ledger service
// on loopback: registration through the HTTP client, a registry reading the
// service, and reads authorised by the authority's role token.
func TestOverLedgerService(t *testing.T) {
	ctx := t.Context()
	ts := newTestSpace(t)
	clock := func() time.Time { return ts.now }
	ver, err := identity.NewVerifier(ts.reg, identity.WithClock(clock), identity.WithAuthority(ts.auth.ID()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := service.New(service.Config{Backend: ts.store, Authorize: func(r *http.Request) (service.Principal, error) {
		c, err := ver.VerifyRole(r.Context(), identity.BearerToken(r), "ledger")
		if err != nil {
			return service.Principal{}, err
		}
		return identity.PrincipalOf(c), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	tok, err := ts.auth.RoleToken(identity.RoleAuditor, "auditor-1", "ledger", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL, client.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := identity.GenerateEd25519()
	rec, err := ts.auth.Register(Registration{ID: "org-9", Name: "Org Nine", Key: key.JWK(), Region: "CN-GD", Industry: "energy", OrgType: "enterprise", CreditCode: "91110000600037341L"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, c, rec); err != nil {
		t.Fatalf("register over HTTP: %v", err)
	}
	reg := identity.NewRegistry(c, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	if _, jp, err := reg.Key(ctx, "org-9", key.KeyID()); err != nil || jp.Region != "CN-GD" {
		t.Fatalf("registry over HTTP: %v %+v", err, jp)
	}
	if _, err := reg.Participant(ctx, "org-404"); !errors.Is(err, identity.ErrUnknownParticipant) {
		t.Fatalf("unknown participant over HTTP: %v", err)
	}
	if _, err := c.Record(ctx, rec.ID); err != nil {
		t.Fatalf("auditor read: %v", err)
	}
	anon, _ := client.New(srv.URL)
	if _, err := anon.Record(ctx, rec.ID); err == nil {
		t.Fatal("read without a role token succeeded")
	}
}
