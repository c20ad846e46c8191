package fabric

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// orgCAs are the organisations of a channel by MSP ID — the application
// organisations and the orderer organisations, as Fabric's channel MSP
// manager holds them — as a config block configures their MSPs.
type orgCAs map[string]*orgMSP

// orgMSP is what the audit checks an endorser's certificate against, read
// from the organisation's MSP configuration as Fabric's MSP (msp/mspimpl*.go)
// reads it: the root and intermediate CAs, the CAs that issued another
// configured CA (not issuers of identities), the serial numbers each CA's
// CRLs revoke, the OUs an identity must carry, and, with node OUs on, the
// OUs of the roles with the certification chains they are bound to, and
// the admins it names.
type orgMSP struct {
	roots, inters *x509.CertPool
	// internal holds the raw certificates of the CAs that issued a
	// configured intermediate CA: Fabric takes identities only from the
	// leaves of the certification tree.
	internal map[string]bool
	// revoked holds, by the raw certificate of a CA, the serial numbers the
	// CRLs that CA signed revoke.
	revoked map[string]map[string]bool
	// noAKI, if set, is why no identity of the organisation is valid: a
	// CRL without an authority key identifier (or with one that does not
	// decode), which Fabric's MSP cannot match to a CA and so fails every
	// validation on.
	noAKI error
	// ous are the OrganizationalUnitIdentifiers: if any, an identity needs
	// one of them (an OU certified by the bound chain).
	ous []ouBinding
	// nodeOUs is on with FabricNodeOUs enabled: an identity has exactly one
	// role OU (roles, by OU). Off, no identity has a role but member and
	// admin.
	nodeOUs bool
	roles   map[string]ouBinding
	// roleOU is the OU of each role the node OUs define.
	roleOU map[msp.MSPRole_MSPRoleType]string
	// admins are the certificates the configuration names as admins.
	admins []*x509.Certificate
	// ed25519: Ed25519 identities are taken (MSP version 3), besides ECDSA.
	ed25519 bool
	// sigHash digests what an ECDSA identity signs, idHash a certification
	// chain (the MSP's FabricCryptoConfig).
	sigHash, idHash func() hash.Hash
}

// mspHashes reads an MSP's crypto configuration as Fabric does (setupCrypto,
// getHashOpt): the signature hash family (SHA2: SHA-256, SHA3: SHA3-256) and
// the identity identifier hash, SHA2 and SHA256 by default.
func mspHashes(cc *msp.FabricCryptoConfig) (sig, id func() hash.Hash, err error) {
	family, idFunc := cc.GetSignatureHashFamily(), cc.GetIdentityIdentifierHashFunction()
	switch family {
	case "", "SHA2":
		sig = sha256.New
	case "SHA3":
		sig = func() hash.Hash { return sha3.New256() }
	default:
		return nil, nil, fmt.Errorf("crypto config: signature hash family %q (SHA2 or SHA3)", family)
	}
	switch idFunc {
	case "", "SHA256":
		id = sha256.New
	case "SHA384":
		id = sha512.New384
	case "SHA3_256":
		id = func() hash.Hash { return sha3.New256() }
	case "SHA3_384":
		id = func() hash.Hash { return sha3.New384() }
	default:
		return nil, nil, fmt.Errorf("crypto config: identity identifier hash %q", idFunc)
	}
	return sig, id, nil
}

// verify checks sig, by cert's key, over msg as Fabric's identity.Verify
// does: an ECDSA signature over the digest of msg by the MSP's hash family,
// in low-S form (Fabric's BCCSP takes no other); an Ed25519 one over msg.
func (m *orgMSP) verify(cert *x509.Certificate, msg, sig []byte) error {
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		h := m.sigHash()
		h.Write(msg)
		if !ecdsa.VerifyASN1(pub, h.Sum(nil), sig) {
			return errors.New("does not verify")
		}
		if !lowS(pub, sig) {
			return errors.New("has S above half the curve order (Fabric takes low-S signatures only)")
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, msg, sig) {
			return errors.New("does not verify")
		}
		return nil
	}
	return fmt.Errorf("is by a key of algorithm %s, which Fabric's MSP does not take", cert.PublicKeyAlgorithm)
}

