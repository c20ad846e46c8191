package fabric

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// orgCAs are the application organisations of a channel and the CA
// certificates their members' certificates chain to, read from a config block.
type orgCAs map[string]*x509.CertPool

// channelOrgs reads the application organisations' MSPs from the channel's
// genesis (config) block. Later configuration updates are not followed.
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
		pool := x509.NewCertPool()
		for _, c := range append(fc.RootCerts, fc.IntermediateCerts...) {
			pool.AppendCertsFromPEM(c)
		}
		orgs[fc.Name] = pool
	}
	if len(orgs) == 0 {
		return nil, errors.New("channel has no application organisations")
	}
	return orgs, nil
}

// checkEndorsements verifies that every organisation of the channel endorsed
// the proposal response: a certificate its CA issued, and a signature by that
// certificate's key over the response payload and the endorser identity.
func (o orgCAs) checkEndorsements(prp []byte, ends []*peer.Endorsement) error {
	signed := map[string]bool{}
	for _, e := range ends {
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(e.Endorser, &id); err != nil {
			return fmt.Errorf("endorser identity: %w", err)
		}
		pool, ok := o[id.Mspid]
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
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: cert.NotBefore}); err != nil {
			return fmt.Errorf("endorser %q of %s: certificate not issued by the org's CA: %v", cert.Subject.CommonName, id.Mspid, err)
		}
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("endorser %q of %s: not an ECDSA key", cert.Subject.CommonName, id.Mspid)
		}
		digest := sha256.Sum256(append(append([]byte(nil), prp...), e.Endorser...))
		if !ecdsa.VerifyASN1(pub, digest[:], e.Signature) {
			return fmt.Errorf("endorsement by %q of %s does not verify over the transaction's response", cert.Subject.CommonName, id.Mspid)
		}
		signed[id.Mspid] = true
	}
	var missing []string
	for org := range o {
		if !signed[org] {
			missing = append(missing, org)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("no valid endorsement by %v", missing)
	}
	return nil
}
