package dcp_test

// The issuance cases of the DCP TCK (dcp-testcases issuance/issuer and
// issuance/cs) ported case by case against the real handlers: the
// authority's Issuer Service and a holder node's Credential Service on a
// loopback HTTPS server. docs/dcp-conformance.md lists them with results.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/suite"
)

// issuanceSpace is a space whose authority ("issuer") runs the Issuer
// Service, its DID document carrying the IssuerService entry.
type issuanceSpace struct {
	*space
	iss      *node // the authority as issuer: its DID and key
	ci       *dcp.CredentialIssuer
	svc      *dcp.IssuerService
	endpoint string
}

func newIssuanceSpace(t *testing.T) *issuanceSpace { return newSuiteIssuanceSpace(t, suite.Intl) }

// newSuiteIssuanceSpace is newIssuanceSpace with every key of suite cs.
func newSuiteIssuanceSpace(t *testing.T, cs *suite.Suite) *issuanceSpace {
	t.Helper()
	s := &issuanceSpace{space: newSuiteSpace(t, cs)}
	key := s.newKey()
	var err error
	base := s.srv.URL + "/issuer"
	did, _ := dcp.WebDID(base)
	s.iss = &node{did: did, key: key, base: base}
	s.endpoint = base + "/issuance"
	s.ci, err = dcp.NewCredentialIssuer(dcp.IssuerConfig{DID: did, Key: key, Space: spaceID, StatusURL: base + dcp.StatusPath,
		StatusTTL: 10 * time.Second, Now: s.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.svc, err = dcp.NewIssuerService(dcp.IssuerServiceConfig{DID: did, Key: key, Issuer: s.ci, Ledger: s.ledger,
		Endpoint: s.endpoint, Resolver: s.res, HTTPClient: s.srv.Client(), Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.svc.Close(context.Background()) })
	doc, err := dcp.NewDocument(did, key.JWK(), s.svc.ServiceEntry())
	if err != nil {
		t.Fatal(err)
	}
	s.iss.doc = doc
	s.mux.Handle("/issuer/did.json", dcp.DocumentHandler(doc))
	s.mux.Handle("/issuer"+dcp.StatusPath, http.StripPrefix("/issuer", s.ci.Handler()))
	s.mux.Handle("/issuer/issuance/", http.StripPrefix("/issuer/issuance", s.svc.Handler()))
	return s
}

// holder adds a node trusting the issuer; registered, when status is not
// empty, on the ledger by its DID with that status.
func (s *issuanceSpace) holder(name, status string) *node {
	s.t.Helper()
	key := s.newKey()
	n := s.addNodeTrusting(name, key, s.iss.did)
	if status != "" {
		s.ledger.Put(identity.Participant{ID: n.did, DID: n.did, Name: name, Region: "CN-SH", Industry: "manufacturing",
			OrgType: "enterprise", Status: status, Keys: []identity.JWK{key.JWK()}})
	}
	return n
}

// do sends method url with the Authorization header auth (none when empty)
// and body (JSON, none when nil); it returns the status, headers and body.
func (s *space) do(method, url, auth string, body any) (int, http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func is4xx(t *testing.T, code int, body []byte) {
	t.Helper()
	if code < 400 || code > 499 {
		t.Fatalf("HTTP %d %s, want 4xx", code, body)
	}
}

// wrongKeyToken is the TCK's spoofed token: iss's claims, kid naming iss's
// key, signed by a freshly generated key of the same algorithm (the TCK's
// P-256 for its P-256 parties; Ed25519 for tdsc's), so that the signature
// check, not the algorithm check, refuses it.
func wrongKeyToken(t *testing.T, iss *node, c jwt.Claims) string {
	t.Helper()
	gen := identity.GenerateEd25519
	if iss.key.JWK().Algorithm() == "ES256" {
		gen = identity.GenerateES256
	}
	spoof, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, spoof, iss.did+"#"+dcp.KeyFragment, "JWT", c)
}

// TestTCKIssuer ports dcp-testcases issuance/issuer: the holder (alice, a
// DID participant the ledger registers active) asks the authority's Issuer
// Service for credentials.
func TestTCKIssuer(t *testing.T) {
	s := newIssuanceSpace(t)
	alice, third := s.holder("alice", identity.StatusActive), s.addNode("third")
	now := s.clock.Now
	// claims are the TCK's createClaims: alice to the issuer (1 min life; the
	// TCK's 10 min exceed tdsc's 5 min bound on self-issued tokens).
	claims := func() *dcp.IDClaims { return idClaims(alice.did, s.iss.did, "", now()) }
	bearer := func(c *dcp.IDClaims) string { return "Bearer " + alice.idToken(t, c) }
	// requestMessage is the TCK's createCredentialRequestMessage: the ids of
	// the credentialsSupported in the issuer's profile, read from GET /metadata.
	requestMessage := func(holderPid string) map[string]any {
		t.Helper()
		code, _, b := s.do(http.MethodGet, s.endpoint+dcp.MetadataPath, bearer(claims()), nil)
		if code != http.StatusOK {
			t.Fatalf("metadata: HTTP %d", code)
		}
		md, err := dcp.ParseIssuerMetadata(b)
		if err != nil {
			t.Fatal(err)
		}
		var ids []map[string]string
		for _, o := range md.CredentialsSupported {
			if o.Profile == dcp.ProfileVC20JWT {
				ids = append(ids, map[string]string{"id": o.ID})
			}
		}
		return map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeCredentialRequest, "holderPid": holderPid, "credentials": ids}
	}
	post := func(auth string, msg map[string]any) (int, http.Header, []byte) {
		return s.do(http.MethodPost, s.endpoint+dcp.CredentialsPath, auth, msg)
	}
	flush := func(t *testing.T) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.svc.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("is_6_2_endpointDiscovery", func(t *testing.T) {
		doc, err := s.res.Resolve(context.Background(), s.iss.did)
		if err != nil {
			t.Fatal(err)
		}
		if ep, err := doc.ServiceEndpoint(dcp.ServiceIssuer); err != nil || ep != s.endpoint {
			t.Fatalf("IssuerService endpoint %q, %v; want %q", ep, err, s.endpoint)
		}
	})
	t.Run("is_6_7_issuerMetadata", func(t *testing.T) {
		code, _, b := s.do(http.MethodGet, s.endpoint+dcp.MetadataPath, "", nil)
		if code != http.StatusOK {
			t.Fatalf("HTTP %d, want 200", code)
		}
		md, err := dcp.ParseIssuerMetadata(b)
		if err != nil {
			t.Fatal(err)
		}
		if md.Type != "IssuerMetadata" || md.Issuer != s.iss.did || len(md.CredentialsSupported) == 0 {
			t.Fatalf("metadata %+v: want IssuerMetadata of %s with credentialsSupported", md, s.iss.did)
		}
		// DCP §6.7.1: every CredentialObject there has all optional properties.
		o := md.CredentialsSupported[0]
		if o.Type != dcp.TypeCredentialObject || o.CredentialType != dcp.TypeMembership || o.Profile != dcp.ProfileVC20JWT ||
			o.OfferReason == "" || len(o.BindingMethods) == 0 || len(o.IssuancePolicy) == 0 || o.CredentialSchema == "" {
			t.Fatalf("credential object %+v lacks a property", o)
		}
		if code, _, b := s.do(http.MethodGet, o.CredentialSchema, "", nil); code != http.StatusOK || !json.Valid(b) {
			t.Fatalf("credentialSchema %s: HTTP %d", o.CredentialSchema, code)
		}
	})
	t.Run("is_6_4_1_credentialRequest", func(t *testing.T) {
		code, h, b := post(bearer(claims()), requestMessage(uuid.NewString()))
		if code < 200 || code > 299 || h.Get("Location") == "" {
			t.Fatalf("HTTP %d Location %q %s, want 2xx with a Location", code, h.Get("Location"), b)
		}
		flush(t)
		// The CredentialMessage reached alice's Credential Service: it holds
		// the membership credential (the TCK's fixture issuer offers two
		// credentials, tdsc's one), and a verifier trusting the issuer accepts it.
		if got := alice.cs.Stored(dcp.TypeMembership); len(got) != 1 {
			t.Fatalf("alice holds %d membership credentials, want 1", len(got))
		}
		bob := s.addNode("bob")
		v := s.verifier(bob, func(c *dcp.VerifierConfig) { c.Trusted = []string{s.iss.did} })
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		r, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if r.Participant.DID != alice.did || r.Participant.Region != "CN-SH" {
			t.Fatalf("verified %+v, want alice's ledger attributes", r.Participant)
		}
	})
	t.Run("is_6_4_2_credentialRequest_noAuthHeader", func(t *testing.T) {
		code, _, b := post("", requestMessage(alice.did))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_3_credentialRequest_noBearerPrefix", func(t *testing.T) {
		code, _, b := post(alice.idToken(t, claims()), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_4_credentialRequest_invalidBody", func(t *testing.T) {
		m := requestMessage(uuid.NewString())
		delete(m, "credentials")
		code, _, b := post(bearer(claims()), m)
		is4xx(t, code, b)
	})
	t.Run("is_6_4_5_credentialRequest_tokenSignedWithWrongKey", func(t *testing.T) {
		code, _, b := post("Bearer "+wrongKeyToken(t, alice, claims()), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_6_credentialRequest_tokenExpired", func(t *testing.T) {
		c := claims()
		c.ExpiresAt = jwt.NewNumericDate(now().Add(-60 * time.Second))
		code, _, b := post(bearer(c), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_7_credentialRequest_iatInFuture", func(t *testing.T) {
		c := claims()
		c.IssuedAt = jwt.NewNumericDate(now().Add(60 * time.Second))
		code, _, b := post(bearer(c), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_8_credentialRequest_nbfViolated", func(t *testing.T) {
		c := claims()
		c.NotBefore = jwt.NewNumericDate(now().Add(60 * time.Second))
		code, _, b := post(bearer(c), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_8_credentialRequest_invalidAud", func(t *testing.T) {
		c := claims()
		c.Audience = jwt.ClaimStrings{third.did}
		code, _, b := post(bearer(c), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_10_credentialRequest_issNotEqualSub", func(t *testing.T) {
		c := claims()
		c.Issuer = third.did
		code, _, b := post(bearer(c), requestMessage(uuid.NewString()))
		is4xx(t, code, b)
	})
	t.Run("is_6_4_11_credentialRequest_jtiAlreadyUsed", func(t *testing.T) {
		auth, m := bearer(claims()), requestMessage(uuid.NewString())
		if code, _, b := post(auth, m); code != http.StatusCreated {
			t.Fatalf("first use: HTTP %d %s, want 201", code, b)
		}
		code, _, b := post(auth, m)
		is4xx(t, code, b)
	})
	t.Run("is_6_4_12_credentialRequest_missingHolderPid", func(t *testing.T) {
		m := requestMessage(uuid.NewString())
		delete(m, "holderPid")
		code, _, b := post(bearer(claims()), m)
		is4xx(t, code, b)
	})

	// issuance/issuer CredentialRequestStatusTest.
	requestCredentials := func(t *testing.T) string {
		t.Helper()
		code, h, b := post(bearer(claims()), requestMessage(uuid.NewString()))
		loc := h.Get("Location")
		if code < 200 || code > 299 || loc == "" {
			t.Fatalf("HTTP %d Location %q %s", code, loc, b)
		}
		return loc[strings.LastIndex(loc, "/")+1:]
	}
	statusURL := func(id string) string { return s.endpoint + dcp.RequestsPath + id }
	status := func(t *testing.T, id, auth string) (int, []byte) {
		t.Helper()
		code, _, b := s.do(http.MethodGet, statusURL(id), auth, nil)
		return code, b
	}
	t.Run("is_6_8_1_credentialStatusRequest", func(t *testing.T) {
		id := requestCredentials(t)
		code, b := status(t, id, bearer(claims()))
		if code != http.StatusOK {
			t.Fatalf("HTTP %d %s", code, b)
		}
		st, err := dcp.ParseCredentialStatus(b)
		if err != nil || !slices.Contains([]string{"ISSUED", "RECEIVED", "REJECTED"}, st.Status) {
			t.Fatalf("status %+v, %v", st, err)
		}
		// Once decided, alice's request is ISSUED (she is active on the ledger).
		flush(t)
		_, b = status(t, id, bearer(claims()))
		if st, err := dcp.ParseCredentialStatus(b); err != nil || st.Status != dcp.StatusIssued || st.IssuerPid != id {
			t.Fatalf("after the decision: %+v, %v; want ISSUED for %s", st, err, id)
		}
	})
	t.Run("is_6_8_2_credentialStatusRequest_noAuthHeader", func(t *testing.T) {
		code, b := status(t, requestCredentials(t), "")
		is4xx(t, code, b)
	})
	t.Run("is_6_8_3_credentialStatusRequest_noBearerPrefix", func(t *testing.T) {
		code, b := status(t, requestCredentials(t), alice.idToken(t, claims()))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_5_credentialStatusRequest_tokenSignedWithWrongKey", func(t *testing.T) {
		code, b := status(t, requestCredentials(t), "Bearer "+wrongKeyToken(t, alice, claims()))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_6_credentialStatusRequest_tokenExpired", func(t *testing.T) {
		id := requestCredentials(t)
		c := claims()
		c.ExpiresAt = jwt.NewNumericDate(now().Add(-60 * time.Second))
		code, b := status(t, id, bearer(c))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_7_credentialStatusRequest_iatInFuture", func(t *testing.T) {
		id := requestCredentials(t)
		c := claims()
		c.IssuedAt = jwt.NewNumericDate(now().Add(60 * time.Second))
		code, b := status(t, id, bearer(c))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_8_credentialStatusRequest_nbfViolated", func(t *testing.T) {
		id := requestCredentials(t)
		c := claims()
		c.NotBefore = jwt.NewNumericDate(now().Add(60 * time.Second))
		code, b := status(t, id, bearer(c))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_8_credentialStatusRequest_invalidAud", func(t *testing.T) {
		id := requestCredentials(t)
		c := claims()
		c.Audience = jwt.ClaimStrings{third.did}
		code, b := status(t, id, bearer(c))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_10_credentialStatusRequest_issNotEqualSub", func(t *testing.T) {
		id := requestCredentials(t)
		c := claims()
		c.Issuer = third.did
		code, b := status(t, id, bearer(c))
		is4xx(t, code, b)
	})
	t.Run("is_6_8_11_credentialStatusRequest_jtiAlreadyUsed", func(t *testing.T) {
		id := requestCredentials(t)
		auth := bearer(claims())
		if code, b := status(t, id, auth); code != http.StatusOK {
			t.Fatalf("first use: HTTP %d %s", code, b)
		}
		code, b := status(t, id, auth)
		is4xx(t, code, b)
	})
	t.Run("is_6_8_12_credentialStatusRequest_requestIdNotFound", func(t *testing.T) {
		code, b := status(t, "not-exist", bearer(claims()))
		is4xx(t, code, b)
	})
	flush(t)
}

// TestTCKCredentialServiceIssuance ports dcp-testcases issuance/cs: the
// issuer writes to the holder's (alice's) Credential Service.
func TestTCKCredentialServiceIssuance(t *testing.T) {
	s := newIssuanceSpace(t)
	alice, third := s.holder("alice", identity.StatusActive), s.addNode("third")
	now := s.clock.Now
	claims := func() *dcp.IDClaims { return idClaims(s.iss.did, alice.did, "", now()) }
	bearer := func(c *dcp.IDClaims) string { return "Bearer " + s.iss.idToken(t, c) }
	const sensitive = "SensitiveDataCredential"
	// credentialMessage is the TCK's: a membership and a sensitive-data
	// credential for alice, signed by the issuer, in tdsc's profile (the TCK
	// sends vc11-sl2021/jwt, a VC 1.1 profile tdsc does not store).
	credentialMessage := func(holderPid string) map[string]any {
		return map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeCredentialMessage,
			"issuerPid": uuid.NewString(), "holderPid": holderPid, "status": "ISSUED",
			"credentials": []map[string]string{
				{"credentialType": dcp.TypeMembership, "format": dcp.ProfileVC20JWT, "payload": s.vc(s.iss, alice.did, nil)},
				{"credentialType": sensitive, "format": dcp.ProfileVC20JWT, "payload": s.vc(s.iss, alice.did, func(c *dcp.CredentialClaims) {
					c.Type = []string{"VerifiableCredential", sensitive}
				})},
			}}
	}
	post := func(path, auth string, msg map[string]any) (int, []byte) {
		code, _, b := s.do(http.MethodPost, alice.base+"/cs"+path, auth, msg)
		return code, b
	}

	// issuance/cs CredentialIssuanceTest.
	cred := func(auth string, msg map[string]any) (int, []byte) { return post(dcp.CredentialsPath, auth, msg) }
	t.Run("cs_06_05_01_credentialMessage", func(t *testing.T) {
		code, b := cred(bearer(claims()), credentialMessage(uuid.NewString()))
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d %s, want 2xx", code, b)
		}
		if n, m := len(alice.cs.Stored(sensitive)), len(alice.cs.Stored(dcp.TypeMembership)); n != 1 || m != 1 {
			t.Fatalf("stored %d sensitive and %d membership credentials, want 1 and 1", n, m)
		}
	})
	stored := len(alice.cs.Stored(""))
	refused := func(t *testing.T, code int, b []byte) {
		t.Helper()
		is4xx(t, code, b)
		if n := len(alice.cs.Stored("")); n != stored {
			t.Fatalf("a refused message changed the store: %d credentials, want %d", n, stored)
		}
	}
	t.Run("cs_06_05_01_credentialMessage_noAuthHeader", func(t *testing.T) {
		code, b := cred("", credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_missingBearerPrefix", func(t *testing.T) {
		code, b := cred(s.iss.idToken(t, claims()), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_invalidBody", func(t *testing.T) {
		m := credentialMessage(uuid.NewString())
		delete(m, "holderPid")
		code, b := cred(bearer(claims()), m)
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_tokenSignedWithWrongKey", func(t *testing.T) {
		code, b := cred("Bearer "+wrongKeyToken(t, s.iss, claims()), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_tokenExpired", func(t *testing.T) {
		c := claims()
		c.ExpiresAt = jwt.NewNumericDate(now().Add(-time.Hour))
		code, b := cred(bearer(c), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_iatInFuture", func(t *testing.T) {
		c := claims()
		c.IssuedAt = jwt.NewNumericDate(now().Add(time.Hour))
		code, b := cred(bearer(c), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_nbfViolated", func(t *testing.T) {
		c := claims()
		c.NotBefore = jwt.NewNumericDate(now().Add(time.Hour))
		code, b := cred(bearer(c), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_incorrectAudience", func(t *testing.T) {
		c := claims()
		c.Audience = jwt.ClaimStrings{third.did}
		code, b := cred(bearer(c), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_issNotEqualToSub", func(t *testing.T) {
		c := claims()
		c.Subject = third.did
		code, b := cred(bearer(c), credentialMessage(uuid.NewString()))
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_jtiAlreadyUsed", func(t *testing.T) {
		auth, m := bearer(claims()), credentialMessage(uuid.NewString())
		if code, b := cred(auth, m); code < 200 || code > 299 {
			t.Fatalf("first use: HTTP %d %s", code, b)
		}
		stored = len(alice.cs.Stored(""))
		code, b := cred(auth, m)
		refused(t, code, b)
	})
	t.Run("cs_06_05_01_credentialMessage_invalidStatus", func(t *testing.T) {
		m := credentialMessage(uuid.NewString())
		m["status"] = "INVALID_STATUS"
		code, b := cred(bearer(claims()), m)
		refused(t, code, b)
	})

	// issuance/cs CredentialOfferTest.
	offerMessage := func() map[string]any {
		return map[string]any{"@context": []string{dcp.ContextDCP}, "type": dcp.TypeCredentialOffer, "issuer": s.iss.did,
			"credentials": []map[string]any{{"id": uuid.NewString(), "type": "CredentialObject", "credentialType": "MembershipCredential",
				"offerReason": "reissue", "bindingMethods": []string{"did:web:"}, "profile": "vc11-sl2021/jwt", "issuancePolicy": map[string]any{}}}}
	}
	offer := func(auth string, msg map[string]any) (int, []byte) { return post(dcp.OffersPath, auth, msg) }
	offers := len(alice.cs.Offers())
	offerRefused := func(t *testing.T, code int, b []byte) {
		t.Helper()
		is4xx(t, code, b)
		if n := len(alice.cs.Offers()); n != offers {
			t.Fatalf("a refused offer was recorded: %d offers, want %d", n, offers)
		}
	}
	t.Run("cs_06_06_01_credentialOfferMessage", func(t *testing.T) {
		code, b := offer(bearer(claims()), offerMessage())
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d %s, want 2xx", code, b)
		}
		o := alice.cs.Offers()
		if len(o) != offers+1 || o[len(o)-1].Issuer != s.iss.did || o[len(o)-1].Credentials[0].CredentialType != dcp.TypeMembership {
			t.Fatalf("offers %+v: want the issuer's membership offer recorded", o)
		}
		offers++
	})
	t.Run("cs_06_06_01_credentialOfferMessage_onlyIds", func(t *testing.T) {
		m := offerMessage()
		m["credentials"] = []map[string]string{{"id": uuid.NewString()}, {"id": uuid.NewString()}}
		code, b := offer(bearer(claims()), m)
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d %s, want 2xx", code, b)
		}
		offers++
	})
	t.Run("cs_06_06_01_credentialOfferMessage_noAuthHeader", func(t *testing.T) {
		code, b := offer("", offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_missingBearerPrefix", func(t *testing.T) {
		code, b := offer(s.iss.idToken(t, claims()), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_invalidBody", func(t *testing.T) {
		m := offerMessage()
		m["issuer"] = nil
		delete(m, "holderPid")
		code, b := offer(bearer(claims()), m)
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_tokenSignedWithWrongKey", func(t *testing.T) {
		code, b := offer("Bearer "+wrongKeyToken(t, s.iss, claims()), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_tokenExpired", func(t *testing.T) {
		c := claims()
		c.ExpiresAt = jwt.NewNumericDate(now().Add(-time.Hour))
		code, b := offer(bearer(c), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_iatInFuture", func(t *testing.T) {
		c := claims()
		c.IssuedAt = jwt.NewNumericDate(now().Add(time.Hour))
		code, b := offer(bearer(c), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_nbfViolated", func(t *testing.T) {
		c := claims()
		c.NotBefore = jwt.NewNumericDate(now().Add(time.Hour))
		code, b := offer(bearer(c), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_incorrectAudience", func(t *testing.T) {
		c := claims()
		c.Audience = jwt.ClaimStrings{third.did}
		code, b := offer(bearer(c), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_issNotEqualToSub", func(t *testing.T) {
		c := claims()
		c.Subject = third.did
		code, b := offer(bearer(c), offerMessage())
		offerRefused(t, code, b)
	})
	t.Run("cs_06_06_01_credentialOfferMessage_jtiAlreadyUsed", func(t *testing.T) {
		auth := bearer(claims())
		if code, b := offer(auth, offerMessage()); code < 200 || code > 299 {
			t.Fatalf("first use: HTTP %d %s", code, b)
		}
		offers++
		code, b := offer(auth, offerMessage())
		offerRefused(t, code, b)
	})
}
