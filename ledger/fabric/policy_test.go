package fabric

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha3"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"
)

// withConfig rewrites the configuration in config block b by edit.
func withConfig(t testing.TB, b *common.Block, edit func(*common.Config)) *common.Block {
	t.Helper()
	var env common.Envelope
	var p common.Payload
	var ce common.ConfigEnvelope
	if proto.Unmarshal(b.Data.Data[0], &env) != nil || proto.Unmarshal(env.Payload, &p) != nil || proto.Unmarshal(p.Data, &ce) != nil {
		t.Fatal("not a config block")
	}
	edit(ce.Config)
	p.Data = mustMarshal(t, &ce)
	env.Payload = mustMarshal(t, &p)
	return &common.Block{Data: &common.BlockData{Data: [][]byte{mustMarshal(t, &env)}}}
}

func signaturePolicy(t testing.TB, env *common.SignaturePolicyEnvelope) *common.ConfigPolicy {
	return &common.ConfigPolicy{Policy: &common.Policy{Type: int32(common.Policy_SIGNATURE), Value: mustMarshal(t, env)}}
}

func implicitMeta(t testing.TB, sub string, rule common.ImplicitMetaPolicy_Rule) *common.ConfigPolicy {
	return &common.ConfigPolicy{Policy: &common.Policy{Type: int32(common.Policy_IMPLICIT_META), Value: mustMarshal(t, &common.ImplicitMetaPolicy{SubPolicy: sub, Rule: rule})}}
}

func roleOf(t testing.TB, mspID string, role msp.MSPRole_MSPRoleType) *msp.MSPPrincipal {
	return &msp.MSPPrincipal{PrincipalClassification: msp.MSPPrincipal_ROLE, Principal: mustMarshal(t, &msp.MSPRole{MspIdentifier: mspID, Role: role})}
}

// outOf is the endorsement policy n out of one SignedBy per principal.
func outOf(n int, ps ...*msp.MSPPrincipal) *peer.ApplicationPolicy {
	return &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_SignaturePolicy{SignaturePolicy: nOutOf(n, ps)}}
}

