package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// testCA is an organisation's CA, or an identity it issued.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCert(t *testing.T, cn string, issuer *testCA) *testCA {
	t.Helper()
	return newTestCertWith(t, cn, issuer, nil)
}

// newTestCertWith is newTestCert with the template changed by edit first.
func newTestCertWith(t *testing.T, cn string, issuer *testCA, edit func(*x509.Certificate)) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	parent, signer := tmpl, key
	if issuer == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	} else {
		parent, signer = issuer.cert, issuer.key
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configBlock is a config block naming each organisation's CA.
func configBlock(t *testing.T, cas map[string]*testCA) *common.Block {
	t.Helper()
	msps := map[string]*msp.FabricMSPConfig{}
	for mspID, ca := range cas {
		msps[mspID] = &msp.FabricMSPConfig{Name: mspID, RootCerts: [][]byte{ca.pem}}
	}
	return configBlockMSPs(t, msps)
}

// configBlockMSPs is a config block of the organisations' MSPs.
func configBlockMSPs(t *testing.T, msps map[string]*msp.FabricMSPConfig) *common.Block {
	t.Helper()
	app := &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{}}
	for mspID, m := range msps {
		fc := mustMarshal(t, m)
		app.Groups[strings.TrimSuffix(mspID, "MSP")] = &common.ConfigGroup{Values: map[string]*common.ConfigValue{
			"MSP": {Value: mustMarshal(t, &msp.MSPConfig{Config: fc})}}}
	}
	ce := &common.ConfigEnvelope{Config: &common.Config{ChannelGroup: &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{"Application": app}}}}
	p := &common.Payload{Header: &common.Header{ChannelHeader: mustMarshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_CONFIG)})}, Data: mustMarshal(t, ce)}
	return &common.Block{Data: &common.BlockData{Data: [][]byte{mustMarshal(t, &common.Envelope{Payload: mustMarshal(t, p)})}}}
}

// endorse is id's endorsement of the proposal response prp.
func endorse(t *testing.T, mspID string, id *testCA, prp []byte) *peer.Endorsement {
	t.Helper()
	endorser := mustMarshal(t, &msp.SerializedIdentity{Mspid: mspID, IdBytes: id.pem})
	digest := sha256.Sum256(append(append([]byte(nil), prp...), endorser...))
	sig, err := ecdsa.SignASN1(rand.Reader, id.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return &peer.Endorsement{Endorser: endorser, Signature: sig}
}

// TestEndorsersFollowConfig: every organisation of the genesis
// configuration must endorse; an organisation a later config block adds is
// known from that block on (its endorsement verifies, and is not
// required), and a CA an organisation rotates replaces the old one.
func TestEndorsersFollowConfig(t *testing.T) {
	ca1, ca2, ca3 := newTestCert(t, "ca.org1", nil), newTestCert(t, "ca.org2", nil), newTestCert(t, "ca.org3", nil)
	p1, p2, p3 := newTestCert(t, "peer0.org1", ca1), newTestCert(t, "peer0.org2", ca2), newTestCert(t, "peer0.org3", ca3)
	genesis := configBlock(t, map[string]*testCA{"Org1MSP": ca1, "Org2MSP": ca2})
	if !isConfigBlock(genesis) {
		t.Fatal("the genesis block is not seen as a config block")
	}
	tx := &common.Block{Data: &common.BlockData{Data: [][]byte{mustMarshal(t, &common.Envelope{Payload: mustMarshal(t, &common.Payload{
		Header: &common.Header{ChannelHeader: mustMarshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION)})}})})}}}
	if isConfigBlock(tx) {
		t.Fatal("a block of an endorser transaction is seen as a config block")
	}
	e, err := genesisEndorsers(genesis)
	if err != nil {
		t.Fatal(err)
	}
	prp := []byte("proposal response payload")
	check := func(want string, ends ...*peer.Endorsement) {
		t.Helper()
		err := e.check(prp, ends)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Fatalf("got %v, want %q", err, want)
		}
	}
	org1, org2, org3 := endorse(t, "Org1MSP", p1, prp), endorse(t, "Org2MSP", p2, prp), endorse(t, "Org3MSP", p3, prp)
	check("", org1, org2)
	check("no valid endorsement by [Org2MSP]", org1)
	check("Org3MSP, not an organisation of the channel", org1, org2, org3)
	check("does not verify", org1, endorse(t, "Org2MSP", p2, []byte("another response")))

	// Org3 joins: its endorsement verifies from then on, and is not required.
	if err := e.update(configBlock(t, map[string]*testCA{"Org1MSP": ca1, "Org2MSP": ca2, "Org3MSP": ca3})); err != nil {
		t.Fatal(err)
	}
	check("", org1, org2, org3)
	check("", org1, org2)
	check("no valid endorsement by [Org1MSP]", org2, org3)

	// Org1 rotates its CA: a peer certificate of the old CA is refused.
	ca1b := newTestCert(t, "ca2.org1", nil)
	if err := e.update(configBlock(t, map[string]*testCA{"Org1MSP": ca1b, "Org2MSP": ca2, "Org3MSP": ca3})); err != nil {
		t.Fatal(err)
	}
	check("certificate not issued by the org's CA", org1, org2)
	check("", endorse(t, "Org1MSP", newTestCert(t, "peer1.org1", ca1b), prp), org2)
}

