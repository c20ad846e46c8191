package fabric

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"github.com/tdsc/tdsc/ledger"
)

// ordererOrg is an orderer organisation of a test channel: its CA and an
// orderer node's identity.
type ordererOrg struct {
	mspID   string
	ca, ord *testCA
}

func newOrdererOrg(t testing.TB, mspID string) ordererOrg {
	ca := newTestCert(t, "ca."+mspID, nil)
	return ordererOrg{mspID: mspID, ca: ca, ord: newTestCert(t, "orderer."+mspID, ca)}
}

// withOrderers adds an orderer group to config block b: the organisations
// ords, each with the Writers policy OR('<msp>.member'), and the group's
// BlockValidation policy rule over them (ANY or MAJORITY Writers, as
// configtxgen writes it); v3 sets the channel capability V3_0, and
// consenters maps identifiers to orderers (BFT ordering).
func withOrderers(t testing.TB, b *common.Block, rule common.ImplicitMetaPolicy_Rule, v3 bool, consenters map[uint32]ordererOrg, ords ...ordererOrg) *common.Block {
	t.Helper()
	return withConfig(t, b, func(cfg *common.Config) {
		og := &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{}, Values: map[string]*common.ConfigValue{},
			Policies: map[string]*common.ConfigPolicy{"BlockValidation": implicitMeta(t, "Writers", rule)}}
		for _, o := range ords {
			fc := mustMarshal(t, &msp.FabricMSPConfig{Name: o.mspID, RootCerts: [][]byte{o.ca.pem}})
			og.Groups[strings.TrimSuffix(o.mspID, "MSP")] = &common.ConfigGroup{
				Values:   map[string]*common.ConfigValue{"MSP": {Value: mustMarshal(t, &msp.MSPConfig{Config: fc})}},
				Policies: map[string]*common.ConfigPolicy{"Writers": signaturePolicy(t, signedByRole(1, msp.MSPRole_MEMBER, []string{o.mspID}))},
			}
		}
		var cm []*common.Consenter
		for id, o := range consenters {
			cm = append(cm, &common.Consenter{Id: id, MspId: o.mspID, Identity: o.ord.pem})
		}
		if cm != nil {
			og.Values["Orderers"] = &common.ConfigValue{Value: mustMarshal(t, &common.Orderers{ConsenterMapping: cm})}
		}
		cfg.ChannelGroup.Groups["Orderer"] = og
		if v3 {
			cfg.ChannelGroup.Values = map[string]*common.ConfigValue{"Capabilities": {Value: mustMarshal(t, &common.Capabilities{
				Capabilities: map[string]*common.Capability{"V3_0": {}}})}}
		}
	})
}

