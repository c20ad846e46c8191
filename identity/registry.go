package identity

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Source is where the registry reads participants from: the ledger (its embedded
// store, or its HTTP client). Participant returns the participant's current
// state as last recorded by the authority. An id that was never registered must
// yield an error wrapping ErrUnknownParticipant.
type Source interface {
	Participant(ctx context.Context, id string) (Participant, error)
}

// Registry resolves participants' keys and attributes from a Source and caches
// them. A cached entry lives for the TTL; a kid not in the cached entry triggers
// one refresh (at most once per MinRefresh per participant, so a flood of
// invented kids cannot hammer the ledger); a suspended participant is refused
// on every lookup, and suspension reaches every verifier within one TTL (or at
// once through Invalidate).
type Registry struct {
	src        Source
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time
	notFound   func(error) bool

	mu       sync.RWMutex
	entries  map[string]*entry
	inflight map[string]*fetchCall
}

// fetchCall is one read of the source that concurrent lookups of the same id
// share, so a cache expiry under load costs one ledger read, not hundreds.
type fetchCall struct {
	done chan struct{}
	e    *entry
	err  error
}

type entry struct {
	p       Participant
	err     error // ErrUnknownParticipant for a negative entry
	keys    map[string]resolvedKey
	fetched time.Time
}

// resolvedKey is a registered JWK with its decoded public key, so that the hot
// path does not decode base64 and check curve points on every verification.
type resolvedKey struct {
	jwk JWK
	pub crypto.PublicKey
}

// RegistryOption configures a Registry.
type RegistryOption func(*Registry)

// WithTTL sets how long a participant stays cached (default 30 s): the longest
// a suspension or key removal can go unnoticed without Invalidate.
func WithTTL(d time.Duration) RegistryOption { return func(r *Registry) { r.ttl = d } }

// WithMinRefresh sets the least time between two refreshes of one participant
// caused by unknown kids or unknown ids (default 1 s).
func WithMinRefresh(d time.Duration) RegistryOption {
	return func(r *Registry) { r.minRefresh = d }
}

// WithRegistryClock injects the registry's clock (tests use a fake one).
func WithRegistryClock(now func() time.Time) RegistryOption {
	return func(r *Registry) { r.now = now }
}

// WithNotFound tells the registry which source errors mean "not registered"
// (cached briefly and reported as ErrUnknownParticipant) besides errors
// wrapping ErrUnknownParticipant, e.g. errors.Is(err, ledger.ErrNotFound).
// Every other source error is a failure to read, never cached.
func WithNotFound(is func(error) bool) RegistryOption {
	return func(r *Registry) { r.notFound = is }
}

// NewRegistry makes a registry reading from src.
func NewRegistry(src Source, opts ...RegistryOption) *Registry {
	r := &Registry{src: src, ttl: 30 * time.Second, minRefresh: time.Second, now: time.Now,
		entries: map[string]*entry{}, inflight: map[string]*fetchCall{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Participant returns the participant's current state, refusing a suspended one
// with ErrSuspended.
func (r *Registry) Participant(ctx context.Context, id string) (Participant, error) {
	e, err := r.lookup(ctx, id, "")
	if err != nil {
		return Participant{}, err
	}
	return e.p, nil
}

// Key returns the participant's registered key with this kid and the participant,
// refusing unknown ids and kids (ErrUnknownParticipant, ErrUnknownKey) and
// suspended participants (ErrSuspended).
func (r *Registry) Key(ctx context.Context, participantID, kid string) (JWK, Participant, error) {
	k, p, err := r.resolve(ctx, participantID, kid)
	return k.jwk, p, err
}

// Invalidate drops the cached entry of a participant, so the next lookup reads
// the source. Call it when the ledger reports a participant.updated record.
func (r *Registry) Invalidate(id string) {
	r.mu.Lock()
	delete(r.entries, id)
	delete(r.inflight, id) // a read already under way may predate the change
	r.mu.Unlock()
}

func (r *Registry) resolve(ctx context.Context, id, kid string) (resolvedKey, Participant, error) {
	if kid == "" {
		return resolvedKey{}, Participant{}, fmt.Errorf("%w: header kid: required, names the registered key of %q", ErrUnknownKey, id)
	}
	e, err := r.lookup(ctx, id, kid)
	if err != nil {
		return resolvedKey{}, Participant{}, err
	}
	k, ok := e.keys[kid]
	if !ok {
		return resolvedKey{}, Participant{}, fmt.Errorf("%w: participant %q has no registered key with kid %q", ErrUnknownKey, id, kid)
	}
	return k, e.p, nil
}

// lookup returns a fresh-enough entry for id; when kid is set and missing from
// the cached entry, the entry is refreshed once (rate-limited).
func (r *Registry) lookup(ctx context.Context, id, kid string) (*entry, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: claim iss: empty participant id", ErrUnknownParticipant)
	}
	now := r.now()
	r.mu.RLock()
	e := r.entries[id]
	r.mu.RUnlock()
	if e != nil {
		age := now.Sub(e.fetched)
		stale := age >= r.ttl
		if e.err != nil {
			stale = age >= r.minRefresh
		} else if kid != "" && age >= r.minRefresh {
			if _, ok := e.keys[kid]; !ok {
				stale = true
			}
		}
		if !stale {
			return e.check(id)
		}
	}
	e, err := r.fetch(ctx, id, now)
	if err != nil {
		return nil, err
	}
	return e.check(id)
}

func (e *entry) check(id string) (*entry, error) {
	if e.err != nil {
		return nil, e.err
	}
	switch e.p.Status {
	case StatusActive, "":
		return e, nil
	case StatusSuspended:
		return nil, fmt.Errorf("%w: %q is suspended by the authority", ErrSuspended, id)
	default:
		return nil, fmt.Errorf("%w: %q has status %q, not %q", ErrSuspended, id, e.p.Status, StatusActive)
	}
}

func (r *Registry) fetch(ctx context.Context, id string, now time.Time) (*entry, error) {
	r.mu.Lock()
	if c, ok := r.inflight[id]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.e, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &fetchCall{done: make(chan struct{})}
	r.inflight[id] = c
	r.mu.Unlock()

	c.e, c.err = r.read(ctx, id, now)
	r.mu.Lock()
	if r.inflight[id] == c { // not invalidated meanwhile
		delete(r.inflight, id)
		if c.err == nil {
			r.entries[id] = c.e
		}
	}
	r.mu.Unlock()
	close(c.done)
	return c.e, c.err
}

// read reads id from the source into a cache entry.
func (r *Registry) read(ctx context.Context, id string, now time.Time) (*entry, error) {
	p, err := r.src.Participant(ctx, id)
	e := &entry{fetched: now}
	switch {
	case err != nil && (errors.Is(err, ErrUnknownParticipant) || r.notFound != nil && r.notFound(err)):
		e.err = fmt.Errorf("%w: %q is not registered", ErrUnknownParticipant, id)
	case err != nil:
		// The source failed (ledger unreachable): do not cache, do not guess.
		return nil, fmt.Errorf("identity: registry lookup of %q: %w", id, err)
	case p.ID != id:
		return nil, fmt.Errorf("identity: registry lookup of %q returned participant %q", id, p.ID)
	default:
		e.p = p
		e.keys = make(map[string]resolvedKey, len(p.Keys))
		for _, k := range p.Keys {
			pub, err := k.PublicKey()
			if err != nil {
				continue // a malformed registered key can never verify anything
			}
			tp, _ := k.Thumbprint()
			if k.Kid != "" && k.Kid != tp {
				continue
			}
			k.Kid = tp
			e.keys[tp] = resolvedKey{jwk: k, pub: pub}
		}
	}
	return e, nil
}

// JWKSet is a JSON Web Key Set (RFC 7517 §5).
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// JWKSHandler serves each participant's registered keys as a JWKS at
// "GET /participants/{id}/jwks.json": 200 with the set, 404 for an unknown
// participant, 410 for a suspended one, 502 when the ledger cannot be read.
// It serves only what the registry read from the ledger; peers must still
// verify with their own registry rather than trust this endpoint.
func (r *Registry) JWKSHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /participants/{id}/jwks.json", func(w http.ResponseWriter, req *http.Request) {
		p, err := r.Participant(req.Context(), req.PathValue("id"))
		status := http.StatusOK
		switch {
		case err != nil && (errors.Is(err, ErrUnknownParticipant) || r.notFound != nil && r.notFound(err)):
			status = http.StatusNotFound
		case errors.Is(err, ErrSuspended):
			status = http.StatusGone
		case err != nil:
			status = http.StatusBadGateway
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if status != http.StatusOK {
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		set := JWKSet{Keys: make([]JWK, 0, len(p.Keys))}
		for _, k := range p.Keys {
			if k.Validate() == nil {
				set.Keys = append(set.Keys, k)
			}
		}
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(r.ttl/time.Second)))
		_ = json.NewEncoder(w).Encode(set)
	})
	return mux
}

// MemorySource is a Source held in memory: for tests, benchmarks and a
// single-process space. Safe for concurrent use.
type MemorySource struct {
	mu sync.RWMutex
	m  map[string]Participant
}

// NewMemorySource makes a source holding ps.
func NewMemorySource(ps ...Participant) *MemorySource {
	s := &MemorySource{m: map[string]Participant{}}
	for _, p := range ps {
		s.m[p.ID] = p
	}
	return s
}

// Put records or replaces a participant.
func (s *MemorySource) Put(p Participant) {
	s.mu.Lock()
	s.m[p.ID] = p
	s.mu.Unlock()
}

// Participant implements Source.
func (s *MemorySource) Participant(_ context.Context, id string) (Participant, error) {
	s.mu.RLock()
	p, ok := s.m[id]
	s.mu.RUnlock()
	if !ok {
		return Participant{}, fmt.Errorf("%w: %q", ErrUnknownParticipant, id)
	}
	return p, nil
}
