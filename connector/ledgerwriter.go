package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
)

// ErrLedgerRefused: the ledger refused a record by one of its rules (the
// error text names the rule). The step that needed it is not retried.
var ErrLedgerRefused = errors.New("connector: ledger refused the record")

// ledgerWriter drains the outbox into the ledger: one batch at a time, the
// batch persisted before it is sent so a retry after an unknown outcome sends
// the same bytes. Strict callers wait on their record with wait.
type ledgerWriter struct {
	writerDeps
	app    ledgerAppender
	wakeCh chan struct{}

	mu      sync.Mutex
	waiters map[string][]chan error
	failing bool

	// settled: the last step settled its batch, so no batch is open (only
	// run makes batches) and the next step need not look for one.
	settled bool
}

// writerDeps is what the ledger writer needs: the node's store (its
// outbox), who it writes as and with which key, its clock, pacing and log.
type writerDeps struct {
	st          *store.Store
	space       string
	participant string
	key         *identity.Key
	now         func() time.Time
	batch       int           // records per batch (Config.OutboxBatch)
	retryMin    time.Duration // backoff while the ledger is away
	retryMax    time.Duration
	log         *slog.Logger
}

func newLedgerWriter(d writerDeps, app ledgerAppender) *ledgerWriter {
	return &ledgerWriter{writerDeps: d, app: app, wakeCh: make(chan struct{}, 1), waiters: map[string][]chan error{}}
}

