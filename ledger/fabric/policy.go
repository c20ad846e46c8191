package fabric

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"
)

// The audit evaluates a transaction's endorsements as Fabric's validation
// (the builtin vscc) does: the endorsements become a set of identities —
// each deserialised by an organisation of the channel, taken once, its
// signature verified, the rest dropped — and the chaincode's endorsement
// policy, as its definition in _lifecycle gives it, is evaluated over that
// set (common/policies, common/cauthdsl, msp/mspimpl.go; MSP versions 1.4.3
// and 3, the channel capabilities V2_0 and V3_0).

// lifecycleNamespace is the namespace of Fabric's chaincode lifecycle.
const lifecycleNamespace = "_lifecycle"

// lifecycleEndorsementRef is the policy a _lifecycle transaction is
// endorsed under.
const lifecycleEndorsementRef = "/Channel/Application/LifecycleEndorsement"

// signer is one identity of an endorsement set: its organisation's MSP
// and its certificate.
type signer struct {
	mspID string
	m     *orgMSP
	cert  *x509.Certificate
}

// signers is the identity set of a transaction's endorsements, and why
// each endorsement left out was left out.
type signers struct {
	ids     []signer
	dropped []string
}

// identities is a set of identities a policy is evaluated over: the
// endorsements of a transaction (signers), or the peers a transaction
// would ask (peersOf).
type identities interface {
	count() int
	// satisfies says whether identity i satisfies the principal p.
	satisfies(i int, p *msp.MSPPrincipal) bool
}

func (s signers) count() int { return len(s.ids) }

func (s signers) satisfies(i int, p *msp.MSPPrincipal) bool { return s.ids[i].satisfies(p) == nil }

// signed is one signature of a set: the signer's serialised identity,
// the bytes it signed and the signature.
type signed struct{ identity, data, sig []byte }

// signatureSet makes the identity set of signatures under the
// organisations o, as Fabric's SignatureSetToValidIdentities does: a
// signer of no organisation of the channel, or whose certificate does not
// parse, is dropped, as are an identity's signatures after its first and a
// signature that does not verify (orgMSP.verify). Whether an identity is
// valid under its MSP is left to the principals. who names a signer in
// what is dropped ("endorser"), over what it signed ("the transaction's
// response").
func signatureSet(o orgCAs, sigs []signed, who, over string) signers {
	var s signers
	seen := map[string]bool{}
	for _, sd := range sigs {
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(sd.identity, &id); err != nil {
			s.dropped = append(s.dropped, fmt.Sprintf("%s identity: %v", who, err))
			continue
		}
		m, ok := o[id.Mspid]
		if !ok {
			s.dropped = append(s.dropped, fmt.Sprintf("%s of %s, not an organisation of the channel", who, id.Mspid))
			continue
		}
		blk, _ := pem.Decode(id.IdBytes)
		if blk == nil {
			s.dropped = append(s.dropped, fmt.Sprintf("%s of %s: certificate is not PEM", who, id.Mspid))
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			s.dropped = append(s.dropped, fmt.Sprintf("%s of %s: %v", who, id.Mspid, err))
			continue
		}
		key := id.Mspid + "\x00" + string(cert.Raw)
		if seen[key] {
			continue
		}
		if err := m.verify(cert, sd.data, sd.sig); err != nil {
			s.dropped = append(s.dropped, fmt.Sprintf("%s %q of %s: signature over %s: %v", who, cert.Subject.CommonName, id.Mspid, over, err))
			continue
		}
		seen[key] = true
		s.ids = append(s.ids, signer{mspID: id.Mspid, m: m, cert: cert})
	}
	return s
}

// endorsementSet makes the identity set of the endorsements of the
// response payload prp under the organisations o (signatureSet): each
// endorser signed prp followed by its own serialised identity.
func endorsementSet(o orgCAs, prp []byte, ends []*peer.Endorsement) signers {
	sigs := make([]signed, len(ends))
	for i, en := range ends {
		sigs[i] = signed{identity: en.Endorser, data: append(append([]byte(nil), prp...), en.Endorser...), sig: en.Signature}
	}
	return signatureSet(o, sigs, "endorser", "the transaction's response")
}

