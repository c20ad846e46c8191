package dcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

func flushIssuer(t *testing.T, s *issuanceSpace) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRequestCredential: a node joins with its DID alone and obtains its
// membership credential from the authority through DCP issuance; a provider
// trusting the authority then accepts it with the ledger's attributes.
func TestRequestCredential(t *testing.T) {
	s := newIssuanceSpace(t)
	alice, bob := s.holder("alice", identity.StatusActive), s.addNode("bob")
	ctx := context.Background()
	req, err := alice.dn.RequestCredential(ctx, s.iss.did)
	if err != nil {
		t.Fatal(err)
	}
	// The issuer decides and delivers asynchronously: the delivery may come
	// before RequestCredential returns.
	if (req.Status != dcp.StatusReceived && req.Status != dcp.StatusIssued) || !strings.HasPrefix(req.Location, s.endpoint+dcp.RequestsPath) {
		t.Fatalf("request %+v: want RECEIVED or ISSUED at the issuer's requests", req)
	}
	flushIssuer(t, s)
	got, ok := alice.cs.Request(req.HolderPid)
	if !ok || got.Status != dcp.StatusIssued || len(got.Credentials) != 1 {
		t.Fatalf("alice's record %+v: want ISSUED with one credential", got)
	}
	st, err := alice.dn.IssuanceStatus(ctx, req)
	if err != nil || st.Status != dcp.StatusIssued || st.HolderPid != req.HolderPid {
		t.Fatalf("issuer's status %+v, %v: want ISSUED for %s", st, err, req.HolderPid)
	}
	issued := s.ci.Credentials(alice.did)
	if len(issued) != 1 || issued[0].ID != got.Credentials[0] || issued[0].DID != alice.did {
		t.Fatalf("issuer's records %+v: want the credential alice holds", issued)
	}
	v := s.verifier(bob, func(c *dcp.VerifierConfig) { c.Trusted = []string{s.iss.did} })
	tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
	r, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if r.Participant.ID != alice.did || r.Participant.Industry != "manufacturing" {
		t.Fatalf("verified %+v: want alice's ledger attributes", r.Participant)
	}

	t.Run("a second request gets the same credential until half its life is gone", func(t *testing.T) {
		again := func() string {
			t.Helper()
			req, err := alice.dn.RequestCredential(ctx, s.iss.did)
			if err != nil {
				t.Fatal(err)
			}
			flushIssuer(t, s)
			got, _ := alice.cs.Request(req.HolderPid)
			if got.Status != dcp.StatusIssued || len(got.Credentials) != 1 {
				t.Fatalf("record %+v: want ISSUED with one credential", got)
			}
			return got.Credentials[0]
		}
		if id := again(); id != issued[0].ID || len(s.ci.Credentials(alice.did)) != 1 {
			t.Fatalf("got %s, %d issued: want %s again and no new status list entry", id, len(s.ci.Credentials(alice.did)), issued[0].ID)
		}
		s.clock.Add(16 * 24 * time.Hour) // of 30 days
		if id := again(); id == issued[0].ID || len(s.ci.Credentials(alice.did)) != 2 {
			t.Fatalf("got %s, %d issued: want a new credential", id, len(s.ci.Credentials(alice.did)))
		}
	})
	t.Run("a suspended holder's current credential is not given again", func(t *testing.T) {
		// The ledger shows alice suspended before the authority's reconcile
		// revoked her credential: her request is rejected all the same.
		p, _ := s.ledger.Participant(ctx, alice.did)
		p.Status = identity.StatusSuspended
		s.ledger.Put(p)
		defer func() { p.Status = identity.StatusActive; s.ledger.Put(p) }()
		req, err := alice.dn.RequestCredential(ctx, s.iss.did)
		if err != nil {
			t.Fatal(err)
		}
		flushIssuer(t, s)
		if got, _ := alice.cs.Request(req.HolderPid); got.Status != dcp.StatusRejected || !strings.Contains(got.Reason, "suspended") {
			t.Fatalf("record %+v: want REJECTED naming the suspension", got)
		}
	})
	t.Run("a participant registered under a tdsc id with a DID", func(t *testing.T) {
		key, _ := identity.GenerateEd25519()
		carol := s.addNodeTrusting("carol", key, s.iss.did)
		p := identity.Participant{ID: "tdsc-carol", DID: carol.did, Region: "CN-BJ", Status: identity.StatusActive, Keys: []identity.JWK{key.JWK()}}
		s.ledger.Put(p)
		// The authority knows which id names carol's DID from the credential
		// it issued her before (tdsc authority credentials issue --id).
		if _, err := s.ci.Issue(p); err != nil {
			t.Fatal(err)
		}
		req, err := carol.dn.RequestCredential(ctx, s.iss.did)
		if err != nil {
			t.Fatal(err)
		}
		flushIssuer(t, s)
		if got, _ := carol.cs.Request(req.HolderPid); got.Status != dcp.StatusIssued {
			t.Fatalf("carol's request %+v: want ISSUED", got)
		}
	})
	t.Run("an issuer the node does not trust is not asked", func(t *testing.T) {
		if _, err := bob.dn.RequestCredential(ctx, s.iss.did); !errors.Is(err, dcp.ErrUntrustedIssuer) {
			t.Fatalf("got %v, want ErrUntrustedIssuer", err)
		}
	})
}