// ouBinding is an OU and, if bound (FabricOUIdentifier.Certificate), the
// certification chain of the bound CA: an identity carries the OU validly
// only if its chain above its own certificate is exactly that chain
// (Fabric compares the hashes of the two chains).
type ouBinding struct {
	ou    string
	chain []*x509.Certificate
}

// certifies says whether b's binding admits an identity whose chain (its
// own certificate first) is chain.
func (b ouBinding) certifies(chain []*x509.Certificate) bool {
	return b.chain == nil || slices.EqualFunc(chain[1:], b.chain, (*x509.Certificate).Equal)
}

// endorsers is what a valid transaction's endorsements are checked
// against: the channel's configuration as of its block (the last config
// block before it: the organisations' MSPs, and the policies a reference
// names) and the chaincode's endorsement policy as its last definition
// before the block gives it (nil before one), so an organisation added
// later, a CA an organisation rotated, or a chaincode redefined with
// another policy is known from its block on.
type endorsers struct {
	*channelMSPs
	policy *peer.ApplicationPolicy
	// next, if defined, is the policy a definition in the block being read
	// committed: in force from the next block (Fabric validates a block
	// against the state before it).
	next    *peer.ApplicationPolicy
	defined bool
}

// channelMSPs is what a config block configures that the audit reads: the
// configuration, every organisation's MSP, which organisations are
// application and which orderer organisations (by MSP ID), and whether the
// channel has the V3_0 capability (Fabric's block verifier then takes the
// BFT orderers' identifier headers).
type channelMSPs struct {
	config               *common.Config
	cas                  orgCAs
	appOrgs, ordererOrgs []string
	v3                   bool
}

// genesisEndorsers reads the channel's genesis block.
func genesisEndorsers(b *common.Block) (endorsers, error) {
	var e endorsers
	return e, e.update(b)
}

// update takes a config block's configuration for the blocks after it.
func (e *endorsers) update(b *common.Block) error {
	c, err := channelOrgs(b)
	if err != nil {
		return err
	}
	e.channelMSPs = c
	return nil
}

// define takes the policy of a chaincode definition committed in the
// block being read; endBlock puts it in force.
func (e *endorsers) define(p *peer.ApplicationPolicy) { e.next, e.defined = p, true }

// endBlock ends the block being read.
func (e *endorsers) endBlock() {
	if e.defined {
		e.policy, e.next, e.defined = e.next, nil, false
	}
}

// lifecyclePolicy is the policy a _lifecycle transaction is endorsed
// under: the configuration's LifecycleEndorsement, or, on a channel
// without one, a majority of the organisations' members (as Fabric's
// LifecycleEndorsementPolicyAsBytes falls back).
func (e endorsers) lifecyclePolicy() *peer.ApplicationPolicy {
	if app := e.config.GetChannelGroup().GetGroups()["Application"]; app != nil && app.Policies["LifecycleEndorsement"] != nil {
		return &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: lifecycleEndorsementRef}}
	}
	ids := slices.Sorted(slices.Values(e.appOrgs))
	return &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_SignaturePolicy{SignaturePolicy: signedByRole(len(ids)/2+1, msp.MSPRole_MEMBER, ids)}}
}

// signedByRole is the signature policy n of the role of the organisations
// ids (policydsl.SignedByNOutOfGivenRole).
func signedByRole(n int, role msp.MSPRole_MSPRoleType, ids []string) *common.SignaturePolicyEnvelope {
	ps := make([]*msp.MSPPrincipal, len(ids))
	for i, id := range ids {
		r, _ := proto.Marshal(&msp.MSPRole{MspIdentifier: id, Role: role})
		ps[i] = &msp.MSPPrincipal{PrincipalClassification: msp.MSPPrincipal_ROLE, Principal: r}
	}
	return nOutOf(n, ps)
}

