package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tdsc/tdsc/connector/store"
)

// A task is one pending outgoing step of a negotiation or transfer (send a
// message, decide, commit to the ledger). Tasks are rows in the store, added
// in the same transaction as the state change that calls for them, and run
// at once by in-process workers; after a restart resume re-queues them.
// Handlers are idempotent: they look at the current state and do what it
// still needs.
type taskKey struct{ kind, ref string }

type taskHandler func(ctx context.Context, ref string) error

// errPermanent marks a task failure that retrying cannot fix; the handler has
// already settled the state (e.g. terminated the negotiation with the reason).
var errPermanent = errors.New("permanent")

type taskRunner struct {
	runnerDeps
	q        chan taskKey
	handlers map[string]taskHandler
	fail     map[string]func(ctx context.Context, ref string, cause error)
	// forever marks steps that wait on the ledger: they retry at RetryMax
	// for as long as the ledger is away, since their record may already sit
	// in the outbox and giving up would leave the state behind the ledger.
	forever map[string]bool

	mu      sync.Mutex
	running map[taskKey]bool
	again   map[taskKey]bool
	// open holds the tasks kicked and not yet settled (done, refused or
	// given up): what settled waits on.
	open map[taskKey]bool

	// done collects finished tasks; their rows are deleted in batches
	// (one transaction for many) by flushDone. A task re-run after a crash
	// before its row went is harmless: handlers look at the state first, and
	// a message the peer already has is answered invalid-transition, which
	// senders take as delivered.
	doneMu sync.Mutex
	done   []taskKey
	doneCh chan struct{}
}

// flushDelay is how long finished steps gather before their rows go.
const flushDelay = 20 * time.Millisecond

// runnerDeps is what the task runner needs: the store its steps are kept
// in, the node's lifetime (steps stop with it), its pacing and log. The
// steps themselves are registered by their owners (Node.registerTasks).
type runnerDeps struct {
	st          *store.Store
	life        context.Context
	workers     int
	maxAttempts int
	retryMin    time.Duration
	retryMax    time.Duration
	log         *slog.Logger
}

func newTaskRunner(d runnerDeps) *taskRunner {
	r := &taskRunner{runnerDeps: d, q: make(chan taskKey, 1<<14), handlers: map[string]taskHandler{},
		fail: map[string]func(context.Context, string, error){}, forever: map[string]bool{}, running: map[taskKey]bool{}, again: map[taskKey]bool{},
		open:   map[taskKey]bool{},
		doneCh: make(chan struct{}, 1)}
	return r
}

// handle registers a task kind with its handler and what to do when it
// finally gives up (after MaxAttempts).
func (r *taskRunner) handle(kind string, h taskHandler, giveUp func(ctx context.Context, ref string, cause error)) {
	r.handlers[kind] = h
	r.fail[kind] = giveUp
}

func (r *taskRunner) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				r.flushDone(context.Background())
				return
			case <-r.doneCh:
				// Let finished steps gather for a moment: one delete for
				// many (their rows are only read at the next start).
				select {
				case <-ctx.Done():
				case <-time.After(flushDelay):
				}
				r.flushDone(context.WithoutCancel(ctx))
			}
		}
	}()
	for i := 0; i < r.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case k := <-r.q:
					r.run(ctx, k)
				}
			}
		}()
	}
}

// resume queues every task left in the store.
func (r *taskRunner) resume(ctx context.Context) error {
	tasks, err := r.st.View(ctx).Tasks()
	if err != nil {
		return fmt.Errorf("connector: resume pending steps: %w", err)
	}
	for _, t := range tasks {
		r.kick(t.Kind, t.Ref)
	}
	if len(tasks) > 0 {
		r.log.Info("resumed pending steps", "count", len(tasks))
	}
	return nil
}

