package dcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// FuzzParseDocument: a DID document from the network never panics, and a
// document that parses names the resolved DID and only keys that validate.
func FuzzParseDocument(f *testing.F) {
	k, _ := identity.GenerateEd25519()
	did := "did:web:example.com%3A8443:alice"
	doc, err := dcp.NewDocument(did, k.JWK(), dcp.Service{ID: "cs", Type: dcp.ServiceCredential, ServiceEndpoint: "https://example.com/cs"})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	f.Add(b)
	f.Add([]byte(`{"id":"did:web:example.com%3A8443:alice","verificationMethod":[{"id":"#k","type":"JsonWebKey2020","controller":"did:web:example.com%3A8443:alice","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}],"capabilityInvocation":["#k"]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := dcp.ParseDocument(b, did)
		if err != nil {
			if !errors.Is(err, dcp.ErrDID) {
				t.Fatalf("error %v does not wrap ErrDID", err)
			}
			return
		}
		if d.ID != did {
			t.Fatalf("parsed document of %q for %q", d.ID, did)
		}
		for _, vm := range d.VerificationMethod {
			if vm.PublicKeyJwk.Validate() != nil {
				t.Fatalf("accepted an invalid key %+v", vm.PublicKeyJwk)
			}
		}
		for _, id := range d.CapabilityInvocation {
			if _, err := d.Key(id, dcp.CapabilityInvocation); err != nil {
				t.Fatalf("relationship %q names no key: %v", id, err)
			}
		}
	})
}

// FuzzWebURL: every did:web either maps to an https URL on its host or is refused.
func FuzzWebURL(f *testing.F) {
	for _, s := range []string{"did:web:example.com", "did:web:example.com%3A8443:a:b", "did:web:a:..", "did:web:x%2Fy", "did:key:z6Mk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, did string) {
		u, err := dcp.WebURL(did)
		if err != nil {
			if !errors.Is(err, dcp.ErrDID) {
				t.Fatalf("error %v does not wrap ErrDID", err)
			}
			return
		}
		if len(u) < 8 || u[:8] != "https://" {
			t.Fatalf("%q maps to %q, not https", did, u)
		}
	})
}

// FuzzDecodeStatusList: an encodedList from the network decodes within the
// size bounds or is refused, and a list round-trips.
func FuzzDecodeStatusList(f *testing.F) {
	l := dcp.NewStatusList()
	l.Set(7, true)
	f.Add(l.Encode())
	f.Add("u")
	f.Add("uH4sIAAAAAAAA_2JgAAQAAP__AAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := dcp.DecodeStatusList(s)
		if err != nil {
			if !errors.Is(err, identity.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(got) < dcp.StatusListBits/8 || len(got) > 1<<20 {
			t.Fatalf("decoded %d bytes", len(got))
		}
		again, err := dcp.DecodeStatusList(got.Encode())
		if err != nil || string(again) != string(got) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseQuery: a PresentationQueryMessage is answered only with valid scopes.
func FuzzParseQuery(f *testing.F) {
	b, _ := json.Marshal(scopeQuery)
	f.Add(b)
	f.Add([]byte(`{"@context":["https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"],"type":"PresentationQueryMessage","presentationDefinition":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, scopes, err := dcp.ParseQuery(b)
		if err != nil {
			if !errors.Is(err, dcp.ErrQuery) && !errors.Is(err, dcp.ErrNotImplemented) {
				t.Fatalf("error %v wraps neither ErrQuery nor ErrNotImplemented", err)
			}
			return
		}
		if len(scopes) == 0 {
			t.Fatal("accepted a query with no scope")
		}
	})
}

// FuzzVerify: a self-issued ID token (and through it the presentations it
// leads to) from the network is verified or refused with a sentinel, never
// accepted unless it verifies. Resolution is confined to loopback.
func FuzzVerify(f *testing.F) {
	s := newSpace(f)
	alice, bob := s.addNode("alice"), s.addNode("bob")
	s.register(alice, "CN-SH")
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != s.srv.Listener.Addr().String() {
			return nil, errors.New("fuzz: only the test space is reachable")
		}
		return dial(ctx, network, addr)
	}
	hc := &http.Client{Transport: tr}
	res, _ := dcp.NewResolver(dcp.WithHTTPClient(hc), dcp.WithResolverClock(s.clock.Now))
	v, err := dcp.NewVerifier(dcp.VerifierConfig{STS: bob.sts, Resolver: res, Space: spaceID, Trusted: []string{s.auth.did},
		HTTPClient: hc, Now: s.clock.Now, CacheTTL: 1})
	if err != nil {
		f.Fatal(err)
	}
	for range 3 {
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		f.Add(tok)
	}
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		r, err := v.Verify(context.Background(), tok)
		if err == nil {
			if r.Participant.DID != alice.did {
				t.Fatalf("accepted %q as %+v", tok, r.Participant)
			}
			return
		}
		if code := dcp.StatusCode(err); code < 400 || code == 500 {
			t.Fatalf("refusal %v maps to HTTP %d", err, code)
		}
	})
}

