package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
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

func newTestCert(t testing.TB, cn string, issuer *testCA) *testCA {
	t.Helper()
	return newTestCertWith(t, cn, issuer, nil)
}

// newTestCertWith is newTestCert with the template changed by edit first.
func newTestCertWith(t testing.TB, cn string, issuer *testCA, edit func(*x509.Certificate)) *testCA {
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

// crlNoAKI is a CRL issuer signs with no extensions at all (no authority
// key identifier), revoking nothing.
func crlNoAKI(t testing.TB, issuer *testCA) []byte {
	t.Helper()
	der := rawCRL(t, issuer, rawCRLOptions{})
	if _, err := x509.ParseRevocationList(der); err != nil {
		t.Fatalf("the CRL without extensions: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

var (
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
)

// rawCRLOptions shape a CRL that rawCRL assembles field by field, where
// x509.CreateRevocationList would not make it.
type rawCRLOptions struct {
	// inner is the signature algorithm the signed part names (default
	// ecdsa-with-SHA256, which the signature always uses and the outer
	// identifier names).
	inner   asn1.ObjectIdentifier
	serials []*big.Int
	// aki is the authority key identifier extension's value: none if nil.
	aki []byte
	// sigTail is appended after the DER of the ECDSA signature, inside
	// the signature's bit string.
	sigTail []byte
}

// rawCRL is the DER of a CRL issuer's key signs (RFC 5280's
// CertificateList, fields as o says).
func rawCRL(t testing.TB, issuer *testCA, o rawCRLOptions) []byte {
	t.Helper()
	inner := o.inner
	if inner == nil {
		inner = oidECDSAWithSHA256
	}
	type entry struct {
		Serial *big.Int
		Date   time.Time
	}
	var entries []entry
	for _, s := range o.serials {
		entries = append(entries, entry{s, time.Now().UTC()})
	}
	var exts []pkix.Extension
	if o.aki != nil {
		exts = append(exts, pkix.Extension{Id: oidAuthorityKeyID, Value: o.aki})
	}
	tbs, err := asn1.Marshal(struct {
		Version    int
		Signature  pkix.AlgorithmIdentifier
		Issuer     pkix.RDNSequence
		ThisUpdate time.Time
		NextUpdate time.Time
		Revoked    []entry          `asn1:"optional"`
		Extensions []pkix.Extension `asn1:"tag:0,optional,explicit"`
	}{1, pkix.AlgorithmIdentifier{Algorithm: inner}, issuer.cert.Subject.ToRDNSequence(), time.Now().UTC(), time.Now().Add(time.Hour).UTC(), entries, exts})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, issuer.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig = append(sig, o.sigTail...)
	der, err := asn1.Marshal(crlEnvelope{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, bitString(sig)})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// crlEnvelope is RFC 5280's CertificateList with the signed part kept as
// its bytes: a test assembles or re-wraps a CRL in it.
type crlEnvelope struct {
	TBS    asn1.RawValue
	SigAlg pkix.AlgorithmIdentifier
	Sig    asn1.BitString
}

func bitString(b []byte) asn1.BitString { return asn1.BitString{Bytes: b, BitLength: 8 * len(b)} }

// akiOf is the value of an authority key identifier extension naming key.
func akiOf(t testing.TB, key []byte) []byte {
	t.Helper()
	v, err := asn1.Marshal(struct {
		KeyIdentifier []byte `asn1:"optional,tag:0"`
	}{key})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// caWithoutSKI is a self-signed CA certificate without a subject key
// identifier (Go adds one to every CA it makes with IsCA set, so the basic
// constraints come as an extra extension).
func caWithoutSKI(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil || !cert.IsCA || len(cert.SubjectKeyId) != 0 {
		t.Fatalf("a CA without a subject key identifier: %v (CA %v, key identifier %x)", err, cert != nil && cert.IsCA, cert.SubjectKeyId)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configBlock is a config block naming each organisation's CA.
func configBlock(t testing.TB, cas map[string]*testCA) *common.Block {
	t.Helper()
	msps := map[string]*msp.FabricMSPConfig{}
	for mspID, ca := range cas {
		msps[mspID] = &msp.FabricMSPConfig{Name: mspID, RootCerts: [][]byte{ca.pem}}
	}
	return configBlockMSPs(t, msps)
}

// configBlockMSPs is a config block of the organisations' MSPs.
func configBlockMSPs(t testing.TB, msps map[string]*msp.FabricMSPConfig) *common.Block {
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

// endorse is id's endorsement of the proposal response prp, signed in
// the low-S form Fabric's peers sign in.
func endorse(t testing.TB, mspID string, id *testCA, prp []byte) *peer.Endorsement {
	t.Helper()
	return endorseS(t, mspID, id, prp, false)
}

// endorseS is endorse with S above half the curve order if high, below
// it if not (both verify as ECDSA).
func endorseS(t testing.TB, mspID string, id *testCA, prp []byte, high bool) *peer.Endorsement {
	t.Helper()
	endorser := mustMarshal(t, &msp.SerializedIdentity{Mspid: mspID, IdBytes: id.pem})
	return &peer.Endorsement{Endorser: endorser, Signature: ecdsaSign(t, id, append(append([]byte(nil), prp...), endorser...), high)}
}

// andOf is the signature policy AND of role of the organisations msps.
func andOf(role msp.MSPRole_MSPRoleType, msps ...string) *peer.ApplicationPolicy {
	return &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_SignaturePolicy{SignaturePolicy: signedByRole(len(msps), role, msps)}}
}

// scriptPolicy is the endorsement policy scripts/fabric.sh defines on p's
// network: OutOf(endorsersNeeded, ...) of every organisation's peers
// (TDSC_FABRIC_POLICY=majority), else AND of them all.
func scriptPolicy(p *Profile) *peer.ApplicationPolicy {
	var ids []string
	for _, o := range p.Orgs {
		ids = append(ids, o.MSPID)
	}
	n := len(ids)
	if k := p.EndorsersNeeded; k > 0 && k < n {
		n = k
	}
	return &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_SignaturePolicy{SignaturePolicy: signedByRole(n, msp.MSPRole_PEER, ids)}}
}

// TestEndorsersFollowConfig: the endorsements are evaluated under the
// chaincode's policy against the configuration as of their block: an
// organisation a later config block adds is known from that block on (its
// endorsement verifies; before, it is dropped, as Fabric drops an
// identity no MSP of the channel deserialises), a CA an organisation
// rotates replaces the old one, an organisation removed no longer endorses,
// and a policy defined in a block is in force from the next.
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
	check("no definition of the chaincode", org1, org2)
	e.define(andOf(msp.MSPRole_MEMBER, "Org1MSP", "Org2MSP"))
	check("no definition of the chaincode", org1, org2)
	e.endBlock()
	check("", org1, org2)
	check("", org2, org1, org1) // an identity counts once, in any order
	check("not satisfied: no valid endorsement by [Org2MSP]", org1)
	check("no valid endorsement by [Org2MSP]", org1, org1)
	check("", org1, org2, org3)
	check("does not verify", org1, endorse(t, "Org2MSP", p2, []byte("another response")))
	e.policy = andOf(msp.MSPRole_MEMBER, "Org1MSP", "Org2MSP", "Org3MSP")
	check("endorser of Org3MSP, not an organisation of the channel; no valid endorsement by [Org3MSP]", org1, org2, org3)

	// Org3 joins: its endorsement verifies from then on.
	if err := e.update(configBlock(t, map[string]*testCA{"Org1MSP": ca1, "Org2MSP": ca2, "Org3MSP": ca3})); err != nil {
		t.Fatal(err)
	}
	check("", org1, org2, org3)
	e.policy = andOf(msp.MSPRole_MEMBER, "Org1MSP", "Org2MSP")
	check("", org1, org2)
	check("no valid endorsement by [Org1MSP]", org2, org3)

	// Org1 rotates its CA: a peer certificate of the old CA is refused.
	ca1b := newTestCert(t, "ca2.org1", nil)
	if err := e.update(configBlock(t, map[string]*testCA{"Org1MSP": ca1b, "Org2MSP": ca2, "Org3MSP": ca3})); err != nil {
		t.Fatal(err)
	}
	check(`endorser "peer0.org1" of Org1MSP: certificate not issued by the org's CA`, org1, org2)
	check("", endorse(t, "Org1MSP", newTestCert(t, "peer1.org1", ca1b), prp), org2)

	// Org3 leaves: its endorsements no longer count.
	e.policy = andOf(msp.MSPRole_MEMBER, "Org2MSP", "Org3MSP")
	check("", org2, org3)
	if err := e.update(configBlock(t, map[string]*testCA{"Org1MSP": ca1b, "Org2MSP": ca2})); err != nil {
		t.Fatal(err)
	}
	check("endorser of Org3MSP, not an organisation of the channel; no valid endorsement by [Org3MSP]", org2, org3)
}

// TestEndorserCertificates: an endorser's certificate is checked as
// Fabric's MSP (msp/mspimpl*.go) checks an identity and its peer role:
// one certification chain through the organisation's intermediate CAs to a
// root, issued by a leaf of the CA tree, not revoked by a CRL its issuer
// signed, not a CA's, carrying one of the OU identifiers if any are
// configured, and, with node OUs on, exactly one role, the peer's, certified
// by the chain the OU is bound to; the signature low-S. A configuration
// Fabric's MSP setup refuses is refused.
func TestEndorserCertificates(t *testing.T) {
	caTmpl := func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	}
	root1, ca2 := newTestCert(t, "ca.org1", nil), newTestCert(t, "ca.org2", nil)
	inter1, inter1b := newTestCertWith(t, "ica.org1", root1, caTmpl), newTestCertWith(t, "ica2.org1", root1, caTmpl)
	ou := func(ous ...string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.Subject.OrganizationalUnit = ous }
	}
	peer1, revoked1 := newTestCertWith(t, "peer0.org1", inter1, ou("peer")), newTestCertWith(t, "peer1.org1", inter1, ou("peer"))
	peer1b := newTestCertWith(t, "peer0b.org1", inter1b, func(c *x509.Certificate) {
		c.Subject.OrganizationalUnit, c.SerialNumber = []string{"peer"}, revoked1.cert.SerialNumber
	})
	peer2 := newTestCertWith(t, "peer0.org2", ca2, ou("peer"))
	// crlAs is a CRL issuer's key signs, under the name and key identifier
	// of as (issuer.cert, or a copy edited).
	crlAs := func(issuer *testCA, as *x509.Certificate, serials ...*big.Int) []byte {
		t.Helper()
		var entries []x509.RevocationListEntry
		for _, s := range serials {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(),
			NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, as, issuer.key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	crl := func(issuer *testCA, serials ...*big.Int) []byte { return crlAs(issuer, issuer.cert, serials...) }
	nodeOUs := func(peerCA *testCA) *msp.FabricNodeOUs {
		n := &msp.FabricNodeOUs{Enable: true, ClientOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "client"},
			PeerOuIdentifier:  &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "peer"},
			AdminOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "admin"}}
		if peerCA != nil {
			n.PeerOuIdentifier.Certificate = peerCA.pem
		}
		return n
	}
	newOrg1 := func() *msp.FabricMSPConfig {
		return &msp.FabricMSPConfig{Name: "Org1MSP", RootCerts: [][]byte{root1.pem}, IntermediateCerts: [][]byte{inter1.pem, inter1b.pem},
			RevocationList: [][]byte{crl(inter1, revoked1.cert.SerialNumber)}, FabricNodeOus: nodeOUs(nil)}
	}
	org2 := &msp.FabricMSPConfig{Name: "Org2MSP", RootCerts: [][]byte{ca2.pem}, FabricNodeOus: nodeOUs(nil)}
	endorsersOf := func(org1 *msp.FabricMSPConfig) (endorsers, error) {
		e, err := genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": org1, "Org2MSP": org2}))
		e.policy = andOf(msp.MSPRole_PEER, "Org1MSP", "Org2MSP")
		return e, err
	}
	prp := []byte("proposal response payload")
	type endorsement struct {
		name string
		org1 *peer.Endorsement
		want string
	}
	checkAll := func(org1 *msp.FabricMSPConfig, cases []endorsement) {
		t.Helper()
		e, err := endorsersOf(org1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			err := e.check(prp, []*peer.Endorsement{c.org1, endorse(t, "Org2MSP", peer2, prp)})
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("%s: got %v, want %q", c.name, err, c.want)
			}
		}
	}
	by := func(id *testCA) *peer.Endorsement { return endorse(t, "Org1MSP", id, prp) }

	checkAll(newOrg1(), []endorsement{
		{"a peer under an intermediate CA", by(peer1), ""},
		{"a revoked peer", by(revoked1), "revoked by the org's CRL"},
		{"another intermediate's peer of the revoked serial", by(peer1b), ""},
		{"a client, not a peer", by(newTestCertWith(t, "User1@org1", inter1, ou("client"))), `not a peer (OU [client], the peer OU is "peer")`},
		{"a peer and a client at once", by(newTestCertWith(t, "peer2.org1", inter1, ou("peer", "client"))), "more than one role"},
		{"issued by another CA of the intermediate's name", by(newTestCertWith(t, "peer2.org1", newTestCert(t, "ica.org1", nil), ou("peer"))), "certificate not issued by the org's CA"},
		{"a peer the root issued, which issued the intermediates", by(newTestCertWith(t, "peer3.org1", root1, ou("peer"))), `issued by "ca.org1", a CA that issued an intermediate CA`},
		{"an intermediate CA's own certificate", by(inter1b), "a CA's certificate, not an identity"},
		{"a high-S signature", endorseS(t, "Org1MSP", peer1, prp, true), "low-S signatures only"},
	})

	// The peer OU bound to an intermediate CA: a peer of the other
	// intermediate is not a peer.
	org1 := newOrg1()
	org1.FabricNodeOus = nodeOUs(inter1)
	checkAll(org1, []endorsement{
		{"a peer under the bound CA", by(peer1), ""},
		{"a peer under another intermediate", by(peer1b), `the OU "peer" is bound to CA "ica.org1", its certificate's issuer is "ica2.org1"`},
	})
	// Bound to the root (cryptogen's shape): the chain above the peer's
	// certificate must be the root alone, not pass through it.
	org1.FabricNodeOus = nodeOUs(root1)
	checkAll(org1, []endorsement{
		{"a peer under an intermediate, the OU bound to the root", by(peer1), `the OU "peer" is bound to CA "ca.org1", its certificate's issuer is "ica.org1"`},
	})
	org1.IntermediateCerts, org1.RevocationList = nil, nil
	checkAll(org1, []endorsement{
		{"a peer the bound root issued", by(newTestCertWith(t, "peer4.org1", root1, ou("peer"))), ""},
		{"a peer of an intermediate the configuration lacks", by(peer1), "certificate not issued by the org's CA"},
	})

	// Node OUs that define no peer OU: no certificate is a peer's (one with
	// the OU "peer" has no role at all, which Fabric's MSP refuses).
	org1 = newOrg1()
	org1.FabricNodeOus.PeerOuIdentifier = nil
	checkAll(org1, []endorsement{
		{"a peer OU no role has", by(peer1), "OUs [peer]: no role (client, peer, admin or orderer)"},
		{"a client where no peer role is defined", by(newTestCertWith(t, "User2@org1", inter1, ou("client"))), "not a peer (the org's node OUs define no peer OU)"},
	})

	// OU identifiers: an identity needs one, certified by its bound CA.
	org1 = newOrg1()
	org1.OrganizationalUnitIdentifiers = []*msp.FabricOUIdentifier{{OrganizationalUnitIdentifier: "dept", Certificate: inter1.pem}}
	checkAll(org1, []endorsement{
		{"a peer without the OU", by(peer1), "none of its OUs [peer] is one of the org's OU identifiers"},
		{"a peer with the OU", by(newTestCertWith(t, "peer5.org1", inter1, ou("peer", "dept"))), ""},
		{"a peer with the OU, of another intermediate", by(newTestCertWith(t, "peer6.org1", inter1b, ou("peer", "dept"))), "none of its OUs [dept peer] is one of"},
	})

	// An intermediate signed by two roots (one key, two certificates): its
	// peers have two chains, which Fabric's MSP refuses.
	root1b := newTestCert(t, "ca2.org1", nil)
	xkey := inter1.key
	cross := func(issuer *testCA) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "xica.org1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		caTmpl(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.cert, &xkey.PublicKey, issuer.key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	x1 := cross(root1)
	xc, _ := pem.Decode(x1)
	xcert, err := x509.ParseCertificate(xc.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	org1 = newOrg1()
	org1.RootCerts = append(org1.RootCerts, root1b.pem)
	org1.IntermediateCerts = [][]byte{x1, cross(root1b)}
	org1.RevocationList = nil
	checkAll(org1, []endorsement{
		{"a peer of a cross-signed intermediate", by(newTestCertWith(t, "peer7.org1", &testCA{cert: xcert, key: xkey}, ou("peer"))), "2 certification chains"},
	})

	// A CRL no CA of the organisation signed revokes nothing (Fabric skips
	// it); it does not make the configuration unreadable.
	org1 = newOrg1()
	org1.RevocationList = [][]byte{crl(ca2, peer1.cert.SerialNumber)}
	checkAll(org1, []endorsement{{"a peer a foreign CRL names", by(peer1), ""}})

	// A CRL counts for the CA whose key identifier it names: one its CA
	// signed under another key identifier revokes nothing (Fabric matches
	// the CRL's authority key identifier to the issuer's subject key
	// identifier before it checks the signature).
	org1 = newOrg1()
	other := *inter1.cert
	other.SubjectKeyId = []byte("another key identifier")
	org1.RevocationList = [][]byte{crlAs(inter1, &other, revoked1.cert.SerialNumber)}
	checkAll(org1, []endorsement{{"a peer its CA's CRL names under another key identifier", by(revoked1), ""}})
	// The signature is what counts, not the CA's key usage (Fabric's
	// CheckCRLSignature): a CA without the CRL-signing bit still revokes.
	signOnly := newTestCertWith(t, "ica3.org1", root1, func(c *x509.Certificate) {
		caTmpl(c)
		c.KeyUsage = x509.KeyUsageCertSign
	})
	peer3 := newTestCertWith(t, "peer8.org1", signOnly, ou("peer"))
	withCRLSign := *signOnly.cert
	withCRLSign.KeyUsage |= x509.KeyUsageCRLSign
	org1 = newOrg1()
	org1.IntermediateCerts = append(org1.IntermediateCerts, signOnly.pem)
	org1.RevocationList = [][]byte{crlAs(signOnly, &withCRLSign, peer3.cert.SerialNumber)}
	checkAll(org1, []endorsement{{"a peer revoked by a CA without the CRL-signing key usage", by(peer3), "revoked by the org's CRL"}})
	// CRLs Fabric's MSP reads (x509.ParseCRL) and Go's strict parser
	// refuses, or whose ECDSA signature Fabric re-encodes before checking
	// it: each revokes as in Fabric.
	for _, c := range []struct {
		name   string
		der    []byte
		strict func([]byte) error // how the strict reading fails
	}{
		{"whose signed part names another signature algorithm than the signature",
			rawCRL(t, inter1, rawCRLOptions{inner: oidECDSAWithSHA384, serials: []*big.Int{revoked1.cert.SerialNumber}, aki: akiOf(t, inter1.cert.SubjectKeyId)}),
			func(der []byte) error { _, err := x509.ParseRevocationList(der); return err }},
		{"whose ECDSA signature has a byte after its DER",
			rawCRL(t, inter1, rawCRLOptions{serials: []*big.Int{revoked1.cert.SerialNumber}, aki: akiOf(t, inter1.cert.SubjectKeyId), sigTail: []byte{0}}),
			func(der []byte) error {
				rl, err := x509.ParseRevocationList(der)
				if err == nil {
					err = rl.CheckSignatureFrom(inter1.cert)
				}
				return err
			}},
	} {
		if c.strict(c.der) == nil {
			t.Fatalf("a CRL %s: Go's strict reading takes it, so this case shows nothing", c.name)
		}
		org1 = newOrg1()
		org1.RevocationList = [][]byte{pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.der})}
		checkAll(org1, []endorsement{{"a peer revoked by a CRL " + c.name, by(revoked1), "revoked by the org's CRL"}, {"a peer it does not name", by(peer1), ""}})
	}
	// An authority key identifier that does not decode: Fabric's MSP takes
	// the CRL (it parses no extension) and then fails every validation on
	// it, as on one without an identifier.
	org1 = newOrg1()
	org1.IntermediateCerts, org1.FabricNodeOus = nil, nodeOUs(nil)
	org1.RevocationList = [][]byte{rawCRL(t, root1, rawCRLOptions{aki: []byte{0x30, 0x05, 0x80}})}
	checkAll(org1, []endorsement{{"a peer the root issued, a CRL whose key identifier does not decode", by(newTestCertWith(t, "peer10.org1", root1, ou("peer"))),
		"revocation list 0 has an authority key identifier that does not decode"}})
	// A CRL without an authority key identifier: Fabric's MSP cannot tell
	// whose it is and validates no identity of the organisation (with an
	// intermediate CA configured its setup fails: below).
	org1 = newOrg1()
	org1.IntermediateCerts, org1.FabricNodeOus = nil, nodeOUs(nil)
	org1.RevocationList = [][]byte{crlNoAKI(t, root1)}
	checkAll(org1, []endorsement{{"a peer the root issued, a CRL without a key identifier configured", by(newTestCertWith(t, "peer9.org1", root1, ou("peer"))),
		"revocation list 0 has no authority key identifier"}})

	// Configurations Fabric's MSP setup refuses.
	for _, c := range []struct {
		name string
		edit func(*msp.FabricMSPConfig)
		want string
	}{
		{"an intermediate its root's CRL revokes", func(m *msp.FabricMSPConfig) { m.RevocationList = [][]byte{crl(root1, inter1.cert.SerialNumber)} },
			`intermediate CA "ica.org1": revoked by a CRL of "ca.org1"`},
		{"an intermediate of no root", func(m *msp.FabricMSPConfig) {
			m.IntermediateCerts = append(m.IntermediateCerts, newTestCertWith(t, "orphan.org1", newTestCert(t, "x", nil), caTmpl).pem)
		}, `intermediate CA "orphan.org1": certificate not issued`},
		{"a root that is no CA", func(m *msp.FabricMSPConfig) { m.RootCerts = append(m.RootCerts, peer2.pem) }, `CA certificate "peer0.org2": not a CA's`},
		{"the peer OU bound to another org's CA", func(m *msp.FabricMSPConfig) { m.FabricNodeOus = nodeOUs(ca2) }, `bound to "ca.org2", not a CA of the organisation`},
		{"a CRL without an authority key identifier, with intermediate CAs", func(m *msp.FabricMSPConfig) {
			m.RevocationList = append(m.RevocationList, crlNoAKI(t, root1))
		}, `intermediate CA "ica.org1": the org's revocation list 1 has no authority key identifier`},
		{"a CA without a subject key identifier", func(m *msp.FabricMSPConfig) { m.RootCerts = append(m.RootCerts, caWithoutSKI(t, "noski.org1")) },
			`CA certificate "noski.org1": no subject key identifier`},
		{"a CRL in a PEM block of another type", func(m *msp.FabricMSPConfig) {
			blk, _ := pem.Decode(m.RevocationList[0])
			m.RevocationList[0] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})
		}, "revocation list 0: "},
		{"an OU identifier without its certificate", func(m *msp.FabricMSPConfig) {
			m.OrganizationalUnitIdentifiers = []*msp.FabricOUIdentifier{{OrganizationalUnitIdentifier: "dept"}}
		}, `OU identifier "dept": no certificate`},
	} {
		org1 := newOrg1()
		c.edit(org1)
		if _, err := endorsersOf(org1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// FuzzOrgMSP reads an organisation's MSP configuration from a channel's
// config block (certificates, CRLs, OUs, node OUs, crypto config: what a
// config block carries and the audit takes as untrusted input) and checks a
// peer's endorsement against it. It must not panic, and an endorsement it
// counts must come from a certificate that a configured CA signed and,
// with node OUs on, that carries the peer OU.
func FuzzOrgMSP(f *testing.F) {
	t := f
	// Fixed certificates (testdata/msp): the fuzzing workers and the
	// coordinator that hands them inputs must see the same ones.
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "msp", name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	id := func(name string) *testCA {
		c := pemCerts(read(name + ".pem"))
		if len(c) != 1 {
			f.Fatalf("testdata/msp/%s.pem: %d certificates", name, len(c))
		}
		id := &testCA{cert: c[0], pem: read(name + ".pem")}
		if blk, _ := pem.Decode(read(name + ".key")); blk != nil {
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				f.Fatal(err)
			}
			id.key = k.(*ecdsa.PrivateKey)
		}
		return id
	}
	root, inter, crl := read("root.pem"), read("inter.pem"), read("crl.pem")
	endorser, revoked := id("peer0"), id("peer1")
	crlDER, _ := pem.Decode(crl)
	// The same CRL with a byte after its ECDSA signature's DER: Fabric
	// re-encodes the signature before checking it (crlAsFabric).
	var loose crlEnvelope
	if _, err := asn1.Unmarshal(crlDER.Bytes, &loose); err != nil {
		f.Fatal(err)
	}
	loose.Sig = bitString(append(slices.Clip(loose.Sig.Bytes), 0))
	looseDER, err := asn1.Marshal(loose)
	if err != nil {
		f.Fatal(err)
	}
	nodeOUs := &msp.FabricNodeOUs{Enable: true, ClientOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "client"},
		PeerOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "peer", Certificate: inter}}
	for _, c := range []*msp.FabricMSPConfig{
		{Name: "Org1MSP", RootCerts: [][]byte{root}, IntermediateCerts: [][]byte{inter}, FabricNodeOus: nodeOUs, RevocationList: [][]byte{crl}},
		{Name: "Org1MSP", RootCerts: [][]byte{root}, IntermediateCerts: [][]byte{inter},
			OrganizationalUnitIdentifiers: []*msp.FabricOUIdentifier{{OrganizationalUnitIdentifier: "peer", Certificate: inter}},
			CryptoConfig:                  &msp.FabricCryptoConfig{SignatureHashFamily: "SHA2", IdentityIdentifierHashFunction: "SHA256"}},
		{Name: "Org1MSP", RootCerts: [][]byte{root, inter}, Admins: [][]byte{endorser.pem}, RevocationList: [][]byte{crlDER.Bytes}},
		{Name: "Org1MSP", RootCerts: [][]byte{root}, IntermediateCerts: [][]byte{inter}, FabricNodeOus: nodeOUs, RevocationList: [][]byte{looseDER}},
		{Name: "Org1MSP", RootCerts: [][]byte{inter}},
		{Name: "Org1MSP", RootCerts: [][]byte{root}}, // the peers' intermediate missing
	} {
		f.Add(mustMarshal(t, c))
	}
	prp := []byte("proposal response payload")
	ends := []*peer.Endorsement{endorse(t, "Org1MSP", endorser, prp), endorse(t, "Org1MSP", revoked, prp)}
	peers, members := andOf(msp.MSPRole_PEER, "Org1MSP"), andOf(msp.MSPRole_MEMBER, "Org1MSP")
	// The loose CRL's seed revokes as the CRL it was made from.
	for _, list := range [][]byte{crl, looseDER} {
		e, err := genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": {Name: "Org1MSP", RootCerts: [][]byte{root},
			IntermediateCerts: [][]byte{inter}, FabricNodeOus: nodeOUs, RevocationList: [][]byte{list}}}))
		if err != nil {
			f.Fatal(err)
		}
		if err := e.checkUnder(peers, prp, ends[1:]); err == nil || !strings.Contains(err.Error(), "revoked by the org's CRL") {
			f.Fatalf("testdata/msp/crl.pem's revoked peer under the CRL seeded (%d bytes): %v, want revoked", len(list), err)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fc := new(msp.FabricMSPConfig)
		if proto.Unmarshal(raw, fc) != nil {
			return
		}
		e, err := genesisEndorsers(configBlockMSPs(t, map[string]*msp.FabricMSPConfig{"Org1MSP": fc}))
		if err != nil {
			return
		}
		var cas []*x509.Certificate
		for _, set := range [][][]byte{fc.RootCerts, fc.IntermediateCerts} {
			for _, p := range set {
				cas = append(cas, pemCerts(p)...)
			}
		}
		for _, policy := range []*peer.ApplicationPolicy{peers, members} {
			first := e.checkUnder(policy, prp, ends)
			if again := e.checkUnder(policy, prp, ends); (first == nil) != (again == nil) {
				t.Fatalf("the same endorsements counted once and not again: %v, then %v", first, again)
			}
			if first != nil {
				continue
			}
			// Counted: one of the two endorsers is a member (a peer) of the
			// organisation.
			ok := false
			for _, id := range []*testCA{endorser, revoked} {
				signed := slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return id.cert.CheckSignatureFrom(ca) == nil })
				ok = ok || signed && (policy == members || fc.GetFabricNodeOus().GetEnable() && fc.FabricNodeOus.GetPeerOuIdentifier().GetOrganizationalUnitIdentifier() == "peer")
			}
			if !ok {
				t.Fatalf("%s satisfied, but neither endorser is signed by a configured CA (with node OUs on and the peer OU, for a peer): %v", policyText(policy), fc)
			}
		}
	})
}
