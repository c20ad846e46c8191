package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// Receipt is a committed batch's receipt with the transaction that carried
// it and its block. For a batch appended again, TxID and Block are those of
// the transaction that found it already committed. Its indexes are assigned
// by the block order, so it is known once the block is read.
type Receipt struct {
	ledger.Receipt
	TxID  string `json:"txId"`
	Block uint64 `json:"block"`
}

type request struct {
	ctx       context.Context
	rechecked bool // refused once while an earlier transaction was in flight
	b         *ledger.Batch
	// ready is closed once b is checked and encoded: raw holds b as
	// wire.AppendWritten writes it, or bad why b cannot be appended.
	ready chan struct{}
	raw   []byte
	bad   error
	done  chan result
}

type result struct {
	r   Receipt
	err error
}

// maxAttempts bounds resubmissions after read conflicts with other clients
// (a batch's, counted apart from its retries while the network is
// unavailable);
// the backoff between them doubles from 5 ms up to 400 ms, with jitter so
// two clients that conflicted do not resubmit in step (about 3 s in all).
const maxAttempts = 12

// submitAgain is how long a submission the orderers refused as
// unavailable waits before it is made again (finish).
const submitAgain = 100 * time.Millisecond

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
// transaction that first committed it). b is queued first and checked and
// encoded after, while the committer gathers: batches submitted together
// are grouped by when they were submitted, not by when each was encoded,
// which under load can be milliseconds apart, past the linger. A batch that
// fails its checks is answered with the error and goes in no transaction.
func (l *Ledger) Submit(ctx context.Context, b *ledger.Batch) (Receipt, error) {
	if b == nil {
		return Receipt{}, &ledger.MalformedError{Rule: ledger.RuleRequired, Field: "batch", Reason: "no batch"}
	}
	req := &request{ctx: ctx, b: b, ready: make(chan struct{}), done: make(chan result, 1)}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	case <-l.stop:
		return Receipt{}, errors.New("fabric: ledger closed")
	}
	if req.bad = b.Validate(); req.bad == nil {
		req.raw, req.bad = written(b)
	}
	close(req.ready)
	select {
	case res := <-req.done:
		return res.r, res.err
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
}

// written is b in the form the chaincode's event carries it
// (wire.AppendWritten, the records in their canonical encodings): a
// transaction whose batches are all new then emits the bytes this client
// compressed, and the chaincode compresses nothing.
func written(b *ledger.Batch) ([]byte, error) {
	canon, err := b.Canonical()
	if err != nil {
		return nil, err
	}
	return wire.AppendWritten(nil, wire.NewWritten(b, canon))
}

// run is the committer: it groups the batches that queued up into one
// transaction and hands it to a slot, up to Config.InFlight transactions in
// flight at once. Batches that arrive while every slot is taken form the
// next transaction.
func (l *Ledger) run() {
	defer close(l.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	var carry *request // a batch that did not fit the last transaction
	for seq := uint64(0); ; seq++ {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-l.reqs:
			case <-l.stop:
				l.drain()
				return
			}
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.stop:
			first.done <- result{err: errors.New("fabric: ledger closed")}
			l.drain()
			return
		}
		var group []*request
		group, carry = gather(first, l.reqs, l.cfg.MaxRecords, l.cfg.Linger)
		done := l.flight.start(seq)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-l.slots }()
			defer done()
			defer l.stats.enter()()
			l.commit(seq, group)
		}()
	}
}