// ecdsaSign signs msg with id's key over SHA-256, in low-S form as
// Fabric's BCCSP signs, or high-S.
func ecdsaSign(t testing.TB, id *testCA, msg []byte, high bool) []byte {
	t.Helper()
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, id.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	n := id.key.Curve.Params().N
	if (s.Cmp(new(big.Int).Rsh(n, 1)) > 0) != high {
		s.Sub(n, s)
	}
	sig, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// blockSigner is one signature an orderer puts on a block: by its
// signature header (creator), or, if id is set, by its consenter
// identifier; high signs in high-S form.
type blockSigner struct {
	o    ordererOrg
	id   uint32
	high bool
}

// signBlock sets b's SIGNATURES metadata as an orderer's block writer
// does: each signer signs the metadata value, its header and the block
// header.
func signBlock(t testing.TB, b *common.Block, signers ...blockSigner) *common.Block {
	t.Helper()
	return signBlockAt(t, b, 0, signers...)
}

// signBlockAt is signBlock with the metadata naming block lastConfig the
// last configuration.
func signBlockAt(t testing.TB, b *common.Block, lastConfig uint64, signers ...blockSigner) *common.Block {
	t.Helper()
	value := mustMarshal(t, &common.OrdererBlockMetadata{LastConfig: &common.LastConfig{Index: lastConfig}})
	md := &common.Metadata{Value: value}
	for _, s := range signers {
		ms := &common.MetadataSignature{}
		hdr := &ms.SignatureHeader
		if s.id != 0 {
			ms.IdentifierHeader = mustMarshal(t, &common.IdentifierHeader{Identifier: s.id, Nonce: []byte("n")})
			hdr = &ms.IdentifierHeader
		} else {
			ms.SignatureHeader = mustMarshal(t, &common.SignatureHeader{
				Creator: mustMarshal(t, &msp.SerializedIdentity{Mspid: s.o.mspID, IdBytes: s.o.ord.pem}), Nonce: []byte("n")})
		}
		ms.Signature = ecdsaSign(t, s.o.ord, append(append(append([]byte(nil), value...), *hdr...), headerBytes(b.Header)...), s.high)
		md.Signatures = append(md.Signatures, ms)
	}
	b.Metadata = &common.BlockMetadata{Metadata: [][]byte{mustMarshal(t, md), nil, {}, nil, nil}}
	return b
}

// txBlock is block n of no transaction after the block whose header hash
// is prev.
func txBlock(n uint64, prev []byte) *common.Block {
	sum := sha256.Sum256(nil)
	return &common.Block{Header: &common.BlockHeader{Number: n, PreviousHash: prev, DataHash: sum[:]}, Data: &common.BlockData{}}
}

// TestBlockSignatures: a block's signatures are evaluated as a peer
// evaluates the orderers' (BlockSignatureVerifier): over the metadata
// value, the signature header and the block header, under the channel's
// BlockValidation policy of the organisations' Writers.
func TestBlockSignatures(t *testing.T) {
	ca1 := newTestCert(t, "ca.org1", nil)
	peer1 := newTestCert(t, "peer0.org1", ca1)
	o1, o2 := newOrdererOrg(t, "OrdererMSP"), newOrdererOrg(t, "Orderer2MSP")
	stranger := ordererOrg{mspID: "OrdererMSP", ca: o1.ca, ord: newTestCert(t, "orderer.elsewhere", newTestCert(t, "ca.elsewhere", nil))}
	app := configBlock(t, map[string]*testCA{"Org1MSP": ca1})
	check := func(t *testing.T, cfg *common.Block, b *common.Block, want string) {
		t.Helper()
		e, err := genesisEndorsers(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, ids, err := e.checkBlock(b)
		switch {
		case want == "" && err != nil:
			t.Fatalf("refused: %v", err)
		case want == "" && len(ids) == 0:
			t.Fatal("taken with no identity counted")
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
		if err != nil {
			t.Logf("refused: %v", err)
		}
	}
	anyOne := withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1)
	block := func() *common.Block { return txBlock(1, []byte("previous")) }

	t.Run("signed by the orderer", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block(), blockSigner{o: o1}), "")
	})
	t.Run("no signatures metadata", func(t *testing.T) {
		check(t, anyOne, block(), "no signatures metadata")
	})
	t.Run("no signature", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block()), "the block carries no signature")
	})
	t.Run("header changed after signing", func(t *testing.T) {
		b := signBlock(t, block(), blockSigner{o: o1})
		b.Header.PreviousHash = []byte("another chain")
		check(t, anyOne, b, `orderer "orderer.OrdererMSP" of OrdererMSP: signature over the block: does not verify`)
	})
	t.Run("metadata value changed after signing", func(t *testing.T) {
		b := signBlock(t, block(), blockSigner{o: o1})
		md, err := blockSignatures(b)
		if err != nil {
			t.Fatal(err)
		}
		md.Value = mustMarshal(t, &common.OrdererBlockMetadata{LastConfig: &common.LastConfig{Index: 7}})
		b.Metadata.Metadata[common.BlockMetadataIndex_SIGNATURES] = mustMarshal(t, md)
		check(t, anyOne, b, "does not verify")
	})
	t.Run("high S", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block(), blockSigner{o: o1, high: true}), "has S above half the curve order")
	})
	t.Run("signed by a peer", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block(), blockSigner{o: ordererOrg{mspID: "Org1MSP", ord: peer1}}),
			`"peer0.org1" of Org1MSP signed, which is no orderer organisation of the channel`)
	})
	t.Run("an identity of another CA", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block(), blockSigner{o: stranger}), `orderer "orderer.elsewhere" of OrdererMSP:`)
	})
	t.Run("an organisation not of the channel", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block(), blockSigner{o: o2}), "orderer of Orderer2MSP, not an organisation of the channel")
	})
	t.Run("one good signature among bad ones", func(t *testing.T) {
		check(t, anyOne, signBlock(t, block(), blockSigner{o: stranger}, blockSigner{o: o1, high: true}, blockSigner{o: o1}), "")
	})

	majority := withOrderers(t, app, common.ImplicitMetaPolicy_MAJORITY, false, nil, o1, o2)
	t.Run("majority of two orderer organisations: one", func(t *testing.T) {
		check(t, majority, signBlock(t, block(), blockSigner{o: o2}), `(MAJORITY Writers) demands: orderer "orderer.Orderer2MSP" of Orderer2MSP signed, not enough alone`)
	})
	t.Run("majority of two orderer organisations: one twice", func(t *testing.T) {
		check(t, majority, signBlock(t, block(), blockSigner{o: o2}, blockSigner{o: o2}), "(MAJORITY Writers) demands")
	})
	t.Run("majority of two orderer organisations: both", func(t *testing.T) {
		check(t, majority, signBlock(t, block(), blockSigner{o: o2}, blockSigner{o: o1}), "")
	})

	bft := withOrderers(t, app, common.ImplicitMetaPolicy_ANY, true, map[uint32]ordererOrg{1: o1, 2: o2}, o1, o2)
	t.Run("BFT: by consenter identifier", func(t *testing.T) {
		check(t, bft, signBlock(t, block(), blockSigner{o: o2, id: 2}), "")
	})
	t.Run("BFT: an identifier signed by another consenter", func(t *testing.T) {
		check(t, bft, signBlock(t, block(), blockSigner{o: o2, id: 1}), `orderer "orderer.OrdererMSP" of OrdererMSP: signature over the block: does not verify`)
	})
	t.Run("BFT: an identifier of no consenter is skipped", func(t *testing.T) {
		check(t, bft, signBlock(t, block(), blockSigner{o: o2, id: 9}), "no signature is by a consenter")
	})
	// A BFT channel's BlockValidation, as Fabric 3 writes it
	// (EncodeBFTBlockVerificationPolicy): a quorum of the consenters'
	// identities, ceil((n+f+1)/2) of n with f = (n-1)/3 — of four, three.
	o3, o4 := newOrdererOrg(t, "Orderer3MSP"), newOrdererOrg(t, "Orderer4MSP")
	four := map[uint32]ordererOrg{1: o1, 2: o2, 3: o3, 4: o4}
	quorum := withConfig(t, withOrderers(t, app, common.ImplicitMetaPolicy_ANY, true, four, o1, o2, o3, o4), func(cfg *common.Config) {
		var ids []*msp.MSPPrincipal
		for _, o := range []ordererOrg{o1, o2, o3, o4} {
			ids = append(ids, &msp.MSPPrincipal{PrincipalClassification: msp.MSPPrincipal_IDENTITY,
				Principal: mustMarshal(t, &msp.SerializedIdentity{Mspid: o.mspID, IdBytes: o.ord.pem})})
		}
		cfg.ChannelGroup.Groups["Orderer"].Policies["BlockValidation"] = signaturePolicy(t, nOutOf(3, ids))
	})
	t.Run("BFT quorum: three of four consenters", func(t *testing.T) {
		check(t, quorum, signBlock(t, block(), blockSigner{o: o1, id: 1}, blockSigner{o: o3, id: 3}, blockSigner{o: o4, id: 4}), "")
	})
	t.Run("BFT quorum: two of four consenters", func(t *testing.T) {
		check(t, quorum, signBlock(t, block(), blockSigner{o: o1, id: 1}, blockSigner{o: o3, id: 3}, blockSigner{o: o3, id: 3}), "(OutOf(3, 'OrdererMSP:orderer.OrdererMSP', 'Orderer2MSP:orderer.Orderer2MSP', 'Orderer3MSP:orderer.Orderer3MSP', 'Orderer4MSP:orderer.Orderer4MSP')) demands")
	})
	t.Run("identifiers without V3_0", func(t *testing.T) {
		check(t, withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, map[uint32]ordererOrg{2: o2}, o1, o2),
			signBlock(t, block(), blockSigner{o: o2, id: 2}), "not an organisation of the channel")
	})
	t.Run("no orderer group", func(t *testing.T) {
		check(t, app, signBlock(t, block(), blockSigner{o: o1}), "block signatures: policy reference \"/Channel/Orderer/BlockValidation\": no group Orderer")
	})
}

