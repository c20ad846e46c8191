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
	"golang.org/x/sync/singleflight"
)

// Resolver resolves did:web DIDs over HTTPS and caches the documents. It
// never speaks plain HTTP (WebURL always yields https) and follows no
// redirect, so a document cannot be served or diverted in clear text. The
// cache holds at most a fixed number of documents, each for a TTL: the
// longest a key rotation or removal goes unseen (Invalidate drops one at
// once). A failed resolution is remembered for a few seconds and concurrent
// resolutions of one DID share one fetch, so a flood of tokens naming
// unreachable or invented DIDs costs one fetch per DID per failure TTL.
// Safe for concurrent use.
type Resolver struct {
	http    *resty.Client
	ttl     time.Duration
	failTTL time.Duration
	max     int
	now     func() time.Time
	hosts   Hosts
	group   singleflight.Group

	mu  sync.Mutex
	lru *list.List // of *docEntry, most recent first
	m   map[string]*list.Element
}

type docEntry struct {
	did     string
	doc     *Document
	err     error
	fetched time.Time
}

// ResolverOption configures a Resolver.
type ResolverOption func(*Resolver)

// WithHTTPClient sets the HTTP client (its TLS configuration carries the
// space CA in tests and private deployments). Its redirect policy is
// replaced: no redirects.
func WithHTTPClient(c *http.Client) ResolverOption {
	return func(r *Resolver) { r.http = restyOver(c) }
}

// restyOver is a resty client over a copy of hc (a new one when nil): the
// timeout and redirect policy each user sets stay its own, never the
// caller's client's, which a connector shares with its DSP calls.
func restyOver(hc *http.Client) *resty.Client {
	if hc == nil {
		return resty.New()
	}
	c := *hc
	return resty.NewWithClient(&c)
}

// WithDocumentTTL sets how long a resolved document is cached (default 5 min).
func WithDocumentTTL(d time.Duration) ResolverOption { return func(r *Resolver) { r.ttl = d } }

// WithFailureTTL sets how long a failed resolution is remembered (default 5 s).
func WithFailureTTL(d time.Duration) ResolverOption { return func(r *Resolver) { r.failTTL = d } }

// WithCacheSize bounds the number of cached documents (default 10 000).
func WithCacheSize(n int) ResolverOption { return func(r *Resolver) { r.max = n } }

// WithResolverClock injects the clock (tests use a fake one).
func WithResolverClock(now func() time.Time) ResolverOption { return func(r *Resolver) { r.now = now } }

// WithAllowedHosts limits the hosts documents are fetched from (Hosts); a DID
// on any other host is refused before any connection.
func WithAllowedHosts(h Hosts) ResolverOption { return func(r *Resolver) { r.hosts = h } }

// NewResolver makes a resolver.
func NewResolver(opts ...ResolverOption) (*Resolver, error) {
	r := &Resolver{http: resty.New(), ttl: 5 * time.Minute, failTTL: 5 * time.Second, max: 10000, now: time.Now, lru: list.New(), m: map[string]*list.Element{}}
	for _, o := range opts {
		o(r)
	}
	if err := r.hosts.Validate(); err != nil {
		return nil, err
	}
	if r.ttl <= 0 || r.max <= 0 || r.failTTL < 0 {
		return nil, fmt.Errorf("dcp: resolver: document TTL %v and cache size %d must be positive, failure TTL %v not negative", r.ttl, r.max, r.failTTL)
	}
	r.http.SetTimeout(10*time.Second).SetRedirectPolicy(resty.NoRedirectPolicy()).
		SetHeader("Accept", "application/did+json, application/json")
	return r, nil
}

// Resolve returns the DID document of did, from the cache when fresh.
func (r *Resolver) Resolve(ctx context.Context, did string) (*Document, error) {
	if len(r.hosts) > 0 {
		u, err := WebURL(did)
		if err != nil {
			return nil, err
		}
		if err := r.hosts.Allow(u); err != nil {
			return nil, fmt.Errorf("resolving %q: %w", did, err)
		}
	}
	now := r.now()
	r.mu.Lock()
	if el, ok := r.m[did]; ok {
		e := el.Value.(*docEntry)
		ttl := r.ttl
		if e.err != nil {
			ttl = r.failTTL
		}
		if now.Sub(e.fetched) < ttl {
			r.lru.MoveToFront(el)
			r.mu.Unlock()
			return e.doc, e.err
		}
		r.lru.Remove(el)
		delete(r.m, did)
	}
	r.mu.Unlock()

	v, _, _ := r.group.Do(did, func() (any, error) {
		doc, err := r.fetch(ctx, did)
		if err != nil && ctx.Err() != nil {
			return &docEntry{err: err}, nil // this caller gave up: remember nothing
		}
		r.mu.Lock()
		if el, ok := r.m[did]; ok {
			r.lru.Remove(el)
		}
		r.m[did] = r.lru.PushFront(&docEntry{did: did, doc: doc, err: err, fetched: now})
		for r.lru.Len() > r.max {
			old := r.lru.Back()
			r.lru.Remove(old)
			delete(r.m, old.Value.(*docEntry).did)
		}
		r.mu.Unlock()
		return &docEntry{doc: doc, err: err}, nil
	})
	e := v.(*docEntry)
	return e.doc, e.err
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