// nOutOf is the signature policy n out of one SignedBy per principal.
func nOutOf(n int, ps []*msp.MSPPrincipal) *common.SignaturePolicyEnvelope {
	nof := &common.SignaturePolicy_NOutOf{N: int32(n)}
	for i := range ps {
		nof.Rules = append(nof.Rules, &common.SignaturePolicy{Type: &common.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
	}
	return &common.SignaturePolicyEnvelope{Identities: ps, Rule: &common.SignaturePolicy{Type: &common.SignaturePolicy_NOutOf_{NOutOf: nof}}}
}

// isConfigBlock says whether b holds a channel configuration (one CONFIG
// envelope).
func isConfigBlock(b *common.Block) bool {
	if len(b.Data.Data) != 1 {
		return false
	}
	var env common.Envelope
	var p common.Payload
	var ch common.ChannelHeader
	return proto.Unmarshal(b.Data.Data[0], &env) == nil && proto.Unmarshal(env.Payload, &p) == nil && p.Header != nil &&
		proto.Unmarshal(p.Header.ChannelHeader, &ch) == nil && common.HeaderType(ch.Type) == common.HeaderType_CONFIG
}

// blockConfig reads the channel configuration a config block holds.
func blockConfig(b *common.Block) (*common.Config, error) {
	if len(b.GetData().GetData()) != 1 {
		return nil, errors.New("config block holds no single envelope")
	}
	var env common.Envelope
	if err := proto.Unmarshal(b.Data.Data[0], &env); err != nil {
		return nil, err
	}
	var p common.Payload
	if err := proto.Unmarshal(env.Payload, &p); err != nil {
		return nil, err
	}
	var ce common.ConfigEnvelope
	if err := proto.Unmarshal(p.Data, &ce); err != nil {
		return nil, fmt.Errorf("config envelope: %w", err)
	}
	if ce.Config == nil {
		return nil, errors.New("config envelope holds no config")
	}
	return ce.Config, nil
}

// channelOrgs reads the organisations' MSPs from a config block (the
// genesis block, or a configuration update): the application
// organisations', whose MSP IDs it returns too, and the orderer
// organisations' (the block signatures are theirs). An MSP ID configured
// twice, in both groups, must be configured alike (Fabric refuses two
// versions of one MSP).
func channelOrgs(b *common.Block) (*channelMSPs, error) {
	cfg, err := blockConfig(b)
	if err != nil {
		return nil, err
	}
	if cfg.ChannelGroup == nil || cfg.ChannelGroup.Groups["Application"] == nil {
		return nil, errors.New("config has no application group")
	}
	// The channel's V3_0 capability makes its MSPs version 3, which take
	// Ed25519 identities besides ECDSA ones (msp/mspimplsetup.go setupV3).
	var caps common.Capabilities
	if v := cfg.ChannelGroup.Values["Capabilities"]; v != nil {
		if err := proto.Unmarshal(v.Value, &caps); err != nil {
			return nil, fmt.Errorf("channel capabilities: %w", err)
		}
	}
	_, v3 := caps.Capabilities["V3_0"]
	c := &channelMSPs{config: cfg, cas: orgCAs{}, v3: v3}
	configs := map[string][]byte{}
	for _, group := range []string{"Application", "Orderer"} {
		g := cfg.ChannelGroup.Groups[group]
		kind := strings.ToLower(group) + " org"
		for _, name := range slices.Sorted(maps.Keys(g.GetGroups())) {
			v := g.Groups[name].Values["MSP"]
			if v == nil {
				return nil, fmt.Errorf("%s %s has no MSP", kind, name)
			}
			var mc msp.MSPConfig
			var fc msp.FabricMSPConfig
			if err := proto.Unmarshal(v.Value, &mc); err != nil {
				return nil, fmt.Errorf("%s %s MSP: %w", kind, name, err)
			}
			if err := proto.Unmarshal(mc.Config, &fc); err != nil {
				return nil, fmt.Errorf("%s %s MSP: %w", kind, name, err)
			}
			if group == "Application" {
				c.appOrgs = append(c.appOrgs, fc.Name)
			} else {
				c.ordererOrgs = append(c.ordererOrgs, fc.Name)
			}
			if prev, ok := configs[fc.Name]; ok {
				if !bytes.Equal(prev, v.Value) {
					return nil, fmt.Errorf("%s %s: MSP %s is configured twice, differently", kind, name, fc.Name)
				}
				continue
			}
			m, err := newOrgMSP(&fc, v3)
			if err != nil {
				return nil, fmt.Errorf("%s %s MSP: %w", kind, name, err)
			}
			c.cas[fc.Name], configs[fc.Name] = m, v.Value
		}
	}
	if len(c.appOrgs) == 0 {
		return nil, errors.New("channel has no application organisations")
	}
	return c, nil
}

// newOrgMSP reads an organisation's MSP configuration, refusing what
// Fabric's MSP setup refuses: a CA certificate that is not a CA's, an
// intermediate CA that does not chain (on one chain) to a root or that a
// CRL of its issuer revokes, and an OU bound to a certificate that is not
// one of the organisation's CAs, a CA certificate without a subject key
// identifier, and a CRL without an authority key identifier while an
// intermediate CA is configured (without one, the MSP is set up but
// validates no identity). A CRL counts for the CA whose subject key
// identifier is its authority key identifier and whose key verifies its
// signature, as in Fabric's validateCertAgainstChain: one that no CA of the
// organisation signed revokes nothing.
func newOrgMSP(fc *msp.FabricMSPConfig, v3 bool) (*orgMSP, error) {
	sigHash, idHash, err := mspHashes(fc.CryptoConfig)
	if err != nil {
		return nil, err
	}
	m := &orgMSP{ed25519: v3, sigHash: sigHash, idHash: idHash, roots: x509.NewCertPool(), inters: x509.NewCertPool(), internal: map[string]bool{}, revoked: map[string]map[string]bool{}}
	var roots, inters []*x509.Certificate
	for i, set := range [][][]byte{fc.RootCerts, fc.IntermediateCerts} {
		for _, c := range set {
			for _, cert := range pemCerts(c) {
				if !cert.IsCA {
					return nil, fmt.Errorf("CA certificate %q: not a CA's (basic constraints)", cert.Subject.CommonName)
				}
				if !hasExtension(cert.Extensions, oidSubjectKeyID) {
					return nil, fmt.Errorf("CA certificate %q: no subject key identifier (Fabric's MSP matches CRLs to CAs by it)", cert.Subject.CommonName)
				}
				if i == 0 {
					roots = append(roots, cert)
					m.roots.AddCert(cert)
				} else {
					inters = append(inters, cert)
					m.inters.AddCert(cert)
				}
			}
		}
	}
	for n, raw := range fc.RevocationList {
		crl, err := crlAsFabric(raw)
		if err != nil {
			return nil, fmt.Errorf("revocation list %d: %w", n, err)
		}
		aki, err := crlAKI(crl)
		if err != nil {
			if m.noAKI == nil {
				m.noAKI = fmt.Errorf("the org's revocation list %d %w, so Fabric's MSP validates none of the org's identities", n, err)
			}
			continue
		}
		for _, ca := range append(slices.Clip(roots), inters...) {
			// The signature alone, as Fabric's CheckCRLSignature: a CA's key
			// usage is not asked to include CRL signing.
			//lint:ignore SA1019 Fabric's MSP checks a CRL's signature with it; the audit takes what Fabric takes
			if !bytes.Equal(aki, ca.SubjectKeyId) || ca.CheckCRLSignature(crl) != nil {
				continue
			}
			set := m.revoked[string(ca.Raw)]
			if set == nil {
				set = map[string]bool{}
				m.revoked[string(ca.Raw)] = set
			}
			for _, e := range crl.TBSCertList.RevokedCertificates {
				set[e.SerialNumber.String()] = true
			}
		}
	}
	for _, ca := range inters {
		chain, err := m.chain(ca)
		if err != nil {
			return nil, fmt.Errorf("intermediate CA %q: %w", ca.Subject.CommonName, err)
		}
		if m.noAKI != nil {
			return nil, fmt.Errorf("intermediate CA %q: %w", ca.Subject.CommonName, m.noAKI)
		}
		if m.revoked[string(chain[1].Raw)][ca.SerialNumber.String()] {
			return nil, fmt.Errorf("intermediate CA %q: revoked by a CRL of %q", ca.Subject.CommonName, chain[1].Subject.CommonName)
		}
		for _, c := range chain[1:] {
			m.internal[string(c.Raw)] = true
		}
	}
	bind := func(what string, id *msp.FabricOUIdentifier, required bool) (ouBinding, error) {
		b := ouBinding{ou: id.OrganizationalUnitIdentifier}
		if len(id.Certificate) == 0 {
			if required {
				return b, fmt.Errorf("%s %q: no certificate", what, b.ou)
			}
			return b, nil
		}
		certs := pemCerts(id.Certificate)
		if len(certs) != 1 {
			return b, fmt.Errorf("%s %q: %d certificates in its PEM, want 1", what, b.ou, len(certs))
		}
		if !slices.ContainsFunc(append(slices.Clip(roots), inters...), certs[0].Equal) {
			return b, fmt.Errorf("%s %q: bound to %q, not a CA of the organisation", what, b.ou, certs[0].Subject.CommonName)
		}
		chain, err := m.chain(certs[0])
		if err != nil {
			return b, fmt.Errorf("%s %q: %w", what, b.ou, err)
		}
		b.chain = chain
		return b, nil
	}
	for _, id := range fc.OrganizationalUnitIdentifiers {
		b, err := bind("OU identifier", id, true)
		if err != nil {
			return nil, err
		}
		m.ous = append(m.ous, b)
	}
	for _, c := range fc.Admins {
		m.admins = append(m.admins, pemCerts(c)...)
	}
	if n := fc.FabricNodeOus; n != nil && n.Enable {
		m.nodeOUs, m.roles, m.roleOU = true, map[string]ouBinding{}, map[msp.MSPRole_MSPRoleType]string{}
		for _, r := range []struct {
			role msp.MSPRole_MSPRoleType
			id   *msp.FabricOUIdentifier
		}{{msp.MSPRole_CLIENT, n.ClientOuIdentifier}, {msp.MSPRole_PEER, n.PeerOuIdentifier}, {msp.MSPRole_ADMIN, n.AdminOuIdentifier}, {msp.MSPRole_ORDERER, n.OrdererOuIdentifier}} {
			if r.id == nil {
				continue
			}
			b, err := bind("node OUs: the "+roleName(r.role)+" OU", r.id, false)
			if err != nil {
				return nil, err
			}
			m.roles[b.ou] = b
			m.roleOU[r.role] = b.ou
		}
	}
	return m, nil
}

var (
	oidSubjectKeyID   = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// crlAsFabric reads a revocation list as Fabric's MSP does (setupCRLs):
// with x509.ParseCRL, which takes DER or a PEM "X509 CRL" block and reads
// the ASN.1 structure only — not the version, the extensions, or whether
// the inner and outer signature algorithms agree, all of which
// x509.ParseRevocationList refuses — and with an ECDSA signature
// re-encoded from its (r, s), so that one in a looser encoding (trailing
// bytes, say) verifies as it does in Fabric. A list Fabric reads is read
// (the audit would otherwise stop at a configuration the channel took), and
// one it revokes with revokes here.
func crlAsFabric(raw []byte) (*pkix.CertificateList, error) {
	//lint:ignore SA1019 Fabric's MSP parses CRLs with it; the audit takes what Fabric takes
	crl, err := x509.ParseCRL(raw)
	if err != nil {
		return nil, err
	}
	if ecdsaSignatureAlgorithms[crl.SignatureAlgorithm.Algorithm.String()] {
		var sig struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(crl.SignatureValue.RightAlign(), &sig); err != nil {
			return nil, fmt.Errorf("its ECDSA signature: %w", err)
		}
		if sig.R == nil || sig.S == nil || sig.R.Sign() != 1 || sig.S.Sign() != 1 {
			return nil, errors.New("its ECDSA signature: r and s must be positive")
		}
		der, err := asn1.Marshal(sig)
		if err != nil {
			return nil, err
		}
		crl.SignatureValue = asn1.BitString{Bytes: der, BitLength: 8 * len(der)}
	}
	return crl, nil
}

// ecdsaSignatureAlgorithms are the CRL signature algorithms whose
// signatures Fabric's MSP re-encodes (isECDSASignatureAlgorithm).
var ecdsaSignatureAlgorithms = map[string]bool{
	"1.2.840.10045.4.1":   true, // ecdsa-with-SHA1
	"1.2.840.10045.4.3.2": true, // ecdsa-with-SHA256
	"1.2.840.10045.4.3.3": true, // ecdsa-with-SHA384
	"1.2.840.10045.4.3.4": true, // ecdsa-with-SHA512
}

// crlAKI is the key identifier of a CRL's authority key identifier, read
// as Fabric's getAuthorityKeyIdentifierFromCrl reads it: an error if the
// extension is absent or does not decode; nil if it names the issuer by
// name and serial only (then no CA's subject key identifier matches it).
func crlAKI(crl *pkix.CertificateList) ([]byte, error) {
	for _, ext := range crl.TBSCertList.Extensions {
		if ext.Id.Equal(oidAuthorityKeyID) {
			var aki struct {
				KeyIdentifier             []byte  `asn1:"optional,tag:0"`
				AuthorityCertIssuer       []byte  `asn1:"optional,tag:1"`
				AuthorityCertSerialNumber big.Int `asn1:"optional,tag:2"`
			}
			if _, err := asn1.Unmarshal(ext.Value, &aki); err != nil {
				return nil, fmt.Errorf("has an authority key identifier that does not decode (%v)", err)
			}
			return aki.KeyIdentifier, nil
		}
	}
	return nil, errors.New("has no authority key identifier")
}

// hasExtension reports whether exts has the extension id.
func hasExtension(exts []pkix.Extension, id asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(exts, func(e pkix.Extension) bool { return e.Id.Equal(id) })
}

// roleName is an MSP role as the policy language writes it ("peer").
func roleName(r msp.MSPRole_MSPRoleType) string { return strings.ToLower(r.String()) }

// aRole is "a peer", "an admin".
func aRole(r msp.MSPRole_MSPRoleType) string {
	if n := roleName(r); strings.ContainsRune("aeiou", rune(n[0])) {
		return "an " + n
	}
	return "a " + roleName(r)
}

// chain is cert's one certification chain to a root of the organisation
// (cert first). Fabric's MSP refuses a certificate with none or with more
// than one.
func (m *orgMSP) chain(cert *x509.Certificate) ([]*x509.Certificate, error) {
	// At the certificate's start, as Fabric's MSP validates (expiry is not
	// the MSP's concern, and the audit reads blocks of any age).
	chains, err := cert.Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: m.inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: cert.NotBefore.Add(time.Second)})
	if err != nil {
		return nil, fmt.Errorf("certificate not issued by the org's CA: %v", err)
	}
	if len(chains) != 1 {
		return nil, fmt.Errorf("%d certification chains to the org's roots (Fabric's MSP takes exactly one)", len(chains))
	}
	return chains[0], nil
}

// validate checks that cert is a valid identity of the organisation, as
// Fabric's MSP validates one (validateIdentity, with the OU checks of MSP
// versions 1.4.3 and 3), and returns its certification chain.
func (m *orgMSP) validate(cert *x509.Certificate) ([]*x509.Certificate, error) {
	if alg := cert.PublicKeyAlgorithm; alg != x509.ECDSA && (alg != x509.Ed25519 || !m.ed25519) {
		return nil, fmt.Errorf("its key is %s, which the org's MSP does not take (Ed25519 from the channel capability V3_0 on)", alg)
	}
	if cert.IsCA {
		return nil, errors.New("a CA's certificate, not an identity")
	}
	chain, err := m.chain(cert)
	if err != nil {
		return nil, err
	}
	if len(chain) < 2 {
		return nil, errors.New("a root CA's certificate, not an identity")
	}
	issuer := chain[1]
	if m.internal[string(issuer.Raw)] {
		return nil, fmt.Errorf("issued by %q, a CA that issued an intermediate CA of the org (identities come from the certification tree's leaves)", issuer.Subject.CommonName)
	}
	if m.noAKI != nil {
		return nil, m.noAKI
	}
	if m.revoked[string(issuer.Raw)][cert.SerialNumber.String()] {
		return nil, fmt.Errorf("certificate (serial %s) revoked by the org's CRL", cert.SerialNumber)
	}
	ous := cert.Subject.OrganizationalUnit
	if len(m.ous) > 0 && !slices.ContainsFunc(m.ous, func(b ouBinding) bool { return slices.Contains(ous, b.ou) && b.certifies(chain) }) {
		return nil, fmt.Errorf("none of its OUs %v is one of the org's OU identifiers", ous)
	}
	if !m.nodeOUs {
		return chain, nil
	}
	roles := 0
	for _, ou := range ous {
		b, ok := m.roles[ou]
		if !ok {
			continue
		}
		if !b.certifies(chain) {
			return nil, fmt.Errorf("the OU %q is bound to CA %q, its certificate's issuer is %q", ou, b.chain[0].Subject.CommonName, issuer.Subject.CommonName)
		}
		roles++
	}
	switch {
	case roles > 1:
		return nil, fmt.Errorf("OUs %v: more than one role (an identity has exactly one)", ous)
	case roles == 0:
		return nil, fmt.Errorf("OUs %v: no role (client, peer, admin or orderer)", ous)
	}
	return chain, nil
}

// hasRole checks that a valid identity's certificate carries the OU of
// role (client, peer, admin or orderer), as Fabric's hasOURole does: with
// node OUs off, or the role's OU undefined, no identity has the role.
func (m *orgMSP) hasRole(cert *x509.Certificate, role msp.MSPRole_MSPRoleType) error {
	ou, ok := m.roleOU[role]
	switch {
	case !m.nodeOUs:
		return fmt.Errorf("not %s (the org's node OUs are off: Fabric cannot tell its members' roles apart)", aRole(role))
	case !ok:
		return fmt.Errorf("not %s (the org's node OUs define no %s OU)", aRole(role), roleName(role))
	case !slices.Contains(cert.Subject.OrganizationalUnit, ou):
		return fmt.Errorf("not %s (OU %v, the %s OU is %q)", aRole(role), cert.Subject.OrganizationalUnit, roleName(role), ou)
	}
	return nil
}

// pemCerts parses the certificates of a PEM text, skipping what is not one.
func pemCerts(b []byte) []*x509.Certificate {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return certs
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && blk.Type == "CERTIFICATE" {
			certs = append(certs, c)
		}
	}
}