// TestIssuanceAttacks are the refusals of credential issuance: requests for
// another DID's credential, from a DID the ledger does not register or shows
// suspended, CredentialMessages from an untrusted issuer or for another
// subject, and replayed tokens.
func TestIssuanceAttacks(t *testing.T) {
	s := newIssuanceSpace(t)
	alice, mallory := s.holder("alice", identity.StatusActive), s.holder("mallory", "")
	ctx := context.Background()
	now := s.clock.Now
	request := func(auth string) (int, string, []byte) {
		t.Helper()
		msg := map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeCredentialRequest, "holderPid": uuid.NewString(),
			"credentials": []map[string]string{{"id": dcp.MembershipObjectID}}}
		code, h, b := s.do(http.MethodPost, s.endpoint+dcp.CredentialsPath, auth, msg)
		return code, h.Get("Location"), b
	}
	statusOf := func(t *testing.T, n *node, loc string) *dcp.CredentialStatus {
		t.Helper()
		code, _, b := s.do(http.MethodGet, loc, "Bearer "+n.idToken(t, idClaims(n.did, s.iss.did, "", now())), nil)
		if code != http.StatusOK {
			t.Fatalf("status: HTTP %d %s", code, b)
		}
		st, err := dcp.ParseCredentialStatus(b)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("request for another DID's credential", func(t *testing.T) {
		// mallory signs a token claiming alice's DID: alice's document's key refuses it.
		code, _, b := request("Bearer " + sign(t, mallory.key, alice.did+"#"+dcp.KeyFragment, "JWT", idClaims(alice.did, s.iss.did, "", now())))
		if code != http.StatusUnauthorized || !strings.Contains(string(b), "signature") {
			t.Fatalf("HTTP %d %s, want 401 naming the signature", code, b)
		}
		// ... or names her own key for alice's DID.
		code, _, b = request("Bearer " + sign(t, mallory.key, mallory.did+"#"+dcp.KeyFragment, "JWT", idClaims(alice.did, s.iss.did, "", now())))
		if code != http.StatusUnauthorized {
			t.Fatalf("HTTP %d %s, want 401", code, b)
		}
		if n := len(s.ci.Credentials("")); n != 0 {
			t.Fatalf("%d credentials issued, want none", n)
		}
	})
	t.Run("request from a DID the ledger does not register", func(t *testing.T) {
		code, loc, b := request("Bearer " + mallory.idToken(t, idClaims(mallory.did, s.iss.did, "", now())))
		if code != http.StatusCreated {
			t.Fatalf("HTTP %d %s: want 201, then a rejection", code, b)
		}
		flushIssuer(t, s)
		st := statusOf(t, mallory, loc)
		if st.Status != dcp.StatusRejected || !strings.Contains(st.RejectionReason, "no participant is registered under DID") {
			t.Fatalf("status %+v: want REJECTED naming the missing registration", st)
		}
		if len(s.ci.Credentials("")) != 0 || len(mallory.cs.Stored("")) != 0 {
			t.Fatal("a credential was issued or delivered to an unregistered DID")
		}
		// alice may not read mallory's request.
		code, _, _ = s.do(http.MethodGet, loc, "Bearer "+alice.idToken(t, idClaims(alice.did, s.iss.did, "", now())), nil)
		if code != http.StatusNotFound {
			t.Fatalf("another holder read the status: HTTP %d, want 404", code)
		}
	})
	t.Run("request from a DID the ledger shows suspended", func(t *testing.T) {
		sus := s.holder("suspended", identity.StatusSuspended)
		req, err := sus.dn.RequestCredential(ctx, s.iss.did)
		if err != nil {
			t.Fatal(err)
		}
		flushIssuer(t, s)
		got, _ := sus.cs.Request(req.HolderPid)
		if got.Status != dcp.StatusRejected || !strings.Contains(got.Reason, "suspended") || len(sus.cs.Stored("")) != 0 {
			t.Fatalf("holder's record %+v: want REJECTED (delivered to it) naming the suspension, nothing stored", got)
		}
		if st := statusOf(t, sus, req.Location); st.Status != dcp.StatusRejected {
			t.Fatalf("issuer's status %+v, want REJECTED", st)
		}
	})
	t.Run("request from a DID whose ledger record names another DID", func(t *testing.T) {
		// A participant registered by its DID id cannot carry another DID on
		// a real ledger (rule participant.did-unique); the issuer checks anyway.
		odd := s.holder("odd", "")
		s.ledger.Put(identity.Participant{ID: odd.did, DID: alice.did, Status: identity.StatusActive})
		code, loc, _ := request("Bearer " + odd.idToken(t, idClaims(odd.did, s.iss.did, "", now())))
		if code != http.StatusCreated {
			t.Fatalf("HTTP %d", code)
		}
		flushIssuer(t, s)
		if st := statusOf(t, odd, loc); st.Status != dcp.StatusRejected || !strings.Contains(st.RejectionReason, "under DID") {
			t.Fatalf("status %+v, want REJECTED naming the DID the ledger registers", st)
		}
		if c := s.ci.Credentials(odd.did); len(c) != 0 {
			t.Fatalf("issued %+v, want nothing", c)
		}
	})
	t.Run("request for a credential the issuer does not offer", func(t *testing.T) {
		msg := map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeCredentialRequest, "holderPid": "h",
			"credentials": []map[string]string{{"id": "urn:other"}}}
		code, _, b := s.do(http.MethodPost, s.endpoint+dcp.CredentialsPath, "Bearer "+alice.idToken(t, idClaims(alice.did, s.iss.did, "", now())), msg)
		if code != http.StatusBadRequest || !strings.Contains(string(b), "credentials[0].id") {
			t.Fatalf("HTTP %d %s, want 400 naming credentials[0].id", code, b)
		}
	})

	// Writes to alice's Credential Service.
	third := s.addNode("third")
	write := func(signer *node, c *dcp.IDClaims, vcs ...string) (int, []byte) {
		t.Helper()
		var cs []map[string]string
		for _, v := range vcs {
			cs = append(cs, map[string]string{"credentialType": dcp.TypeMembership, "format": dcp.ProfileVC20JWT, "payload": v})
		}
		msg := map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeCredentialMessage, "issuerPid": "i", "holderPid": "h",
			"status": dcp.StatusIssued, "credentials": cs}
		code, _, b := s.do(http.MethodPost, alice.base+"/cs"+dcp.CredentialsPath, "Bearer "+signer.idToken(t, c), msg)
		return code, b
	}
	before := len(alice.cs.Stored(""))
	unchanged := func(t *testing.T) {
		t.Helper()
		if n := len(alice.cs.Stored("")); n != before {
			t.Fatalf("store changed: %d credentials, want %d", n, before)
		}
	}
	t.Run("CredentialMessage from an untrusted issuer", func(t *testing.T) {
		code, b := write(third, idClaims(third.did, alice.did, "", now()), s.vc(third, alice.did, nil))
		if code != http.StatusForbidden || !strings.Contains(string(b), "trusted issuers") {
			t.Fatalf("HTTP %d %s, want 403 naming the trusted issuers", code, b)
		}
		unchanged(t)
		// The trusted issuer relaying a credential an untrusted one signed.
		code, b = write(s.iss, idClaims(s.iss.did, alice.did, "", now()), s.vc(third, alice.did, nil))
		if code != http.StatusForbidden {
			t.Fatalf("HTTP %d %s, want 403", code, b)
		}
		unchanged(t)
	})
	t.Run("CredentialMessage for another subject", func(t *testing.T) {
		// One good credential and one for mallory: neither is filed.
		code, b := write(s.iss, idClaims(s.iss.did, alice.did, "", now()), s.vc(s.iss, alice.did, nil), s.vc(s.iss, mallory.did, nil))
		if code != http.StatusUnauthorized || !strings.Contains(string(b), "credentials[1] credentialSubject.id") {
			t.Fatalf("HTTP %d %s, want 401 naming credentials[1]", code, b)
		}
		unchanged(t)
	})
	t.Run("CredentialMessage with a forged credential", func(t *testing.T) {
		forged := s.vc(&node{did: s.iss.did, key: third.key}, alice.did, nil)
		code, b := write(s.iss, idClaims(s.iss.did, alice.did, "", now()), forged)
		if code != http.StatusUnauthorized {
			t.Fatalf("HTTP %d %s, want 401", code, b)
		}
		unchanged(t)
	})
	t.Run("replayed tokens", func(t *testing.T) {
		// The issuer's token, replayed with another message.
		c := idClaims(s.iss.did, alice.did, "", now())
		if code, b := write(s.iss, c, s.vc(s.iss, alice.did, nil)); code != http.StatusOK {
			t.Fatalf("first use: HTTP %d %s", code, b)
		}
		before = len(alice.cs.Stored(""))
		if code, b := write(s.iss, c, s.vc(s.iss, alice.did, nil)); code != http.StatusUnauthorized || !strings.Contains(string(b), "already used") {
			t.Fatalf("replay: HTTP %d %s, want 401 naming the jti", code, b)
		}
		unchanged(t)
		// A holder's token spent on a request cannot read a status.
		tok := alice.idToken(t, idClaims(alice.did, s.iss.did, "", now()))
		code, loc, _ := request("Bearer " + tok)
		if code != http.StatusCreated {
			t.Fatalf("HTTP %d", code)
		}
		if code, _, _ := s.do(http.MethodGet, loc, "Bearer "+tok, nil); code != http.StatusUnauthorized {
			t.Fatalf("status with a spent token: HTTP %d, want 401", code)
		}
		flushIssuer(t, s)
	})
	t.Run("token of another kind", func(t *testing.T) {
		// alice's access token, or an ID token carrying tdsc's tkn claim.
		at, _ := alice.sts.AccessToken(s.iss.did, dcp.ScopeMembership)
		if code, _, _ := request("Bearer " + at); code != http.StatusUnauthorized {
			t.Fatalf("access token as ID token: HTTP %d, want 401", code)
		}
		c := idClaims(alice.did, s.iss.did, "", now())
		c.Tkn = string(identity.KindProtocol)
		if code, _, _ := request("Bearer " + alice.idToken(t, c)); code != http.StatusUnauthorized {
			t.Fatalf("tdsc token: HTTP %d, want 401", code)
		}
		c = idClaims(alice.did, s.iss.did, "", now())
		c.ExpiresAt = jwt.NewNumericDate(now().Add(time.Hour))
		if code, _, _ := request("Bearer " + alice.idToken(t, c)); code != http.StatusUnauthorized {
			t.Fatalf("an hour-long token: HTTP %d, want 401", code)
		}
	})
}

