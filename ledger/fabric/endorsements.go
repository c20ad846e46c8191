package fabric

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// orgCAs are the application organisations of a channel by MSP ID, as a
// config block configures their MSPs.
type orgCAs map[string]*orgMSP

// orgMSP is what the audit checks an endorser's certificate against, read
// from the organisation's MSP configuration as Fabric's MSP (msp/mspimpl*.go)
// reads it: the root and intermediate CAs, the CAs that issued another
// configured CA (not issuers of identities), the serial numbers each CA's
// CRLs revoke, the OUs an identity must carry, and, with node OUs on, the
// OUs of the roles with the certification chains they are bound to.
type orgMSP struct {
	roots, inters *x509.CertPool
	// internal holds the raw certificates of the CAs that issued a
	// configured intermediate CA: Fabric takes identities only from the
	// leaves of the certification tree.
	internal map[string]bool
	// revoked holds, by the raw certificate of a CA, the serial numbers the
	// CRLs that CA signed revoke.
	revoked map[string]map[string]bool
	// ous are the OrganizationalUnitIdentifiers: if any, an identity needs
	// one of them (an OU certified by the bound chain).
	ous []ouBinding
	// nodeOUs is on with FabricNodeOUs enabled: an identity has exactly one
	// role OU (roles), and an endorser's is peerOU (none if !peerSet: the
	// configuration defines no peer role, which no certificate then has).
	nodeOUs bool
	roles   map[string]ouBinding
	peerOU  string
	peerSet bool
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

// endorsers says what a valid transaction's endorsements must be: one by
// every organisation of the channel's genesis configuration (the deployed
// policy, AND of all of them), each verified under the channel's
// configuration as of its block (the last config block before it), so an
// organisation added later, or a CA an organisation rotated, is known from
// its config block on.
type endorsers struct {
	cas      orgCAs
	required []string
}

// genesisEndorsers reads the channel's genesis block.
func genesisEndorsers(b *common.Block) (endorsers, error) {
	cas, err := channelOrgs(b)
	if err != nil {
		return endorsers{}, err
	}
	return endorsers{cas: cas, required: slices.Sorted(maps.Keys(cas))}, nil
}

// update takes a config block's organisations for the blocks after it.
func (e *endorsers) update(b *common.Block) error {
	cas, err := channelOrgs(b)
	if err != nil {
		return err
	}
	e.cas = cas
	return nil
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

// channelOrgs reads the application organisations' MSPs from a config
// block (the genesis block, or a configuration update).
func channelOrgs(b *common.Block) (orgCAs, error) {
	if len(b.Data.Data) != 1 {
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
	if ce.Config == nil || ce.Config.ChannelGroup == nil || ce.Config.ChannelGroup.Groups["Application"] == nil {
		return nil, errors.New("config has no application group")
	}
	orgs := orgCAs{}
	for name, g := range ce.Config.ChannelGroup.Groups["Application"].Groups {
		v := g.Values["MSP"]
		if v == nil {
			return nil, fmt.Errorf("org %s has no MSP", name)
		}
		var mc msp.MSPConfig
		if err := proto.Unmarshal(v.Value, &mc); err != nil {
			return nil, fmt.Errorf("org %s MSP: %w", name, err)
		}
		var fc msp.FabricMSPConfig
		if err := proto.Unmarshal(mc.Config, &fc); err != nil {
			return nil, fmt.Errorf("org %s MSP: %w", name, err)
		}
		m, err := newOrgMSP(&fc)
		if err != nil {
			return nil, fmt.Errorf("org %s MSP: %w", name, err)
		}
		orgs[fc.Name] = m
	}
	if len(orgs) == 0 {
		return nil, errors.New("channel has no application organisations")
	}
	return orgs, nil
}

// newOrgMSP reads an organisation's MSP configuration, refusing what
// Fabric's MSP setup refuses: a CA certificate that is not a CA's, an
// intermediate CA that does not chain (on one chain) to a root or that a
// CRL of its issuer revokes, and an OU bound to a certificate that is not
// one of the organisation's CAs. A CRL counts for the CA that signed it
// (one signed by no CA of the organisation revokes nothing, as in Fabric,
// which skips a CRL whose signature its issuer's key does not verify).
func newOrgMSP(fc *msp.FabricMSPConfig) (*orgMSP, error) {
	m := &orgMSP{roots: x509.NewCertPool(), inters: x509.NewCertPool(), internal: map[string]bool{}, revoked: map[string]map[string]bool{}}
	var roots, inters []*x509.Certificate
	for i, set := range [][][]byte{fc.RootCerts, fc.IntermediateCerts} {
		for _, c := range set {
			for _, cert := range pemCerts(c) {
				if !cert.IsCA {
					return nil, fmt.Errorf("CA certificate %q: not a CA's (basic constraints)", cert.Subject.CommonName)
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
		der := raw
		if blk, _ := pem.Decode(raw); blk != nil {
			der = blk.Bytes
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("revocation list %d: %w", n, err)
		}
		for _, ca := range append(slices.Clip(roots), inters...) {
			if crl.CheckSignatureFrom(ca) != nil {
				continue
			}
			set := m.revoked[string(ca.Raw)]
			if set == nil {
				set = map[string]bool{}
				m.revoked[string(ca.Raw)] = set
			}
			for _, e := range crl.RevokedCertificateEntries {
				set[e.SerialNumber.String()] = true
			}
		}
	}
	for _, ca := range inters {
		chain, err := m.chain(ca)
		if err != nil {
			return nil, fmt.Errorf("intermediate CA %q: %w", ca.Subject.CommonName, err)
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
	if n := fc.FabricNodeOus; n != nil && n.Enable {
		m.nodeOUs, m.roles = true, map[string]ouBinding{}
		for _, r := range []struct {
			name string
			id   *msp.FabricOUIdentifier
		}{{"client", n.ClientOuIdentifier}, {"peer", n.PeerOuIdentifier}, {"admin", n.AdminOuIdentifier}, {"orderer", n.OrdererOuIdentifier}} {
			if r.id == nil {
				continue
			}
			b, err := bind("node OUs: the "+r.name+" OU", r.id, false)
			if err != nil {
				return nil, err
			}
			m.roles[b.ou] = b
			if r.name == "peer" {
				m.peerOU, m.peerSet = b.ou, true
			}
		}
	}
	return m, nil
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

// peer checks that cert is a valid peer identity of the organisation, as
// Fabric's MSP validates an identity and then its peer role (the policy's
// 'OrgMSP.peer'; any valid member with node OUs off).
func (m *orgMSP) peer(cert *x509.Certificate) error {
	if cert.IsCA {
		return errors.New("a CA's certificate, not an identity")
	}
	chain, err := m.chain(cert)
	if err != nil {
		return err
	}
	if len(chain) < 2 {
		return errors.New("a root CA's certificate, not an identity")
	}
	issuer := chain[1]
	if m.internal[string(issuer.Raw)] {
		return fmt.Errorf("issued by %q, a CA that issued an intermediate CA of the org (identities come from the certification tree's leaves)", issuer.Subject.CommonName)
	}
	if m.revoked[string(issuer.Raw)][cert.SerialNumber.String()] {
		return fmt.Errorf("certificate (serial %s) revoked by the org's CRL", cert.SerialNumber)
	}
	ous := cert.Subject.OrganizationalUnit
	if len(m.ous) > 0 && !slices.ContainsFunc(m.ous, func(b ouBinding) bool { return slices.Contains(ous, b.ou) && b.certifies(chain) }) {
		return fmt.Errorf("none of its OUs %v is one of the org's OU identifiers", ous)
	}
	if !m.nodeOUs {
		return nil
	}
	roles := 0
	for _, ou := range ous {
		b, ok := m.roles[ou]
		if !ok {
			continue
		}
		if !b.certifies(chain) {
			return fmt.Errorf("not a peer (the OU %q is bound to CA %q, its certificate's issuer is %q)", ou, b.chain[0].Subject.CommonName, issuer.Subject.CommonName)
		}
		roles++
	}
	switch {
	case roles > 1:
		return fmt.Errorf("OUs %v: more than one role (an identity has exactly one)", ous)
	case !m.peerSet:
		return errors.New("not a peer (the org's node OUs define no peer OU)")
	case roles == 0 || !slices.Contains(ous, m.peerOU):
		return fmt.Errorf("not a peer (OU %v, the peer OU is %q)", ous, m.peerOU)
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

// check verifies that every required organisation endorsed the proposal
// response: a valid peer identity of the organisation under its MSP as
// configured now (orgMSP.peer), and a low-S signature by that
// certificate's key over the response and the endorser. An endorsement by
// an organisation the configuration does not name, or one that does not
// pass, is refused.
func (e endorsers) check(prp []byte, ends []*peer.Endorsement) error {
	o := e.cas
	signed := map[string]bool{}
	for _, en := range ends {
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(en.Endorser, &id); err != nil {
			return fmt.Errorf("endorser identity: %w", err)
		}
		m, ok := o[id.Mspid]
		if !ok {
			return fmt.Errorf("endorser of %s, not an organisation of the channel", id.Mspid)
		}
		blk, _ := pem.Decode(id.IdBytes)
		if blk == nil {
			return fmt.Errorf("endorser of %s: certificate is not PEM", id.Mspid)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("endorser of %s: %w", id.Mspid, err)
		}
		if err := m.peer(cert); err != nil {
			return fmt.Errorf("endorser %q of %s: %w", cert.Subject.CommonName, id.Mspid, err)
		}
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("endorser %q of %s: not an ECDSA key", cert.Subject.CommonName, id.Mspid)
		}
		digest := sha256.Sum256(append(append([]byte(nil), prp...), en.Endorser...))
		if !ecdsa.VerifyASN1(pub, digest[:], en.Signature) {
			return fmt.Errorf("endorsement by %q of %s does not verify over the transaction's response", cert.Subject.CommonName, id.Mspid)
		}
		if !lowS(pub, en.Signature) {
			return fmt.Errorf("endorsement by %q of %s: signature's S is above half the curve order (Fabric takes low-S signatures only)", cert.Subject.CommonName, id.Mspid)
		}
		signed[id.Mspid] = true
	}
	var missing []string
	for _, org := range e.required {
		if !signed[org] {
			missing = append(missing, org)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no valid endorsement by %v", missing)
	}
	return nil
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
