package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// TestAuditChain reads a space's ledger back from the channel's blocks
// (qscc), checks the hash chain, and re-verifies every batch with
// ledger/verify; an altered block is found and named.
func TestAuditChain(t *testing.T) {
	p := network(t)
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, nil)
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	batches := []*ledger.Batch{
		mustBatch(t, s, s.Authority(), p1, p2, s.Rules(policy.SpaceRules{})),
		mustBatch(t, s, "p1", s.Dataset("p1", "ds-1", policy.General, "traffic")),
	}
	ag, err := s.Agreement("p1", "p2", "ds-1", "ag-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	batches = append(batches, mustBatch(t, s, "p1", ag, s.Transfer("p1", "p2", "ag-1", "ds-1", "t-1")),
		mustBatch(t, s, "p2", s.Completed("p2", "t-1", 4096)))
	var records uint64
	for _, b := range batches {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		records += uint64(len(b.Records))
	}

	chain, rep := audited(t, l)
	if rep.Records != records || rep.Batches != len(batches) || rep.Checkpoints == 0 {
		t.Fatalf("report %+v, want %d records in %d batches", rep, records, len(batches))
	}
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Root != hex.EncodeToString(h.Root) {
		t.Fatalf("rebuilt root %s, ledger head %x", rep.Root, h.Root)
	}
	sameAsService(t, l, chain, batches)

	// In one reading (tdsc fabric verify), from the other organisation's
	// peer: the same report, blocks and transactions.
	ch, err := OpenChannel(p, len(p.Orgs)-1)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	one, err := VerifyChain(ctx, ch, l.cfg.Chaincode, nil)
	if err != nil || one.Report != rep || one.ChainCounts != chain.ChainCounts {
		t.Fatalf("one reading: %+v (%v); read then verified: %+v %+v", one, err, chain.ChainCounts, rep)
	}
	errPin := errors.New("not the pinned genesis")
	if _, err := VerifyChain(ctx, ch, l.cfg.Chaincode, func(g ledger.Genesis) error {
		if g.Space != s.Genesis.Space {
			t.Errorf("the pin saw space %q, want %q", g.Space, s.Genesis.Space)
		}
		return errPin
	}); !errors.Is(err, errPin) {
		t.Fatalf("pinned genesis refused: got %v", err)
	}

	height, err := l.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cp *ChainProblem
	for _, read := range chainReaders(l.cfg.Chaincode) {
		err := read(ctx, alteredBlock{l, height - 1})
		if !errors.Is(err, ErrChain) || !errors.As(err, &cp) || cp.Block != height-1 {
			t.Fatalf("altered block %d: got %v, want a chain problem at that block", height-1, err)
		}
	}
	// The last transfer's completion says 4096 bytes; rewrite it in the last
	// block, data hash and all.
	last, err := l.Block(ctx, height-1)
	if err != nil {
		t.Fatal(err)
	}
	old, new := []byte(`"bytes":4096`), []byte(`"bytes":4097`)
	rw := rewrittenBlock{l, height - 1, old, new}
	if b, err := rw.Block(ctx, height-1); err != nil || proto.Equal(b, last) {
		t.Fatalf("the last block does not hold the last batch (%v)", err)
	}
	for _, read := range chainReaders(l.cfg.Chaincode) {
		err := read(ctx, rw)
		if !errors.As(err, &cp) || cp.Block != height-1 || !strings.Contains(cp.What, "endorsement") {
			t.Fatalf("rewritten last block: got %v, want an endorsement problem in block %d", err, height-1)
		}
		t.Logf("rewritten block found: %v", err)
	}
	// The third batch's transaction dropped from its block, the block's
	// data hash and every later header re-hashed (and the commit hashes):
	// the hash chain, the data hashes and every endorsement left still
	// hold, so only the orderers' signatures can tell.
	dropped := droppedTx{l, height - 2}
	if b, err := dropped.Block(ctx, height-1); err != nil || !bytes.Equal(b.Header.PreviousHash, headerHash(mustBlock(t, dropped, height-2).Header)) {
		t.Fatalf("the dropped transaction's chain is not re-hashed (%v)", err)
	}
	for _, read := range chainReaders(l.cfg.Chaincode) {
		err := read(ctx, dropped)
		if !errors.As(err, &cp) || cp.Block != height-2 || !strings.Contains(cp.What, "not signed as the channel's /Channel/Orderer/BlockValidation") {
			t.Fatalf("a transaction dropped, the chain re-hashed: got %v, want a block signature problem in block %d", err, height-2)
		}
		t.Logf("dropped transaction found: %v", err)
	}
	// The last batch's transaction marked invalid (MVCC_READ_CONFLICT)
	// after its peer committed it: the audit would skip its batch, but the
	// flags no longer give the block's commit hash. Marked so and the
	// commit hash rewritten to match, the chain verifies without the batch
	// — and every organisation's peer holds another commit hash.
	for _, read := range chainReaders(l.cfg.Chaincode) {
		err := read(ctx, flippedFlag{l, height - 1, false})
		if !errors.As(err, &cp) || cp.Block != height-1 || !strings.Contains(cp.What, "the flags (or the writes) were altered") {
			t.Fatalf("a flag flipped: got %v, want a commit hash problem in block %d", err, height-1)
		}
		t.Logf("flipped flag found: %v", err)
	}
	hidden, err := VerifyChain(ctx, flippedFlag{l, height - 1, true}, l.cfg.Chaincode, nil)
	if lastBatch := uint64(len(batches[len(batches)-1].Records)); err != nil || hidden.Records != records-lastBatch {
		t.Fatalf("a flag flipped, the commit hash rewritten: %d records (%v), want the last batch's record hidden", hidden.Records, err)
	}
	peers, err := ComparePeers(ctx, ch, p, hidden.ChainCounts)
	if !errors.As(err, &cp) || slices.ContainsFunc(peers, func(c PeerCommit) bool { return c.Agrees || c.Error != "" }) {
		t.Fatalf("the peers, against a rewritten commit hash: %+v, %v", peers, err)
	}
	t.Logf("the peers disagree: %v", err)
	if peers, err := ComparePeers(ctx, ch, p, one.ChainCounts); err != nil || slices.ContainsFunc(peers, func(c PeerCommit) bool { return !c.Agrees }) {
		t.Fatalf("the peers, against the chain's commit hash: %+v", peers)
	}

	// Every orderer ordered the chain read: its block at the audit's last
	// number has the audited header hash. A serving peer that holds back
	// the last block serves a chain that verifies (a valid prefix, the
	// last batch missing); every orderer then holds blocks past the one
	// read, chained to it and signed under the audited configuration.
	heads, err := CompareOrderers(ctx, ch, one)
	if err != nil || len(heads) == 0 || slices.ContainsFunc(heads, func(h OrdererHead) bool { return !h.Agrees || h.Height < height }) {
		t.Fatalf("the orderers, against the chain read: %+v (%v)", heads, err)
	}
	short, err := VerifyChain(ctx, heldBack{l, height - 1}, l.cfg.Chaincode, nil)
	if err != nil || short.Blocks != height-1 || short.Records >= one.Records {
		t.Fatalf("the chain without its last block: %d blocks, %d records (%v)", short.Blocks, short.Records, err)
	}
	heads, err = CompareOrderers(ctx, ch, short)
	// The blocks past it, read from each orderer as headers and
	// signatures, chain to the audited head: the held-back tail's own.
	if err != nil || len(heads) == 0 || slices.ContainsFunc(heads, func(h OrdererHead) bool {
		return !h.Agrees || h.Height <= short.Blocks || h.Tail != h.Height-short.Blocks
	}) {
		t.Fatalf("the orderers, against the chain held back a block: %+v (%v)", heads, err)
	}
	t.Logf("the orderers, the last block held back: %+v", heads)
	// Another head at the same number (the chain read is not the one
	// ordered): every orderer that answers holds another block there.
	forged := one
	forged.Head = strings.Repeat("ab", 32)
	if heads, err := CompareOrderers(ctx, ch, forged); !errors.As(err, &cp) || cp.Block != one.Blocks-1 || slices.ContainsFunc(heads, func(h OrdererHead) bool { return h.Agrees }) {
		t.Fatalf("the orderers, against another head: %+v (%v), want a chain problem at block %d", heads, err, one.Blocks-1)
	}
}

