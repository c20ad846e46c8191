package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/tdsc/tdsc/ledger"
)

// view is a follower's view of the channel: the index and the next block.
type view struct {
	ixMu     sync.RWMutex
	ix       *index
	next     uint64        // the next block to read
	prevHash []byte        // the header hash of block next-1
	changed  chan struct{} // closed, and replaced, when a block is added

	blocksRead atomic.Int64
	fromBlock  uint64 // next when the view was opened

	own ownTxs // the transactions in flight of the ledgers on this view
	// definitions counts the valid definitions of the chaincode in the
	// blocks added: each ledger on the view checks its endorsers against
	// the chaincode's policy again after one (Ledger.followPolicy).
	definitions atomic.Uint64
	// given: the receipts of the blocks added, before the index file has
	// them (see given).
	given  *given
	health followHealth // how the follower is doing (see Health)
	// raftBatch is the batch timeout of the channel's newest configuration
	// the view read, when it orders with Raft (raftBatchTimeout), in
	// nanoseconds: the ledgers on the view learn when to send a lost
	// transaction again above it (commitWaits).
	raftBatch atomic.Int64
}

// follow reads the channel's blocks from the gateway peer as they commit
// (block events), from block 0, and adds the chaincode's valid transactions
// to the index. A stream that ends (the peer went away) is opened again from
// the next block.
func (l *Ledger) follow() {
	defer close(l.followed)
	var last string // the last error logged, so an outage logs once
	untilStopped(l.stop, func(ctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends this stream and its decoders when the read stops
		l.ixMu.RLock()
		next := l.next
		l.ixMu.RUnlock()
		// An index in a file catching up takes the blocks up to the peer's
		// height so far in updates of many blocks (see waiting).
		var height uint64
		if l.ix.persistent() {
			height, _ = l.Height(ctx) // 0 if the peer is away: one block an update
		}
		events, err := l.ch.network.BlockEvents(ctx, client.WithStartBlock(next))
		if err != nil && ctx.Err() == nil {
			l.health.streamFailed(err, time.Now())
		}
		if err == nil {
			l.health.streamOpened()
			blocks := prepareAhead(ctx, events, l.cfg.Chaincode, &l.own)
			group := func(b *prepared) []*prepared {
				var until uint64
				if b.Header != nil && b.Header.Number+1 < height {
					until = height
				}
				return append([]*prepared{b}, waiting(blocks, until)...)
			}
			// The next blocks, if one comes before written closes.
			more := func(written <-chan struct{}) []*prepared {
				select {
				case b, ok := <-blocks:
					if ok {
						return group(b)
					}
				case <-written:
				}
				return nil
			}
			for b := range blocks {
				if err = l.addBlocks(group(b), more); err != nil {
					if ctx.Err() == nil {
						l.health.addFailed(err, time.Now())
					}
					break
				}
			}
		}
		switch {
		case ctx.Err() != nil:
		case err == nil:
			last = ""
		case err.Error() != last:
			l.cfg.Log.Warn("fabric: following the channel", "block", next, "err", err)
			last = err.Error()
		}
	})
}

