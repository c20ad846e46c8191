package fabric

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fid "github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// TestCARotation rotates an organisation's CA on the real network and
// audits across it: Org1's admin submits a channel configuration update
// that adds a second root CA to Org1's MSP (and unbinds its node OUs from
// the first, as a certificate of the new CA could not carry them
// otherwise), Org1's peer is given an identity the new CA issued, and the
// network restarts. The blocks after the update carry Org1 endorsements by
// that identity, which the genesis configuration refuses and the updated
// one takes; the audit from the blocks, from either peer, follows the
// configuration and gives the ledger's root. It changes Org1's peer and
// restarts the network, so it runs only with TDSC_FABRIC_ROTATE=1
// (scripts/fabric-test.sh runs it last); it writes in the network
// directory as scripts/fabric.sh lays it out.
func TestCARotation(t *testing.T) {
	p := changingNetwork(t, "TDSC_FABRIC_ROTATE", "changes Org1's CA and peer identity and restarts the network")
	if p.Dir == "" {
		t.Fatal("the profile names no network directory (field dir)")
	}
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, func(c *Config) { c.Timeout = 3 * time.Second })
	p1, _ := s.Participant("p1", "CN-BJ")
	batches := []*ledger.Batch{
		mustBatch(t, s, s.Authority(), p1),
		mustBatch(t, s, "p1", s.Dataset("p1", "ds-1", policy.General, "traffic")),
	}
	for _, b := range batches {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	org := p.Orgs[0]
	ch := mustChannel(t, p, 1)
	cfgBlock := lastConfigBlock(t, ctx, ch)
	root2 := newTestCertWith(t, "ca2.org1.tdsc.local", nil, func(c *x509.Certificate) {
		c.Subject.Organization = []string{"org1.tdsc.local"}
		c.NotBefore = time.Now().Add(-2 * time.Hour)
	})
	peer0 := newTestCertWith(t, "peer0.org1.tdsc.local", root2, func(c *x509.Certificate) {
		c.Subject.Organization, c.Subject.OrganizationalUnit = []string{"org1.tdsc.local"}, []string{"peer"}
		c.BasicConstraintsValid = true
	})
	update := rotateCA(t, cfgBlock, p.Channel, org.MSPID, root2.pem)
	broadcast(t, ctx, p, signedConfigUpdate(t, p.Channel, update, org))
	var updated *common.Block
	for _, i := range []int{0, 1} { // both peers hold the update
		c := mustChannel(t, p, i)
		deadline := time.Now().Add(30 * time.Second)
		for updated = lastConfigBlock(t, ctx, c); updated.Header.Number == cfgBlock.Header.Number; updated = lastConfigBlock(t, ctx, c) {
			if time.Now().After(deadline) {
				t.Fatalf("org %d's peer: no configuration block after block %d in 30 s", i+1, cfgBlock.Header.Number)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("configuration update committed in block %d", updated.Header.Number)

	// Org1's peer takes its identity from the new CA; the network restarts.
	installPeerIdentity(t, filepath.Join(p.Dir, "crypto", "peerOrganizations", orgDomain(org.MSPID), "peers", "peer0."+orgDomain(org.MSPID), "msp"), root2, peer0)
	script(t, p, "down")
	script(t, p, "restart")

	p2, _ := s.Participant("p2", "CN-SH")
	after := []*ledger.Batch{mustBatch(t, s, s.Authority(), p2), mustBatch(t, s, "p1", s.Dataset("p1", "ds-2", policy.General, "traffic"))}
	var first Receipt
	deadline := time.Now().Add(60 * time.Second)
	for {
		first, err = l.Submit(ctx, after[0])
		// Unavailable in any form a caller resubmits on: the network, or
		// conflicts that outlasted their retries (one peer still
		// catching up after the restart, of a BFT cluster for seconds).
		if err == nil || !errors.Is(err, ledger.ErrUnavailable) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("append after the rotation: %v", err)
	}
	if _, err := l.Append(ctx, after[1]); err != nil {
		t.Fatal(err)
	}
	batches = append(batches, after...)

	// The transaction after the rotation is endorsed by the new identity:
	// refused under the genesis configuration, taken under the update.
	ch = mustChannel(t, p, 1)
	w := committedTx(t, ch, l.cfg.Chaincode, first)
	var endorser *x509.Certificate
	for _, en := range w.endorsements {
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(en.Endorser, &id); err == nil && id.Mspid == org.MSPID {
			if b, _ := pem.Decode(id.IdBytes); b != nil {
				endorser, _ = x509.ParseCertificate(b.Bytes)
			}
		}
	}
	// (Fabric's MSP hands out its certificate with the signature in low-S
	// form: the same certificate but for the signature's encoding.)
	if endorser == nil || !bytes.Equal(endorser.RawTBSCertificate, peer0.cert.RawTBSCertificate) {
		var got string
		if endorser != nil {
			got = fmt.Sprintf("%s, issued by %s", endorser.Subject, endorser.Issuer)
		}
		t.Fatalf("block %d: %s's endorser %q is not the identity the new CA issued", first.Block, org.MSPID, got)
	}
	ends := genesisOf(t, ch)
	ends.policy = scriptPolicy(p)
	if err := ends.check(w.prp, w.endorsements); err == nil || !strings.Contains(err.Error(), "not issued by the org's CA") {
		t.Fatalf("the new identity's endorsement under the genesis configuration: got %v, want it refused", err)
	}
	if err := ends.update(updated); err != nil {
		t.Fatal(err)
	}
	if err := ends.check(w.prp, w.endorsements); err != nil {
		t.Fatalf("the new identity's endorsement under the updated configuration: %v", err)
	}

	// The audit from the blocks, from either organisation's peer.
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var records uint64
	for _, b := range batches {
		records += uint64(len(b.Records))
	}
	for _, i := range []int{0, 1} {
		rep, err := VerifyChain(ctx, mustChannel(t, p, i), l.cfg.Chaincode, nil)
		if err != nil {
			t.Fatalf("audit from org %d's peer: %v", i+1, err)
		}
		if rep.Records != records || rep.Root != hex.EncodeToString(h.Root) || rep.ConfigUpdates != 1 {
			t.Fatalf("audit from org %d's peer: %d records, root %s, %d configuration updates; the ledger: %d records, root %x, one update", i+1, rep.Records, rep.Root, rep.ConfigUpdates, records, h.Root)
		}
	}
}

func mustChannel(t *testing.T, p *Profile, org int) *Channel {
	t.Helper()
	c, err := OpenChannel(p, org)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lastConfigBlock reads the channel's newest configuration block.
func lastConfigBlock(t *testing.T, ctx context.Context, ch *Channel) *common.Block {
	t.Helper()
	b, err := ch.lastConfigBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rotateCA is the configuration update that adds root to the MSP of the
// organisation mspID and unbinds its node OUs from a CA: the read set the
// versions of the channel, application and organisation groups, the write
// set those groups at the same versions and the MSP value at the next.
func rotateCA(t *testing.T, cfgBlock *common.Block, channel, mspID string, root []byte) *common.ConfigUpdate {
	t.Helper()
	cfg, err := blockConfig(cfgBlock)
	if err != nil {
		t.Fatal(err)
	}
	chg := cfg.ChannelGroup
	app := chg.Groups["Application"]
	for name, g := range app.Groups {
		v := g.Values["MSP"]
		var mc msp.MSPConfig
		var fc msp.FabricMSPConfig
		if proto.Unmarshal(v.Value, &mc) != nil || proto.Unmarshal(mc.Config, &fc) != nil || fc.Name != mspID {
			continue
		}
		path := func(org *common.ConfigGroup) *common.ConfigGroup {
			return &common.ConfigGroup{Version: chg.Version, Groups: map[string]*common.ConfigGroup{
				"Application": {Version: app.Version, Groups: map[string]*common.ConfigGroup{name: org}}}}
		}
		return &common.ConfigUpdate{ChannelId: channel,
			ReadSet: path(&common.ConfigGroup{Version: g.Version}),
			WriteSet: path(&common.ConfigGroup{Version: g.Version, Values: map[string]*common.ConfigValue{
				"MSP": {Version: v.Version + 1, Value: addRoots(t, v.Value, root, nil), ModPolicy: v.ModPolicy}}})}
	}
	t.Fatalf("no organisation %s in configuration block %d", mspID, cfgBlock.Header.Number)
	return nil
}

// addRoots is the MSP configuration value v with root among its root CAs
// and, if not nil, tlsRoot among its TLS root CAs, its node OUs unbound
// from a CA (cryptogen binds them to its CA, and Fabric's MSP compares the
// whole chain, so a certificate of another CA could carry no role).
func addRoots(t *testing.T, v, root, tlsRoot []byte) []byte {
	t.Helper()
	return editMSP(t, v, func(fc *msp.FabricMSPConfig) {
		fc.RootCerts = append(fc.RootCerts, root)
		if tlsRoot != nil {
			fc.TlsRootCerts = append(fc.TlsRootCerts, tlsRoot)
		}
		if n := fc.FabricNodeOus; n != nil {
			for _, id := range []*msp.FabricOUIdentifier{n.ClientOuIdentifier, n.PeerOuIdentifier, n.AdminOuIdentifier, n.OrdererOuIdentifier} {
				if id != nil {
					id.Certificate = nil
				}
			}
		}
	})
}

// editMSP is the MSP configuration value v as edit changes it.
func editMSP(t *testing.T, v []byte, edit func(*msp.FabricMSPConfig)) []byte {
	t.Helper()
	var mc msp.MSPConfig
	var fc msp.FabricMSPConfig
	mustUnmarshal(t, v, &mc)
	mustUnmarshal(t, mc.Config, &fc)
	edit(&fc)
	mc.Config = mustMarshal(t, &fc)
	return mustMarshal(t, &mc)
}

// signedConfigUpdate is the CONFIG_UPDATE envelope of u, signed by each
// of orgs' admins (the changed elements' modification policies: an
// organisation's Admins, the orderer organisations' majority of Admins)
// and submitted by the first.
func signedConfigUpdate(t *testing.T, channel string, u *common.ConfigUpdate, orgs ...Org) *common.Envelope {
	t.Helper()
	type admin struct {
		creator []byte
		sign    func(msg ...[]byte) []byte
	}
	var admins []admin
	for _, org := range orgs {
		certPEM, err := os.ReadFile(org.AdminCert)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := os.ReadFile(org.AdminKey)
		if err != nil {
			t.Fatal(err)
		}
		key, err := fid.PrivateKeyFromPEM(keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := fid.NewPrivateKeySign(key)
		if err != nil {
			t.Fatal(err)
		}
		admins = append(admins, admin{
			creator: mustMarshal(t, &msp.SerializedIdentity{Mspid: org.MSPID, IdBytes: certPEM}),
			sign: func(msg ...[]byte) []byte {
				h := sha256.New()
				for _, m := range msg {
					h.Write(m)
				}
				sig, err := signer(h.Sum(nil))
				if err != nil {
					t.Fatal(err)
				}
				return sig
			},
		})
	}
	// header is a signature header of creator and its transaction id, as
	// Fabric computes it (the nonce and creator hashed): a BFT orderer
	// tells requests apart by it, and takes two without one for the same.
	header := func(creator []byte) ([]byte, string) {
		nonce := make([]byte, 24)
		if _, err := rand.Read(nonce); err != nil {
			t.Fatal(err)
		}
		id := sha256.Sum256(append(nonce, creator...))
		return mustMarshal(t, &common.SignatureHeader{Creator: creator, Nonce: nonce}), hex.EncodeToString(id[:])
	}
	cu := mustMarshal(t, u)
	cue := &common.ConfigUpdateEnvelope{ConfigUpdate: cu}
	for _, a := range admins {
		sh, _ := header(a.creator)
		cue.Signatures = append(cue.Signatures, &common.ConfigSignature{SignatureHeader: sh, Signature: a.sign(sh, cu)})
	}
	sh, txID := header(admins[0].creator)
	chdr := mustMarshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_CONFIG_UPDATE), ChannelId: channel, TxId: txID, Timestamp: timestamppb.Now()})
	payload := mustMarshal(t, &common.Payload{Header: &common.Header{ChannelHeader: chdr, SignatureHeader: sh}, Data: mustMarshal(t, cue)})
	return &common.Envelope{Payload: payload, Signature: admins[0].sign(payload)}
}

// broadcast submits env to the profile's orderer and wants SUCCESS.
func broadcast(t *testing.T, ctx context.Context, p *Profile, env *common.Envelope) {
	t.Helper()
	ca, err := os.ReadFile(p.Orderer.TLSCA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	if err := broadcastTo(ctx, ordererEndpoint{addr: p.Orderer.Address, roots: roots}, env); err != nil {
		t.Fatalf("configuration update to %s: %v", p.Orderer.Address, err)
	}
}

// broadcastTo submits env to orderer e and wants SUCCESS.
func broadcastTo(ctx context.Context, e ordererEndpoint, env *common.Envelope) error {
	conn, err := dialPool("orderer", e.addr, e.roots)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := orderer.NewAtomicBroadcastClient(conn).Broadcast(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(env); err != nil {
		return err
	}
	resp, err := stream.Recv()
	if err != nil {
		return err
	}
	if resp.Status != common.Status_SUCCESS {
		return fmt.Errorf("refused: %s %s", resp.Status, resp.Info)
	}
	return nil
}

// orgDomain is the domain scripts/fabric.sh gives the organisation mspID
// ("Org1MSP": org1.tdsc.local).
func orgDomain(mspID string) string {
	return strings.ToLower(strings.TrimSuffix(mspID, "MSP")) + ".tdsc.local"
}

// ordererOrgDir is the directory of orderer organisation mspID's
// material on network p ("Orderer2MSP":
// crypto/ordererOrganizations/orderer2.tdsc.local).
func ordererOrgDir(p *Profile, mspID string) string {
	return filepath.Join(p.Dir, "crypto", "ordererOrganizations", orgDomain(mspID))
}

// installPeerIdentity gives the peer whose local MSP is dir the identity
// id, which the CA root issued: root joins the MSP's CAs, id and its key
// replace the signing identity, and the node OUs are unbound from a CA as
// in the channel's configuration.
func installPeerIdentity(t *testing.T, dir string, root, id *testCA) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		t.Fatal(err)
	}
	signcerts, err := filepath.Glob(filepath.Join(dir, "signcerts", "*.pem"))
	if err != nil || len(signcerts) != 1 {
		t.Fatalf("%s: want one signing certificate, found %v (%v)", dir, signcerts, err)
	}
	var ous strings.Builder
	ous.WriteString("NodeOUs:\n  Enable: true\n")
	for _, r := range []struct{ key, ou string }{{"ClientOUIdentifier", "client"}, {"PeerOUIdentifier", "peer"}, {"AdminOUIdentifier", "admin"}, {"OrdererOUIdentifier", "orderer"}} {
		fmt.Fprintf(&ous, "  %s:\n    OrganizationalUnitIdentifier: %s\n", r.key, r.ou)
	}
	for name, b := range map[string][]byte{
		filepath.Join(dir, "cacerts", root.cert.Subject.CommonName+"-cert.pem"): root.pem,
		signcerts[0]: id.pem,
		filepath.Join(dir, "keystore", "priv_sk"): pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
		filepath.Join(dir, "config.yaml"):         []byte(ous.String()),
	} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// committedTx reads the transaction of receipt r, of chaincode, from its
// block on ch.
func committedTx(t *testing.T, ch *Channel, chaincode string, r Receipt) *endorsedWrites {
	t.Helper()
	blk, err := ch.Block(context.Background(), r.Block)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range blk.Data.Data {
		if w, err := chaincodeWrites(env, chaincode); err == nil && w != nil && w.txID == r.TxID {
			return w
		}
	}
	t.Fatalf("transaction %s not in block %d", r.TxID, r.Block)
	return nil
}

// genesisOf is the endorsers of ch's genesis configuration, no policy yet.
func genesisOf(t *testing.T, ch *Channel) endorsers {
	t.Helper()
	genesis, err := ch.Block(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := genesisEndorsers(genesis)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