// TestEndorsementPolicy: the chaincode's endorsement policy is evaluated
// as Fabric's validation evaluates it: signature policies (n out of, an
// identity used once), references to the channel configuration's
// policies (implicit meta ANY/ALL/MAJORITY over the organisations' own),
// and the principals' roles as the MSP decides them.
func TestEndorsementPolicy(t *testing.T) {
	ou := func(ous ...string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.Subject.OrganizationalUnit = ous }
	}
	cas := map[string]*testCA{}
	peers, clients, admins := map[string]*testCA{}, map[string]*testCA{}, map[string]*testCA{}
	msps := map[string]*msp.FabricMSPConfig{}
	nodeOUs := &msp.FabricNodeOUs{Enable: true, ClientOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "client"},
		PeerOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "peer"}, AdminOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "admin"}}
	for _, o := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		n := strings.ToLower(strings.TrimSuffix(o, "MSP"))
		cas[o] = newTestCert(t, "ca."+n, nil)
		peers[o] = newTestCertWith(t, "peer0."+n, cas[o], ou("peer"))
		clients[o] = newTestCertWith(t, "User1@"+n, cas[o], ou("client"))
		admins[o] = newTestCertWith(t, "Admin@"+n, cas[o], ou("admin"))
		msps[o] = &msp.FabricMSPConfig{Name: o, RootCerts: [][]byte{cas[o].pem}, FabricNodeOus: nodeOUs}
	}
	// Org3 keeps node OUs off and names its admin.
	msps["Org3MSP"].FabricNodeOus, msps["Org3MSP"].Admins = nil, [][]byte{admins["Org3MSP"].pem}
	genesis := withConfig(t, configBlockMSPs(t, msps), func(c *common.Config) {
		app := c.ChannelGroup.Groups["Application"]
		app.Policies = map[string]*common.ConfigPolicy{
			"Endorsement":    implicitMeta(t, "Endorsement", common.ImplicitMetaPolicy_MAJORITY),
			"AllEndorsement": implicitMeta(t, "Endorsement", common.ImplicitMetaPolicy_ALL),
			"AnyEndorsement": implicitMeta(t, "Endorsement", common.ImplicitMetaPolicy_ANY),
		}
		for name, g := range app.Groups {
			o := name + "MSP"
			role := msp.MSPRole_PEER
			if o == "Org3MSP" {
				role = msp.MSPRole_MEMBER
			}
			g.Policies = map[string]*common.ConfigPolicy{"Endorsement": signaturePolicy(t, outOf(1, roleOf(t, o, role)).GetSignaturePolicy())}
		}
	})
	e, err := genesisEndorsers(genesis)
	if err != nil {
		t.Fatal(err)
	}
	prp := []byte("proposal response payload")
	by := func(o string, id *testCA) *peer.Endorsement { return endorse(t, o, id, prp) }
	ref := func(path string) *peer.ApplicationPolicy {
		return &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: path}}
	}
	p1, p2, p3 := by("Org1MSP", peers["Org1MSP"]), by("Org2MSP", peers["Org2MSP"]), by("Org3MSP", peers["Org3MSP"])
	for _, c := range []struct {
		name   string
		policy *peer.ApplicationPolicy
		ends   []*peer.Endorsement
		want   string
	}{
		{"majority: two of three", ref("/Channel/Application/Endorsement"), []*peer.Endorsement{p1, p3}, ""},
		{"majority: one of three", ref("/Channel/Application/Endorsement"), []*peer.Endorsement{p1}, "/Channel/Application/Endorsement not satisfied: no valid endorsement by [Org2MSP Org3MSP]"},
		{"majority: a client is not a peer", ref("/Channel/Application/Endorsement"), []*peer.Endorsement{p1, by("Org2MSP", clients["Org2MSP"])},
			`endorser "User1@org2" of Org2MSP: not a peer (OU [client], the peer OU is "peer")`},
		{"all: two of three", ref("/Channel/Application/AllEndorsement"), []*peer.Endorsement{p1, p2}, "not satisfied"},
		{"all: three", ref("/Channel/Application/AllEndorsement"), []*peer.Endorsement{p3, p2, p1}, ""},
		{"any: one", ref("/Channel/Application/AnyEndorsement"), []*peer.Endorsement{p2}, ""},
		{"a reference to no policy", ref("/Channel/Application/Nothing"), []*peer.Endorsement{p1}, `"/Channel/Application/Nothing": no such policy`},
		{"one of two peers", outOf(1, roleOf(t, "Org1MSP", msp.MSPRole_PEER), roleOf(t, "Org2MSP", msp.MSPRole_PEER)), []*peer.Endorsement{p2}, ""},
		{"two Org1 peers from one identity", outOf(2, roleOf(t, "Org1MSP", msp.MSPRole_PEER), roleOf(t, "Org1MSP", msp.MSPRole_PEER)), []*peer.Endorsement{p1, p1}, "not satisfied"},
		{"two Org1 peers", outOf(2, roleOf(t, "Org1MSP", msp.MSPRole_PEER), roleOf(t, "Org1MSP", msp.MSPRole_PEER)),
			[]*peer.Endorsement{p1, by("Org1MSP", newTestCertWith(t, "peer1.org1", cas["Org1MSP"], ou("peer")))}, ""},
		{"a client as a member", outOf(1, roleOf(t, "Org1MSP", msp.MSPRole_MEMBER)), []*peer.Endorsement{by("Org1MSP", clients["Org1MSP"])}, ""},
		{"an admin by its OU", outOf(1, roleOf(t, "Org1MSP", msp.MSPRole_ADMIN)), []*peer.Endorsement{by("Org1MSP", admins["Org1MSP"])}, ""},
		{"a peer as an admin", outOf(1, roleOf(t, "Org1MSP", msp.MSPRole_ADMIN)), []*peer.Endorsement{p1}, "not an admin"},
		{"an admin the configuration names", outOf(1, roleOf(t, "Org3MSP", msp.MSPRole_ADMIN)), []*peer.Endorsement{by("Org3MSP", admins["Org3MSP"])}, ""},
		{"a member as an admin, node OUs off", outOf(1, roleOf(t, "Org3MSP", msp.MSPRole_ADMIN)), []*peer.Endorsement{p3}, "not an admin (the org's node OUs are off"},
		{"a peer, node OUs off", outOf(1, roleOf(t, "Org3MSP", msp.MSPRole_PEER)), []*peer.Endorsement{p3}, "not a peer (the org's node OUs are off"},
		{"the identity named", outOf(1, &msp.MSPPrincipal{PrincipalClassification: msp.MSPPrincipal_IDENTITY,
			Principal: mustMarshal(t, &msp.SerializedIdentity{Mspid: "Org1MSP", IdBytes: peers["Org1MSP"].pem})}), []*peer.Endorsement{p1}, ""},
		{"another identity than the one named", outOf(1, &msp.MSPPrincipal{PrincipalClassification: msp.MSPPrincipal_IDENTITY,
			Principal: mustMarshal(t, &msp.SerializedIdentity{Mspid: "Org1MSP", IdBytes: peers["Org1MSP"].pem})}), []*peer.Endorsement{by("Org1MSP", clients["Org1MSP"])}, "not the identity the policy names"},
	} {
		err := e.checkUnder(c.policy, prp, c.ends)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}

	// The lifecycle's policy: the configuration's LifecycleEndorsement, or
	// a majority of the organisations' members.
	if got := e.lifecyclePolicy(); got.GetSignaturePolicy() == nil || signaturePolicyString(got.GetSignaturePolicy()) != "OutOf(2, 'Org1MSP.member', 'Org2MSP.member', 'Org3MSP.member')" {
		t.Errorf("lifecycle policy without LifecycleEndorsement: %v", got)
	}
	if err := e.update(withConfig(t, genesis, func(c *common.Config) {
		c.ChannelGroup.Groups["Application"].Policies["LifecycleEndorsement"] = implicitMeta(t, "Endorsement", common.ImplicitMetaPolicy_MAJORITY)
	})); err != nil {
		t.Fatal(err)
	}
	if got := e.lifecyclePolicy(); got.GetChannelConfigPolicyReference() != lifecycleEndorsementRef {
		t.Errorf("lifecycle policy with LifecycleEndorsement: %v", got)
	}
}

