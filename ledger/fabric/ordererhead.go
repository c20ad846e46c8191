package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// OrdererHead is what one orderer of the audited chain's configuration
// answered after the walk: its height (its newest block's number + 1) and
// whether its block at the audit's last number is the audited one (the
// same header hash) and the blocks it holds past it follow it (Tail), or
// why it could not say.
type OrdererHead struct {
	Org     string `json:"org,omitempty"`
	Address string `json:"address"`
	Height  uint64 `json:"height,omitempty"`
	Agrees  bool   `json:"agrees"`
	// Signers are the orderer identities ("MSP:common name") whose
	// signatures on the orderer's own copy of that block counted under the
	// audited configuration: each orderer signs the blocks it writes (of
	// Raft, its own; of BFT, the quorum's).
	Signers []string `json:"signers,omitempty"`
	// Tail is how many blocks the orderer holds past the audited last
	// block, each read from it (headers and signatures; a configuration
	// block whole) and chained to the audited head, signed under the
	// configuration in force (TailConfigUpdates of them configuration
	// blocks, each taking over from the next block): the blocks written
	// since the walk, or a tail the serving peer held back, whose
	// transactions the audit did not read.
	Tail              uint64 `json:"tail,omitempty"`
	TailConfigUpdates int    `json:"tailConfigUpdates,omitempty"`
	Error             string `json:"error,omitempty"`
}

// CompareOrderers asks each orderer that the audited chain's last
// configuration names (c, VerifyChain's report; the endpoints and TLS
// roots as the walk read and checked them, not the serving peer's word)
// for its newest block and for the block at the audit's last number, as
// ch's client. The peers serve the blocks, the orderers make them: an
// orderer whose block there has the audited header hash ordered the chain
// the audit read, up to its end, and its own copy of that block must carry
// signatures that satisfy the audited BlockValidation (each orderer signs
// the blocks it writes, so this checks the orderers that did not serve the
// walk's blocks too); the blocks it holds past it are read from it as
// headers and signatures and must chain to the audited head, each signed
// under the configuration in force, configuration updates followed
// (OrdererHead.Tail: blocks written since the walk began, or a tail the
// serving peer held back — their transactions are not audited). An
// orderer that holds another block at that number is a *ChainProblem
// naming it; one that does not answer, is behind, or whose blocks past
// the head do not hold is reported with its error, not judged.
func CompareOrderers(ctx context.Context, ch *Channel, c ChainReport) ([]OrdererHead, error) {
	if c.Blocks == 0 || c.after.channelMSPs == nil || c.Head == "" {
		return nil, errors.New("fabric: comparing the orderers: no audited chain")
	}
	ends, err := channelOrderers(c.after.config)
	if err != nil {
		return nil, fmt.Errorf("fabric: the audited configuration's orderers: %w", err)
	}
	last := c.Blocks - 1
	newest, err := ch.seekNewest()
	if err != nil {
		return nil, err
	}
	at, err := ch.seekBlock(last)
	if err != nil {
		return nil, err
	}
	var o orderers
	defer o.close()
	out, err := eachOrderer(ctx, ends, func(e ordererEndpoint) OrdererHead {
		h := OrdererHead{Org: e.org, Address: e.addr}
		if err := c.ordererHead(ctx, &h, e, o.conn, ch, newest, at, last); err != nil {
			h.Error = firstLine(err.Error())
		}
		return h
	})
	if err != nil {
		return nil, err
	}
	var why []string
	for _, h := range out {
		if h.Error == "" && !h.Agrees {
			why = append(why, h.Address)
		}
	}
	if len(why) > 0 {
		return out, &ChainProblem{Block: last, What: fmt.Sprintf("the orderers %s hold another block at this number than the audited one (header hash %s): the chain served is not the one ordered", strings.Join(why, ", "), c.Head)}
	}
	return out, nil
}

// ordererHead fills h from orderer e: its newest block's number, then its
// block last, held to the audited head, then the blocks past it
// (ordererTail).
func (c ChainReport) ordererHead(ctx context.Context, h *OrdererHead, e ordererEndpoint, dial func(ordererEndpoint) (*grpc.ClientConn, error), ch *Channel, newest, at *common.Envelope, last uint64) error {
	conn, err := dial(e)
	if err != nil {
		return err
	}
	nb, err := deliverBlock(ctx, conn, newest)
	if err != nil {
		return err
	}
	n := nb.GetHeader().GetNumber()
	if n < last {
		return fmt.Errorf("it holds %d blocks, fewer than the %d audited (behind)", n+1, c.Blocks)
	}
	h.Height = n + 1
	lb, err := deliverBlock(ctx, conn, at)
	if err != nil {
		return fmt.Errorf("block %d: %w", last, err)
	}
	if lb.GetHeader() == nil || lb.Header.Number != last {
		return fmt.Errorf("asked for block %d, it gave another", last)
	}
	h.Agrees = hex.EncodeToString(headerHash(lb.Header)) == c.Head
	if !h.Agrees {
		return nil
	}
	// Its own copy's signatures, under the audited configuration: the
	// orderers that did not serve the blocks the walk read sign as
	// configured too. (A configuration block is signed under the
	// configuration before it, which c.after is not.)
	if !isConfigBlock(lb) {
		_, ids, err := c.after.checkBlock(lb)
		if err != nil {
			h.Agrees = false
			return fmt.Errorf("its copy of block %d: %v", last, err)
		}
		for _, id := range ids {
			h.Signers = append(h.Signers, id.mspID+":"+id.cert.Subject.CommonName)
		}
	}
	return c.ordererTail(ctx, h, conn, ch, last, n)
}

