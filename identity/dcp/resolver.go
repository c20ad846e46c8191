package dcp

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
)

// Resolver resolves did:web DIDs over HTTPS and caches the documents. It
// never speaks plain HTTP (WebURL always yields https) and follows no
// redirect, so a document cannot be served or diverted in clear text. The
// cache holds at most a fixed number of documents, each for a TTL: the
// longest a key rotation or removal goes unseen (Invalidate drops one at
// once). Safe for concurrent use.
type Resolver struct {
	http *resty.Client
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu  sync.Mutex
	lru *list.List // of *docEntry, most recent first
	m   map[string]*list.Element
}

type docEntry struct {
	did     string
	doc     *Document
	fetched time.Time
}

// ResolverOption configures a Resolver.
type ResolverOption func(*Resolver)

// WithHTTPClient sets the HTTP client (its TLS configuration carries the
// space CA in tests and private deployments). Its redirect policy is
// replaced: no redirects.
func WithHTTPClient(c *http.Client) ResolverOption {
	return func(r *Resolver) { r.http = resty.NewWithClient(c) }
}

// WithDocumentTTL sets how long a resolved document is cached (default 5 min).
func WithDocumentTTL(d time.Duration) ResolverOption { return func(r *Resolver) { r.ttl = d } }

// WithCacheSize bounds the number of cached documents (default 10 000).
func WithCacheSize(n int) ResolverOption { return func(r *Resolver) { r.max = n } }

// WithResolverClock injects the clock (tests use a fake one).
func WithResolverClock(now func() time.Time) ResolverOption { return func(r *Resolver) { r.now = now } }

// NewResolver makes a resolver.
func NewResolver(opts ...ResolverOption) (*Resolver, error) {
	r := &Resolver{http: resty.New(), ttl: 5 * time.Minute, max: 10000, now: time.Now, lru: list.New(), m: map[string]*list.Element{}}
	for _, o := range opts {
		o(r)
	}
	if r.ttl <= 0 || r.max <= 0 {
		return nil, fmt.Errorf("dcp: resolver: document TTL %v and cache size %d must be positive", r.ttl, r.max)
	}
	r.http.SetTimeout(10*time.Second).SetRedirectPolicy(resty.NoRedirectPolicy()).
		SetHeader("Accept", "application/did+json, application/json")
	return r, nil
}

// Resolve returns the DID document of did, from the cache when fresh.
func (r *Resolver) Resolve(ctx context.Context, did string) (*Document, error) {
	now := r.now()
	r.mu.Lock()
	if el, ok := r.m[did]; ok {
		e := el.Value.(*docEntry)
		if now.Sub(e.fetched) < r.ttl {
			r.lru.MoveToFront(el)
			r.mu.Unlock()
			return e.doc, nil
		}
		r.lru.Remove(el)
		delete(r.m, did)
	}
	r.mu.Unlock()

	doc, err := r.fetch(ctx, did)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if el, ok := r.m[did]; ok {
		r.lru.Remove(el)
	}
	r.m[did] = r.lru.PushFront(&docEntry{did: did, doc: doc, fetched: now})
	for r.lru.Len() > r.max {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.m, old.Value.(*docEntry).did)
	}
	r.mu.Unlock()
	return doc, nil
}

// Invalidate drops the cached document of did.
func (r *Resolver) Invalidate(did string) {
	r.mu.Lock()
	if el, ok := r.m[did]; ok {
		r.lru.Remove(el)
		delete(r.m, did)
	}
	r.mu.Unlock()
}

// Len is the number of cached documents.
func (r *Resolver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

func (r *Resolver) fetch(ctx context.Context, did string) (*Document, error) {
	u, err := WebURL(did)
	if err != nil {
		return nil, err
	}
	resp, err := r.http.R().SetContext(ctx).SetDoNotParseResponse(true).Get(u)
	if err != nil {
		if errors.Is(err, resty.ErrAutoRedirectDisabled) {
			return nil, fmt.Errorf("%w: resolving %q at %s: redirects are refused", ErrDID, did, u)
		}
		return nil, fmt.Errorf("%w: resolving %q at %s: %v", ErrDID, did, u, err)
	}
	body := resp.RawBody()
	defer body.Close()
	if resp.StatusCode() != http.StatusOK {
		return nil, fmt.Errorf("%w: resolving %q at %s: HTTP %d", ErrDID, did, u, resp.StatusCode())
	}
	b, err := readLimited(body, MaxDocumentBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving %q at %s: %v", ErrDID, did, u, err)
	}
	return ParseDocument(b, did)
}