// TestDefinedPolicy: a definition's ValidationInfo write gives the
// chaincode's endorsement policy.
func TestDefinedPolicy(t *testing.T) {
	ap := andOf(msp.MSPRole_PEER, "Org1MSP", "Org2MSP")
	write := func(plugin string, param []byte) *kvrwset.KVWrite {
		vi := mustMarshal(t, &lifecycle.ChaincodeValidationInfo{ValidationPlugin: plugin, ValidationParameter: param})
		return &kvrwset.KVWrite{Key: "namespaces/fields/tdsc/ValidationInfo", Value: mustMarshal(t, &lifecycle.StateData{Type: &lifecycle.StateData_Bytes{Bytes: vi}})}
	}
	got, err := definedPolicy(write("vscc", mustMarshal(t, ap)))
	if err != nil || !proto.Equal(got, ap) {
		t.Fatalf("got %v (%v), want %v", got, err, ap)
	}
	if s := signaturePolicyString(got.GetSignaturePolicy()); s != "AND('Org1MSP.peer', 'Org2MSP.peer')" {
		t.Errorf("policy text %q", s)
	}
	if _, err := definedPolicy(write("custom", mustMarshal(t, ap))); err == nil || !strings.Contains(err.Error(), `validation plugin "custom"`) {
		t.Errorf("a custom validation plugin: got %v", err)
	}
	if _, err := definedPolicy(write("vscc", nil)); err == nil {
		t.Error("an empty endorsement policy: no error")
	}
	if got, err := definedPolicy(&kvrwset.KVWrite{Key: "namespaces/fields/tdsc/ValidationInfo", IsDelete: true}); got != nil || err != nil {
		t.Errorf("a delete: got %v, %v", got, err)
	}
}

