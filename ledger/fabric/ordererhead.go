package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/grpc"
)

// OrdererHead is what one orderer of the audited chain's configuration
// answered after the walk: its height (its newest block's number + 1) and
// whether its block at the audit's last number is the audited one (the
// same header hash), or why it could not say.
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
	Error   string   `json:"error,omitempty"`
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
// walk's blocks too); a newest block above it, signed under the audited
// configuration, is an orderer-signed head the serving peer did not give
// (blocks written since the walk began, or held back). An orderer that
// holds another block at that number is a *ChainProblem naming it; one
// that does not answer, is behind, or whose newest block is not signed
// under the audited configuration (a configuration update since) is
// reported with its error, not judged.
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
		if err := c.ordererHead(ctx, &h, e, o.conn, newest, at, last); err != nil {
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

// ordererHead fills h from orderer e: its newest block (checked under the
// audited configuration when it is past the audit's last block), then its
// block last, held to the audited head.
func (c ChainReport) ordererHead(ctx context.Context, h *OrdererHead, e ordererEndpoint, dial func(ordererEndpoint) (*grpc.ClientConn, error), newest, at *common.Envelope, last uint64) error {
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
	if n > last {
		if _, _, err := c.after.checkBlock(nb); err != nil {
			return fmt.Errorf("its newest block, %d, is not signed under the audited configuration (%v)", n, err)
		}
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
	if !h.Agrees || isConfigBlock(lb) {
		return nil // a configuration block is signed under the configuration before it, which c.after is not
	}
	// Its own copy's signatures, under the audited configuration: the
	// orderers that did not serve the blocks the walk read sign as
	// configured too.
	_, ids, err := c.after.checkBlock(lb)
	if err != nil {
		h.Agrees = false
		return fmt.Errorf("its copy of block %d: %v", last, err)
	}
	for _, id := range ids {
		h.Signers = append(h.Signers, id.mspID+":"+id.cert.Subject.CommonName)
	}
	return nil
}

// CompareOrderers is CompareOrderers as the ledger's client.
func (l *Ledger) CompareOrderers(ctx context.Context, c ChainReport) ([]OrdererHead, error) {
	return CompareOrderers(ctx, l.ch, c)
}