// gatedSource is a ledger whose participant reads wait until open closes.
type gatedSource struct {
	identity.Source
	open chan struct{}
}

func (g *gatedSource) Participant(ctx context.Context, id string) (identity.Participant, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return identity.Participant{}, ctx.Err()
	}
	return g.Source.Participant(ctx, id)
}

// TestIssuerBusy: while 256 requests are being decided (the ledger is slow
// to answer), the next is refused with 503 and a Retry-After, nothing of it
// recorded; once they are decided, requests are taken again.
func TestIssuerBusy(t *testing.T) {
	s := newIssuanceSpace(t)
	alice := s.holder("alice", identity.StatusActive)
	gate := &gatedSource{Source: s.ledger, open: make(chan struct{})}
	svc, err := dcp.NewIssuerService(dcp.IssuerServiceConfig{DID: s.iss.did, Key: s.iss.key, Issuer: s.ci, Ledger: gate,
		Endpoint: s.endpoint, Resolver: s.res, HTTPClient: s.srv.Client(), Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	h := svc.Handler()
	post := func() *httptest.ResponseRecorder {
		t.Helper()
		tok, err := alice.dn.STS.IDToken(s.iss.did, "")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(dcp.CredentialRequestMessage{Context: []string{dcp.ContextDCP}, Type: dcp.TypeCredentialRequest,
			HolderPid: uuid.NewString(), Credentials: []dcp.CredentialRef{{ID: dcp.MembershipObjectID}}})
		r := httptest.NewRequest(http.MethodPost, dcp.CredentialsPath, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 256 {
		if w := post(); w.Code != http.StatusCreated {
			t.Fatalf("request %d: HTTP %d %s", i, w.Code, w.Body)
		}
	}
	w := post()
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "busy") {
		t.Fatalf("request 257: HTTP %d, Retry-After %q, %s; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if loc := w.Header().Get("Location"); loc != "" {
		t.Fatalf("a refused request was recorded at %s", loc)
	}
	close(gate.open)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if w := post(); w.Code != http.StatusCreated {
		t.Fatalf("after the 256 were decided: HTTP %d %s", w.Code, w.Body)
	}
}