// TestEndorserCertificates: an endorser's certificate is checked as
// Fabric's MSP checks it: chained through the organisation's intermediate
// CAs to a root, not revoked by a CRL of the configuration (a CRL no CA of
// the organisation signed is refused with the configuration), and, with
// node OUs on, a peer's.
func TestEndorserCertificates(t *testing.T) {
	root1, ca2 := newTestCert(t, "ca.org1", nil), newTestCert(t, "ca.org2", nil)
	inter1 := newTestCertWith(t, "ica.org1", root1, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	})
	ou := func(ou string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.Subject.OrganizationalUnit = []string{ou} }
	}
	peer1, revoked1 := newTestCertWith(t, "peer0.org1", inter1, ou("peer")), newTestCertWith(t, "peer1.org1", inter1, ou("peer"))
	client1 := newTestCertWith(t, "User1@org1", inter1, ou("client"))
	peer2 := newTestCertWith(t, "peer0.org2", ca2, ou("peer"))
	crl := func(issuer *testCA, serials ...*big.Int) []byte {
		t.Helper()
		var entries []x509.RevocationListEntry
		for _, s := range serials {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(),
			NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, issuer.cert, issuer.key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	nodeOUs := &msp.FabricNodeOUs{Enable: true, PeerOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "peer"}}
	org1 := &msp.FabricMSPConfig{Name: "Org1MSP", RootCerts: [][]byte{root1.pem}, IntermediateCerts: [][]byte{inter1.pem},
		RevocationList: [][]byte{crl(inter1, revoked1.cert.SerialNumber)}, FabricNodeOus: nodeOUs}
	org2 := &msp.FabricMSPConfig{Name: "Org2MSP", RootCerts: [][]byte{ca2.pem}, FabricNodeOus: nodeOUs}
	e, err := genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": org1, "Org2MSP": org2}))
	if err != nil {
		t.Fatal(err)
	}
	prp := []byte("proposal response payload")
	for _, c := range []struct {
		name string
		org1 *testCA
		want string
	}{
		{"a peer under the intermediate CA", peer1, ""},
		{"a revoked peer", revoked1, "revoked by the org's CRL"},
		{"a client, not a peer", client1, `not a peer (OU [client], the peer OU is "peer")`},
		{"issued by another CA of the intermediate's name", newTestCertWith(t, "peer2.org1", newTestCert(t, "ica.org1", nil), ou("peer")), "certificate not issued by the org's CA"},
	} {
		err := e.check(prp, []*peer.Endorsement{endorse(t, "Org1MSP", c.org1, prp), endorse(t, "Org2MSP", peer2, prp)})
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}

	// The peer OU bound to the intermediate CA: a peer certificate the root
	// issued directly is not a peer's.
	org1.FabricNodeOus = &msp.FabricNodeOUs{Enable: true, PeerOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "peer", Certificate: inter1.pem}}
	if e, err = genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": org1, "Org2MSP": org2})); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		org1 *testCA
		want string
	}{
		{"a peer under the bound CA", peer1, ""},
		{"a peer the root issued", newTestCertWith(t, "peer3.org1", root1, ou("peer")), `the peer OU is "peer" of CA "ica.org1"`},
	} {
		err := e.check(prp, []*peer.Endorsement{endorse(t, "Org1MSP", c.org1, prp), endorse(t, "Org2MSP", peer2, prp)})
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	org1.FabricNodeOus = nodeOUs

	// Without the intermediate in the configuration its peers do not chain.
	org1.IntermediateCerts, org1.RevocationList = nil, nil
	if e, err = genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": org1, "Org2MSP": org2})); err != nil {
		t.Fatal(err)
	}
	if err := e.check(prp, []*peer.Endorsement{endorse(t, "Org1MSP", peer1, prp), endorse(t, "Org2MSP", peer2, prp)}); err == nil || !strings.Contains(err.Error(), "not issued by the org's CA") {
		t.Errorf("a peer of an intermediate the configuration lacks: got %v", err)
	}

	// A CRL signed by another organisation's CA makes the configuration
	// unreadable, not a revocation.
	org1.RevocationList = [][]byte{crl(ca2, peer1.cert.SerialNumber)}
	if _, err := genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": org1, "Org2MSP": org2})); err == nil || !strings.Contains(err.Error(), "not signed by a CA of the organisation") {
		t.Errorf("a CRL of another CA: got %v", err)
	}
}
