package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/ledger"
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

// Height is the channel's block height (qscc GetChainInfo) at the
// gateway's peer.
func (l *Ledger) Height(ctx context.Context) (uint64, error) { return l.heightAt(ctx, "") }

// heightAt is the channel's block height at the peer of the organisation
// with MSP ID msp ("": the gateway's).
func (l *Ledger) heightAt(ctx context.Context, msp string) (uint64, error) {
	opts := []client.ProposalOption{client.WithArguments(l.cfg.Profile.Channel)}
	if msp != "" {
		opts = append(opts, client.WithEndorsingOrganizations(msp))
	}
	res, err := l.network.GetContract("qscc").EvaluateWithContext(ctx, "GetChainInfo", opts...)
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

// Block is one block of the channel (qscc GetBlockByNumber).
func (l *Ledger) Block(ctx context.Context, number uint64) (*common.Block, error) {
	res, err := l.network.GetContract("qscc").EvaluateWithContext(ctx, "GetBlockByNumber",
		client.WithArguments(l.cfg.Profile.Channel, strconv.FormatUint(number, 10)))
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
	g          ledger.Genesis
	ix         *index
	Blocks     uint64 // blocks walked
	Txs        int    // valid transactions of the chaincode
	InvalidTxs int    // transactions of the chaincode the peers marked invalid (ignored)
	signer     note.Signer
	vkey       string
}

// ReadChain walks blocks 0..height-1 of src, checks the hash chain, and
// collects what valid transactions of chaincode wrote.
func ReadChain(ctx context.Context, src BlockSource, chaincode string) (*Chain, error) {
	h, err := src.Height(ctx)
	if err != nil {
		return nil, err
	}
	c := &Chain{ix: newIndex(nil)}
	var prev []byte
	var orgs orgCAs
	for n := uint64(0); n < h; n++ {
		b, err := src.Block(ctx, n)
		if err != nil {
			return nil, err
		}
		if b.Header == nil || b.Data == nil || b.Header.Number != n {
			return nil, &ChainProblem{Block: n, What: "header missing or numbered wrong"}
		}
		if n > 0 && !bytes.Equal(b.Header.PreviousHash, prev) {
			return nil, &ChainProblem{Block: n, What: "previous-block hash does not match block " + strconv.FormatUint(n-1, 10) + "'s header"}
		}
		if dh := sha256.Sum256(bytes.Join(b.Data.Data, nil)); !bytes.Equal(dh[:], b.Header.DataHash) {
			return nil, &ChainProblem{Block: n, What: "data does not hash to the header's data hash: transactions altered"}
		}
		prev = headerHash(b.Header)
		c.Blocks++
		if n == 0 {
			if orgs, err = channelOrgs(b); err != nil {
				return nil, &ChainProblem{Block: n, What: fmt.Sprintf("channel configuration: %v", err)}
			}
			continue
		}
		flags := txFilter(b)
		for i, env := range b.Data.Data {
			writes, err := chaincodeWrites(env, chaincode)
			if err != nil {
				return nil, &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", i, err)}
			}
			if writes == nil {
				continue
			}
			if i >= len(flags) || peer.TxValidationCode(flags[i]) != peer.TxValidationCode_VALID {
				c.InvalidTxs++
				continue
			}
			if err := orgs.checkEndorsements(writes.prp, writes.endorsements); err != nil {
				return nil, &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d is marked valid but %v", i, err)}
			}
			c.Txs++
			if err := c.ix.addTx(n, writes.txID, writes); err != nil {
				return nil, &ChainProblem{Block: n, What: fmt.Sprintf("transaction %d: %v", i, err)}
			}
		}
	}
	if c.ix.genesis == nil {
		return nil, fmt.Errorf("%w: chaincode %s was never initialised on this channel", ledger.ErrNotFound, chaincode)
	}
	return c, c.seal()
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
	var out *endorsedWrites
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
		if ca.ChaincodeId == nil || ca.ChaincodeId.Name != chaincode {
			continue
		}
		if out != nil {
			return nil, errors.New("more than one action of the chaincode")
		}
		out = &endorsedWrites{txID: ch.TxId, prp: cap.Action.ProposalResponsePayload, endorsements: cap.Action.Endorsements}
		if len(ca.Events) > 0 {
			var ce peer.ChaincodeEvent
			if err := proto.Unmarshal(ca.Events, &ce); err != nil {
				return nil, fmt.Errorf("chaincode event: %w", err)
			}
			out.event, out.payload = ce.EventName, ce.Payload
		}
		var txrw rwset.TxReadWriteSet
		if err := proto.Unmarshal(ca.Results, &txrw); err != nil {
			return nil, fmt.Errorf("read-write set: %w", err)
		}
		for _, ns := range txrw.NsRwset {
			if ns.Namespace != chaincode {
				continue
			}
			var kv kvrwset.KVRWSet
			if err := proto.Unmarshal(ns.Rwset, &kv); err != nil {
				return nil, fmt.Errorf("writes: %w", err)
			}
			out.writes = append(out.writes, kv.Writes...)
		}
	}
	return out, nil
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
}

func txFilter(b *common.Block) []byte {
	if b.Metadata == nil || len(b.Metadata.Metadata) <= int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		return nil
	}
	return b.Metadata.Metadata[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
}

// headerHash is Fabric's block header hash: SHA-256 of the ASN.1 DER
// sequence (number, previous hash, data hash).
func headerHash(h *common.BlockHeader) []byte {
	der, _ := asn1.Marshal(struct {
		Number       *big.Int
		PreviousHash []byte
		DataHash     []byte
	}{new(big.Int).SetUint64(h.Number), h.PreviousHash, h.DataHash})
	s := sha256.Sum256(der)
	return s[:]
}