// gather forms a transaction: first, then the batches that queue up on reqs
// within linger, while the records stay within max. The batch that would
// pass max is returned as carry, to open the next transaction; a first batch
// of max records or more goes alone. A transaction that another batch of
// its smallest batch's size would not fit goes at once: waiting out the
// linger for a smaller one would delay it and every batch in it.
func gather(first *request, reqs <-chan *request, max int, linger time.Duration) (group []*request, carry *request) {
	group, n, least := []*request{first}, len(first.b.Records), len(first.b.Records)
	if n >= max {
		return group, nil
	}
	t := time.NewTimer(linger)
	defer t.Stop()
	for n+least <= max {
		select {
		case r := <-reqs:
			k := len(r.b.Records)
			if n+k > max {
				return group, r
			}
			group, n, least = append(group, r), n+k, min(least, k)
		case <-t.C:
			return group, nil
		}
	}
	return group, nil
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

// flight tracks the transactions in flight by the order they were formed in.
type flight struct {
	mu   sync.Mutex
	open map[uint64]chan struct{}
}

// start marks transaction seq in flight; the returned func marks it done.
func (f *flight) start(seq uint64) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		f.open = map[uint64]chan struct{}{}
	}
	c := make(chan struct{})
	f.open[seq] = c
	return func() {
		f.mu.Lock()
		delete(f.open, seq)
		f.mu.Unlock()
		close(c)
	}
}

// before returns the transactions formed before seq still in flight.
func (f *flight) before(seq uint64) []chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []chan struct{}
	for s, c := range f.open {
		if s < seq {
			out = append(out, c)
		}
	}
	return out
}

// counters count what the committer did, for Stats.
type counters struct {
	txs, conflicts, retries, rechecks, resent atomic.Int64
	inFlight, maxInFlight                     atomic.Int64
}

// enter counts a transaction in flight; the returned func counts it out.
func (c *counters) enter() func() {
	n := c.inFlight.Add(1)
	for m := c.maxInFlight.Load(); n > m && !c.maxInFlight.CompareAndSwap(m, n); m = c.maxInFlight.Load() {
	}
	return func() { c.inFlight.Add(-1) }
}

// Stats says what a Ledger's committer did.
type Stats struct {
	// Transactions committed (Append transactions that the peers marked valid).
	Transactions int64 `json:"transactions"`
	// Conflicts: transactions the peers marked invalid for a read conflict
	// (MVCC or phantom) with another transaction, or that endorsers a block
	// apart answered differently.
	Conflicts int64 `json:"conflicts"`
	// Retries: resubmissions after a conflict or an unavailable network.
	Retries int64 `json:"retries"`
	// Rechecks: refused batches checked again (see commit).
	Rechecks int64 `json:"rechecks"`
	// Resent: transactions submitted to the orderers again, unchanged (the
	// same transaction id), when their commit status had not come within
	// the resend bound of the orderers taking them (awaitCommit,
	// commitWaits): a Raft leader gone with them.
	Resent int64 `json:"resent"`
	// MaxInFlight is the most transactions that were in flight at once.
	MaxInFlight int64 `json:"maxInFlight"`
	// BlocksRead: blocks the follower read from the peer since Open (with
	// Config.IndexFile, only those after the last block the file held).
	BlocksRead int64 `json:"blocksRead"`
	// FromBlock is the block the follower started from at Open: 0, or
	// after the last block Config.IndexFile held.
	FromBlock uint64 `json:"fromBlock"`
	// SentDecoded: transactions whose batches the follower took as this
	// client decoded them while sending, not from their block's event
	// (the follower's count, with Config.Follower that ledger's).
	SentDecoded int64 `json:"sentDecoded"`
	// FollowFailures: the follower's failures to open the block stream or
	// to add the blocks delivered, since Open (one a retry, every 200 ms
	// while a failure lasts; see Health).
	FollowFailures int64 `json:"followFailures"`
	// UnableMarks: times an endorser's peer was marked unable to endorse
	// (a proposal failed on it on its own, see unableEndorsers), since Open;
	// Unable, the organisations marked now.
	UnableMarks int64    `json:"unableMarks"`
	Unable      []string `json:"unable,omitempty"`
	// EndorsersAble: how many of the profile's endorsers can endorse now
	// (neither away nor marked unable); fewer than EndorsersAsked, and
	// writes wait (see WritesReady).
	EndorsersAble int `json:"endorsersAble"`
	// EndorsersAsked: how many of the profile's endorsers a transaction
	// asks now (the profile's endorsersNeeded, or more while the
	// chaincode's policy needs more; 0: the gateway chooses).
	EndorsersAsked int `json:"endorsersAsked"`
	// ResendAfter is how long a transaction the orderers took waits for its
	// commit status now before it is submitted again: learned from the last
	// transactions' waits on a Raft channel, else the constant 5 s
	// (commitWaits.bound).
	ResendAfter time.Duration `json:"resendAfter"`
}

