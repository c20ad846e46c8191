package dcp_test

// The DCP TCK (eclipse-dataspacetck/dcp-tck, dcp-testcases) ported case by
// case against the real handlers: each subtest is named by the TCK method,
// and docs/dcp-conformance.md lists them with their results.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// TestTCKCredentialService ports dcp-testcases presentation/cs: the holder
// (alice) answers a verifier (bob) at POST /presentations/query.
func TestTCKCredentialService(t *testing.T) {
	s := newSpace(t)
	alice, bob, third := s.addNode("alice"), s.addNode("bob"), s.addNode("third")
	s.register(alice, "CN-SH")
	sensitive := s.vc(s.auth, alice.did, func(c *dcp.CredentialClaims) { c.Type = []string{"VerifiableCredential", "SensitiveDataCredential"} })
	if err := alice.cs.Store(sensitive); err != nil {
		t.Fatal(err)
	}
	const sensitiveScope = dcp.ScopeTypeAlias + ":SensitiveDataCredential:read"
	// access is what alice's STS gives bob: the token alice put in her request.
	access := func(scopes ...string) string {
		tok, err := alice.sts.AccessToken(bob.did, scopes...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := s.clock.Now
	refused := func(t *testing.T, auth string) {
		t.Helper()
		if code, _ := s.query(alice, auth, scopeQuery); code < 400 || code > 499 {
			t.Fatalf("HTTP %d, want 4xx", code)
		}
	}
	types := func(t *testing.T, m dcp.ResponseMessage) []string {
		t.Helper()
		var out []string
		for _, vp := range m.Presentation {
			c := &dcp.PresentationClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(vp, c); err != nil {
				t.Fatal(err)
			}
			for _, e := range c.Credentials {
				vc, err := dcp.ParseUnverifiedCredential(e.ID[len("data:application/vc+jwt,"):])
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, vc.Type[1])
			}
		}
		slices.Sort(out)
		return out
	}

	t.Run("cs_04_03_03_idTokenInvalidIssuerSub", func(t *testing.T) {
		// third presents the access token alice minted for bob.
		refused(t, "Bearer "+third.idToken(t, idClaims(third.did, alice.did, access(dcp.ScopeMembership), now())))
	})
	t.Run("cs_04_03_03_idTokenInvalidSub", func(t *testing.T) {
		c := idClaims(bob.did, alice.did, access(dcp.ScopeMembership), now())
		c.Subject = third.did
		refused(t, "Bearer "+bob.idToken(t, c))
	})
	t.Run("cs_04_03_03_idtokenIncorrectAud", func(t *testing.T) {
		refused(t, "Bearer "+bob.idToken(t, idClaims(bob.did, third.did, access(dcp.ScopeMembership), now())))
	})
	t.Run("cs_04_03_03_idtokenIncorrectSub", func(t *testing.T) {
		// mallory's address serves bob's document: its id is not mallory's DID.
		s.mux.Handle("/mallory/did.json", dcp.DocumentHandler(bob.doc))
		mallory, _ := dcp.WebDID(s.srv.URL + "/mallory")
		refused(t, "Bearer "+sign(t, bob.key, mallory+"#"+dcp.KeyFragment, "JWT", idClaims(mallory, alice.did, access(dcp.ScopeMembership), now())))
	})
	t.Run("cs_04_03_03_idtokenNbfInFuture", func(t *testing.T) {
		c := idClaims(bob.did, alice.did, access(dcp.ScopeMembership), now())
		c.NotBefore = jwt.NewNumericDate(now().Add(10 * time.Minute))
		c.ExpiresAt = jwt.NewNumericDate(now().Add(11 * time.Minute))
		refused(t, "Bearer "+bob.idToken(t, c))
	})
	t.Run("cs_04_03_03_idtokenExpired", func(t *testing.T) {
		c := idClaims(bob.did, alice.did, access(dcp.ScopeMembership), now().Add(-10*time.Minute))
		refused(t, "Bearer "+bob.idToken(t, c))
	})
	t.Run("cs_04_03_03_idtokenJtiUsedTwice", func(t *testing.T) {
		tok := bob.idToken(t, idClaims(bob.did, alice.did, access(dcp.ScopeMembership), now()))
		if code, _ := s.query(alice, "Bearer "+tok, scopeQuery); code != http.StatusOK {
			t.Fatalf("first use: HTTP %d, want 200", code)
		}
		refused(t, "Bearer "+tok)
	})
	t.Run("cs_05_02_endpointDiscovery", func(t *testing.T) {
		doc, err := s.res.Resolve(context.Background(), alice.did)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := doc.ServiceEndpoint(dcp.ServiceCredential)
		if err != nil || ep != alice.base+"/cs" {
			t.Fatalf("CredentialService endpoint %q, %v; want %q", ep, err, alice.base+"/cs")
		}
	})
	t.Run("cs_05_03_01_accessTokenInvalidHeader", func(t *testing.T) {
		refused(t, bob.idToken(t, idClaims(bob.did, alice.did, access(dcp.ScopeMembership), now())))
	})
	t.Run("cs_05_04_invalidTokenNotAuthorized", func(t *testing.T) {
		refused(t, "")
		refused(t, "Bearer not-a-token")
	})
	bobAuth := func() string {
		return "Bearer " + bob.idToken(t, idClaims(bob.did, alice.did, access(dcp.ScopeMembership, sensitiveScope), now()))
	}
	t.Run("cs_05_04_01_invalidScopeAndPresentationRequest", func(t *testing.T) {
		q := map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeQuery, "scope": []string{dcp.ScopeMembership},
			"presentationDefinition": map[string]any{"id": "x", "input_descriptors": []any{}}}
		if code, _ := s.query(alice, bobAuth(), q); code != http.StatusBadRequest {
			t.Fatalf("HTTP %d, want 400", code)
		}
	})
	t.Run("cs_05_04_01_emptyPresentationDefinition", func(t *testing.T) {
		q := map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeQuery, "presentationDefinition": map[string]any{}}
		if code, _ := s.query(alice, bobAuth(), q); code < 400 || code > 499 {
			t.Fatalf("HTTP %d, want 4xx", code)
		}
	})
	t.Run("cs_05_04_02_emptyScopeExpect4xx", func(t *testing.T) {
		for _, q := range []map[string]any{
			{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeQuery, "scope": []string{}},
			{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeQuery},
		} {
			if code, _ := s.query(alice, bobAuth(), q); code < 400 || code > 499 {
				t.Fatalf("%v: HTTP %d, want 4xx", q, code)
			}
		}
	})
	pdQuery := map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeQuery,
		"presentationDefinition": map[string]any{"id": "x", "input_descriptors": []any{map[string]any{"id": "m"}}}}
	for _, id := range []string{"cs_05_04_01_01_presentationRequest", "cs_05_04_01_01_invalidPresentationEscalationRequest"} {
		t.Run(id, func(t *testing.T) {
			// presentationDefinition is optional (DCP §5.4.1.1): 501 when not supported.
			if code, _ := s.query(alice, bobAuth(), pdQuery); code != http.StatusNotImplemented {
				t.Fatalf("HTTP %d, want 501", code)
			}
		})
	}
	t.Run("cs_05_04_01_02_scopeByTypeRequest", func(t *testing.T) {
		code, m := s.query(alice, bobAuth(), scopeQuery)
		if code != http.StatusOK || m.Type != dcp.TypeResponse {
			t.Fatalf("HTTP %d type %q, want 200 %s", code, m.Type, dcp.TypeResponse)
		}
		if got := types(t, m); !slices.Equal(got, []string{dcp.TypeMembership}) {
			t.Fatalf("credentials %v, want [%s]", got, dcp.TypeMembership)
		}
	})
	for _, id := range []string{"cs_05_04_01_02_lessTypesThanAuthorizedByTypeRequest", "cs_05_04_01_02_lessScopesThanAuthorizedByTypeRequest"} {
		t.Run(id, func(t *testing.T) {
			q := scopeQuery
			q.Scope = []string{sensitiveScope}
			code, m := s.query(alice, bobAuth(), q)
			if got := types(t, m); code != http.StatusOK || !slices.Equal(got, []string{"SensitiveDataCredential"}) {
				t.Fatalf("HTTP %d credentials %v, want 200 [SensitiveDataCredential]", code, got)
			}
		})
	}
	t.Run("cs_05_04_01_02_invalidScopeEscalationRequest", func(t *testing.T) {
		auth := "Bearer " + bob.idToken(t, idClaims(bob.did, alice.did, access(dcp.ScopeMembership), now()))
		q := scopeQuery
		q.Scope = []string{sensitiveScope}
		code, m := s.query(alice, auth, q)
		if code != http.StatusOK || len(m.Presentation) != 0 {
			t.Fatalf("HTTP %d with %d presentations, want 200 with none", code, len(m.Presentation))
		}
	})
}

