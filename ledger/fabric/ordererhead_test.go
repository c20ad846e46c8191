package fabric

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// TestOrdererTail: the blocks an orderer holds past an audited head, read
// as Deliver's HEADER_WITH_SIG gives them (headers and signatures, a
// configuration block whole), hold when each follows the one before and is
// signed under the configuration in force — a configuration update adding
// an orderer organisation lets it sign from the next block. A block that
// does not follow, one signed by an organisation no configuration in force
// names, a configuration block served without its data (its signed
// metadata names it the last configuration) or with other data are
// refused, each naming the block.
func TestOrdererTail(t *testing.T) {
	app, genesis, o1, o2 := ordererGrows(t)
	cfg, err := genesisEndorsers(genesis)
	if err != nil {
		t.Fatal(err)
	}
	// The audited chain: the genesis block and block 1. The tail: block 2
	// a configuration update adding o2's organisation (o1 signs), block 3
	// o2 signs.
	b1 := signBlock(t, txBlock(1, headerHash(genesis.Header)), blockSigner{o: o1})
	head := headerHash(b1.Header)
	update := withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1, o2)
	b2 := &common.Block{Header: &common.BlockHeader{Number: 2, PreviousHash: head, DataHash: sha256Of(update.Data.Data)}, Data: update.Data}
	b2 = signBlockAt(t, b2, 2, blockSigner{o: o1})
	b3 := signBlockAt(t, txBlock(3, headerHash(b2.Header)), 2, blockSigner{o: o2})
	stripped := func(b *common.Block) *common.Block { return &common.Block{Header: b.Header, Metadata: b.Metadata} }
	tail := func(bs ...*common.Block) (*tailCheck, error) {
		tc := &tailCheck{cfg: cfg, prev: head, next: 2}
		for _, b := range bs {
			if err := tc.add(b); err != nil {
				return tc, err
			}
		}
		return tc, nil
	}
	tc, err := tail(b2, stripped(b3))
	if err != nil || tc.next != 4 || tc.updates != 1 {
		t.Fatalf("a tail with a configuration update: next %d, %d updates, %v", tc.next, tc.updates, err)
	}
	if cfg.config == tc.cfg.config {
		t.Fatal("the tail's configuration update replaced the audited configuration")
	}

	// o2 signing before any configuration names it.
	plain := signBlock(t, txBlock(2, head), blockSigner{o: o1})
	early := signBlock(t, txBlock(3, headerHash(plain.Header)), blockSigner{o: o2})
	otherData := proto.Clone(b2).(*common.Block)
	otherData.Data = app.Data
	for name, c := range map[string]struct {
		blocks []*common.Block
		want   string
	}{
		"does not follow":    {[]*common.Block{b2, stripped(signBlock(t, txBlock(3, head), blockSigner{o: o1}))}, "its block 3 does not follow block 2's header"},
		"not yet configured": {[]*common.Block{stripped(plain), stripped(early)}, "its block 3: not signed as the channel's"},
		"config stripped":    {[]*common.Block{stripped(b2)}, "its block 2, a configuration block by its signed metadata, came without its data"},
		"config altered":     {[]*common.Block{otherData}, "its block 2: data does not hash to the header's data hash"},
		"numbered wrong":     {[]*common.Block{stripped(b3)}, "asked for block 2, it gave 3"},
	} {
		if _, err := tail(c.blocks...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// FuzzOrdererTail: whatever block an orderer sends after an audited head,
// the tail check does not panic, and one it takes follows the head, is the
// next in number and carries its data or none.
func FuzzOrdererTail(f *testing.F) {
	app, genesis, o1, o2 := ordererGrows(f)
	cfg, err := genesisEndorsers(genesis)
	if err != nil {
		f.Fatal(err)
	}
	head := []byte("the audited head's header hash..")
	update := withOrderers(f, app, common.ImplicitMetaPolicy_ANY, false, nil, o1, o2)
	whole := signBlockAt(f, &common.Block{Header: &common.BlockHeader{Number: 2, PreviousHash: head, DataHash: sha256Of(update.Data.Data)}, Data: update.Data}, 2, blockSigner{o: o1})
	plain := signBlock(f, txBlock(2, head), blockSigner{o: o1})
	f.Add(mustMarshal(f, whole))
	f.Add(mustMarshal(f, &common.Block{Header: plain.Header, Metadata: plain.Metadata}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b common.Block
		if proto.Unmarshal(raw, &b) != nil {
			return
		}
		tc := &tailCheck{cfg: cfg, prev: head, next: 2}
		if tc.add(&b) != nil {
			return
		}
		if b.Header.Number != 2 || !bytes.Equal(b.Header.PreviousHash, head) || tc.next != 3 {
			t.Fatalf("took block %d after %x: next %d", b.Header.Number, b.Header.PreviousHash, tc.next)
		}
		if len(b.GetData().GetData()) > 0 && !bytes.Equal(sha256Of(b.Data.Data), b.Header.DataHash) {
			t.Fatal("took a block whose data does not hash to its header")
		}
	})
}
