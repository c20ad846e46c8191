package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/tdsc/tdsc/ledger"
	"google.golang.org/protobuf/proto"
)

// TestPinChannelGenesis: the audit starts from the genesis block it is
// given, by hash or by file; another channel's is refused at block 0, and
// the report names the hash to pin.
func TestPinChannelGenesis(t *testing.T) {
	ca1 := newTestCert(t, "ca.org1", nil)
	o1 := newOrdererOrg(t, "OrdererMSP")
	genesis := withOrderers(t, configBlock(t, map[string]*testCA{"Org1MSP": ca1}), common.ImplicitMetaPolicy_ANY, false, nil, o1)
	genesis.Header = &common.BlockHeader{Number: 0, DataHash: sha256Of(genesis.Data.Data)}
	next := &common.Block{Header: &common.BlockHeader{Number: 1, PreviousHash: headerHash(genesis.Header), DataHash: sha256Of(nil)}, Data: &common.BlockData{}}
	chain := stampCommits(t, chainOf{genesis, signBlock(t, next, blockSigner{o: o1})})
	ctx := context.Background()

	rep, err := VerifyChain(ctx, chain, "tdsc", nil)
	if !errors.Is(err, ledger.ErrNotFound) || rep.ChannelGenesis != hex.EncodeToString(headerHash(genesis.Header)) {
		t.Fatalf("unpinned: %v, genesis %q", err, rep.ChannelGenesis)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.block")
	if err := os.WriteFile(file, mustMarshal(t, genesis), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{rep.ChannelGenesis, strings.ToUpper(rep.ChannelGenesis), file} {
		want, err := ChannelGenesisPin(pin)
		if err != nil {
			t.Fatalf("pin %s: %v", pin, err)
		}
		if _, err := VerifyChain(ctx, PinChannelGenesis(chain, want), "tdsc", nil); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("pinned by %s: got %v, want the walk to pass", pin, err)
		}
	}
	other := proto.Clone(genesis).(*common.Block)
	other.Header.DataHash = []byte("another channel")
	_, err = VerifyChain(ctx, PinChannelGenesis(chain, headerHash(other.Header)), "tdsc", nil)
	var cp *ChainProblem
	if !errors.As(err, &cp) || cp.Block != 0 || !strings.Contains(cp.What, "not the pinned") {
		t.Fatalf("another genesis pinned: got %v, want a chain problem at block 0", err)
	}
	t.Logf("refused: %v", err)

	notGenesis := filepath.Join(dir, "block1")
	if err := os.WriteFile(notGenesis, mustMarshal(t, chain[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	for pin, want := range map[string]string{
		notGenesis:                     "is not a channel's genesis block",
		filepath.Join(dir, "missing"):  "neither a block header hash (64 hex digits) nor a readable block file",
		strings.Repeat("zz", 32):       "neither a block header hash",
		rep.ChannelGenesis[:62]:        "neither a block header hash",
		filepath.Join("testdata", "."): "neither a block header hash",
	} {
		if _, err := ChannelGenesisPin(pin); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--channel-genesis: ") {
			t.Errorf("pin %q: got %v, want %q", pin, err, want)
		}
	}
}