// enqueue adds rec to the outbox inside the caller's transaction. Call wake
// after the transaction commits.
func (w *ledgerWriter) enqueue(tx *store.Tx, rec *ledger.Record) error {
	rec.Schema = ledger.SchemaVersion
	if rec.Time == "" {
		rec.Time = w.now().UTC().Format(time.RFC3339Nano)
	}
	if rec.Actor == "" {
		rec.Actor = w.participant
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("connector: record %s: %w", rec.ID, err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = tx.Enqueue(rec.ID, b)
	return err
}

// record adds rec to the outbox in a transaction of its own and wakes the
// writer: for a record that changes no other state.
func (w *ledgerWriter) record(ctx context.Context, rec *ledger.Record) error {
	if err := w.st.Update(ctx, func(tx *store.Tx) error { return w.enqueue(tx, rec) }); err != nil {
		return err
	}
	w.wake()
	return nil
}

func (w *ledgerWriter) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// wait blocks until the record is committed (nil), refused (an error
// wrapping ErrLedgerRefused) or ctx ends.
func (w *ledgerWriter) wait(ctx context.Context, recordID string) error {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.waiters[recordID] = append(w.waiters[recordID], ch)
	w.mu.Unlock()
	defer w.drop(recordID, ch)
	state, errText, err := w.st.View(ctx).OutboxState(recordID)
	if err != nil {
		return err
	}
	switch state {
	case store.OutboxCommitted:
		return nil
	case store.OutboxRefused:
		return fmt.Errorf("%w: %w", ErrLedgerRefused, w.refusal(ctx, recordID, errText))
	}
	w.wake()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("connector: waiting for the ledger to commit %s: %w", recordID, ctx.Err())
	}
}

// refusal is the ledger's refusal of a record as the outbox kept it: the
// typed ledger error decoded from its wire form, or (a record refused before
// causes were kept) its message.
func (w *ledgerWriter) refusal(ctx context.Context, recordID, errText string) error {
	wire, err := w.st.View(ctx).RefusalCause(recordID)
	if err == nil && len(wire) > 0 {
		var e api.Error
		if json.Unmarshal(wire, &e) == nil && e.Kind != "" {
			return e.Err()
		}
	}
	return errors.New(errText)
}

func (w *ledgerWriter) drop(id string, ch chan error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.waiters[id]
	for i, c := range l {
		if c == ch {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(w.waiters, id)
	} else {
		w.waiters[id] = l
	}
}

func (w *ledgerWriter) notify(ids []string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		for _, ch := range w.waiters[id] {
			select {
			case ch <- err:
			default:
			}
		}
	}
}

// run drains the outbox until ctx ends, backing off while the ledger fails.
func (w *ledgerWriter) run(ctx context.Context) {
	backoff := w.retryMin
	for {
		progressed, err := w.step(ctx)
		if ctx.Err() != nil {
			return
		}
		// A periodic look even when idle: a wake lost to a race costs at most this.
		wait := time.After(time.Second)
		switch {
		case err != nil:
			w.log.Warn("ledger unavailable; records stay in the outbox", "err", err, "retryIn", backoff)
			w.setFailing(true)
			wait = time.After(backoff)
			backoff = min(backoff*2, w.retryMax)
		case progressed:
			backoff = w.retryMin
			w.setFailing(false)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wakeCh:
			if err == nil {
				continue
			}
			// A wake during an outage does not skip the backoff.
			select {
			case <-ctx.Done():
				return
			case <-wait:
			}
		case <-wait:
		}
	}
}

func (w *ledgerWriter) setFailing(f bool) {
	w.mu.Lock()
	w.failing = f
	w.mu.Unlock()
}

// step sends one batch: the open one if a previous send's outcome is
// unknown, else a new one from the pending records. It reports whether
// anything was settled, or the transport error.
func (w *ledgerWriter) step(ctx context.Context) (bool, error) {
	st := w.st
	var open *store.Batch
	if !w.settled {
		var err error
		if open, err = st.View(ctx).OpenBatch(); err != nil {
			return false, err
		}
	}
	var b *ledger.Batch
	var ids []string
	if open == nil {
		pending, err := st.View(ctx).Pending(w.batch)
		if err != nil || len(pending) == 0 {
			return false, err
		}
		recs := make([]ledger.Record, len(pending))
		ids = make([]string, len(pending))
		for i, p := range pending {
			if err := json.Unmarshal(p.Record, &recs[i]); err != nil {
				return false, fmt.Errorf("connector: outbox record %s: %w", p.RecordID, err)
			}
			ids[i] = p.RecordID
		}
		b, err = ledger.NewBatch(w.space, w.participant, w.key, recs)
		if err != nil {
			// A malformed record: settle it like a refusal.
			w.settled = false
			progressed, err := w.settleRefused(ctx, ids, "", err)
			w.settled = err == nil
			return progressed, err
		}
		body, err := json.Marshal(b)
		if err != nil {
			return false, err
		}
		w.settled = false // from here a batch may be open
		if err := st.Update(ctx, func(tx *store.Tx) error { return tx.PutBatch(b.Root, body, ids) }); err != nil {
			return false, err
		}
		open = &store.Batch{Root: b.Root, Body: body}
	}
	if b == nil {
		// The open batch of an earlier attempt: send its stored bytes again.
		b = new(ledger.Batch)
		if err := json.Unmarshal(open.Body, b); err != nil {
			return false, fmt.Errorf("connector: stored batch %s: %w", open.Root, err)
		}
		var err error
		if ids, err = st.View(ctx).BatchRecordIDs(open.Root); err != nil {
			return false, err
		}
	}
	_, appendErr := w.app.Append(ctx, b)
	switch {
	case appendErr == nil:
		if err := st.Update(ctx, func(tx *store.Tx) error { return tx.CommitBatch(open.Root) }); err != nil {
			return false, err
		}
		w.settled = true
		w.notify(ids, nil)
		return true, nil
	case definitive(appendErr):
		progressed, err := w.settleRefused(ctx, ids, open.Root, appendErr)
		w.settled = err == nil
		return progressed, err
	default:
		_ = st.Update(ctx, func(tx *store.Tx) error { return tx.BatchAttempt(open.Root, appendErr.Error()) })
		return false, appendErr
	}
}

// settleRefused settles records the ledger refused: one record is refused for
// good, several go back to be tried one by one.
func (w *ledgerWriter) settleRefused(ctx context.Context, ids []string, root string, cause error) (bool, error) {
	st := w.st
	var refused []string
	err := st.Update(ctx, func(tx *store.Tx) error {
		if root == "" {
			// Never persisted: make a one-off batch row to settle through.
			root = fmt.Sprintf("unsent-%d-%s", w.now().UnixNano(), ids[0])
			if err := tx.PutBatch(root, []byte("{}"), ids); err != nil {
				return err
			}
		}
		wire, err := json.Marshal(api.FromError(cause))
		if err != nil {
			return err
		}
		refused, err = tx.RefuseBatch(root, cause.Error(), wire)
		return err
	})
	if err != nil {
		return false, err
	}
	w.log.Warn("ledger refused a batch", "records", len(ids), "err", cause)
	w.notify(refused, fmt.Errorf("%w: %w", ErrLedgerRefused, cause))
	return true, nil
}

// definitive reports whether the ledger's answer settles the batch: a rule
// refused it or it is malformed. Transport errors and an unknown writer (not
// registered yet) are retried.
func definitive(err error) bool {
	return errors.Is(err, ledger.ErrRefused) || errors.Is(err, ledger.ErrMalformed) ||
		errors.Is(err, ledger.ErrBadSignature) || errors.Is(err, ledger.ErrGenesisMismatch)
}

// ledgerHealthy reports whether the last attempt to reach the ledger succeeded.
func (w *ledgerWriter) healthy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.failing
}
