package dcp_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// TestResolverCache: the cache holds at most its size, and a document
// changed at its address (a key rotation) is seen after the TTL, not before.
func TestResolverCache(t *testing.T) {
	s := newSpace(t)
	a, b, c := s.addNode("ra"), s.addNode("rb"), s.addNode("rc")
	res, err := dcp.NewResolver(dcp.WithHTTPClient(s.srv.Client()), dcp.WithCacheSize(2), dcp.WithDocumentTTL(time.Minute), dcp.WithResolverClock(s.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []*node{a, b, c} {
		if _, err := res.Resolve(ctx, n.did); err != nil {
			t.Fatal(err)
		}
	}
	if res.Len() != 2 {
		t.Fatalf("cache holds %d documents, bound 2", res.Len())
	}

	// A DID whose document the test swaps: a key rotation.
	did, _ := dcp.WebDID(s.srv.URL + "/rot")
	k1, _ := identity.GenerateEd25519()
	k2, _ := identity.GenerateEd25519()
	doc1, _ := dcp.NewDocument(did, k1.JWK())
	doc2, _ := dcp.NewDocument(did, k2.JWK())
	var cur atomic.Pointer[http.Handler]
	h1 := dcp.DocumentHandler(doc1)
	cur.Store(&h1)
	s.mux.HandleFunc("/rot/did.json", func(w http.ResponseWriter, r *http.Request) { (*cur.Load()).ServeHTTP(w, r) })
	x := func() string {
		t.Helper()
		d, err := res.Resolve(ctx, did)
		if err != nil {
			t.Fatal(err)
		}
		return d.VerificationMethod[0].PublicKeyJwk.X
	}
	if x() != k1.JWK().X {
		t.Fatal("first resolution: not the first key")
	}
	h2 := dcp.DocumentHandler(doc2)
	cur.Store(&h2)
	if x() != k1.JWK().X {
		t.Fatal("rotation seen before the TTL: the cache was not used")
	}
	s.clock.Add(time.Minute)
	if x() != k2.JWK().X {
		t.Fatal("rotation not seen after the TTL")
	}
}

// TestResolverFailureCache: a DID that fails to resolve is fetched once per
// failure TTL, however many tokens name it.
func TestResolverFailureCache(t *testing.T) {
	s := newSpace(t)
	var hits atomic.Int32
	s.mux.HandleFunc("/ghost/did.json", func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); http.NotFound(w, nil) })
	did, _ := dcp.WebDID(s.srv.URL + "/ghost")
	res, _ := dcp.NewResolver(dcp.WithHTTPClient(s.srv.Client()), dcp.WithResolverClock(s.clock.Now), dcp.WithFailureTTL(5*time.Second))
	for range 20 {
		if _, err := res.Resolve(context.Background(), did); err == nil {
			t.Fatal("resolved a missing document")
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("%d fetches within the failure TTL, want 1", hits.Load())
	}
	s.clock.Add(5 * time.Second)
	_, _ = res.Resolve(context.Background(), did)
	if hits.Load() != 2 {
		t.Fatalf("%d fetches after the failure TTL, want 2", hits.Load())
	}
}