// ordererTail reads blocks last+1..n from the orderer on conn, headers
// and signatures (Fabric 3's HEADER_WITH_SIG: a configuration block comes
// whole), and holds them to the audited head: each numbered in turn, its
// previous hash the header hash of the one before (the first's, the
// audited head), signed under the configuration in force — the audited
// one, then each configuration block's from the next block (a
// configuration block is checked under the one before it, its data
// against its header; one whose signed metadata names it the last
// configuration must come whole). h.Tail counts them once all hold.
func (c ChainReport) ordererTail(ctx context.Context, h *OrdererHead, conn *grpc.ClientConn, ch *Channel, last, n uint64) error {
	if n == last {
		return nil
	}
	env, err := ch.seekHeaders(last+1, n)
	if err != nil {
		return err
	}
	prev, err := hex.DecodeString(c.Head)
	if err != nil {
		return err
	}
	tc := &tailCheck{cfg: c.after, prev: prev, next: last + 1}
	err = deliverBlocks(ctx, conn, env, tc.add)
	if err == nil && tc.next != n+1 {
		err = fmt.Errorf("it gave blocks up to %d of %d", tc.next-1, n)
	}
	if err != nil {
		h.Agrees = false
		return fmt.Errorf("its blocks past the audited head: %w", err)
	}
	h.Tail, h.TailConfigUpdates = n-last, tc.updates
	return nil
}

// tailCheck holds blocks past an audited head to it, one after another
// (add): cfg is the configuration in force (its own copy: an update
// replaces its configuration, not the report's), prev the header hash
// the next block must follow, next its number.
type tailCheck struct {
	cfg     endorsers
	prev    []byte
	next    uint64
	updates int
}

// add checks b, the next block, as a header with its signatures (a
// configuration block whole).
func (tc *tailCheck) add(b *common.Block) error {
	n := tc.next
	if b.GetHeader().GetNumber() != n {
		return fmt.Errorf("asked for block %d, it gave %d", n, b.GetHeader().GetNumber())
	}
	if !bytes.Equal(b.Header.PreviousHash, tc.prev) {
		return fmt.Errorf("its block %d does not follow block %d's header", n, n-1)
	}
	whole := len(b.GetData().GetData()) > 0
	if whole {
		if dh := sha256.Sum256(bytes.Join(b.Data.Data, nil)); !bytes.Equal(dh[:], b.Header.DataHash) {
			return fmt.Errorf("its block %d: data does not hash to the header's data hash", n)
		}
	} else if lc, err := lastConfig(b); err == nil && lc == n {
		return fmt.Errorf("its block %d, a configuration block by its signed metadata, came without its data", n)
	}
	if _, _, err := tc.cfg.checkBlock(b); err != nil {
		return fmt.Errorf("its block %d: %v", n, err)
	}
	if whole && isConfigBlock(b) {
		if err := tc.cfg.update(b); err != nil {
			return fmt.Errorf("its block %d: channel configuration update: %v", n, err)
		}
		tc.updates++
	}
	tc.prev = headerHash(b.Header)
	tc.next++
	return nil
}

// lastConfig is the number of the last configuration block b's signed
// metadata names (b's own, of a configuration block).
func lastConfig(b *common.Block) (uint64, error) {
	md, err := blockSignatures(b)
	if err != nil {
		return 0, err
	}
	var obm common.OrdererBlockMetadata
	if err := proto.Unmarshal(md.Value, &obm); err != nil || obm.LastConfig == nil {
		return 0, fmt.Errorf("its signatures metadata names no last configuration (%v)", err)
	}
	return obm.LastConfig.Index, nil
}

// CompareOrderers is CompareOrderers as the ledger's client.
func (l *Ledger) CompareOrderers(ctx context.Context, c ChainReport) ([]OrdererHead, error) {
	return CompareOrderers(ctx, l.ch, c)
}
