package dcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// TestAttacks are the refusals issue #15 names, each against the real
// handlers of a loopback HTTPS space.
func TestAttacks(t *testing.T) {
	s := newSpace(t)
	alice, bob, third := s.addNode("alice"), s.addNode("bob"), s.addNode("third")
	s.register(alice, "CN-SH")
	ctx := context.Background()
	now := s.clock.Now
	access := func(h *node) string {
		tok, err := h.sts.AccessToken(bob.did, dcp.ScopeMembership)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expect := func(t *testing.T, v *dcp.Verifier, tok string, want error) {
		t.Helper()
		if _, err := v.Verify(ctx, tok); !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}

	t.Run("token signed by a key not in the DID document", func(t *testing.T) {
		other, _ := identity.GenerateEd25519()
		tok := sign(t, other, alice.did+"#"+dcp.KeyFragment, "JWT", idClaims(alice.did, bob.did, access(alice), now()))
		expect(t, s.verifier(bob), tok, identity.ErrBadSignature)
		tok = sign(t, other, alice.did+"#other", "JWT", idClaims(alice.did, bob.did, access(alice), now()))
		expect(t, s.verifier(bob), tok, identity.ErrUnknownKey)
		// A key of another DID named in kid.
		tok = sign(t, third.key, third.did+"#"+dcp.KeyFragment, "JWT", idClaims(alice.did, bob.did, access(alice), now()))
		expect(t, s.verifier(bob), tok, identity.ErrUnknownKey)
		// A key carried in the token itself.
		c := idClaims(alice.did, bob.did, access(alice), now())
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = alice.did + "#" + dcp.KeyFragment
		tk.Header["jwk"] = other.JWK()
		str, _ := tk.SignedString(other.Signer())
		expect(t, s.verifier(bob), str, identity.ErrForbiddenHeader)
	})
	t.Run("key without the capabilityInvocation relationship", func(t *testing.T) {
		k, _ := identity.GenerateEd25519()
		n := s.addNodeWithKey("authonly", k)
		n.doc.CapabilityInvocation = nil
		s.mux.Handle("/authonly2/did.json", dcp.DocumentHandler(mustDoc(t, n.doc, s.srv.URL+"/authonly2")))
		did, _ := dcp.WebDID(s.srv.URL + "/authonly2")
		tok := sign(t, k, did+"#"+dcp.KeyFragment, "JWT", idClaims(did, bob.did, "x", now()))
		expect(t, s.verifier(bob), tok, identity.ErrUnknownKey)
	})
	t.Run("presentation from an untrusted issuer", func(t *testing.T) {
		var h *node
		h = s.craftedHolder("untrusted", func() dcp.ResponseMessage { return response(s.vp(h, bob.did, nil, s.vc(third, h.did, nil))) })
		tok, _ := h.sts.Request(bob.did, dcp.ScopeMembership)
		expect(t, s.verifier(bob), tok, dcp.ErrUntrustedIssuer)
		// Trusting third makes the same presentation pass: the refusal was the trust list.
		v := s.verifier(bob, func(c *dcp.VerifierConfig) { c.Trusted = append(c.Trusted, third.did) })
		tok, _ = h.sts.Request(bob.did, dcp.ScopeMembership)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("with third trusted: %v", err)
		}
	})
	t.Run("revoked credential, through a suspension on the ledger", func(t *testing.T) {
		v := s.verifier(bob)
		tok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		p, _ := s.ledger.Participant(ctx, "tdsc-alice")
		p.Status = identity.StatusSuspended
		s.ledger.Put(p)
		revoked, err := s.issuer.Reconcile(ctx, s.ledger)
		if err != nil || len(revoked) != 1 {
			t.Fatalf("reconcile revoked %v, %v; want alice's one credential", revoked, err)
		}
		// Within the bound (status list and verifier cache: 10 s here) the
		// cached answer may stand; past it the request is refused.
		s.clock.Add(11 * time.Second)
		tok, _ = alice.sts.Request(bob.did, dcp.ScopeMembership)
		_, err = v.Verify(ctx, tok)
		if !errors.Is(err, dcp.ErrRevoked) || !strings.Contains(err.Error(), "index") {
			t.Fatalf("got %v, want ErrRevoked naming the status list index", err)
		}
		// Reconcile is idempotent and the issuer refuses a suspended participant.
		if again, _ := s.issuer.Reconcile(ctx, s.ledger); len(again) != 0 {
			t.Fatalf("second reconcile revoked %v", again)
		}
		if _, err := s.issuer.Issue(p); !errors.Is(err, identity.ErrSuspended) {
			t.Fatalf("issue to a suspended participant: %v", err)
		}
	})
	t.Run("credential for another subject", func(t *testing.T) {
		if err := third.cs.Store(s.vc(s.auth, alice.did, nil)); !errors.Is(err, dcp.ErrWrongSubject) {
			t.Fatalf("store: %v", err)
		}
	})
	t.Run("expired presentation", func(t *testing.T) {
		var h *node
		h = s.craftedHolder("oldvp", func() dcp.ResponseMessage {
			return response(s.vp(h, bob.did, func(c *dcp.PresentationClaims) {
				c.IssuedAt = jwt.NewNumericDate(now().Add(-10 * time.Minute))
				c.ExpiresAt = jwt.NewNumericDate(now().Add(-5 * time.Minute))
			}, s.vc(s.auth, h.did, nil)))
		})
		tok, _ := h.sts.Request(bob.did, dcp.ScopeMembership)
		_, err := s.verifier(bob).Verify(ctx, tok)
		if !errors.Is(err, dcp.ErrPresentation) || !errors.Is(err, identity.ErrExpired) {
			t.Fatalf("got %v, want ErrPresentation and ErrExpired", err)
		}
	})
	t.Run("DID document over plain HTTP", func(t *testing.T) {
		pm := http.NewServeMux()
		plain := httptest.NewServer(pm)
		defer plain.Close()
		did, _ := dcp.WebDID(plain.URL)
		pm.Handle("/", dcp.DocumentHandler(mustDoc(t, alice.doc, plain.URL)))
		if r, err := plain.Client().Get(plain.URL + "/.well-known/did.json"); err != nil || r.StatusCode != 200 {
			t.Fatalf("the plain server does serve the document: %v", err)
		}
		res, _ := dcp.NewResolver(dcp.WithHTTPClient(plain.Client()))
		if _, err := res.Resolve(ctx, did); !errors.Is(err, dcp.ErrDID) {
			t.Fatalf("resolve over plain HTTP: %v, want ErrDID", err)
		}
		// An HTTPS address redirecting to plain HTTP.
		s.mux.Handle("/redir/did.json", http.RedirectHandler(plain.URL+"/.well-known/did.json", http.StatusFound))
		rdid, _ := dcp.WebDID(s.srv.URL + "/redir")
		if _, err := s.res.Resolve(ctx, rdid); !errors.Is(err, dcp.ErrDID) || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("resolve through a redirect: %v, want ErrDID naming the redirect", err)
		}
	})
	t.Run("token replay", func(t *testing.T) {
		v := s.verifier(bob)
		tok, _ := third.sts.Request(bob.did, dcp.ScopeMembership)
		_, _ = v.Verify(ctx, tok) // third has no credential: refused, but its jti is spent
		expect(t, v, tok, identity.ErrReplay)
	})
	t.Run("audience confusion between DCP and tdsc tokens", func(t *testing.T) {
		// A tdsc protocol token (by alice's key, named by her DID) at a DCP verifier.
		iss, err := identity.NewIssuer(alice.did, alice.key)
		if err != nil {
			t.Fatal(err)
		}
		proto, _ := iss.ProtocolToken(bob.did)
		expect(t, s.verifier(bob), proto, identity.ErrWrongKind)
		// The same with typ JWT but the tkn claim.
		c := idClaims(alice.did, bob.did, access(alice), now())
		c.Tkn = string(identity.KindProtocol)
		expect(t, s.verifier(bob), alice.idToken(t, c), identity.ErrWrongKind)
		// A DCP access token or presentation used as an ID token.
		expect(t, s.verifier(bob), access(alice), identity.ErrWrongKind)
		vp := s.vp(alice, bob.did, nil)
		expect(t, s.verifier(bob), vp, identity.ErrWrongKind)
		// A DCP self-issued token at a tdsc verifier, whose registry knows alice by her DID.
		reg := identity.NewRegistry(identity.NewMemorySource(identity.Participant{ID: alice.did, Keys: []identity.JWK{alice.key.JWK()}, Status: identity.StatusActive}))
		tv, _ := identity.NewVerifier(reg, identity.WithClock(now))
		dcpTok, _ := alice.sts.Request(bob.did, dcp.ScopeMembership)
		if _, err := tv.VerifyProtocol(ctx, dcpTok, bob.did); !errors.Is(err, identity.ErrWrongKind) {
			t.Fatalf("tdsc verifier took a DCP token: %v", err)
		}
	})
}

// mustDoc re-homes doc (its key) at the did:web of base.
func mustDoc(t *testing.T, doc *dcp.Document, base string) *dcp.Document {
	t.Helper()
	did, err := dcp.WebDID(base)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dcp.NewDocument(did, doc.VerificationMethod[0].PublicKeyJwk)
	if err != nil {
		t.Fatal(err)
	}
	if doc.CapabilityInvocation == nil {
		d.CapabilityInvocation = nil
	}
	return d
}
