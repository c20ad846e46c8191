package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	fid "github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/suite"
)

// ErrChain reports a block chain that is not whole: a block whose header
// does not hash into the next one's, whose data does not match its data
// hash, or that does not decode. A *ChainProblem says which block.
var ErrChain = errors.New("fabric: block chain is broken")

// ChainProblem says where the block chain breaks.
type ChainProblem struct {
	Block uint64
	What  string
}

func (p *ChainProblem) Error() string {
	return fmt.Sprintf("fabric: block %d: %s", p.Block, p.What)
}

// Unwrap makes errors.Is(err, ErrChain) hold.
func (p *ChainProblem) Unwrap() error { return ErrChain }

// BlockSource returns the channel's blocks; the Ledger's (qscc on the
// gateway peer) is the default.
type BlockSource interface {
	Height(ctx context.Context) (uint64, error)
	Block(ctx context.Context, number uint64) (*common.Block, error)
}

// Channel reads one channel's blocks through an organisation's peer
// (qscc): a BlockSource for an audit (VerifyChain, ReadChain) that follows
// nothing and keeps nothing, where a Ledger's follower reads the whole
// channel into its index (a Ledger reads blocks too).
type Channel struct {
	name    string
	conn    *grpc.ClientConn
	gw      *client.Gateway
	network *client.Network
	id      *fid.X509Identity // the client identity, and its signer
	sign    fid.Sign
}

// commitOf is a commit status request for transaction txID, made as the
// channel's client identity (signed when first asked): the transaction's
// status once it commits, as its submission's own — for a transaction
// whose submission failed though some orderer may hold it.
func (c *Channel) commitOf(txID string) (*client.Commit, error) {
	creator, err := proto.Marshal(&msp.SerializedIdentity{Mspid: c.id.MspID(), IdBytes: c.id.Credentials()})
	if err != nil {
		return nil, err
	}
	req, err := proto.Marshal(&gateway.CommitStatusRequest{ChannelId: c.name, TransactionId: txID, Identity: creator})
	if err != nil {
		return nil, err
	}
	signed, err := proto.Marshal(&gateway.SignedCommitStatusRequest{Request: req})
	if err != nil {
		return nil, err
	}
	return c.gw.NewCommit(signed)
}

// OpenChannel connects to the peer of the profile's organisation org (its
// position in Profile.Orgs) as the organisation's user. Close it.
func OpenChannel(p *Profile, org int) (*Channel, error) {
	if p == nil {
		return nil, errors.New("fabric: channel: no profile")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("fabric: channel: profile: %w", err)
	}
	if org < 0 || org >= len(p.Orgs) {
		return nil, fmt.Errorf("fabric: channel: org %d: the profile has %d orgs", org, len(p.Orgs))
	}
	return openChannel(p, org, 60*time.Second)
}

func openChannel(p *Profile, org int, timeout time.Duration) (*Channel, error) {
	o := p.Orgs[org]
	conn, err := dial(o)
	if err != nil {
		return nil, err
	}
	id, sign, err := clientIdentity(o.MSPID, o.UserCert, o.UserKey)
	if err != nil {
		conn.Close()
		return nil, err
	}
	gw, err := connect(conn, id, sign, timeout)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("fabric: gateway: %w", err)
	}
	return &Channel{name: p.Channel, conn: conn, gw: gw, network: gw.GetNetwork(p.Channel), id: id, sign: sign}, nil
}

// Close closes the connection.
func (c *Channel) Close() error {
	c.gw.Close()
	return c.conn.Close()
}

// Height is the channel's block height (qscc GetChainInfo) at the peer.
func (c *Channel) Height(ctx context.Context) (uint64, error) { return c.heightAt(ctx, "") }

// heightAt is the channel's block height at the peer of the organisation
// with MSP ID msp ("": the connection's own).
func (c *Channel) heightAt(ctx context.Context, msp string) (uint64, error) {
	opts := []client.ProposalOption{client.WithArguments(c.name)}
	if msp != "" {
		opts = append(opts, client.WithEndorsingOrganizations(msp))
	}
	res, err := c.network.GetContract("qscc").EvaluateWithContext(ctx, "GetChainInfo", opts...)
	if err != nil {
		se, _ := classify(StageEvaluate, err)
		return 0, se
	}
	var info common.BlockchainInfo
	if err := proto.Unmarshal(res, &info); err != nil {
		return 0, fmt.Errorf("fabric: chain info: %w", err)
	}
	return info.Height, nil
}