// FuzzIsTDSCToken: the scheme switch reads any header without panicking and
// says tdsc only for the tdsc protocol typ.
func FuzzIsTDSCToken(f *testing.F) {
	f.Add("eyJ0eXAiOiJ0ZHNjLXByb3RvY29sK2p3dCJ9.e30.")
	f.Add("eyJ0eXAiOiJKV1QifQ.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		if dcp.IsTDSCToken(tok) && !strings.Contains(tok, ".") {
			t.Fatalf("%q has no header but is taken as tdsc", tok)
		}
	})
}

// FuzzHostsAllow: the allow-list check on a URL built from an untrusted DID
// never panics, and what it allows has a host on the list.
func FuzzHostsAllow(f *testing.F) {
	for _, s := range []string{"https://a.example.com/x", "https://127.0.0.1:8443/", "https://[::1]:1/", "https://x@a.example.com/", "://", "https://A.EXAMPLE.COM.:443/"} {
		f.Add(s)
	}
	h := dcp.Hosts{"a.example.com", "127.0.0.1:8443", "*.members.example.org"}
	f.Fuzz(func(t *testing.T, raw string) {
		if h.Allow(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("allowed an unparsable URL %q", raw)
		}
		name := strings.ToLower(u.Hostname())
		if name != "a.example.com" && strings.ToLower(u.Host) != "127.0.0.1:8443" && !strings.HasSuffix(name, ".members.example.org") {
			t.Fatalf("allowed %q (host %q)", raw, u.Host)
		}
	})
}

// FuzzIssuanceMessages: the Credential Issuance Protocol's messages from the
// network (a holder's request, an issuer's credential message and offer, the
// issuer's status and metadata) never panic; a refusal wraps ErrIssuance, and
// what parses carries the fields its rules require.
func FuzzIssuanceMessages(f *testing.F) {
	ctx := `"@context":["` + dcp.ContextDCP + `"]`
	for _, s := range []string{
		`{` + ctx + `,"type":"CredentialRequestMessage","holderPid":"h","credentials":[{"id":"` + dcp.MembershipObjectID + `"}]}`,
		`{` + ctx + `,"type":"CredentialRequestMessage","holderPid":"h","credentials":[]}`,
		`{` + ctx + `,"type":"CredentialMessage","issuerPid":"i","holderPid":"h","status":"ISSUED","credentials":[{"credentialType":"MembershipCredential","format":"vc20-bssl/jwt","payload":"a.b.c"}]}`,
		`{` + ctx + `,"type":"CredentialMessage","issuerPid":"i","holderPid":"h","status":"REJECTED","rejectionReason":"no"}`,
		`{` + ctx + `,"type":"CredentialOfferMessage","issuer":"did:web:x","credentials":[{"id":"c","type":"CredentialObject"}]}`,
		`{` + ctx + `,"type":"CredentialStatus","issuerPid":"i","holderPid":"h","status":"RECEIVED"}`,
		`{` + ctx + `,"type":"IssuerMetadata","issuer":"did:web:x","credentialsSupported":[]}`,
		`{"type":"CredentialOfferMessage","issuer":null}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, err error, ok func() bool) {
			if err != nil {
				if !errors.Is(err, dcp.ErrIssuance) {
					t.Fatalf("%s: error %v does not wrap ErrIssuance", name, err)
				}
				return
			}
			if !ok() {
				t.Fatalf("%s accepted %q", name, b)
			}
		}
		req, err := dcp.ParseCredentialRequest(b)
		check("request", err, func() bool {
			return req.HolderPid != "" && len(req.Credentials) > 0 && !slices.ContainsFunc(req.Credentials, func(c dcp.CredentialRef) bool { return c.ID == "" })
		})
		msg, err := dcp.ParseCredentialMessage(b)
		check("credential message", err, func() bool {
			switch msg.Status {
			case dcp.StatusIssued:
				return msg.IssuerPid != "" && msg.HolderPid != "" && len(msg.Credentials) > 0 &&
					!slices.ContainsFunc(msg.Credentials, func(c dcp.CredentialContainer) bool {
						return c.Payload == "" || c.Format == "" || c.CredentialType == ""
					})
			case dcp.StatusRejected:
				return msg.IssuerPid != "" && msg.HolderPid != "" && len(msg.Credentials) == 0
			}
			return false
		})
		offer, err := dcp.ParseCredentialOffer(b)
		check("offer", err, func() bool { return offer.Issuer != "" && len(offer.Credentials) > 0 })
		st, err := dcp.ParseCredentialStatus(b)
		check("status", err, func() bool {
			return st.IssuerPid != "" && slices.Contains([]string{dcp.StatusReceived, dcp.StatusIssued, dcp.StatusRejected}, st.Status)
		})
		md, err := dcp.ParseIssuerMetadata(b)
		check("metadata", err, func() bool { return md.Issuer != "" && md.Type == dcp.TypeIssuerMetadata })
	})
}
