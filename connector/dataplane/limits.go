package dataplane

import "sync"

// limiter bounds concurrent streams globally and per transfer. Acquisition
// never waits: a full limiter is answered with 503 or 429 and Retry-After.
type limiter struct {
	global chan struct{}
	per    int
	mu     sync.Mutex
	active map[string]int
}

func newLimiter(global, per int) *limiter {
	return &limiter{global: make(chan struct{}, global), per: per, active: map[string]int{}}
}

func (l *limiter) acquireGlobal() bool {
	select {
	case l.global <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *limiter) releaseGlobal() { <-l.global }

func (l *limiter) acquire(transfer string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active[transfer] >= l.per {
		return false
	}
	l.active[transfer]++
	return true
}

func (l *limiter) release(transfer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active[transfer]--; l.active[transfer] <= 0 {
		delete(l.active, transfer)
	}
}
