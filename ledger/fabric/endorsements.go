package fabric

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// orgCAs are the application organisations of a channel by MSP ID, as a
// config block configures their MSPs.
type orgCAs map[string]*orgMSP

// orgMSP is what the audit checks an endorser's certificate against: the
// organisation's root and intermediate CAs, its certificate revocation
// lists, and, with node OUs on, the OU that marks a peer (the policy's
// 'OrgMSP.peer' role) and the CA it may be bound to.
type orgMSP struct {
	roots, inters *x509.CertPool
	// revoked holds the serial numbers the organisation's CRLs revoke, by
	// the issuer (its raw subject) whose signature the CRL carries.
	revoked map[string]map[string]bool
	peerOU  string // "" with node OUs off: any member's certificate
	// peerOUCA, if set, is the CA the peer OU is bound to: a peer's
	// certificate must chain through it (FabricOUIdentifier.Certificate).
	peerOUCA *x509.Certificate
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

// newOrgMSP reads an organisation's MSP configuration. A CRL is taken only
// if one of the organisation's CAs signed it.
func newOrgMSP(fc *msp.FabricMSPConfig) (*orgMSP, error) {
	m := &orgMSP{roots: x509.NewCertPool(), inters: x509.NewCertPool(), revoked: map[string]map[string]bool{}}
	var cas []*x509.Certificate
	for i, set := range [][][]byte{fc.RootCerts, fc.IntermediateCerts} {
		for _, c := range set {
			for _, cert := range pemCerts(c) {
				cas = append(cas, cert)
				if i == 0 {
					m.roots.AddCert(cert)
				} else {
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
		signed := false
		for _, ca := range cas {
			if crl.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("revocation list %d (issuer %s): not signed by a CA of the organisation", n, crl.Issuer)
		}
		issuer := string(crl.RawIssuer)
		if m.revoked[issuer] == nil {
			m.revoked[issuer] = map[string]bool{}
		}
		for _, e := range crl.RevokedCertificateEntries {
			m.revoked[issuer][e.SerialNumber.String()] = true
		}
	}
	if ous := fc.FabricNodeOus; ous != nil && ous.Enable {
		m.peerOU = "peer"
		if id := ous.PeerOuIdentifier; id != nil {
			if id.OrganizationalUnitIdentifier != "" {
				m.peerOU = id.OrganizationalUnitIdentifier
			}
			if len(id.Certificate) > 0 {
				certs := pemCerts(id.Certificate)
				if len(certs) != 1 {
					return nil, fmt.Errorf("node OUs: the peer OU's certificate: %d certificates in its PEM, want 1", len(certs))
				}
				m.peerOUCA = certs[0]
			}
		}
	}
	return m, nil
}

// chainsThrough says whether one of the chains holds ca.
func chainsThrough(chains [][]*x509.Certificate, ca *x509.Certificate) bool {
	for _, chain := range chains {
		for _, c := range chain {
			if c.Equal(ca) {
				return true
			}
		}
	}
	return false
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
// response: a certificate its CAs (as configured now) issued and its CRLs
// do not revoke, a peer's (the peer OU, with node OUs on), and a signature
// by that certificate's key over the response and the endorser. An
// endorsement by an organisation the configuration does not name, or one
// that does not pass, is refused.
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
		chains, err := cert.Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: m.inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: cert.NotBefore})
		if err != nil {
			return fmt.Errorf("endorser %q of %s: certificate not issued by the org's CA: %v", cert.Subject.CommonName, id.Mspid, err)
		}
		if m.revoked[string(cert.RawIssuer)][cert.SerialNumber.String()] {
			return fmt.Errorf("endorser %q of %s: certificate (serial %s) revoked by the org's CRL", cert.Subject.CommonName, id.Mspid, cert.SerialNumber)
		}
		if m.peerOU != "" && !slices.Contains(cert.Subject.OrganizationalUnit, m.peerOU) {
			return fmt.Errorf("endorser %q of %s: not a peer (OU %v, the peer OU is %q)", cert.Subject.CommonName, id.Mspid, cert.Subject.OrganizationalUnit, m.peerOU)
		}
		if m.peerOU != "" && m.peerOUCA != nil && !chainsThrough(chains, m.peerOUCA) {
			return fmt.Errorf("endorser %q of %s: not a peer (the peer OU is %q of CA %q, its certificate's chain does not pass that CA)", cert.Subject.CommonName, id.Mspid, m.peerOU, m.peerOUCA.Subject.CommonName)
		}
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("endorser %q of %s: not an ECDSA key", cert.Subject.CommonName, id.Mspid)
		}
		digest := sha256.Sum256(append(append([]byte(nil), prp...), en.Endorser...))
		if !ecdsa.VerifyASN1(pub, digest[:], en.Signature) {
			return fmt.Errorf("endorsement by %q of %s does not verify over the transaction's response", cert.Subject.CommonName, id.Mspid)
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