// chainOf serves blocks as a channel's.
type chainOf []*common.Block

func (c chainOf) Height(context.Context) (uint64, error) { return uint64(len(c)), nil }
func (c chainOf) Block(_ context.Context, n uint64) (*common.Block, error) {
	if n >= uint64(len(c)) {
		return nil, errors.New("no such block")
	}
	return c[n], nil
}

// ordererGrows is a channel of Org1 ordered by o1's organisation: its
// application configuration (app) and its genesis block; o2 is an orderer
// organisation a configuration update may add.
func ordererGrows(t testing.TB) (app, genesis *common.Block, o1, o2 ordererOrg) {
	t.Helper()
	o1, o2 = newOrdererOrg(t, "OrdererMSP"), newOrdererOrg(t, "Orderer2MSP")
	app = configBlock(t, map[string]*testCA{"Org1MSP": newTestCert(t, "ca.org1", nil)})
	genesis = withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1)
	genesis.Header = &common.BlockHeader{Number: 0, DataHash: sha256Of(genesis.Data.Data)}
	return app, genesis, o1, o2
}

// TestWalkBlockSignatures: the walk checks every block after the genesis
// block under the configuration before it — a configuration block too,
// so an orderer organisation a configuration update adds signs from the
// block after it on — and reports the policy and how many orderer
// identities signed.
func TestWalkBlockSignatures(t *testing.T) {
	app, genesis, o1, o2 := ordererGrows(t)
	// chain: genesis, a block o1 signs, a configuration update adding o2's
	// organisation signed by by, a block o2 signs.
	chain := func(by ordererOrg) chainOf {
		c := chainOf{genesis}
		add := func(b *common.Block, s ordererOrg) {
			b.Header = &common.BlockHeader{Number: uint64(len(c)), PreviousHash: headerHash(c[len(c)-1].Header), DataHash: sha256Of(b.Data.Data)}
			c = append(c, signBlock(t, b, blockSigner{o: s}))
		}
		add(&common.Block{Data: &common.BlockData{}}, o1)
		add(withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1, o2), by)
		add(&common.Block{Data: &common.BlockData{}}, o2)
		return stampCommits(t, c)
	}
	ctx := context.Background()
	var c ChainCounts
	x, _ := newAuditIndex(ctx, nil)
	// No chaincode transaction: the walk ends without a chain problem.
	if err := walkChain(ctx, chain(o1), "tdsc", x, &c, 99, nil); err != nil {
		t.Fatalf("a chain signed as configured: %v", err)
	}
	if c.Blocks != 4 || c.ConfigUpdates != 1 || c.BlockSigners != 2 || c.BlockValidation != "/Channel/Orderer/BlockValidation (ANY Writers)" {
		t.Fatalf("counts %+v", c)
	}
	_, err := VerifyChain(ctx, chain(o2), "tdsc", nil)
	var cp *ChainProblem
	if !errors.As(err, &cp) || cp.Block != 2 || !strings.Contains(cp.What, "orderer of Orderer2MSP, not an organisation of the channel") {
		t.Fatalf("a configuration update signed by the organisation it adds: got %v, want a chain problem at block 2", err)
	}
	if _, err := VerifyChain(ctx, chain(o1), "tdsc", nil); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a chain signed as configured, no chaincode: got %v, want not found", err)
	}
}