// untilStopped calls read with a context cancelled when stop closes, and
// again 200 ms after each return until then: read follows a stream of
// blocks, and a stream that ended (the peer went away) is opened again.
func untilStopped(stop <-chan struct{}, read func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		read(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// maxBlocksAtOnce bounds the blocks one update of the index takes.
const maxBlocksAtOnce = 16

// waiting returns the blocks already delivered after the one just taken
// from blocks, and, while the blocks are before until (a catch-up), waits
// for the next ones, so that they go into one update of the index: a file's
// update is one bbolt commit, which writes every page the update touched,
// and the record ids of many blocks land on the same pages. A follower that
// keeps up (until 0) waits for nothing.
func waiting(blocks <-chan *prepared, until uint64) []*prepared {
	var bs []*prepared
	var timeout <-chan time.Time
	if until > 0 {
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	for len(bs) < maxBlocksAtOnce-1 {
		if n := len(bs); n > 0 && (bs[n-1].Header == nil || bs[n-1].Header.Number+1 >= until) {
			timeout = nil // caught up: take only what is there
		}
		select {
		case b, ok := <-blocks:
			if !ok {
				return bs
			}
			bs = append(bs, b)
			continue
		default:
		}
		if timeout == nil {
			return bs
		}
		select {
		case b, ok := <-blocks:
			if !ok {
				return bs
			}
			bs = append(bs, b)
		case <-timeout:
			return bs
		}
	}
	return bs
}

// maxUpdatesAtOnce bounds the updates of an index file that a follower
// writes one after another (each staged while the one before is written)
// before it lets the index's readers in.
const maxUpdatesAtOnce = 16

// addBlocks adds the next blocks, in order: each must follow the one
// before's header hash and match its own data hash. They go into the index
// in one update; if one is refused, an index in a file keeps none of them,
// one in memory those before it. The receipts of their batches are given
// (see given) once the update has added them all, before its file's
// commit. An index in a file then takes the blocks more gives, in updates
// of their own, each staged while the one before is written: more returns
// the next blocks if one arrives before its argument closes (the update
// written), else nil.
func (l *Ledger) addBlocks(bs []*prepared, more func(written <-chan struct{}) []*prepared) error {
	l.ixMu.Lock()
	defer l.ixMu.Unlock()
	if d, ok := l.ix.st.(*diskStore); ok {
		return l.addToFile(d, bs, more)
	}
	next, prev, added := l.next, l.prevHash, int64(0)
	err := l.ix.update(func() error {
		var err error
		next, prev, added, err = l.addGroup(bs, next, prev)
		return err
	})
	l.passed(next, prev, added)
	return err
}

// addGroup adds the blocks of bs from block next (after the block of
// header hash prev) in the update in progress, sets the position after
// them and gives their receipts: the position after the blocks it added,
// and how many.
func (l *Ledger) addGroup(bs []*prepared, next uint64, prev []byte) (uint64, []byte, int64, error) {
	var evs []Event
	added := int64(0)
	for _, b := range bs {
		if b.Header != nil && b.Header.Number < next {
			continue // delivered again after a reconnect
		}
		var err error
		if evs, err = l.addBlock(b, next, prev, evs); err != nil {
			return next, prev, added, err
		}
		next, prev, added = next+1, headerHash(b.Header), added+1
	}
	if err := l.ix.st.setPosition(next, prev); err != nil {
		return next, prev, added, err
	}
	l.given.give(next, evs)
	return next, prev, added, nil
}

// passed moves the follower past the blocks it added (added of them, up to
// next) and wakes those waiting for them.
func (l *Ledger) passed(next uint64, prev []byte, added int64) {
	if added == 0 {
		return
	}
	l.next, l.prevHash = next, prev
	l.blocksRead.Add(added)
	l.health.blocksAdded(time.Now())
	close(l.changed)
	l.changed = make(chan struct{})
	l.given.give(next, nil) // in memory, those before a refused block
}

// addToFile adds bs, then the blocks more gives, to the index in file d:
// each group in an update staged while the one before is written.
func (l *Ledger) addToFile(d *diskStore, bs []*prepared, more func(written <-chan struct{}) []*prepared) error {
	next, prev := l.next, l.prevHash
	var inFlight *fileWrite // the write of the update before
	var landNext uint64
	var landPrev []byte
	var landAdded int64
	land := func() error {
		if inFlight == nil {
			return nil
		}
		err := d.landWrite(inFlight)
		inFlight = nil
		if err == nil {
			l.passed(landNext, landPrev, landAdded)
		}
		return err
	}
	// failed reads the index back from its file once no write is in
	// flight: the file holds the updates written, none of one refused or
	// failed. err is the one reported (a write failing under a refused
	// stage leaves the file as readBack finds it).
	failed := func(err error) error {
		_ = land()
		return l.ix.readBack(d, err)
	}
	for k := 0; len(bs) > 0 && k < maxUpdatesAtOnce; k++ {
		var added int64
		st, err := d.stage(func() error {
			var err error
			next, prev, added, err = l.addGroup(bs, next, prev)
			return err
		})
		if err != nil {
			return failed(err)
		}
		if err := land(); err != nil {
			return failed(err)
		}
		inFlight, landNext, landPrev, landAdded = d.writeAsync(st), next, prev, added
		if k+1 < maxUpdatesAtOnce {
			bs = more(inFlight.done)
		}
	}
	if err := land(); err != nil {
		return failed(err)
	}
	return nil
}

// addBlock adds block b, which must be number next and follow prevHash,
// and appends the events of its transactions to evs.
func (l *Ledger) addBlock(b *prepared, next uint64, prevHash []byte, evs []Event) ([]Event, error) {
	if b.Header == nil || b.Data == nil {
		return evs, &ChainProblem{Block: next, What: "header or data missing"}
	}
	n := b.Header.Number
	if n > next {
		return evs, &ChainProblem{Block: n, What: fmt.Sprintf("delivered after block %d", next-1)}
	}
	if n > 0 && !bytes.Equal(b.Header.PreviousHash, prevHash) {
		return evs, &ChainProblem{Block: n, What: "previous-block hash does not match the block before"}
	}
	if !bytes.Equal(b.dataHash[:], b.Header.DataHash) {
		return evs, &ChainProblem{Block: n, What: "data does not hash to the header's data hash"}
	}
	if b.config {
		l.raftBatch.Store(int64(b.raftBatch))
	}
	if n == 0 {
		return evs, nil
	}
	if b.defines {
		l.definitions.Add(1)
	}
	if b.config {
		// The orderers may have moved (a consenter added or removed): the
		// next probe reads them from this configuration, not in a minute.
		l.orderers.stale()
	}
	for _, tx := range b.txs {
		if tx.err != nil {
			return evs, &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", tx.i, tx.err)}
		}
		ev, err := l.ix.addDecoded(n, tx.txID, tx.d)
		if err != nil {
			return evs, &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", tx.i, err)}
		}
		if ev != nil {
			evs = append(evs, *ev)
		}
	}
	return evs, nil
}

// prepared is a block as the follower reads it before adding it: its data
// hash, and its valid transactions of the chaincode decoded (decodeTx) or
// the error that stopped one, in order.
type prepared struct {
	*common.Block
	dataHash [sha256.Size]byte
	txs      []preparedTx
	defines  bool // a valid transaction defines the chaincode again
	config   bool // a configuration block (an update of the channel)
	// raftBatch: of a configuration block, its raftBatchTimeout.
	raftBatch time.Duration
}

type preparedTx struct {
	i    int // its position in the block
	txID string
	d    *decodedTx
	err  error
}

// prepareBlock reads b for the follower: the work on a block that needs
// nothing of the index (hashing its data, reading its transactions,
// inflating and decoding their batches, or taking those of own).
func prepareBlock(b *common.Block, chaincode string, own *ownTxs) *prepared {
	p := &prepared{Block: b}
	if b.Header == nil || b.Data == nil {
		return p
	}
	p.dataHash = sha256.Sum256(bytes.Join(b.Data.Data, nil))
	if isConfigBlock(b) {
		p.config = true
		if cfg, err := blockConfig(b); err == nil {
			p.raftBatch = raftBatchTimeout(cfg)
		}
		return p
	}
	if b.Header.Number == 0 {
		return p
	}
	flags := txFilter(b)
	for i, env := range b.Data.Data {
		if i >= len(flags) || peer.TxValidationCode(flags[i]) != peer.TxValidationCode_VALID {
			continue
		}
		w, err := validWrites(env, chaincode)
		if err == nil && w == nil {
			// Another chaincode's: the lifecycle's, defining this one?
			if bytes.Contains(env, []byte(lifecycleNamespace)) {
				d, _ := definitionWrite(env, chaincode)
				p.defines = p.defines || d != nil
			}
			continue
		}
		tx := preparedTx{i: i, err: err}
		if err == nil {
			tx.txID = w.txID
			tx.d, tx.err = decodeTx(w, false, own)
		}
		p.txs = append(p.txs, tx)
		if tx.err != nil {
			break // the follower stops at it
		}
	}
	return p
}

// decodeAhead is how many blocks past the one the follower adds may wait
// decoded: as many as an update takes (maxBlocksAtOnce), so that while a
// follower catching up writes one update into its file, the next one's
// blocks decode on the other core (with 4, the decoders stopped four
// blocks into each update and the follower then waited for the other
// twelve). At most twice that many blocks are held decoded at once.
const decodeAhead = maxBlocksAtOnce

// decoders is how many blocks decode at once, each on a goroutine of its
// own, in order of arrival. Few: a follower keeping up gets a block at a
// time and wants it decoded soon, not sharing the cores with a dozen
// others (sixteen at once cost one writing gateway about 8 % of its
// records/s, its receipts later).
const decoders = 4

// prepareAhead prepares the blocks of in (prepareBlock), decoders at once
// and up to decodeAhead ahead, and gives them in their order; it ends when
// in closes or ctx is cancelled.
func prepareAhead(ctx context.Context, in <-chan *common.Block, chaincode string, own *ownTxs) <-chan *prepared {
	queue := make(chan chan *prepared, decodeAhead)
	running := make(chan struct{}, decoders)
	go func() {
		defer close(queue)
		for b := range in {
			select {
			case running <- struct{}{}:
			case <-ctx.Done():
				return
			}
			// Queued and started together: the stage below waits for
			// every queued block's result.
			c := make(chan *prepared, 1)
			select {
			case queue <- c:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-running }()
				c <- prepareBlock(b, chaincode, own)
			}()
		}
	}()
	out := make(chan *prepared)
	go func() {
		defer close(out)
		for c := range queue {
			select {
			case out <- <-c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// waitBlock waits until the follower added block n.
func (l *Ledger) waitBlock(ctx context.Context, n uint64) error {
	return waitPast(ctx, n, l.stop, func() (uint64, <-chan struct{}) {
		l.ixMu.RLock()
		defer l.ixMu.RUnlock()
		return l.next, l.changed
	})
}

// waitPast waits until at gives a block past n: at returns the block
// reached and a channel closed when it moves.
func waitPast(ctx context.Context, n uint64, stop <-chan struct{}, at func() (uint64, <-chan struct{})) error {
	for {
		next, changed := at()
		if next > n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for block %d from the peer (read up to %d): %v", ledger.ErrUnavailable, n, next, ctx.Err())
		case <-stop:
			return fmt.Errorf("fabric: ledger closed")
		}
	}
}

// sync waits until the follower holds every block the gateway peer has
// committed, so a read sees every commit made before it started.
func (l *Ledger) sync(ctx context.Context) error {
	h, err := l.Height(ctx)
	if err != nil {
		return err
	}
	if h == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	return l.waitBlock(ctx, h-1)
}

// read runs fn on the index once it holds every committed block.
func (l *Ledger) read(ctx context.Context, fn func(x *index) error) error {
	if err := l.sync(ctx); err != nil {
		return err
	}
	l.ixMu.RLock()
	defer l.ixMu.RUnlock()
	return fn(l.ix)
}