// Height is the channel's block height at the gateway's peer.
func (l *Ledger) Height(ctx context.Context) (uint64, error) { return l.ch.Height(ctx) }

// Block is one block of the channel, from the gateway's peer.
func (l *Ledger) Block(ctx context.Context, number uint64) (*common.Block, error) {
	return l.ch.Block(ctx, number)
}

// lastConfigBlock reads the channel's newest configuration block, which
// the newest block's metadata names.
func (c *Channel) lastConfigBlock(ctx context.Context) (*common.Block, error) {
	h, err := c.Height(ctx)
	if err != nil {
		return nil, err
	}
	last, err := c.Block(ctx, h-1)
	if err != nil {
		return nil, err
	}
	n, err := lastConfig(last)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", h-1, err)
	}
	b, err := c.Block(ctx, n)
	if err != nil {
		return nil, err
	}
	if !isConfigBlock(b) {
		return nil, fmt.Errorf("block %d, named the last configuration, is not one", n)
	}
	return b, nil
}

func (l *Ledger) heightAt(ctx context.Context, msp string) (uint64, error) {
	return l.ch.heightAt(ctx, msp)
}

// Block is one block of the channel (qscc GetBlockByNumber).
func (c *Channel) Block(ctx context.Context, number uint64) (*common.Block, error) {
	res, err := c.network.GetContract("qscc").EvaluateWithContext(ctx, "GetBlockByNumber",
		client.WithArguments(c.name, strconv.FormatUint(number, 10)))
	if err != nil {
		se, _ := classify(StageEvaluate, err)
		return nil, se
	}
	var b common.Block
	if err := proto.Unmarshal(res, &b); err != nil {
		return nil, &ChainProblem{Block: number, What: fmt.Sprintf("does not decode: %v", err)}
	}
	return &b, nil
}

// Chain is a tdsc ledger read back from a channel's blocks: the batches
// that valid transactions of one chaincode wrote, in block order, after
// checking the block hash chain and every valid transaction's endorsements.
// The indexes, the tree and its heads (one per transaction) are built from
// that order exactly as the ledger's follower builds them, so an auditor
// gets the same roots and proofs as the ledger service. It is a
// verify.Source: verify.Ledger(ctx, chain, chain.VerifierKey()) then
// re-checks every batch signature under the key registered at that point,
// replays the rulebook from genesis and rebuilds the tree.
type Chain struct {
	ChainCounts
	g      ledger.Genesis
	ix     *index
	signer note.Signer
	vkey   string
}

// ReadChain walks blocks 0..height-1 of src, checks the hash chain, and
// collects what valid transactions of chaincode wrote, in memory (records,
// tree and all, for proofs). To verify a ledger, VerifyChain reads it once
// in bounded memory.
func ReadChain(ctx context.Context, src BlockSource, chaincode string) (*Chain, error) {
	c := &Chain{ix: newIndex(nil)}
	if err := walkChain(ctx, src, chaincode, c.ix, &c.ChainCounts, math.MaxUint64, nil); err != nil {
		return nil, err
	}
	if c.ix.genesis == nil {
		return nil, fmt.Errorf("%w: chaincode %s was never initialised on this channel", ledger.ErrNotFound, chaincode)
	}
	return c, c.seal()
}

// ChainCounts are the blocks and transactions a walk read.
type ChainCounts struct {
	Blocks        uint64 `json:"blocks"`              // blocks walked
	Txs           int    `json:"transactions"`        // valid transactions of the chaincode
	InvalidTxs    int    `json:"invalidTransactions"` // transactions of the chaincode the peers marked invalid (ignored)
	ConfigUpdates int    `json:"configUpdates"`       // configuration blocks after the genesis block
	Definitions   int    `json:"definitions"`         // definitions of the chaincode's endorsement policy in _lifecycle
	Policy        string `json:"endorsementPolicy"`   // the endorsement policy the last definition gave
	// BlockValidation is the policy the last block's signatures satisfied
	// (the channel's /Channel/Orderer/BlockValidation), BlockSigners how
	// many orderer identities signed blocks (a Raft cluster's leaders).
	BlockValidation string `json:"blockValidation"`
	BlockSigners    int    `json:"blockSigners"`
	// Ordering is the ordering service the last block was signed under: its
	// consensus type and consenters ("etcdraft, 3 consenters", "BFT, 4
	// consenters").
	Ordering string `json:"ordering"`
	// ChannelGenesis is the genesis block's header hash (hex), the audit's
	// anchor: PinChannelGenesis pins it.
	ChannelGenesis string `json:"channelGenesis"`
	// CommitHash is the peers' commit hash after the last block (hex), as
	// the walk recomputed it from the validation flags and the valid
	// transactions' writes: ComparePeers holds other peers to it.
	CommitHash string `json:"commitHash"`
	// Head is the last block's header hash (hex): CompareOrderers holds
	// the orderers' block of that number to it.
	Head string `json:"head"`
}