// kick queues a task (after its row is committed).
func (r *taskRunner) kick(kind, ref string) {
	k := taskKey{kind, ref}
	r.mu.Lock()
	r.open[k] = true
	r.mu.Unlock()
	select {
	case r.q <- k:
	default:
		go func() {
			select {
			case r.q <- k:
			case <-r.life.Done():
			}
		}()
	}
}

func (r *taskRunner) run(ctx context.Context, k taskKey) {
	// One run of a task at a time; a kick while it runs runs it again after.
	r.mu.Lock()
	if r.running[k] {
		r.again[k] = true
		r.mu.Unlock()
		return
	}
	r.running[k] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.running, k)
		again := r.again[k]
		delete(r.again, k)
		r.mu.Unlock()
		if again {
			r.kick(k.kind, k.ref)
		}
	}()

	h := r.handlers[k.kind]
	if h == nil {
		r.log.Error("unknown task kind; dropping", "kind", k.kind, "ref", k.ref)
		r.closeTask(k)
		_ = r.st.Update(ctx, func(tx *store.Tx) error { return tx.DoneTask(k.kind, k.ref) })
		return
	}
	err := h(ctx, k.ref)
	if ctx.Err() != nil {
		return // shutting down: the row stays and resumes next start
	}
	if err == nil || errors.Is(err, errPermanent) {
		if err != nil {
			r.log.Info("step settled with a refusal", "kind", k.kind, "ref", k.ref, "err", err)
		}
		r.markDone(k)
		return
	}
	var attempts int
	_ = r.st.Update(ctx, func(tx *store.Tx) error {
		var e error
		attempts, e = tx.FailTask(k.kind, k.ref, err.Error())
		return e
	})
	if attempts >= r.maxAttempts && !r.forever[k.kind] {
		r.log.Warn("giving up a step", "kind", k.kind, "ref", k.ref, "attempts", attempts, "err", err)
		if f := r.fail[k.kind]; f != nil {
			f(ctx, k.ref, err)
		}
		_ = r.st.Update(ctx, func(tx *store.Tx) error { return tx.DoneTask(k.kind, k.ref) })
		r.closeTask(k)
		return
	}
	d := r.retryMin << min(attempts, 20)
	if d > r.retryMax || d <= 0 {
		d = r.retryMax
	}
	r.log.Debug("step failed; retrying", "kind", k.kind, "ref", k.ref, "attempt", attempts, "in", d, "err", err)
	time.AfterFunc(d, func() {
		if r.life.Err() == nil {
			r.kick(k.kind, k.ref)
		}
	})
}

// settled waits until the task kind/ref, if kicked, has run to an end (done,
// refused or given up), or ctx ends. Callers use it to keep a message behind
// the one a task is still delivering.
func (r *taskRunner) settled(ctx context.Context, kind, ref string) error {
	k := taskKey{kind, ref}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		open := r.open[k]
		r.mu.Unlock()
		if !open {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *taskRunner) closeTask(k taskKey) {
	r.mu.Lock()
	delete(r.open, k)
	r.mu.Unlock()
}

func (r *taskRunner) markDone(k taskKey) {
	r.closeTask(k)
	r.doneMu.Lock()
	r.done = append(r.done, k)
	r.doneMu.Unlock()
	select {
	case r.doneCh <- struct{}{}:
	default:
	}
}

// flushDone deletes the rows of finished tasks in one transaction.
func (r *taskRunner) flushDone(ctx context.Context) {
	r.doneMu.Lock()
	done := r.done
	r.done = nil
	r.doneMu.Unlock()
	if len(done) == 0 {
		return
	}
	keys := make([]store.Task, len(done))
	for i, k := range done {
		keys[i] = store.Task{Kind: k.kind, Ref: k.ref}
	}
	err := r.st.Update(ctx, func(tx *store.Tx) error { return tx.DoneTasks(keys) })
	if err != nil {
		r.log.Warn("could not clear finished steps; they re-run harmlessly after a restart", "count", len(done), "err", err)
	}
}