func sha256Of(data [][]byte) []byte {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	s := sha256.Sum256(all)
	return s[:]
}

// FuzzBlockSignatures: a block's signatures metadata comes from whoever
// serves the blocks; any bytes there are read without a panic, and a
// block is taken only with a signature that counted.
func FuzzBlockSignatures(f *testing.F) {
	ca1 := newTestCert(f, "ca.org1", nil)
	o1, o2 := newOrdererOrg(f, "OrdererMSP"), newOrdererOrg(f, "Orderer2MSP")
	cfg := withOrderers(f, configBlock(f, map[string]*testCA{"Org1MSP": ca1}), common.ImplicitMetaPolicy_ANY, true, map[uint32]ordererOrg{1: o1, 2: o2}, o1, o2)
	e, err := genesisEndorsers(cfg)
	if err != nil {
		f.Fatal(err)
	}
	block := func() *common.Block { return txBlock(1, []byte("previous")) }
	f.Add(signBlock(f, block(), blockSigner{o: o1}).Metadata.Metadata[0])
	f.Add(signBlock(f, block(), blockSigner{o: o2, id: 2}, blockSigner{o: o1, high: true}).Metadata.Metadata[0])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, md []byte) {
		b := block()
		b.Metadata = &common.BlockMetadata{Metadata: [][]byte{md}}
		_, ids, err := e.checkBlock(b)
		if err == nil && len(ids) == 0 {
			t.Fatal("a block taken with no signature counted")
		}
	})
}