// FuzzDefinedPolicy: whatever a block's ValidationInfo write holds, reading
// it, writing it as text, listing its principals and evaluating it over an
// endorsement set end without a panic.
func FuzzDefinedPolicy(f *testing.F) {
	t := f
	ap := andOf(msp.MSPRole_PEER, "Org1MSP", "Org2MSP")
	vi := func(param []byte) []byte {
		b, _ := proto.Marshal(&lifecycle.ChaincodeValidationInfo{ValidationPlugin: "vscc", ValidationParameter: param})
		v, _ := proto.Marshal(&lifecycle.StateData{Type: &lifecycle.StateData_Bytes{Bytes: b}})
		return v
	}
	apb, _ := proto.Marshal(ap)
	refb, _ := proto.Marshal(&peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Endorsement"}})
	f.Add(vi(apb))
	f.Add(vi(refb))
	f.Add(vi([]byte{0x0a, 0x02, 0x12, 0x00}))
	f.Add([]byte{})
	ca := newTestCert(t, "ca.org1", nil)
	e, err := genesisEndorsers(withConfig(t, configBlock(t, map[string]*testCA{"Org1MSP": ca}), func(c *common.Config) {
		c.ChannelGroup.Groups["Application"].Policies = map[string]*common.ConfigPolicy{"Endorsement": implicitMeta(t, "Endorsement", common.ImplicitMetaPolicy_MAJORITY)}
	}))
	if err != nil {
		f.Fatal(err)
	}
	prp := []byte("response")
	ends := []*peer.Endorsement{endorse(t, "Org1MSP", newTestCert(t, "peer0.org1", ca), prp)}
	f.Fuzz(func(t *testing.T, value []byte) {
		p, err := definedPolicy(&kvrwset.KVWrite{Key: "namespaces/fields/tdsc/ValidationInfo", Value: value})
		if err != nil || p == nil {
			return
		}
		_ = policyText(p)
		_ = policyPrincipals(e.config, p)
		_ = e.checkUnder(p, prp, ends)
	})
}

// TestMSPCrypto: an MSP's crypto configuration and the channel's
// capabilities decide how an endorsement's signature is verified, as in
// Fabric: ECDSA over the digest of the MSP's hash family (SHA2 or SHA3),
// Ed25519 over the message, and Ed25519 identities only with the V3_0
// channel capability (MSP version 3).
func TestMSPCrypto(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca.org3"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	ppub, ppriv, _ := ed25519.GenerateKey(rand.Reader)
	peerDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "peer0.org3", OrganizationalUnit: []string{"peer"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, caCert, ppub, priv)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }

	ca1, ca2 := newTestCert(t, "ca.org1", nil), newTestCert(t, "ca.org2", nil)
	p1, p2 := newTestCertWith(t, "peer0.org1", ca1, func(c *x509.Certificate) { c.Subject.OrganizationalUnit = []string{"peer"} }), newTestCert(t, "peer0.org2", ca2)
	nodeOUs := &msp.FabricNodeOUs{Enable: true, PeerOuIdentifier: &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: "peer"}}
	msps := map[string]*msp.FabricMSPConfig{
		"Org1MSP": {Name: "Org1MSP", RootCerts: [][]byte{ca1.pem}, FabricNodeOus: nodeOUs},
		"Org2MSP": {Name: "Org2MSP", RootCerts: [][]byte{ca2.pem}, CryptoConfig: &msp.FabricCryptoConfig{SignatureHashFamily: "SHA3"}},
		"Org3MSP": {Name: "Org3MSP", RootCerts: [][]byte{pemOf(caDER)}, FabricNodeOus: nodeOUs},
	}
	prp := []byte("proposal response payload")
	org3 := func() *peer.Endorsement {
		endorser := mustMarshal(t, &msp.SerializedIdentity{Mspid: "Org3MSP", IdBytes: pemOf(peerDER)})
		return &peer.Endorsement{Endorser: endorser, Signature: ed25519.Sign(ppriv, append(append([]byte(nil), prp...), endorser...))}
	}()
	sha3Endorse := func(id *testCA) *peer.Endorsement {
		endorser := mustMarshal(t, &msp.SerializedIdentity{Mspid: "Org2MSP", IdBytes: id.pem})
		d := sha3.Sum256(append(append([]byte(nil), prp...), endorser...))
		sig, err := ecdsa.SignASN1(rand.Reader, id.key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		for !lowS(&id.key.PublicKey, sig) { // sign again until low-S, as Fabric's peers sign
			if sig, err = ecdsa.SignASN1(rand.Reader, id.key, d[:]); err != nil {
				t.Fatal(err)
			}
		}
		return &peer.Endorsement{Endorser: endorser, Signature: sig}
	}
	for _, c := range []struct {
		name string
		v3   bool
		ends []*peer.Endorsement
		want string
	}{
		{"an Ed25519 peer, V3_0", true, []*peer.Endorsement{org3}, ""},
		{"an Ed25519 peer, no V3_0", false, []*peer.Endorsement{org3}, "its key is Ed25519, which the org's MSP does not take"},
		{"an ECDSA peer, SHA3 family", true, []*peer.Endorsement{sha3Endorse(p2)}, ""},
		{"an ECDSA peer, SHA3 family, signed over SHA-256", true, []*peer.Endorsement{endorse(t, "Org2MSP", p2, prp)}, "does not verify"},
		{"an ECDSA peer, SHA2", false, []*peer.Endorsement{endorse(t, "Org1MSP", p1, prp)}, ""},
	} {
		blk := withConfig(t, configBlockMSPs(t, msps), func(cfg *common.Config) {
			if c.v3 {
				cfg.ChannelGroup.Values = map[string]*common.ConfigValue{"Capabilities": {Value: mustMarshal(t, &common.Capabilities{Capabilities: map[string]*common.Capability{"V3_0": {}}})}}
			}
		})
		e, err := genesisEndorsers(blk)
		if err != nil {
			t.Fatal(err)
		}
		any := outOf(1, roleOf(t, "Org1MSP", msp.MSPRole_PEER), roleOf(t, "Org2MSP", msp.MSPRole_MEMBER), roleOf(t, "Org3MSP", msp.MSPRole_PEER))
		err = e.checkUnder(any, prp, c.ends)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	msps["Org2MSP"].CryptoConfig = &msp.FabricCryptoConfig{SignatureHashFamily: "MD5"}
	if _, err := genesisEndorsers(configBlockMSPs(t, msps)); err == nil || !strings.Contains(err.Error(), `signature hash family "MD5"`) {
		t.Errorf("an unknown hash family: got %v", err)
	}
}
