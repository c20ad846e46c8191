package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// Receipt is a committed batch's receipt with the transaction that carried
// it and its block. For a batch appended again, TxID and Block are those of
// the transaction that found it already committed.
type Receipt struct {
	ledger.Receipt
	TxID  string `json:"txId"`
	Block uint64 `json:"block"`
}

type request struct {
	ctx  context.Context
	b    *ledger.Batch
	raw  json.RawMessage
	done chan result
}

type result struct {
	r   Receipt
	err error
}

// maxAttempts bounds resubmissions after read conflicts with other clients;
// the backoff between them doubles from 5 ms up to 400 ms, with jitter so
// two clients that conflicted do not resubmit in step (about 3 s in all).
const maxAttempts = 12

func conflictBackoff(attempt int) time.Duration {
	d := min(5*time.Millisecond<<min(attempt-1, 10), 400*time.Millisecond)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Append commits b (see Submit) and returns its ledger receipt.
func (l *Ledger) Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error) {
	r, err := l.Submit(ctx, b)
	return r.Receipt, err
}

// Submit queues b for the next transaction and waits until it committed or
// failed. Appending the same batch again returns the same receipt (with the
// transaction that first committed it).
func (l *Ledger) Submit(ctx context.Context, b *ledger.Batch) (Receipt, error) {
	if b == nil {
		return Receipt{}, &ledger.MalformedError{Rule: ledger.RuleRequired, Field: "batch", Reason: "no batch"}
	}
	if err := b.Validate(); err != nil {
		return Receipt{}, err
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return Receipt{}, err
	}
	req := &request{ctx: ctx, b: b, raw: raw, done: make(chan result, 1)}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	case <-l.stop:
		return Receipt{}, errors.New("fabric: ledger closed")
	}
	select {
	case res := <-req.done:
		return res.r, res.err
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
}

// run is the committer: one transaction in flight, holding every batch that
// queued up meanwhile.
func (l *Ledger) run() {
	defer close(l.done)
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.stop:
			l.drain()
			return
		}
		group, n := []*request{first}, len(first.b.Records)
		linger := time.NewTimer(l.cfg.Linger)
	collect:
		for n < l.cfg.MaxRecords {
			select {
			case r := <-l.reqs:
				if n+len(r.b.Records) > l.cfg.MaxRecords {
					l.commit(group)
					group, n = nil, 0
				}
				group, n = append(group, r), n+len(r.b.Records)
			case <-linger.C:
				break collect
			}
		}
		linger.Stop()
		l.commit(group)
	}
}

func (l *Ledger) drain() {
	for {
		select {
		case r := <-l.reqs:
			r.done <- result{err: errors.New("fabric: ledger closed")}
		default:
			return
		}
	}
}

// commit submits a group as one transaction, dropping batches an endorser
// refuses and resubmitting after read conflicts.
func (l *Ledger) commit(group []*request) {
	live := group[:0]
	for _, r := range group {
		if r.ctx.Err() != nil {
			r.done <- result{err: r.ctx.Err()}
			continue
		}
		live = append(live, r)
	}
	group = live
	start := time.Now()
	for attempt := 1; len(group) > 0; attempt++ {
		rs, txID, block, bad, err := l.transact(group)
		if err == nil {
			for i, r := range group {
				r.done <- result{r: Receipt{Receipt: rs[i], TxID: txID, Block: block}}
			}
			return
		}
		if bad >= 0 && bad < len(group) {
			group[bad].done <- result{err: err}
			group = append(group[:bad:bad], group[bad+1:]...)
			continue
		}
		var se *StageError
		errors.As(err, &se)
		if errors.Is(err, ErrUnavailable) && time.Since(start) < l.cfg.Timeout {
			// Resubmitting is safe: a batch that did commit is found by its root.
			l.cfg.Log.Info("fabric: network unavailable, retrying", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if se != nil && se.retry {
			if attempt < maxAttempts {
				// Another transaction, or a peer a block behind the gateway's.
				l.cfg.Log.Info("fabric: resubmitting", "stage", se.Stage, "tx", se.TxID, "attempt", attempt, "err", se.Err)
				time.Sleep(conflictBackoff(attempt))
				continue
			}
			// Still conflicting: contention, not a refusal of these batches.
			// Report it as unavailable so callers resubmit later (a connector's
			// outbox keeps the records pending) instead of dropping them.
			err = &StageError{Stage: se.Stage, TxID: se.TxID,
				Err: fmt.Errorf("%w: %d submissions in a row conflicted with other transactions (last: %v)", ledger.ErrUnavailable, attempt, se.Err)}
		}
		for _, r := range group {
			r.done <- result{err: err}
		}
		return
	}
}

// transact endorses, submits and waits for one Append transaction. On error
// bad is the index of the batch the chaincode refused, or -1.
func (l *Ledger) transact(group []*request) (rs []ledger.Receipt, txID string, block uint64, bad int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*l.cfg.Timeout)
	defer cancel()
	arg := make([]byte, 0, 1024*len(group))
	arg = append(arg, '[')
	for i, r := range group {
		if i > 0 {
			arg = append(arg, ',')
		}
		arg = append(arg, r.raw...)
	}
	arg = append(arg, ']')
	proposal, err := l.contract.NewProposal(wire.TxAppend, client.WithArguments(""),
		client.WithTransient(map[string][]byte{wire.TransientBatches: arg}))
	if err != nil {
		return nil, "", 0, -1, err
	}
	txID = proposal.TransactionID()
	t0 := time.Now()
	tx, err := proposal.EndorseWithContext(ctx)
	t1 := time.Now()
	if err != nil {
		se, bad := classify(StageEndorse, err)
		se.TxID = txID
		// Endorsers that disagree without a ledger error saw different
		// state (one peer had not committed the last block yet): retry.
		se.retry = bad < 0 && !isLedgerError(se.Err)
		return nil, txID, 0, bad, se
	}
	if err := json.Unmarshal(tx.Result(), &rs); err != nil || len(rs) != len(group) {
		return nil, txID, 0, -1, &StageError{Stage: StageEndorse, TxID: txID, Err: fmt.Errorf("chaincode result: %d receipts for %d batches (%v)", len(rs), len(group), err)}
	}
	t2 := time.Now()
	block, err = l.finish(ctx, tx)
	l.cfg.Log.Debug("fabric: transaction", "tx", txID, "batches", len(group), "bytes", len(arg),
		"endorse", t1.Sub(t0), "submit+commit", time.Since(t2))
	if err != nil {
		return nil, txID, block, -1, err
	}
	return rs, txID, block, -1, nil
}

// finish submits an endorsed transaction to the orderer and waits for its
// commit status, mapping failures to a *StageError.
func (l *Ledger) finish(ctx context.Context, tx *client.Transaction) (uint64, error) {
	commit, err := tx.SubmitWithContext(ctx)
	if err != nil {
		se, _ := classify(StageSubmit, err)
		se.TxID = tx.TransactionID()
		return 0, se
	}
	st, err := commit.StatusWithContext(ctx)
	if err != nil {
		se, _ := classify(StageCommit, err)
		se.TxID = tx.TransactionID()
		return 0, se
	}
	if !st.Successful {
		return st.BlockNumber, &StageError{Stage: StageCommit, TxID: tx.TransactionID(), Err: commitInvalid(st.Code), retry: retryable(st.Code)}
	}
	return st.BlockNumber, nil
}