// check verifies a chaincode transaction's endorsements, of the response
// payload prp, against the chaincode's endorsement policy in force.
func (e endorsers) check(prp []byte, ends []*peer.Endorsement) error {
	if e.policy == nil {
		return errors.New("no definition of the chaincode before it (no endorsement policy)")
	}
	return e.checkUnder(e.policy, prp, ends)
}

// checkUnder evaluates the endorsements of prp under the policy ap, as
// Fabric's validation does (endorsementSet, evalApplication); when they do
// not satisfy it, the error says the policy and why each endorsement did
// not count.
func (e endorsers) checkUnder(ap *peer.ApplicationPolicy, prp []byte, ends []*peer.Endorsement) error {
	s := endorsementSet(e.cas, prp, ends)
	ok, text, err := evalApplication(e.config, ap, s)
	if err != nil {
		return fmt.Errorf("endorsement policy %s: %v", text, err)
	}
	if ok {
		return nil
	}
	why := slices.Clone(s.dropped)
	named := policyPrincipals(e.config, ap)
	have := map[string]bool{}
	for _, sg := range s.ids {
		have[sg.mspID] = true
		var first error
		for _, p := range named {
			if principalMSP(p) != sg.mspID {
				continue
			}
			err := sg.satisfies(p)
			if err == nil {
				first = nil
				break
			}
			if first == nil {
				first = err
			}
		}
		if first != nil {
			why = append(why, fmt.Sprintf("endorser %q of %s: %v", sg.cert.Subject.CommonName, sg.mspID, first))
		}
	}
	var missing []string
	for _, p := range named {
		if id := principalMSP(p); id != "" && !have[id] && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		why = append(why, fmt.Sprintf("no valid endorsement by %v", missing))
	}
	return fmt.Errorf("endorsement policy %s not satisfied: %s", text, strings.Join(why, "; "))
}

// lowS says whether the ASN.1 ECDSA signature sig has S at most half the
// order of pub's curve, the form Fabric's BCCSP requires of a signature.
func lowS(pub *ecdsa.PublicKey, sig []byte) bool {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 || rs.S == nil {
		return false
	}
	half := new(big.Int).Rsh(pub.Curve.Params().N, 1)
	return rs.S.Cmp(half) <= 0
}