// walkChain walks blocks 0..height-1 of src (or 0..until-1, if until is
// lower): it checks the hash chain, each block's data hash, the orderers'
// signatures of every block after the genesis block, its validation flags
// against the peer's commit hash and every valid transaction's
// endorsements, and adds what the valid transactions of
// chaincode wrote to x, in block order, up to walkBlocksPerUpdate blocks to
// an update of x's store (with the position after them). A problem x's
// store reports (a verifier's) is returned as it is.
func walkChain(ctx context.Context, src BlockSource, chaincode string, x *index, c *ChainCounts, until uint64, after *endorsers) error {
	h, err := src.Height(ctx)
	if err != nil {
		return err
	}
	h = min(h, until)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the fetching if the walk stops early
	next := fetchBlocks(ctx, src, h)
	var prev []byte
	var ends endorsers
	signers := map[string]bool{} // the orderer identities whose block signatures counted
	var commits commitHasher
	block := func(n uint64) error {
		b, err := next()
		if err != nil {
			return err
		}
		if b.Header == nil || b.Data == nil || b.Header.Number != n {
			return &ChainProblem{Block: n, What: "header missing or numbered wrong"}
		}
		if n > 0 && !bytes.Equal(b.Header.PreviousHash, prev) {
			return &ChainProblem{Block: n, What: "previous-block hash does not match block " + strconv.FormatUint(n-1, 10) + "'s header"}
		}
		if dh := sha256.Sum256(bytes.Join(b.Data.Data, nil)); !bytes.Equal(dh[:], b.Header.DataHash) {
			return &ChainProblem{Block: n, What: "data does not hash to the header's data hash: transactions altered"}
		}
		prev = headerHash(b.Header)
		c.Blocks++
		if n == 0 {
			c.ChannelGenesis = hex.EncodeToString(prev)
			if ends, err = genesisEndorsers(b); err != nil {
				return &ChainProblem{Block: n, What: fmt.Sprintf("channel configuration: %v", err)}
			}
			return nil
		}
		// The genesis block is the walk's anchor; every later block must
		// carry the orderers' signatures under the configuration before it
		// (checked after its transactions and its commit hash, so that a
		// transaction altered in a block is named by its endorsements).
		signedBlock := func() error {
			text, ids, err := ends.checkBlock(b)
			if err != nil {
				return &ChainProblem{Block: n, What: err.Error()}
			}
			c.BlockValidation = text
			c.Ordering = configOrdering(ends.config).String()
			for _, sg := range ids {
				if key := sg.mspID + "\x00" + string(sg.cert.Raw); !signers[key] {
					signers[key] = true
					c.BlockSigners++
				}
			}
			return nil
		}
		flags := txFilter(b)
		valid := func(i int) bool {
			return i < len(flags) && peer.TxValidationCode(flags[i]) == peer.TxValidationCode_VALID
		}
		// The flags are the serving peer's: with the valid transactions'
		// writes they must give its commit hash (checked after the
		// transactions too).
		decoded := make([]txRW, len(b.Data.Data)) // the writes the walk read, for the commit hash
		committed := func() error {
			if err := commits.block(b, flags, valid, decoded); err != nil {
				return &ChainProblem{Block: n, What: err.Error()}
			}
			c.CommitHash = hex.EncodeToString(commits.last)
			return signedBlock()
		}
		if isConfigBlock(b) {
			if err := committed(); err != nil {
				return err
			}
			if err := ends.update(b); err != nil {
				return &ChainProblem{Block: n, What: fmt.Sprintf("channel configuration update: %v", err)}
			}
			c.ConfigUpdates++
			return nil
		}
		defer ends.endBlock() // a definition in this block is in force from the next
		for i, env := range b.Data.Data {
			writes, err := chaincodeWrites(env, chaincode)
			if err != nil {
				return &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", i, err)}
			}
			if writes != nil {
				decoded[i] = writes.rw
			}
			if writes == nil {
				if err := definition(n, i, env, chaincode, valid(i), &ends, c); err != nil {
					return err
				}
				continue
			}
			if !valid(i) {
				c.InvalidTxs++
				continue
			}
			if err := ends.check(writes.prp, writes.endorsements); err != nil {
				return &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d is marked valid but %v", i, err)}
			}
			if writes.keyPolicy != "" {
				// Fabric would judge later writes of that key by it, which
				// the audit does not evaluate: it stops rather than judge them
				// by the chaincode's policy.
				return &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d sets a key-level endorsement policy on key %q, which the audit does not evaluate (tdsc's chaincode sets none)", i, writes.keyPolicy)}
			}
			c.Txs++
			if err := x.addTx(n, writes.txID, writes); err != nil {
				if errors.Is(err, verify.ErrCorrupt) || ctx.Err() != nil {
					return err
				}
				return &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", i, err)}
			}
		}
		return committed()
	}
	for n := uint64(0); n < h; {
		if err := x.update(func() error {
			for end := min(n+walkBlocksPerUpdate, h); n < end; n++ {
				if err := block(n); err != nil {
					return err
				}
			}
			return x.st.setPosition(n, prev)
		}); err != nil {
			return err
		}
	}
	c.Head = hex.EncodeToString(prev)
	if after != nil {
		*after = ends
	}
	return nil
}

// definition reads transaction i of block n, if it is a valid _lifecycle
// transaction that defines chaincode's endorsement policy: its
// endorsements must satisfy the lifecycle's endorsement policy, and the
// policy it defines is in force from the next block.
func definition(n uint64, i int, env []byte, chaincode string, valid bool, ends *endorsers, c *ChainCounts) error {
	d, err := definitionWrite(env, chaincode)
	if err != nil {
		return &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", i, err)}
	}
	if d == nil || !valid {
		return nil
	}
	what := fmt.Sprintf("transaction %d (a definition of chaincode %s)", i, chaincode)
	if err := ends.checkUnder(ends.lifecyclePolicy(), d.prp, d.endorsements); err != nil {
		return &ChainProblem{Block: n, What: fmt.Sprintf("%s is marked valid but %v", what, err)}
	}
	p, err := definedPolicy(d.writes[0])
	if err != nil {
		return &ChainProblem{Block: n, What: fmt.Sprintf("%s: %v", what, err)}
	}
	ends.define(p)
	c.Definitions++
	c.Policy = policyText(p)
	return nil
}

// walkBlocksPerUpdate is how many blocks a walk adds to its index's store
// in one update (one bbolt transaction for an index file), as a follower
// catching up does.
const walkBlocksPerUpdate = maxBlocksAtOnce

// fetchAhead is how many blocks a walk asks the peer for ahead of the one
// it checks: each request is a round trip (qscc GetBlockByNumber), which
// the walk would otherwise wait for block by block.
const fetchAhead = 4

// fetchBlocks fetches blocks 0..h-1 of src, up to fetchAhead+1 at once, and
// returns a function that gives them in order (after an error, that error).
// Cancel ctx to stop it early.
func fetchBlocks(ctx context.Context, src BlockSource, h uint64) func() (*common.Block, error) {
	type fetched struct {
		b   *common.Block
		err error
	}
	queue := make(chan chan fetched, fetchAhead)
	go func() {
		defer close(queue)
		for n := uint64(0); n < h; n++ {
			c := make(chan fetched, 1)
			select {
			case queue <- c:
			case <-ctx.Done():
				return
			}
			go func() {
				b, err := src.Block(ctx, n)
				c <- fetched{b, err}
			}()
		}
	}()
	return func() (*common.Block, error) {
		c, ok := <-queue
		if !ok {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("fabric: block fetching ended early")
		}
		f := <-c
		return f.b, f.err
	}
}

// ChainReport is what VerifyChain found: the blocks and transactions it
// read, and the ledger's report.
type ChainReport struct {
	ChainCounts
	verify.Report
	// after is the channel's configuration after the last block, for
	// checking the orderers' blocks (CompareOrderers).
	after endorsers
}

// VerifyChain audits a space's ledger from the channel's blocks in one
// reading: what ReadChain then verify.Ledger check (the hash chain, data
// hashes and endorsements; every batch's signature under its writer's key
// as registered at that point, the rulebook replayed from genesis, the tree
// rebuilt from the records), with the tree head after each transaction
// computed from the block order as the ledger service does, checked against
// the tree the verifier rebuilds. Each batch goes to the verifier as its
// block is read and is not kept: memory holds the rulebook's state and the
// trees' right edges, not the ledger. pin, if not nil, is called with the
// genesis the chain holds before any batch is checked; its error ends the
// audit. A broken chain is a *ChainProblem, a ledger that is not whole a
// *verify.Problem (the first found).
func VerifyChain(ctx context.Context, src BlockSource, chaincode string, pin func(ledger.Genesis) error) (ChainReport, error) {
	var rep ChainReport
	x, st := newAuditIndex(ctx, pin)
	err := walkChain(ctx, src, chaincode, x, &rep.ChainCounts, math.MaxUint64, &rep.after)
	if st.pinErr != nil {
		return rep, st.pinErr
	}
	if st.v == nil {
		if err == nil {
			err = fmt.Errorf("%w: chaincode %s was never initialised on this channel", ledger.ErrNotFound, chaincode)
		}
		return rep, err
	}
	if err != nil {
		// A problem in the batches before the walk stopped comes first: the
		// walk may have stopped for it.
		if perr := st.v.Abort(); perr != nil {
			return rep, perr
		}
		return rep, err
	}
	rep.Report, err = st.v.Close()
	return rep, err
}

// newAuditIndex is the index of VerifyChain's walk: the same code orders
// the batches and computes the tree heads as the ledger service's, over an
// auditStore, without reading the records' keys (noKeys).
func newAuditIndex(ctx context.Context, pin func(ledger.Genesis) error) (*index, *auditStore) {
	st := &auditStore{ctx: ctx, pin: pin, roots: map[string]bool{}}
	x := newIndex(nil)
	x.st, x.noKeys = st, true
	return x, st
}

// auditStore is the indexStore of VerifyChain's walk: it keeps no records,
// tree nodes or events. It hands each batch and each tree head to a
// verifier as the index adds them, and keeps the batch roots seen (for the
// index's check of a batch written twice). A record id written twice in
// two transactions is found by the verifier's rulebook replay, which
// refuses an id it has seen.
type auditStore struct {
	ctx    context.Context
	pin    func(ledger.Genesis) error
	pinErr error // pin's, returned as it is
	v      *verify.Verifier
	roots  map[string]bool
}

var errNotKept = errors.New("fabric: the audit's walk keeps no records")

func (a *auditStore) update(fn func() error) error     { return fn() }
func (a *auditStore) setPosition(uint64, []byte) error { return nil }
func (a *auditStore) hashLeaves(func([]byte) []byte)   {}
func (a *auditStore) recordIndex(string) (uint64, bool, error) {
	return 0, false, nil
}
func (a *auditStore) batchPos(root string) (int, bool, error) { return 0, a.roots[root], nil }
func (a *auditStore) record(uint64) ([]byte, string, string, error) {
	return nil, "", "", errNotKept
}
func (a *auditStore) batch(int, bool) (*storedBatch, error) { return nil, errNotKept }
func (a *auditStore) node(compact.NodeID) ([]byte, error)   { return nil, errNotKept }
func (a *auditStore) headsFrom(uint64, int) ([]Head, error) { return nil, errNotKept }
func (a *auditStore) events(int, int) ([]Event, error)      { return nil, errNotKept }
func (a *auditStore) putNode(compact.NodeID, []byte) error  { return nil }
func (a *auditStore) putEvent(int, Event) error             { return nil }
func (a *auditStore) close() error                          { return nil }
func (a *auditStore) postings(string, uint64, func(uint64) (bool, error)) error {
	return errNotKept
}

func (a *auditStore) putGenesis(raw []byte) error {
	var g ledger.Genesis
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if a.pin != nil {
		if a.pinErr = a.pin(g); a.pinErr != nil {
			return a.pinErr
		}
	}
	v, err := verify.New(a.ctx, g, "")
	if err != nil {
		return err
	}
	a.v = v
	return nil
}

func (a *auditStore) putBatch(pos int, b *storedBatch, _ [][]string) error {
	if a.v == nil {
		return fmt.Errorf("batch %s before the genesis", b.Root)
	}
	a.roots[b.Root] = true
	return a.v.Batch(b.StoredBatch)
}

func (a *auditStore) putHead(h Head) error {
	if a.v == nil {
		return errors.New("tree head before the genesis")
	}
	return a.v.Head(h.Size, h.Root)
}

// seal reads the genesis and makes the key for the checkpoint notes.
func (c *Chain) seal() error {
	if err := json.Unmarshal(c.ix.genesis, &c.g); err != nil {
		return fmt.Errorf("fabric: genesis on the chain: %w", err)
	}
	if err := c.g.CheckSuite(); err != nil {
		return fmt.Errorf("fabric: genesis on the chain: %w", err)
	}
	skey, vkey, err := c.g.CryptoSuite().GenerateNoteKey(Origin(c.g.Space))
	if err != nil {
		return err
	}
	c.vkey = vkey
	c.signer, err = suite.NewNoteSigner(skey)
	return err
}

// Genesis is the genesis the chaincode was initialised with.
func (c *Chain) Genesis(ctx context.Context) (ledger.Genesis, error) { return c.g, nil }

// Batches calls fn for every batch in chain order, from the one holding index from.
func (c *Chain) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	bs, _, err := c.ix.batchesFrom(from, c.ix.batches) // in memory: all at once
	if err != nil {
		return err
	}
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoints calls fn with the tree head after every transaction, wrapped
// as a checkpoint note under VerifierKey, a key made for this reading.
func (c *Chain) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	hs, err := c.ix.headsFrom(0, c.ix.heads)
	if err != nil {
		return err
	}
	for _, h := range hs {
		body := log.Checkpoint{Origin: Origin(c.g.Space), Size: h.Size, Hash: h.Root}.Marshal()
		n, err := note.Sign(&note.Note{Text: string(body)}, c.signer)
		if err != nil {
			return err
		}
		if err := fn(h.Size, n); err != nil {
			return err
		}
	}
	return nil
}