// satisfies says whether sg satisfies the principal p, as Fabric's MSP
// (satisfiesPrincipalInternalV142) decides; the error says why not.
func (sg signer) satisfies(p *msp.MSPPrincipal) error {
	switch p.PrincipalClassification {
	case msp.MSPPrincipal_ROLE:
		var r msp.MSPRole
		if err := proto.Unmarshal(p.Principal, &r); err != nil {
			return fmt.Errorf("principal role: %w", err)
		}
		if r.MspIdentifier != sg.mspID {
			return fmt.Errorf("a member of %s, not %s", sg.mspID, r.MspIdentifier)
		}
		if r.Role == msp.MSPRole_ADMIN && slices.ContainsFunc(sg.m.admins, sg.cert.Equal) {
			return nil
		}
		if _, err := sg.m.validate(sg.cert); err != nil {
			return err
		}
		if r.Role == msp.MSPRole_MEMBER {
			return nil
		}
		return sg.m.hasRole(sg.cert, r.Role)
	case msp.MSPPrincipal_IDENTITY:
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(p.Principal, &id); err != nil {
			return fmt.Errorf("principal identity: %w", err)
		}
		blk, _ := pem.Decode(id.IdBytes)
		if id.Mspid != sg.mspID || blk == nil || !bytes.Equal(blk.Bytes, sg.cert.Raw) {
			return errors.New("not the identity the policy names")
		}
		_, err := sg.m.validate(sg.cert)
		return err
	case msp.MSPPrincipal_ORGANIZATION_UNIT:
		var ou msp.OrganizationUnit
		if err := proto.Unmarshal(p.Principal, &ou); err != nil {
			return fmt.Errorf("principal OU: %w", err)
		}
		if ou.MspIdentifier != sg.mspID {
			return fmt.Errorf("a member of %s, not %s", sg.mspID, ou.MspIdentifier)
		}
		chain, err := sg.m.validate(sg.cert)
		if err != nil {
			return err
		}
		if !slices.Contains(sg.cert.Subject.OrganizationalUnit, ou.OrganizationalUnitIdentifier) || !bytes.Equal(certifiersID(chain, sg.m.idHash), ou.CertifiersIdentifier) {
			return fmt.Errorf("not of OU %q under the certifiers the policy names", ou.OrganizationalUnitIdentifier)
		}
		return nil
	case msp.MSPPrincipal_ANONYMITY:
		var a msp.MSPIdentityAnonymity
		if err := proto.Unmarshal(p.Principal, &a); err != nil {
			return fmt.Errorf("principal anonymity: %w", err)
		}
		if a.AnonymityType != msp.MSPIdentityAnonymity_NOMINAL {
			return errors.New("an X.509 identity is nominal, not anonymous")
		}
		return nil
	case msp.MSPPrincipal_COMBINED:
		var c msp.CombinedPrincipal
		if err := proto.Unmarshal(p.Principal, &c); err != nil {
			return fmt.Errorf("principal combined: %w", err)
		}
		if len(c.Principals) == 0 {
			return errors.New("a combined principal of no principals")
		}
		for _, sub := range c.Principals {
			if sub.PrincipalClassification == msp.MSPPrincipal_COMBINED {
				return errors.New("a combined principal inside a combined principal")
			}
			if err := sg.satisfies(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("principal classification %v", p.PrincipalClassification)
}

// certifiersID is Fabric's certification chain identifier: the MSP's
// identity identifier hash (SHA-256 by default) over the chain above the
// certificate.
func certifiersID(chain []*x509.Certificate, newHash func() hash.Hash) []byte {
	h := newHash()
	for _, c := range chain[1:] {
		h.Write(c.Raw)
	}
	return h.Sum(nil)
}

// evalSignature evaluates a signature policy over s as cauthdsl does:
// each SignedBy takes the first identity not yet used that satisfies its
// principal; an NOutOf counts its rules in order, each on the identities
// the ones before it left.
func evalSignature(env *common.SignaturePolicyEnvelope, s identities) (bool, error) {
	if env.Version != 0 {
		return false, fmt.Errorf("signature policy version %d (Fabric evaluates version 0)", env.Version)
	}
	var eval func(r *common.SignaturePolicy, used []bool) (bool, error)
	eval = func(r *common.SignaturePolicy, used []bool) (bool, error) {
		switch t := r.GetType().(type) {
		case *common.SignaturePolicy_SignedBy:
			if t.SignedBy < 0 || int(t.SignedBy) >= len(env.Identities) {
				return false, fmt.Errorf("signature policy: SignedBy %d of %d identities", t.SignedBy, len(env.Identities))
			}
			p := env.Identities[t.SignedBy]
			for i := range s.count() {
				if !used[i] && s.satisfies(i, p) {
					used[i] = true
					return true, nil
				}
			}
			return false, nil
		case *common.SignaturePolicy_NOutOf_:
			n := int32(0)
			tmp := make([]bool, len(used))
			for _, sub := range t.NOutOf.Rules {
				copy(tmp, used)
				ok, err := eval(sub, tmp)
				if err != nil {
					return false, err
				}
				if ok {
					n++
					copy(used, tmp)
				}
			}
			return n >= t.NOutOf.N, nil
		}
		return false, errors.New("signature policy: a rule of no type")
	}
	if env.Rule == nil {
		return false, errors.New("signature policy: no rule")
	}
	return eval(env.Rule, make([]bool, s.count()))
}

// signaturePolicyString writes env as Fabric's policy language does
// (AND, OR, OutOf over 'MSP.role').
func signaturePolicyString(env *common.SignaturePolicyEnvelope) string {
	var str func(r *common.SignaturePolicy) string
	str = func(r *common.SignaturePolicy) string {
		switch t := r.GetType().(type) {
		case *common.SignaturePolicy_SignedBy:
			if t.SignedBy < 0 || int(t.SignedBy) >= len(env.Identities) {
				return "?"
			}
			p := env.Identities[t.SignedBy]
			var role msp.MSPRole
			if p.PrincipalClassification == msp.MSPPrincipal_ROLE && proto.Unmarshal(p.Principal, &role) == nil {
				return fmt.Sprintf("'%s.%s'", role.MspIdentifier, strings.ToLower(role.Role.String()))
			}
			if p.PrincipalClassification == msp.MSPPrincipal_IDENTITY {
				return identityText(p.Principal)
			}
			return p.PrincipalClassification.String()
		case *common.SignaturePolicy_NOutOf_:
			var subs []string
			for _, sub := range t.NOutOf.Rules {
				subs = append(subs, str(sub))
			}
			switch int(t.NOutOf.N) {
			case len(subs):
				return "AND(" + strings.Join(subs, ", ") + ")"
			case 1:
				return "OR(" + strings.Join(subs, ", ") + ")"
			}
			return fmt.Sprintf("OutOf(%d, %s)", t.NOutOf.N, strings.Join(subs, ", "))
		}
		return "?"
	}
	if env.Rule == nil {
		return "?"
	}
	return str(env.Rule)
}

// identityText is an identity principal (a BFT consenter's, of the
// BlockValidation policy configtxgen writes) as text: its MSP and its
// certificate's subject common name, "'OrdererMSP:orderer.example.com'";
// IDENTITY if it cannot be read.
func identityText(principal []byte) string {
	var id msp.SerializedIdentity
	if proto.Unmarshal(principal, &id) != nil {
		return msp.MSPPrincipal_IDENTITY.String()
	}
	blk, _ := pem.Decode(id.IdBytes)
	if blk == nil {
		return msp.MSPPrincipal_IDENTITY.String()
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return msp.MSPPrincipal_IDENTITY.String()
	}
	return fmt.Sprintf("'%s:%s'", id.Mspid, c.Subject.CommonName)
}

// evalApplication evaluates a chaincode's endorsement policy (an
// ApplicationPolicy: a signature policy, or a reference to a policy of the
// channel configuration) over s. It returns the policy as text for a
// report.
func evalApplication(cfg *common.Config, ap *peer.ApplicationPolicy, s identities) (bool, string, error) {
	switch t := ap.GetType().(type) {
	case *peer.ApplicationPolicy_SignaturePolicy:
		ok, err := evalSignature(t.SignaturePolicy, s)
		return ok, policyText(ap), err
	case *peer.ApplicationPolicy_ChannelConfigPolicyReference:
		ok, err := evalReference(cfg, t.ChannelConfigPolicyReference, s)
		return ok, policyText(ap), err
	}
	return false, "", errors.New("application policy of no type")
}

// evalReference evaluates the channel configuration's policy at path (as
// "/Channel/Application/Endorsement") over s.
func evalReference(cfg *common.Config, path string, s identities) (bool, error) {
	g, name, err := resolveReference(cfg, path)
	if err != nil {
		return false, err
	}
	return evalConfigPolicy(g, g.Policies[name].Policy, s)
}

// resolveReference finds the configuration policy at path (as
// "/Channel/Application/Endorsement"): the group that holds it and its
// name there.
func resolveReference(cfg *common.Config, path string) (*common.ConfigGroup, string, error) {
	if cfg == nil || cfg.ChannelGroup == nil {
		return nil, "", errors.New("no channel configuration")
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "Channel" {
		return nil, "", fmt.Errorf("policy reference %q: not a path under /Channel", path)
	}
	g := cfg.ChannelGroup
	for _, name := range parts[1 : len(parts)-1] {
		if g = g.Groups[name]; g == nil {
			return nil, "", fmt.Errorf("policy reference %q: no group %s", path, name)
		}
	}
	name := parts[len(parts)-1]
	if cp := g.Policies[name]; cp == nil || cp.Policy == nil {
		return nil, "", fmt.Errorf("policy reference %q: no such policy", path)
	}
	return g, name, nil
}

// evalConfigPolicy evaluates a policy of the configuration group g: a
// signature policy, or an implicit meta policy over g's subgroups (ANY,
// ALL or MAJORITY of their policies of a name; a subgroup without one
// counts as unsatisfied; with no subgroups it is satisfied, as in
// Fabric).
func evalConfigPolicy(g *common.ConfigGroup, p *common.Policy, s identities) (bool, error) {
	switch common.Policy_PolicyType(p.Type) {
	case common.Policy_SIGNATURE:
		var env common.SignaturePolicyEnvelope
		if err := proto.Unmarshal(p.Value, &env); err != nil {
			return false, fmt.Errorf("signature policy: %w", err)
		}
		return evalSignature(&env, s)
	case common.Policy_IMPLICIT_META:
		var im common.ImplicitMetaPolicy
		if err := proto.Unmarshal(p.Value, &im); err != nil {
			return false, fmt.Errorf("implicit meta policy: %w", err)
		}
		n := len(g.Groups)
		threshold := 0
		switch im.Rule {
		case common.ImplicitMetaPolicy_ANY:
			threshold = 1
		case common.ImplicitMetaPolicy_ALL:
			threshold = n
		case common.ImplicitMetaPolicy_MAJORITY:
			threshold = n/2 + 1
		}
		if n == 0 {
			threshold = 0
		}
		met := 0
		for _, name := range slices.Sorted(maps.Keys(g.Groups)) {
			sub := g.Groups[name]
			cp := sub.Policies[im.SubPolicy]
			if cp == nil || cp.Policy == nil {
				continue
			}
			ok, err := evalConfigPolicy(sub, cp.Policy, s)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", name, im.SubPolicy, err)
			}
			if ok {
				met++
			}
		}
		return met >= threshold, nil
	}
	return false, fmt.Errorf("policy type %d (the audit evaluates signature and implicit meta policies)", p.Type)
}

// definitionWrite returns, for a transaction of the _lifecycle namespace
// that writes the validation info of chaincode (its endorsement policy,
// in the committed definition), the validation info written (nil for a
// delete), with the transaction's endorsements; nil if env is no such
// transaction.
func definitionWrite(env []byte, chaincode string) (*endorsedWrites, error) {
	w, err := chaincodeWrites(env, lifecycleNamespace)
	if err != nil || w == nil {
		return nil, err
	}
	key := "namespaces/fields/" + chaincode + "/ValidationInfo"
	i := slices.IndexFunc(w.writes, func(kv *kvrwset.KVWrite) bool { return kv.Key == key })
	if i < 0 {
		return nil, nil
	}
	w.writes = w.writes[i : i+1]
	return w, nil
}

// definedPolicy reads the endorsement policy of a chaincode definition's
// ValidationInfo write (a lifecycle StateData of a ChaincodeValidationInfo
// whose parameter is an ApplicationPolicy); nil for a delete.
func definedPolicy(kv *kvrwset.KVWrite) (*peer.ApplicationPolicy, error) {
	if kv.IsDelete {
		return nil, nil
	}
	var sd lifecycle.StateData
	if err := proto.Unmarshal(kv.Value, &sd); err != nil {
		return nil, fmt.Errorf("validation info: %w", err)
	}
	var vi lifecycle.ChaincodeValidationInfo
	if err := proto.Unmarshal(sd.GetBytes(), &vi); err != nil {
		return nil, fmt.Errorf("validation info: %w", err)
	}
	if vi.ValidationPlugin != "vscc" {
		return nil, fmt.Errorf("validation plugin %q (the audit evaluates the builtin vscc)", vi.ValidationPlugin)
	}
	var ap peer.ApplicationPolicy
	if err := proto.Unmarshal(vi.ValidationParameter, &ap); err != nil {
		return nil, fmt.Errorf("endorsement policy: %w", err)
	}
	if ap.GetType() == nil {
		return nil, errors.New("endorsement policy of no type")
	}
	return &ap, nil
}

// policyPrincipals lists the principals a policy names, through the
// configuration's policies a reference leads to, for a report.
func policyPrincipals(cfg *common.Config, ap *peer.ApplicationPolicy) []*msp.MSPPrincipal {
	if sp := ap.GetSignaturePolicy(); sp != nil {
		return sp.Identities
	}
	var out []*msp.MSPPrincipal
	var walk func(g *common.ConfigGroup, name string)
	walk = func(g *common.ConfigGroup, name string) {
		cp := g.GetPolicies()[name]
		if cp.GetPolicy() == nil {
			return
		}
		switch common.Policy_PolicyType(cp.Policy.Type) {
		case common.Policy_SIGNATURE:
			var env common.SignaturePolicyEnvelope
			if proto.Unmarshal(cp.Policy.Value, &env) == nil {
				out = append(out, env.Identities...)
			}
		case common.Policy_IMPLICIT_META:
			var im common.ImplicitMetaPolicy
			if proto.Unmarshal(cp.Policy.Value, &im) == nil {
				for _, n := range slices.Sorted(maps.Keys(g.Groups)) {
					walk(g.Groups[n], im.SubPolicy)
				}
			}
		}
	}
	if g, name, err := resolveReference(cfg, ap.GetChannelConfigPolicyReference()); err == nil {
		walk(g, name)
	}
	return out
}

// principalMSP is the organisation a principal names, or "".
func principalMSP(p *msp.MSPPrincipal) string {
	switch p.PrincipalClassification {
	case msp.MSPPrincipal_ROLE:
		var r msp.MSPRole
		if proto.Unmarshal(p.Principal, &r) == nil {
			return r.MspIdentifier
		}
	case msp.MSPPrincipal_ORGANIZATION_UNIT:
		var ou msp.OrganizationUnit
		if proto.Unmarshal(p.Principal, &ou) == nil {
			return ou.MspIdentifier
		}
	case msp.MSPPrincipal_IDENTITY:
		var id msp.SerializedIdentity
		if proto.Unmarshal(p.Principal, &id) == nil {
			return id.Mspid
		}
	}
	return ""
}

// policyText writes an endorsement policy for a report: a signature policy
// in Fabric's policy language, a reference as its path; "none" for nil.
func policyText(ap *peer.ApplicationPolicy) string {
	switch {
	case ap == nil:
		return "none"
	case ap.GetSignaturePolicy() != nil:
		return signaturePolicyString(ap.GetSignaturePolicy())
	}
	return ap.GetChannelConfigPolicyReference()
}