// stampCommits writes into each block after the genesis block the commit
// hash a peer would (rehashCommit, block by block).
func stampCommits(t testing.TB, c chainOf) chainOf {
	t.Helper()
	for _, b := range c[1:] {
		if _, err := rehashCommit(context.Background(), c, b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestOrdering: the report names the ordering service the blocks were
// signed under, from the configuration's consensus type and its
// consenters (a Raft cluster's in the type's metadata, a BFT cluster's
// consenter mapping).
func TestOrdering(t *testing.T) {
	o1, o2 := newOrdererOrg(t, "OrdererMSP"), newOrdererOrg(t, "Orderer2MSP")
	app := configBlock(t, map[string]*testCA{"Org1MSP": newTestCert(t, "ca.org1", nil)})
	consensus := func(b *common.Block, ct *orderer.ConsensusType) *common.Block {
		return withConfig(t, b, func(cfg *common.Config) {
			og := cfg.ChannelGroup.Groups["Orderer"]
			if og.Values == nil {
				og.Values = map[string]*common.ConfigValue{}
			}
			og.Values["ConsensusType"] = &common.ConfigValue{Value: mustMarshal(t, ct)}
		})
	}
	raft := mustMarshal(t, &etcdraft.ConfigMetadata{Consenters: []*etcdraft.Consenter{{Host: "a"}, {Host: "b"}, {Host: "c"}}})
	for _, c := range []struct {
		name string
		b    *common.Block
		want string
	}{
		{"no consensus type", withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1), ""},
		{"raft of three", consensus(withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1), &orderer.ConsensusType{Type: "etcdraft", Metadata: raft}), "etcdraft, 3 consenters"},
		{"raft, metadata unreadable", consensus(withOrderers(t, app, common.ImplicitMetaPolicy_ANY, false, nil, o1), &orderer.ConsensusType{Type: "etcdraft", Metadata: []byte{0xff}}), "etcdraft"},
		{"bft of two", consensus(withOrderers(t, app, common.ImplicitMetaPolicy_ANY, true, map[uint32]ordererOrg{1: o1, 2: o2}, o1, o2), &orderer.ConsensusType{Type: "BFT"}), "BFT, 2 consenters"},
	} {
		e, err := genesisEndorsers(c.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := configOrdering(e.config).String(); got != c.want {
			t.Errorf("%s: ordering %q, want %q", c.name, got, c.want)
		}
	}
}
