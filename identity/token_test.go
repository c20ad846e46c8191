package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProtocolTokenRoundTrip(t *testing.T) {
	s := newSpace(t)
	for _, iss := range []*Issuer{s.cons, s.prov, s.authority} { // ES256 and EdDSA
		tok := s.must(iss.ProtocolToken(providerID))
		c, err := s.ver.VerifyProtocol(t.Context(), tok, providerID)
		if err != nil {
			t.Fatalf("%s: %v", iss.ID(), err)
		}
		if c.Issuer != iss.ID() || c.Subject != iss.ID() || c.Caller() != iss.ID() {
			t.Errorf("claims iss %q sub %q, want %q", c.Issuer, c.Subject, iss.ID())
		}
		if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != MaxProtocolTTL {
			t.Errorf("life %v, want %v", got, MaxProtocolTTL)
		}
	}
}

func TestProtocolTokenWithinLeeway(t *testing.T) {
	s := newSpace(t)
	tok := s.must(s.cons.ProtocolToken(providerID))
	s.clock.Add(MaxProtocolTTL + DefaultLeeway - time.Second)
	if _, err := s.ver.VerifyProtocol(t.Context(), tok, providerID); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
}

func TestAccessTokenRoundTrip(t *testing.T) {
	s := newSpace(t)
	tok := s.must(s.prov.AccessToken(s.grant()))
	for i, method := range []string{"GET", "GET", "HEAD"} { // a token serves many requests, each with its own proof
		u := dataURL + "?range=" + fmt.Sprint(i)
		proof := s.must(DPoPProofAt(s.cons.Key(), method, u, tok, s.clock.Now()))
		c, err := s.ver.VerifyAccess(t.Context(), tok, proof, method, u, dataPlane)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if err := c.Require("agr-A", "ds-1", "t1"); err != nil {
			t.Fatal(err)
		}
		want := &AccessClaims{Kind: KindAccess, Agreement: "agr-A", Dataset: "ds-1", Transfer: "t1", Cnf: &Confirmation{JKT: s.cons.Key().KeyID()}}
		if diff := cmp.Diff(want, c, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "RegisteredClaims" }, cmp.Ignore())); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
		if c.Subject != consumerID || c.Issuer != providerID {
			t.Errorf("sub %q iss %q", c.Subject, c.Issuer)
		}
		s.clock.Add(time.Second)
	}
}

func TestAccessTokenSuspendedConsumer(t *testing.T) {
	s := newSpace(t)
	tok := s.must(s.prov.AccessToken(s.grant()))
	p, _ := s.src.Participant(t.Context(), consumerID)
	p.Status = StatusSuspended
	s.src.Put(p)
	s.reg.Invalidate(consumerID)
	proof := s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, tok, s.clock.Now()))
	if _, err := s.ver.VerifyAccess(t.Context(), tok, proof, "GET", dataURL, dataPlane); !errors.Is(err, ErrSuspended) {
		t.Fatalf("got %v, want ErrSuspended", err)
	}
}

