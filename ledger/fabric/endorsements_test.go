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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	parent, signer := tmpl, key
	if issuer == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		parent, signer = issuer.cert, issuer.key
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
	app := &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{}}
	for mspID, ca := range cas {
		fc := mustMarshal(t, &msp.FabricMSPConfig{Name: mspID, RootCerts: [][]byte{ca.pem}})
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