// heldBack serves the chain up to block n (its height n): a peer that
// holds back the blocks from n on.
type heldBack struct {
	*Ledger
	n uint64
}

func (h heldBack) Height(context.Context) (uint64, error) { return h.n, nil }

// flippedFlag serves the chain with block n's last transaction marked
// MVCC_READ_CONFLICT and, if rehash, the commit hashes from block n on
// rewritten to match, as a peer that altered its flags would have to.
type flippedFlag struct {
	*Ledger
	n      uint64
	rehash bool
}

func (f flippedFlag) Block(ctx context.Context, n uint64) (*common.Block, error) {
	b, err := f.Ledger.Block(ctx, n)
	if err != nil || n < f.n {
		return b, err
	}
	b = proto.Clone(b).(*common.Block)
	if n == f.n {
		flags := b.Metadata.Metadata[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
		flags[len(b.Data.Data)-1] = byte(peer.TxValidationCode_MVCC_READ_CONFLICT)
	}
	if !f.rehash {
		return b, nil
	}
	return rehashCommit(ctx, f, b)
}

// rehashCommit writes block b's commit hash as its flags and writes give
// it after the previous block's in src (none before block 1), as a peer
// commits it — or as a peer that altered a block would have to.
func rehashCommit(ctx context.Context, src BlockSource, b *common.Block) (*common.Block, error) {
	var c commitHasher
	if b.Header.Number > 1 {
		prev, err := src.Block(ctx, b.Header.Number-1)
		if err != nil {
			return nil, err
		}
		if c.last, err = blockCommitHash(prev); err != nil {
			return nil, err
		}
	}
	flags := txFilter(b)
	sum, err := c.next(b, flags, func(i int) bool {
		return i < len(flags) && peer.TxValidationCode(flags[i]) == peer.TxValidationCode_VALID
	}, nil)
	if err != nil {
		return nil, err
	}
	md, err := proto.Marshal(&common.Metadata{Value: sum})
	for len(b.Metadata.Metadata) <= int(common.BlockMetadataIndex_COMMIT_HASH) {
		b.Metadata.Metadata = append(b.Metadata.Metadata, nil)
	}
	b.Metadata.Metadata[common.BlockMetadataIndex_COMMIT_HASH] = md
	return b, err
}

func mustBlock(t *testing.T, src BlockSource, n uint64) *common.Block {
	t.Helper()
	b, err := src.Block(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// droppedTx serves the chain with block n's last transaction taken out
// (and its validation flag), the block's data hash recomputed and every
// later block's previous-block hash re-chained, the commit hashes from
// block n on rewritten to match.
type droppedTx struct {
	*Ledger
	n uint64
}

func (d droppedTx) Block(ctx context.Context, n uint64) (*common.Block, error) {
	b, err := d.Ledger.Block(ctx, n)
	if err != nil || n < d.n {
		return b, err
	}
	b = proto.Clone(b).(*common.Block)
	if n == d.n {
		k := len(b.Data.Data) - 1
		b.Data.Data = b.Data.Data[:k]
		if f := txFilter(b); len(f) > k {
			b.Metadata.Metadata[common.BlockMetadataIndex_TRANSACTIONS_FILTER] = f[:k]
		}
		sum := sha256.Sum256(bytes.Join(b.Data.Data, nil))
		b.Header.DataHash = sum[:]
		return rehashCommit(ctx, d, b)
	}
	prev, err := d.Block(ctx, n-1)
	if err != nil {
		return nil, err
	}
	b.Header.PreviousHash = headerHash(prev.Header)
	return rehashCommit(ctx, d, b)
}

// chainReaders read a chain both ways: ReadChain then verify.Ledger, and
// VerifyChain in one reading.
func chainReaders(chaincode string) []func(context.Context, BlockSource) error {
	return []func(context.Context, BlockSource) error{
		func(ctx context.Context, src BlockSource) error {
			c, err := ReadChain(ctx, src, chaincode)
			if err != nil {
				return err
			}
			_, err = verify.Ledger(ctx, c, c.VerifierKey())
			return err
		},
		func(ctx context.Context, src BlockSource) error {
			_, err := VerifyChain(ctx, src, chaincode, nil)
			return err
		},
	}
}

// audited reads l's chaincode back from the blocks, as an auditor does,
// and verifies it: the chain and the verifier's report.
func audited(t *testing.T, l *Ledger) (*Chain, verify.Report) {
	t.Helper()
	ctx := context.Background()
	chain, err := ReadChain(ctx, l, l.cfg.Chaincode)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Ledger(ctx, chain, chain.VerifierKey())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return chain, rep
}

// sameAsService checks that an auditor reading the blocks gets the ledger
// service's tree head, and for every record the same index and inclusion
// proof, and the same consistency proofs (for every record and size of a
// small ledger, about a hundred spread over a large one).
func sameAsService(t *testing.T, l *Ledger, chain *Chain, batches []*ledger.Batch) {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for _, b := range batches {
		for _, r := range b.Records {
			ids = append(ids, r.ID)
		}
	}
	step := 1 + len(ids)/100
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ch := chain.Head(); ch.Size != h.Size || !bytes.Equal(ch.Root, h.Root) {
		t.Fatalf("auditor's head %d %x, the ledger's %d %x", ch.Size, ch.Root, h.Size, h.Root)
	}
	for k := 0; k < len(ids); k += step {
		id := ids[k]
		p, err := l.Record(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		i, ok := chain.Index(id)
		if !ok || i != p.Index {
			t.Fatalf("record %s: auditor has index %d (%v), the ledger %d", id, i, ok, p.Index)
		}
		pf, err := chain.InclusionProof(i, p.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(pf, p.Proof, bytes.Equal) {
			t.Fatalf("record %s: the auditor's inclusion proof differs from the ledger's", id)
		}
	}
	for from := uint64(1); from < h.Size; from += uint64(step) {
		a, err := chain.ConsistencyProof(from, h.Size)
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.ConsistencyProof(ctx, from, h.Size)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(a, b, bytes.Equal) {
			t.Fatalf("consistency %d -> %d: the auditor's proof differs from the ledger's", from, h.Size)
		}
	}
}

// rewrittenBlock serves the chain with one write of block n's transaction
// changed and the block's data hash recomputed: the hash chain still holds
// if n is the last block, so only the endorsement signatures can tell.
type rewrittenBlock struct {
	*Ledger
	n        uint64
	old, new []byte
}

func (r rewrittenBlock) Block(ctx context.Context, n uint64) (*common.Block, error) {
	b, err := r.Ledger.Block(ctx, n)
	if err != nil || n != r.n {
		return b, err
	}
	b = proto.Clone(b).(*common.Block)
	for i, d := range b.Data.Data {
		b.Data.Data[i] = rewriteEnvelope(d, r.old, r.new)
	}
	sum := sha256.Sum256(bytes.Join(b.Data.Data, nil))
	b.Header.DataHash = sum[:]
	return b, nil
}

// rewriteEnvelope replaces old by new in the writes and the chaincode event
// of an endorser transaction.
func rewriteEnvelope(data, old, new []byte) []byte {
	var env common.Envelope
	var payload common.Payload
	var ptx peer.Transaction
	var cap peer.ChaincodeActionPayload
	var prp peer.ProposalResponsePayload
	var action peer.ChaincodeAction
	var txrw rwset.TxReadWriteSet
	if proto.Unmarshal(data, &env) != nil || proto.Unmarshal(env.Payload, &payload) != nil || proto.Unmarshal(payload.Data, &ptx) != nil ||
		proto.Unmarshal(ptx.Actions[0].Payload, &cap) != nil || proto.Unmarshal(cap.Action.ProposalResponsePayload, &prp) != nil ||
		proto.Unmarshal(prp.Extension, &action) != nil || proto.Unmarshal(action.Results, &txrw) != nil {
		return data
	}
	for _, ns := range txrw.NsRwset {
		var kv kvrwset.KVRWSet
		if proto.Unmarshal(ns.Rwset, &kv) != nil {
			return data
		}
		for _, w := range kv.Writes {
			w.Value = bytes.ReplaceAll(w.Value, old, new)
		}
		ns.Rwset, _ = proto.Marshal(&kv)
	}
	action.Results, _ = proto.Marshal(&txrw)
	// The records themselves travel in the chaincode event.
	var ce peer.ChaincodeEvent
	if len(action.Events) > 0 && proto.Unmarshal(action.Events, &ce) == nil && replaceInEvent(&ce, old, new) {
		action.Events, _ = proto.Marshal(&ce)
	}
	prp.Extension, _ = proto.Marshal(&action)
	cap.Action.ProposalResponsePayload, _ = proto.Marshal(&prp)
	ptx.Actions[0].Payload, _ = proto.Marshal(&cap)
	payload.Data, _ = proto.Marshal(&ptx)
	env.Payload, _ = proto.Marshal(&payload)
	out, _ := proto.Marshal(&env)
	return out
}

// replaceInEvent replaces old by new in the records of a chaincode event,
// compressed or not, and reports whether it held old.
func replaceInEvent(ce *peer.ChaincodeEvent, old, new []byte) bool {
	p := ce.Payload
	if ce.EventName == wire.EventBatchesDeflate {
		var err error
		if p, err = wire.Inflate(ce.EventName, p); err != nil {
			return false
		}
	}
	if !bytes.Contains(p, old) {
		return false
	}
	p = bytes.ReplaceAll(p, old, new)
	if ce.EventName == wire.EventBatchesDeflate {
		p, _ = wire.Deflate(p)
	}
	ce.Payload = p
	return true
}

// alteredBlock serves the chain with one byte of one block's data flipped.
type alteredBlock struct {
	*Ledger
	n uint64
}

func (a alteredBlock) Block(ctx context.Context, n uint64) (*common.Block, error) {
	b, err := a.Ledger.Block(ctx, n)
	if err != nil || n != a.n {
		return b, err
	}
	b = proto.Clone(b).(*common.Block)
	d := b.Data.Data[0]
	d[len(d)/2] ^= 1
	return b, nil
}