// VerifierKey verifies the notes Checkpoints makes.
func (c *Chain) VerifierKey() string { return c.vkey }

// BatchCount is the number of batches read.
func (c *Chain) BatchCount() int { return c.ix.batches }

// Head is the tree head over every batch read.
func (c *Chain) Head() Head { return c.ix.head() }

// InclusionProof proves the record at index is in the tree of the given size.
func (c *Chain) InclusionProof(index, size uint64) ([][]byte, error) {
	return c.ix.inclusion(index, size)
}

// ConsistencyProof proves the tree of size from is a prefix of the tree of size to.
func (c *Chain) ConsistencyProof(from, to uint64) ([][]byte, error) {
	return c.ix.consistency(from, to)
}

// Index is the index of record id, if the chain holds it.
func (c *Chain) Index(id string) (uint64, bool) {
	i, ok, _ := c.ix.st.recordIndex(id) // in memory: no error
	return i, ok
}

// chaincodeWrites returns the writes an endorser transaction made in the
// chaincode's namespace, or nil if it is not such a transaction.
func chaincodeWrites(env []byte, chaincode string) (*endorsedWrites, error) {
	t, err := readEndorserTx(env)
	if err != nil || t == nil {
		return nil, err
	}
	var out *endorsedWrites
	for _, a := range t.actions {
		if a.ca.ChaincodeId == nil || a.ca.ChaincodeId.Name != chaincode {
			continue
		}
		if out != nil {
			return nil, errors.New("more than one action of the chaincode")
		}
		out = &endorsedWrites{txID: t.txID, prp: a.prp, endorsements: a.endorsements, rw: t.writes()}
		if len(a.ca.Events) > 0 {
			var ce peer.ChaincodeEvent
			if err := proto.Unmarshal(a.ca.Events, &ce); err != nil {
				return nil, fmt.Errorf("chaincode event: %w", err)
			}
			out.event, out.payload = ce.EventName, ce.Payload
		}
		for _, ns := range a.rw {
			if ns.ns != chaincode || ns.coll != "" {
				continue
			}
			out.writes = append(out.writes, ns.writes...)
			for _, mw := range ns.meta {
				for _, e := range mw.Entries {
					if e.Name == peer.MetaDataKeys_VALIDATION_PARAMETER.String() && len(e.Value) > 0 && out.keyPolicy == "" {
						out.keyPolicy = mw.Key
					}
				}
			}
		}
	}
	return out, nil
}

