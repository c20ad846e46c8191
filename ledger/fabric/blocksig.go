package fabric

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// The audit checks every block after the genesis block as a peer checks a
// block the orderers deliver (common/deliverclient, protoutil
// BlockSignatureVerifier): the signatures in the block's SIGNATURES
// metadata, each over the metadata's value, its own signature header and
// the block header, must satisfy the channel's BlockValidation policy of
// the configuration in force — the configuration before the block, for a
// configuration block too. The header carries the previous block's hash
// and the data hash, so a chain whose transactions were dropped, reordered
// or put in other blocks, and every header re-hashed, no longer carries
// the orderers' signatures: the endorsements alone do not see that, since
// every transaction left is still as its endorsers signed it.

// blockValidationRef is the policy a block's signatures must satisfy.
const blockValidationRef = "/Channel/Orderer/BlockValidation"

// checkBlock verifies block b's signatures under the BlockValidation
// policy of the configuration in force, and returns the policy as text and
// the identities whose signatures verified; the error names the policy and
// why each signature did not count.
func (e endorsers) checkBlock(b *common.Block) (string, []signer, error) {
	md, err := blockSignatures(b)
	if err != nil {
		return "", nil, err
	}
	sigs, err := e.blockSigned(b.Header, md)
	if err != nil {
		return "", nil, err
	}
	s := signatureSet(e.cas, sigs, "orderer", "the block")
	g, name, err := resolveReference(e.config, blockValidationRef)
	if err != nil {
		return "", nil, fmt.Errorf("block signatures: %v", err)
	}
	text := blockValidationRef + " (" + configPolicyText(g.Policies[name].Policy) + ")"
	ok, err := evalConfigPolicy(g, g.Policies[name].Policy, s)
	if err != nil {
		return "", nil, fmt.Errorf("block signatures: %s: %v", text, err)
	}
	if ok {
		return text, s.ids, nil
	}
	why := s.dropped
	if len(md.Signatures) == 0 {
		why = append(why, "the block carries no signature")
	}
	for _, sg := range s.ids {
		r, _ := proto.Marshal(&msp.MSPRole{MspIdentifier: sg.mspID, Role: msp.MSPRole_MEMBER})
		switch err := sg.satisfies(&msp.MSPPrincipal{PrincipalClassification: msp.MSPPrincipal_ROLE, Principal: r}); {
		case err != nil:
			why = append(why, fmt.Sprintf("orderer %q of %s: %v", sg.cert.Subject.CommonName, sg.mspID, err))
		case !slices.Contains(e.ordererOrgs, sg.mspID):
			why = append(why, fmt.Sprintf("%q of %s signed, which is no orderer organisation of the channel", sg.cert.Subject.CommonName, sg.mspID))
		default:
			why = append(why, fmt.Sprintf("orderer %q of %s signed, not enough alone", sg.cert.Subject.CommonName, sg.mspID))
		}
	}
	if len(why) == 0 {
		why = append(why, "no signature is by a consenter of the orderer configuration")
	}
	return "", nil, fmt.Errorf("not signed as the channel's %s demands: %s", text, strings.Join(why, "; "))
}

// blockSignatures reads b's SIGNATURES metadata.
func blockSignatures(b *common.Block) (*common.Metadata, error) {
	if len(b.GetMetadata().GetMetadata()) <= int(common.BlockMetadataIndex_SIGNATURES) {
		return nil, errors.New("no signatures metadata: the block is not signed")
	}
	var md common.Metadata
	if err := proto.Unmarshal(b.Metadata.Metadata[common.BlockMetadataIndex_SIGNATURES], &md); err != nil {
		return nil, fmt.Errorf("signatures metadata: %v", err)
	}
	return &md, nil
}

// blockSigned is what each of a block's signatures signed, and by whom, as
// BlockSignatureVerifier collects them: the signer named by its signature
// header, or, on a channel of the V3_0 capability (Fabric's BFT ordering),
// a signature that carries only an identifier header by the consenter of
// that identifier in the orderer configuration (one of no consenter is
// skipped, as Fabric skips it).
func (e endorsers) blockSigned(h *common.BlockHeader, md *common.Metadata) ([]signed, error) {
	hb := headerBytes(h)
	var sigs []signed
	for i, ms := range md.Signatures {
		if e.v3 && len(ms.SignatureHeader) == 0 && len(ms.IdentifierHeader) > 0 {
			var ih common.IdentifierHeader
			if err := proto.Unmarshal(ms.IdentifierHeader, &ih); err != nil {
				return nil, fmt.Errorf("signature %d: identifier header: %v", i, err)
			}
			id, err := e.consenter(ih.Identifier)
			if err != nil {
				return nil, fmt.Errorf("signature %d: %v", i, err)
			}
			if id == nil {
				continue
			}
			sigs = append(sigs, signed{identity: id, data: slices.Concat(md.Value, ms.IdentifierHeader, hb), sig: ms.Signature})
			continue
		}
		var sh common.SignatureHeader
		if err := proto.Unmarshal(ms.SignatureHeader, &sh); err != nil {
			return nil, fmt.Errorf("signature %d: signature header: %v", i, err)
		}
		sigs = append(sigs, signed{identity: sh.Creator, data: slices.Concat(md.Value, ms.SignatureHeader, hb), sig: ms.Signature})
	}
	return sigs, nil
}

// consenter is the serialised identity of the consenter with identifier
// id in the orderer configuration's consenter mapping, or nil if none has
// it.
func (e endorsers) consenter(id uint32) ([]byte, error) {
	v := e.config.GetChannelGroup().GetGroups()["Orderer"].GetValues()["Orderers"]
	if v == nil {
		return nil, nil
	}
	var os common.Orderers
	if err := proto.Unmarshal(v.Value, &os); err != nil {
		return nil, fmt.Errorf("orderer configuration's consenters: %v", err)
	}
	for _, c := range os.ConsenterMapping {
		if c.Id == id {
			return proto.Marshal(&msp.SerializedIdentity{Mspid: c.MspId, IdBytes: c.Identity})
		}
	}
	return nil, nil
}

// configPolicyText is a configuration policy as text: "ANY Writers", or
// a signature policy's rule.
func configPolicyText(p *common.Policy) string {
	switch common.Policy_PolicyType(p.GetType()) {
	case common.Policy_IMPLICIT_META:
		var im common.ImplicitMetaPolicy
		if proto.Unmarshal(p.Value, &im) == nil {
			return im.Rule.String() + " " + im.SubPolicy
		}
	case common.Policy_SIGNATURE:
		var env common.SignaturePolicyEnvelope
		if proto.Unmarshal(p.Value, &env) == nil {
			return signaturePolicyString(&env)
		}
	}
	return fmt.Sprintf("a policy of type %d", p.GetType())
}