// TestTCKVerifier ports dcp-testcases presentation/verifier: bob verifies
// requests from holders.
func TestTCKVerifier(t *testing.T) {
	s := newSpace(t)
	alice, bob, third := s.addNode("alice"), s.addNode("bob"), s.addNode("third")
	s.register(alice, "CN-SH")
	v := s.verifier(bob)
	ctx := context.Background()
	now := s.clock.Now
	access := func() string {
		tok, err := alice.sts.AccessToken(bob.did, dcp.ScopeMembership)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	refuse := func(t *testing.T, tok string, want error) {
		t.Helper()
		_, err := v.Verify(ctx, tok)
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}

	t.Run("presentationResponse_rejectMissingBearerPrefix", func(t *testing.T) {
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		for _, h := range []string{tok, "DPoP " + tok, "Basic " + tok} {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://bob.example/dsp", nil)
			r.Header.Set("Authorization", h)
			if _, err := v.VerifyRequest(r); !errors.Is(err, identity.ErrMalformed) {
				t.Fatalf("%.10s…: got %v, want ErrMalformed", h, err)
			}
		}
	})
	t.Run("verifier_04_03_03_idTokenInvalidIssuerSub", func(t *testing.T) {
		// third replays alice's access token inside its own ID token: the
		// Credential Service refuses bob's query (token bound to bob for alice).
		refuse(t, third.idToken(t, idClaims(third.did, bob.did, access(), now())), dcp.ErrPresentation)
	})
	t.Run("verifier_04_03_03_idTokenInvalidSub", func(t *testing.T) {
		c := idClaims(alice.did, bob.did, access(), now())
		c.Subject = third.did
		refuse(t, alice.idToken(t, c), identity.ErrWrongIssuer)
	})
	t.Run("verifier_04_03_03_idTokenIncorrectAud", func(t *testing.T) {
		refuse(t, alice.idToken(t, idClaims(alice.did, third.did, access(), now())), identity.ErrWrongAudience)
	})
	t.Run("verifier_04_03_03_idTokenIncorrectSub", func(t *testing.T) {
		s.mux.Handle("/mallory2/did.json", dcp.DocumentHandler(alice.doc))
		mallory, _ := dcp.WebDID(s.srv.URL + "/mallory2")
		refuse(t, sign(t, alice.key, mallory+"#"+dcp.KeyFragment, "JWT", idClaims(mallory, bob.did, access(), now())), dcp.ErrDID)
	})
	t.Run("verifier_04_03_03_idTokenNbfInFuture", func(t *testing.T) {
		c := idClaims(alice.did, bob.did, access(), now())
		c.NotBefore = jwt.NewNumericDate(now().Add(10 * time.Minute))
		c.ExpiresAt = jwt.NewNumericDate(now().Add(11 * time.Minute))
		refuse(t, alice.idToken(t, c), identity.ErrNotYetValid)
	})
	t.Run("verifier_04_03_03_idTokenExpired", func(t *testing.T) {
		refuse(t, alice.idToken(t, idClaims(alice.did, bob.did, access(), now().Add(-10*time.Minute))), identity.ErrExpired)
	})
	t.Run("verifier_04_03_03_idTokenJtiUsedTwice", func(t *testing.T) {
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		refuse(t, tok, identity.ErrReplay)
	})
	t.Run("verifier_04_03_01_presentationResponse_idTokenNoTokenClaim", func(t *testing.T) {
		v2 := s.verifier(bob) // nothing cached for alice
		_, err := v2.Verify(ctx, alice.idToken(t, idClaims(alice.did, bob.did, "", now())))
		if !errors.Is(err, identity.ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
	t.Run("presentationResponse_endpointDiscovery", func(t *testing.T) {
		doc, err := s.res.Resolve(ctx, alice.did)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Key("", dcp.CapabilityInvocation); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("verifier_05_01_presentationResponse_success", func(t *testing.T) {
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		r, err := s.verifier(bob).Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if r.Participant.DID != alice.did || r.Participant.ID != "tdsc-alice" || r.Participant.Region != "CN-SH" || r.Participant.Industry != "manufacturing" {
			t.Fatalf("participant %+v: want alice's ledger attributes", r.Participant)
		}
	})

	// Holders answering crafted presentations.
	var answer func(h *node) dcp.ResponseMessage
	holders := map[string]*node{}
	holder := func(name string) *node {
		if h, ok := holders[name]; ok {
			return h
		}
		var h *node
		h = s.craftedHolder(name, func() dcp.ResponseMessage { return answer(h) })
		holders[name] = h
		return h
	}
	crafted := func(t *testing.T, name string, a func(h *node) dcp.ResponseMessage, want error) {
		t.Helper()
		answer = a
		h := holder(name)
		tok, err := h.sts.Request(bob.did, dcp.ScopeMembership)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.verifier(bob).Verify(ctx, tok)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
	good := func(h *node) string { return s.vc(s.auth, h.did, nil) }

	t.Run("verifier_05_04_02_01_presentationResponse_tooFewCredentials", func(t *testing.T) {
		other := func(h *node) string {
			return s.vc(s.auth, h.did, func(c *dcp.CredentialClaims) { c.Type = []string{"VerifiableCredential", "SomeOtherCredential"} })
		}
		crafted(t, "h1", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, other(h))) }, dcp.ErrPresentation)
	})
	t.Run("verifier_05_04_02_02_presentationResponse_tooManyCredentials", func(t *testing.T) {
		extra := func(h *node) string {
			return s.vc(s.auth, h.did, func(c *dcp.CredentialClaims) { c.Type = []string{"VerifiableCredential", "SensitiveDataCredential"} })
		}
		crafted(t, "h2", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, good(h), extra(h))) }, nil)
	})
	t.Run("verifier_05_04_02_03_presentationResponse_emptyPresentations", func(t *testing.T) {
		crafted(t, "h3", func(*node) dcp.ResponseMessage { return response() }, dcp.ErrPresentation)
	})
	t.Run("verifier_05_04_02_04_presentationResponse_emptyCredentials", func(t *testing.T) {
		crafted(t, "h4", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil)) }, dcp.ErrPresentation)
	})
	t.Run("verifier_05_04_03_presentationResponse_holderNotEqualSubjectId", func(t *testing.T) {
		crafted(t, "h5", func(h *node) dcp.ResponseMessage {
			return response(s.vp(h, bob.did, nil, s.vc(s.auth, third.did, nil)))
		}, dcp.ErrWrongSubject)
	})
	t.Run("verifier_05_04_03_07_presentationResponse_expiredCredential", func(t *testing.T) {
		expired := func(h *node) string {
			return s.vc(s.auth, h.did, func(c *dcp.CredentialClaims) {
				c.IssuedAt = jwt.NewNumericDate(now().Add(-48 * time.Hour))
				c.ValidFrom = now().Add(-48 * time.Hour).Format(time.RFC3339)
				c.ValidUntil = now().Add(-24 * time.Hour).Format(time.RFC3339)
				c.ExpiresAt = jwt.NewNumericDate(now().Add(-24 * time.Hour))
			})
		}
		crafted(t, "h6", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, expired(h))) }, identity.ErrExpired)
	})
	t.Run("verifier_05_04_03_06_presentationResponse_credentialRevoked", func(t *testing.T) {
		h := holder("h7")
		p := identity.Participant{ID: "tdsc-h7", DID: h.did, Region: "CN-BJ", Status: identity.StatusActive}
		ic, err := s.issuer.Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.issuer.Revoke(ic.ID, "test"); err != nil {
			t.Fatal(err)
		}
		crafted(t, "h7", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, ic.JWT)) }, dcp.ErrRevoked)
	})
	t.Run("verifier_05_04_03_06_presentationResponse_notYetValidCredential", func(t *testing.T) {
		future := func(h *node) string {
			return s.vc(s.auth, h.did, func(c *dcp.CredentialClaims) { c.ValidFrom = now().Add(24 * time.Hour).Format(time.RFC3339) })
		}
		crafted(t, "h8", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, future(h))) }, identity.ErrNotYetValid)
	})
	t.Run("verifier_x_x_presentationResponse_invalidCredentialSchema", func(t *testing.T) {
		bad := func(h *node) string {
			return s.vc(s.auth, h.did, func(c *dcp.CredentialClaims) { c.Context = []string{"https://example.com/not-vc"} })
		}
		crafted(t, "h9", func(h *node) dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, bad(h))) }, identity.ErrMalformed)
	})
}