// endorserTx is an endorser transaction as its envelope holds it: its id
// and each action's endorsed response with what it wrote.
type endorserTx struct {
	txID    string
	actions []txAction
}

// txAction is one action of an endorser transaction: the proposal
// response payload its endorsers signed, their endorsements, the chaincode
// action inside it and the writes of its read-write sets.
type txAction struct {
	prp          []byte
	endorsements []*peer.Endorsement
	ca           *peer.ChaincodeAction
	rw           txRW
}

// readEndorserTx reads the envelope of a transaction: nil, without an
// error, for a transaction of another type (a configuration).
func readEndorserTx(env []byte) (*endorserTx, error) {
	var e common.Envelope
	if err := proto.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	var p common.Payload
	if err := proto.Unmarshal(e.Payload, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if p.Header == nil {
		return nil, errors.New("payload has no header")
	}
	var ch common.ChannelHeader
	if err := proto.Unmarshal(p.Header.ChannelHeader, &ch); err != nil {
		return nil, fmt.Errorf("channel header: %w", err)
	}
	if common.HeaderType(ch.Type) != common.HeaderType_ENDORSER_TRANSACTION {
		return nil, nil
	}
	var tx peer.Transaction
	if err := proto.Unmarshal(p.Data, &tx); err != nil {
		return nil, fmt.Errorf("transaction: %w", err)
	}
	t := &endorserTx{txID: ch.TxId}
	for _, a := range tx.Actions {
		var cap peer.ChaincodeActionPayload
		if err := proto.Unmarshal(a.Payload, &cap); err != nil {
			return nil, fmt.Errorf("action payload: %w", err)
		}
		if cap.Action == nil {
			continue
		}
		var prp peer.ProposalResponsePayload
		if err := proto.Unmarshal(cap.Action.ProposalResponsePayload, &prp); err != nil {
			return nil, fmt.Errorf("proposal response: %w", err)
		}
		var ca peer.ChaincodeAction
		if err := proto.Unmarshal(prp.Extension, &ca); err != nil {
			return nil, fmt.Errorf("chaincode action: %w", err)
		}
		rw, err := decodeRW(ca.Results)
		if err != nil {
			return nil, err
		}
		t.actions = append(t.actions, txAction{prp: cap.Action.ProposalResponsePayload, endorsements: cap.Action.Endorsements, ca: &ca, rw: rw})
	}
	return t, nil
}

// writes is every action's writes, in order (the commit hash's).
func (t *endorserTx) writes() txRW {
	out := txRW{}
	for _, a := range t.actions {
		out = append(out, a.rw...)
	}
	return out
}

// endorsedWrites are a transaction's writes in the chaincode's namespace
// and its chaincode event, with the response payload the endorsers signed
// (which holds both) and their endorsements.
type endorsedWrites struct {
	txID         string
	event        string
	payload      []byte
	writes       []*kvrwset.KVWrite
	prp          []byte
	endorsements []*peer.Endorsement
	// keyPolicy is a key the transaction set a key-level endorsement
	// policy on (state-based endorsement), or "" (read by chaincodeWrites
	// only: the audit refuses such a transaction).
	keyPolicy string
	// rw is every write of the transaction, of every namespace (read by
	// chaincodeWrites only: the audit's commit hash).
	rw txRW
}

func txFilter(b *common.Block) []byte {
	if b.Metadata == nil || len(b.Metadata.Metadata) <= int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		return nil
	}
	return b.Metadata.Metadata[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
}

// headerHash is Fabric's block header hash: SHA-256 of headerBytes.
func headerHash(h *common.BlockHeader) []byte {
	s := sha256.Sum256(headerBytes(h))
	return s[:]
}

// headerBytes is Fabric's encoding of a block header (BlockHeaderBytes):
// the ASN.1 DER sequence (number, previous hash, data hash).
func headerBytes(h *common.BlockHeader) []byte {
	der, _ := asn1.Marshal(struct {
		Number       *big.Int
		PreviousHash []byte
		DataHash     []byte
	}{new(big.Int).SetUint64(h.Number), h.PreviousHash, h.DataHash})
	return der
}
