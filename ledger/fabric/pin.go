package fabric

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// The audit's anchor is the channel's genesis block: its configuration
// names the organisations whose orderers sign the blocks and whose peers
// endorse. A peer serving another channel's blocks, made with other
// organisations' keys, would pass every check from its own genesis block;
// an auditor who knows the channel's genesis block (the file the
// organisations joined their peers with, or its hash from an earlier
// audit) pins it.

// PinChannelGenesis serves src's blocks with block 0 checked against the
// header hash want (ChainCounts.ChannelGenesis): another genesis block is
// a *ChainProblem at block 0.
func PinChannelGenesis(src BlockSource, want []byte) BlockSource {
	return pinnedGenesis{src, want}
}

type pinnedGenesis struct {
	BlockSource
	want []byte
}

func (p pinnedGenesis) Block(ctx context.Context, n uint64) (*common.Block, error) {
	b, err := p.BlockSource.Block(ctx, n)
	if err != nil || n != 0 {
		return b, err
	}
	if b.GetHeader() == nil {
		return nil, &ChainProblem{Block: 0, What: "header missing"}
	}
	if got := headerHash(b.Header); !bytes.Equal(got, p.want) {
		return nil, &ChainProblem{Block: 0, What: fmt.Sprintf("the channel's genesis block hashes to %x, not the pinned %x: another channel", got, p.want)}
	}
	return b, nil
}

// ChannelGenesisPin reads a pin of the channel's genesis block: the
// block header hash as 64 hex digits (as an audit reports it), or the
// path of the genesis block's file (configtxgen's output, which the
// peers joined with).
func ChannelGenesisPin(s string) ([]byte, error) {
	if len(s) == 64 {
		if h, err := hex.DecodeString(s); err == nil {
			return h, nil
		}
	}
	raw, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("--channel-genesis: neither a block header hash (64 hex digits) nor a readable block file: %w", err)
	}
	var b common.Block
	if err := proto.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("--channel-genesis: %s is not a block: %v", s, err)
	}
	if b.Header == nil || b.Header.Number != 0 || !isConfigBlock(&b) {
		return nil, fmt.Errorf("--channel-genesis: %s is not a channel's genesis block (block 0 holding a configuration)", s)
	}
	return headerHash(b.Header), nil
}