// Stats returns the committer's counts so far.
func (l *Ledger) Stats() Stats {
	return Stats{Transactions: l.stats.txs.Load(), Conflicts: l.stats.conflicts.Load(), Retries: l.stats.retries.Load(), Rechecks: l.stats.rechecks.Load(), Resent: l.stats.resent.Load(),
		MaxInFlight: l.stats.maxInFlight.Load(), BlocksRead: l.blocksRead.Load(), FromBlock: l.fromBlock, SentDecoded: l.own.taken.Load(), FollowFailures: l.health.failures.Load(),
		UnableMarks: l.unable.marks.Load(), Unable: l.unable.list(), EndorsersAsked: l.endorsersAsked(), EndorsersAble: l.endorsersAble(),
		ResendAfter: l.resendBound()}
}

// resendBound is how long the next transaction the orderers take waits
// for its commit status before it is submitted again.
func (l *Ledger) resendBound() time.Duration {
	return l.waits.bound(time.Duration(l.raftBatch.Load()), l.cfg.resendAfter)
}

// commit submits a group as one transaction, dropping batches an endorser
// refuses and resubmitting after read conflicts. A refused batch is checked
// once more, after every transaction formed before it has finished and
// every organisation's peer holds the blocks the gateway's peer holds: it
// may have depended on one of them (a transfer on its agreement, a
// completion on its transfer), or one endorser may have been a block behind
// the other, and a refusal is only final against every batch committed
// before it.
func (l *Ledger) commit(seq uint64, group []*request) {
	live := group[:0]
	for _, r := range group {
		<-r.ready
		if r.bad != nil {
			r.done <- result{err: r.bad}
			continue
		}
		if r.ctx.Err() != nil {
			r.done <- result{err: r.ctx.Err()}
			continue
		}
		live = append(live, r)
	}
	group = live
	start := time.Now()
	conflicts := 0 // read conflicts, bounded by maxAttempts (retries while unavailable are bounded by the timeout)
	for len(group) > 0 {
		earlier := l.flight.before(seq)
		asked := l.endorsers()
		rs, txID, block, bad, err := l.transact(group, asked)
		if err == nil {
			l.stats.txs.Add(1)
			l.receipts(group, rs, txID, block)
			l.own.forget(txID)
			return
		}
		if bad >= 0 && bad < len(group) {
			if !group[bad].rechecked {
				group[bad].rechecked = true
				l.stats.rechecks.Add(1)
				for _, c := range earlier {
					<-c
				}
				l.peersCaughtUp()
				continue
			}
			group[bad].done <- result{err: err}
			group = append(group[:bad:bad], group[bad+1:]...)
			continue
		}
		var se *StageError
		errors.As(err, &se)
		short, more := l.policyRecheck(err, len(asked))
		if short != nil {
			// Not these batches' fault: this ledger's profile asks too few
			// endorsers for the chaincode's policy now (redefined since
			// Init or the service's start). Unavailable, so callers keep
			// the batches; retrying would not help until it is mended.
			err = &StageError{Stage: StageCommit, TxID: txID, Err: fmt.Errorf("%w: %w", ledger.ErrUnavailable, short)}
			for _, r := range group {
				r.done <- result{err: err}
			}
			return
		}
		if more {
			// The chaincode's policy needs more endorsers than this
			// transaction asked (defined again since it was endorsed): the
			// check just made asks more from now on.
			l.cfg.Log.Info("fabric: endorsed by too few for the chaincode's policy now; resubmitting", "tx", txID, "asked", len(asked), "now", l.endorsersAsked())
			l.stats.retries.Add(1)
			continue
		}
		if errors.Is(err, ErrUnavailable) && time.Since(start) < l.cfg.Timeout {
			// Resubmitting is safe: a batch that did commit is found by its root.
			l.cfg.Log.Info("fabric: network unavailable, retrying", "err", err)
			l.stats.retries.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if se != nil && se.retry {
			l.stats.conflicts.Add(1)
			conflicts++
			if conflicts < maxAttempts {
				// Another transaction, or a peer a block behind the gateway's.
				l.cfg.Log.Info("fabric: resubmitting", "stage", se.Stage, "tx", se.TxID, "conflicts", conflicts, "err", se.Err)
				l.stats.retries.Add(1)
				time.Sleep(conflictBackoff(conflicts))
				continue
			}
			// Still conflicting: contention, not a refusal of these batches.
			// Report it as unavailable so callers resubmit later (a connector's
			// outbox keeps the records pending) instead of dropping them.
			err = &StageError{Stage: se.Stage, TxID: se.TxID,
				Err: fmt.Errorf("%w: %d submissions conflicted with other transactions (last: %v)", ledger.ErrUnavailable, conflicts, se.Err)}
		}
		for _, r := range group {
			r.done <- result{err: err}
		}
		return
	}
}

// policyRecheck, for a transaction that asked asked endorsers and that the
// peers found invalid at commit for its endorsements
// (ENDORSEMENT_POLICY_FAILURE), checks the profile's endorsers against the
// chaincode's policy again: short is the ErrEndorsersShort error if they
// fall short of it; more says the ledger now asks more than the
// transaction did (the chaincode defined again since it was endorsed:
// resubmit it). Neither: the transaction's own endorsements were wrong, say
// altered after endorsement (a refusal). Any other err: neither.
func (l *Ledger) policyRecheck(err error, asked int) (short error, more bool) {
	if !policyFailure(err) {
		return nil, false
	}
	if cerr := l.CheckEndorsers(context.Background()); errors.Is(cerr, ErrEndorsersShort) {
		return cerr, false
	}
	return nil, asked > 0 && l.endorsersAsked() > asked
}

// policyFailure says whether err is a transaction the peers found invalid
// at commit for its endorsements (ENDORSEMENT_POLICY_FAILURE).
func policyFailure(err error) bool {
	var re *ledger.RuleError
	return errors.As(err, &re) && re.Rule == RuleCommitInvalid+peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE.String()
}

// receipts waits until the follower has read the transaction's block and
// answers each batch with its receipt from the block order: a batch this
// transaction wrote, or one an earlier transaction did.
func (l *Ledger) receipts(group []*request, rs []wire.Accepted, txID string, block uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	var t1 time.Time // the follower had read the block
	defer func() {
		l.cfg.Log.Debug("fabric: receipts", "tx", txID, "block", block, "wait", time.Since(t0), "follower", t1.Sub(t0), "endorsers", time.Since(t1))
	}()
	err := l.given.wait(ctx, block, l.stop)
	t1 = time.Now()
	if err != nil {
		for _, r := range group {
			r.done <- result{err: &StageError{Stage: StageCommit, TxID: txID, Err: err}}
		}
		return
	}
	// Given once every endorser's peer holds the block too (see peerHeights);
	// a peer later than MaxEndorserLag does not hold the receipt back.
	if !l.heights.wait(ctx, block, MaxEndorserLag) {
		l.cfg.Log.Debug("fabric: receipt given before every endorser holds its block", "tx", txID, "block", block)
	}
	for i, r := range group {
		if rc, ok := l.given.receipt(rs[i].Root); ok {
			r.done <- result{r: Receipt{Receipt: rc, TxID: txID, Block: block}}
			continue
		}
		// A batch an earlier transaction committed, or given longer ago
		// than the follower keeps its receipts: from the index.
		rc, err := l.indexedReceipt(ctx, rs[i].Root, block)
		if err != nil {
			r.done <- result{err: &StageError{Stage: StageCommit, TxID: txID, Err: err}}
			continue
		}
		r.done <- result{r: Receipt{Receipt: rc, TxID: txID, Block: block}}
	}
}

// indexedReceipt reads the receipt of the batch of root, committed in block
// or before it, from the index once the index holds the block.
func (l *Ledger) indexedReceipt(ctx context.Context, root string, block uint64) (ledger.Receipt, error) {
	if err := l.waitBlock(ctx, block); err != nil {
		return ledger.Receipt{}, err
	}
	l.ixMu.RLock()
	defer l.ixMu.RUnlock()
	b, err := l.ix.batchByRoot(root)
	if err == nil && b == nil {
		err = fmt.Errorf("batch %s committed in block %d is not in the blocks read", root, block)
	}
	if err != nil {
		return ledger.Receipt{}, err
	}
	return b.receipt(), nil
}

// transact endorses, submits and waits for one Append transaction, asking
// endorsers (Ledger.endorsers; none: the gateway chooses). On error bad is
// the index of the batch the chaincode refused, or -1.
func (l *Ledger) transact(group []*request, endorsers []string) (rs []wire.Accepted, txID string, block uint64, bad int, err error) {
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
	z, err := wire.Deflate(arg)
	if err != nil {
		return nil, "", 0, -1, err
	}
	opts := []client.ProposalOption{client.WithArguments(""),
		client.WithTransient(map[string][]byte{wire.TransientBatchesDeflate: z})}
	if len(endorsers) > 0 {
		opts = append(opts, client.WithEndorsingOrganizations(endorsers...))
	}
	proposal, err := l.contract.NewProposal(wire.TxAppend, opts...)
	if err != nil {
		return nil, "", 0, -1, err
	}
	txID = proposal.TransactionID()
	// The follower takes these batches, decoded while the transaction is
	// endorsed and ordered, when its event is z (see ownTxs).
	l.own.add(txID, z, arg)
	defer func() {
		if err != nil {
			l.own.forget(txID)
		}
	}()
	t0 := time.Now()
	tx, err := l.endorse(ctx, proposal, endorsers)
	t1 := time.Now()
	var gone errEndorsersGone
	if errors.As(err, &gone) {
		// Given up on an endorser that does not answer (l.endorse),
		// unavailable: the next attempt asks others.
		return nil, txID, 0, -1, &StageError{Stage: StageEndorse, TxID: txID, Err: err}
	}
	if err != nil {
		se, bad := classify(StageEndorse, err)
		se.TxID = txID
		if failed := peerFailures(err); bad < 0 && !isLedgerError(se.Err) && len(failed) > 0 {
			// A peer that could not run the chaincode: unavailable, not a
			// conflict; the next attempt asks others if the policy lets it.
			l.markUnable(failed)
			se.Err = fmt.Errorf("%w: the peer of %s could not endorse: %v", ErrUnavailable,
				strings.Join(slices.Sorted(maps.Keys(failed)), ", "), se.Err)
			return nil, txID, 0, -1, se
		}
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

// endorsers returns the organisations the next transaction asks to
// endorse it: the profile's endorsers, or under a policy that needs some of
// them, this gateway's organisation and the others in turn, leaving out
// peers away or unable to endorse (Profile.endorsersFor).
func (l *Ledger) endorsers() []string {
	l.followPolicy(context.Background())
	p := l.cfg.Profile
	return p.endorsersFor(p.Orgs[l.cfg.Org].MSPID, l.turn.Add(1)-1, l.endorsersAsked(), l.cannotEndorse)
}

// cannotEndorse says whether msp's peer is away (its block stream broke) or
// unable to endorse (it failed a proposal on its own).
func (l *Ledger) cannotEndorse(msp string) bool {
	return l.heights.isAway(msp) || l.unable.is(msp)
}

// finish submits an endorsed transaction to the orderer and waits for its
// commit status, submitting it again while that does not come
// (awaitCommit), mapping failures to a *StageError.
//
// A submission the orderers refuse as unavailable is made again, the same
// transaction (the same id), every submitAgain while its status is
// awaited, for the ledger's timeout — not endorsed anew: some orderers may
// hold it. A BFT cluster's gateway sends a transaction to every orderer
// and fails the submission unless a quorum takes it, but the orderers
// that took it keep it in their request pools and order it once the
// cluster has its quorum again; a new endorsement each retry would leave
// a copy of the batch in every pool (each ordered, all but the first
// invalid, and the batch's own last transaction found in conflict with
// the first). A submission again that a BFT orderer refuses as ordered
// already (orderedAlready) counts as taken: the next waits the resend
// bound, not submitAgain.
func (l *Ledger) finish(ctx context.Context, tx *client.Transaction) (uint64, error) {
	every := l.resendBound()
	// A submission again is given up after the bound, a second at least
	// (tests send again sooner than a submission takes).
	pace := resendPace{Every: every, Again: submitAgain, GiveUp: max(every, minResend)}
	commit, err := tx.SubmitWithContext(ctx)
	taken := time.Now()
	if err != nil {
		se, _ := classify(StageSubmit, err)
		se.TxID = tx.TransactionID()
		if !errors.Is(se, ErrUnavailable) {
			return 0, se
		}
		if commit, err = l.ch.commitOf(tx.TransactionID()); err != nil {
			return 0, se
		}
		l.cfg.Log.Info("fabric: orderers unavailable; submitting again (the same transaction id) while its commit status is awaited", "err", se)
		pace.Refused = true
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.Timeout)
		defer cancel()
	}
	refused := pace.Refused // the last submission was refused
	st, err := awaitCommit(ctx, pace, func(ctx context.Context) (*client.Status, error) { return commit.StatusWithContext(ctx) },
		func(ctx context.Context) error {
			_, err := tx.SubmitWithContext(ctx)
			if err != nil && orderedAlready(err) {
				return errOrdered
			}
			return err
		},
		func(n int, err error) {
			if refused {
				// Made again after a refusal: a retry while the
				// orderers are unavailable, as a new endorsement was.
				l.stats.retries.Add(1)
			} else {
				l.stats.resent.Add(1)
				l.cfg.Log.Info("fabric: no commit status since the orderers took the transaction; submitted it again (the same transaction id)",
					"tx", tx.TransactionID(), "n", n, "after", pace.Every, "err", err)
			}
			refused = err != nil && !errors.Is(err, errOrdered)
		})
	if err != nil {
		se, _ := classify(StageCommit, err)
		se.TxID = tx.TransactionID()
		return 0, se
	}
	if !pace.Refused {
		l.waits.add(time.Since(taken))
	}
	if !st.Successful {
		return st.BlockNumber, &StageError{Stage: StageCommit, TxID: tx.TransactionID(), Err: commitInvalid(st.Code), retry: retryable(st.Code)}
	}
	return st.BlockNumber, nil
}

// peersCaughtUp waits, for at most two seconds, until every organisation's
// peer holds as many blocks as the gateway's peer.
func (l *Ledger) peersCaughtUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	want, err := l.Height(ctx)
	if err != nil {
		return
	}
	for _, org := range l.cfg.Profile.Orgs {
		for ctx.Err() == nil {
			if h, err := l.heightAt(ctx, org.MSPID); err == nil && h >= want {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