func TestRefreshAccess(t *testing.T) {
	s := newSpace(t)
	revoked := map[string]bool{}
	prov, err := NewIssuer(providerID, s.prov.Key(), WithIssuerClock(s.clock.Now),
		WithAgreementChecker(func(_ context.Context, a string) error {
			if revoked[a] {
				return errors.New("agreement.revoked recorded")
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.must(prov.AccessToken(s.grant()))
	s.clock.Add(DefaultAccessTTL + time.Minute) // expired
	proof := s.must(DPoPProofAt(s.cons.Key(), "POST", dataURL, tok, s.clock.Now()))
	if _, err := s.ver.VerifyAccess(t.Context(), tok, proof, "POST", dataURL, dataPlane); !errors.Is(err, ErrExpired) {
		t.Fatalf("VerifyAccess of expired token: %v", err)
	}
	c, err := s.ver.VerifyAccessForRefresh(t.Context(), tok, proof, "POST", dataURL, dataPlane)
	if err != nil {
		t.Fatalf("VerifyAccessForRefresh: %v", err)
	}
	fresh, err := prov.RefreshAccess(t.Context(), c)
	if err != nil {
		t.Fatalf("RefreshAccess: %v", err)
	}
	proof = s.must(DPoPProofAt(s.cons.Key(), "GET", dataURL, fresh, s.clock.Now()))
	nc, err := s.ver.VerifyAccess(t.Context(), fresh, proof, "GET", dataURL, dataPlane)
	if err != nil {
		t.Fatalf("refreshed token: %v", err)
	}
	if nc.ID == c.ID || nc.Agreement != c.Agreement || nc.Cnf.JKT != c.Cnf.JKT {
		t.Errorf("refreshed claims %+v from %+v", nc, c)
	}

	revoked["agr-A"] = true
	if _, err := prov.RefreshAccess(t.Context(), nc); !errors.Is(err, ErrAgreementEnded) {
		t.Fatalf("refresh of revoked agreement: %v", err)
	}
	s.clock.Add(2 * time.Hour) // beyond the refresh window
	proof = s.must(DPoPProofAt(s.cons.Key(), "POST", dataURL, fresh, s.clock.Now()))
	if _, err := s.ver.VerifyAccessForRefresh(t.Context(), fresh, proof, "POST", dataURL, dataPlane); !errors.Is(err, ErrExpired) {
		t.Fatalf("refresh after window: %v", err)
	}
	other, _ := NewIssuer(consumerID, s.cons.Key(), WithAgreementChecker(func(context.Context, string) error { return nil }))
	if _, err := other.RefreshAccess(t.Context(), nc); !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("refresh by another issuer: %v", err)
	}
}

func TestRoleTokens(t *testing.T) {
	s := newSpace(t)
	tok := s.must(s.authority.RoleToken(RoleRegulator, "reg-1", "ledger", []string{"flows"}, 24*time.Hour))
	c, err := s.ver.VerifyRole(t.Context(), tok, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleRegulator || c.Subject != "reg-1" || !cmp.Equal(c.Scope, []string{"flows"}) {
		t.Errorf("claims %+v", c)
	}
	self := s.must(s.cons.RoleToken(RoleParticipant, consumerID, "ledger", nil, 10*time.Minute))
	if c, err := s.ver.VerifyRole(t.Context(), self, "ledger"); err != nil || c.Role != RoleParticipant {
		t.Fatalf("self-signed read token: %v %+v", err, c)
	}
	long := s.must(s.cons.RoleToken(RoleParticipant, consumerID, "ledger", nil, 48*time.Hour))
	if _, err := s.ver.VerifyRole(t.Context(), long, "ledger"); !errors.Is(err, ErrLifetime) {
		t.Fatalf("long self-signed token: %v", err)
	}
	if _, err := s.cons.RoleToken(RoleParticipant, providerID, "ledger", nil, time.Minute); !errors.Is(err, ErrRole) {
		t.Fatalf("self token for another: %v", err)
	}
	noAuth, _ := NewVerifier(s.reg, WithClock(s.clock.Now))
	if _, err := noAuth.VerifyRole(t.Context(), tok, "ledger"); !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("verifier without authority: %v", err)
	}
}

// countingSource counts reads of the source.
type countingSource struct {
	*MemorySource
	reads int
}

func (c *countingSource) Participant(ctx context.Context, id string) (Participant, error) {
	c.reads++
	return c.MemorySource.Participant(ctx, id)
}

func TestRegistryCaching(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	k1, _ := GenerateEd25519()
	k2, _ := GenerateES256()
	src := &countingSource{MemorySource: NewMemorySource(Participant{ID: "p", Keys: []JWK{k1.JWK()}, Status: StatusActive})}
	reg := NewRegistry(src, WithRegistryClock(clk.Now), WithTTL(30*time.Second), WithMinRefresh(time.Second))
	ctx := t.Context()

	if _, _, err := reg.Key(ctx, "p", k1.KeyID()); err != nil {
		t.Fatal(err)
	}
	reg.Key(ctx, "p", k1.KeyID())
	if src.reads != 1 {
		t.Fatalf("reads %d after two lookups, want 1 (cached)", src.reads)
	}

	// A rotated-in key is found on the first lookup after MinRefresh.
	src.Put(Participant{ID: "p", Keys: []JWK{k1.JWK(), k2.JWK()}, Status: StatusActive})
	if _, _, err := reg.Key(ctx, "p", k2.KeyID()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid within MinRefresh: %v", err)
	}
	clk.Add(time.Second)
	if _, _, err := reg.Key(ctx, "p", k2.KeyID()); err != nil {
		t.Fatalf("new kid after refresh: %v", err)
	}
	if src.reads != 2 {
		t.Fatalf("reads %d, want 2", src.reads)
	}
	// Invented kids do not hammer the source.
	for i := range 100 {
		reg.Key(ctx, "p", fmt.Sprint("bogus", i))
	}
	if src.reads != 2 {
		t.Fatalf("reads %d after 100 bogus kids, want 2", src.reads)
	}

	// Suspension is seen after the TTL, or at once after Invalidate.
	src.Put(Participant{ID: "p", Keys: []JWK{k1.JWK(), k2.JWK()}, Status: StatusSuspended})
	if _, _, err := reg.Key(ctx, "p", k1.KeyID()); err != nil {
		t.Fatalf("within TTL: %v", err)
	}
	clk.Add(30 * time.Second)
	if _, _, err := reg.Key(ctx, "p", k1.KeyID()); !errors.Is(err, ErrSuspended) {
		t.Fatalf("after TTL: %v", err)
	}
	src.Put(Participant{ID: "p", Keys: []JWK{k1.JWK()}, Status: StatusActive})
	reg.Invalidate("p")
	if _, _, err := reg.Key(ctx, "p", k1.KeyID()); err != nil {
		t.Fatalf("after reinstatement and Invalidate: %v", err)
	}

	// Unknown participants are cached negatively for MinRefresh.
	before := src.reads
	for range 10 {
		if _, _, err := reg.Key(ctx, "nobody", "k"); !errors.Is(err, ErrUnknownParticipant) {
			t.Fatalf("unknown participant: %v", err)
		}
	}
	if src.reads != before+1 {
		t.Fatalf("reads %d for 10 unknown lookups, want 1", src.reads-before)
	}
}

type failingSource struct{}

func (failingSource) Participant(context.Context, string) (Participant, error) {
	return Participant{}, errors.New("ledger unreachable")
}

func TestRegistrySourceFailureIsNotCached(t *testing.T) {
	reg := NewRegistry(failingSource{})
	_, _, err := reg.Key(t.Context(), "p", "k")
	if err == nil || errors.Is(err, ErrUnknownParticipant) || StatusCode(err) != http.StatusInternalServerError {
		t.Fatalf("got %v", err)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if err := c.add("iss", fmt.Sprint(i), now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.add("iss", "3", now.Add(time.Minute), now); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
	if err := c.add("other", "0", now.Add(time.Minute), now); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
	later := now.Add(2 * time.Minute)
	if err := c.add("iss", "3", later.Add(time.Minute), later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := c.len(); n != 1 {
		t.Fatalf("%d ids held after expiry, want 1", n)
	}
	if err := c.add("iss", "3", later.Add(time.Minute), later); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
}

func TestJWKSHandler(t *testing.T) {
	s := newSpace(t)
	srv := httptest.NewServer(s.reg.JWKSHandler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		id     string
		status int
	}{{consumerID, 200}, {suspendedID, 410}, {"nobody", 404}} {
		resp, err := http.Get(srv.URL + "/participants/" + tc.id + "/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		var set JWKSet
		if tc.status == 200 {
			if err := decodeJSON(resp, &set); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]JWK{s.cons.Key().JWK()}, set.Keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.id, resp.StatusCode, tc.status)
		}
	}
}

func TestRequireProtocol(t *testing.T) {
	s := newSpace(t)
	h := RequireProtocol(s.ver, providerID)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		if !ok || c.TokenKind() != KindProtocol {
			http.Error(w, "no claims", 500)
			return
		}
		fmt.Fprint(w, c.Caller())
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(tok string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/negotiations/request", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}
	tok := s.must(s.cons.ProtocolToken(providerID))
	if code, body := call(tok); code != 200 || body != consumerID {
		t.Fatalf("valid token: %d %q", code, body)
	}
	if code, _ := call(tok); code != 401 {
		t.Fatalf("replayed token: %d", code)
	}
	if code, _ := call(""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := call(s.must(s.sp.ProtocolToken(providerID))); code != 403 {
		t.Fatalf("suspended caller: %d", code)
	}
}

// TestConcurrentVerification verifies from many goroutines while the registry
// is invalidated underneath (run with -race).
func TestConcurrentVerification(t *testing.T) {
	s := newSpace(t)
	const workers, each = 8, 50
	toks := make([][]string, workers)
	for w := range toks {
		for range each {
			toks[w] = append(toks[w], s.must(s.cons.ProtocolToken(providerID)))
		}
	}
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i, tok := range toks[w] {
				if i%10 == 0 {
					s.reg.Invalidate(consumerID)
				}
				if _, err := s.ver.VerifyProtocol(context.Background(), tok, providerID); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// blockingSource holds every read until released, counting them.
type blockingSource struct {
	*MemorySource
	release chan struct{}
	mu      sync.Mutex
	reads   int
}

func (b *blockingSource) Participant(ctx context.Context, id string) (Participant, error) {
	b.mu.Lock()
	b.reads++
	b.mu.Unlock()
	<-b.release
	return b.MemorySource.Participant(ctx, id)
}

func TestRegistrySharesConcurrentReads(t *testing.T) {
	k, _ := GenerateEd25519()
	src := &blockingSource{MemorySource: NewMemorySource(Participant{ID: "p", Keys: []JWK{k.JWK()}, Status: StatusActive}), release: make(chan struct{})}
	reg := NewRegistry(src)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, _, err := reg.Key(context.Background(), "p", k.KeyID())
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the lookups pile up behind the first read
	close(src.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if src.reads != 1 {
		t.Fatalf("%d source reads for %d concurrent lookups, want 1", src.reads, n)
	}
}
