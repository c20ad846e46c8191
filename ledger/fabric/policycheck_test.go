package fabric

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// TestEndorsersNeeded: the profile's endorsers are checked against the
// chaincode's endorsement policy — every set of as many as a transaction
// asks must satisfy it —: a transaction asks the profile's number, or more
// while sets of that many fall short; a profile whose endorsers all
// together fall short is named by its field, with the endorsers and the
// policy.
func TestEndorsersNeeded(t *testing.T) {
	three := []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	peerOf := func(o string) *msp.MSPPrincipal { return roleOf(t, o, msp.MSPRole_PEER) }
	signedBy := func(i int32) *common.SignaturePolicy {
		return &common.SignaturePolicy{Type: &common.SignaturePolicy_SignedBy{SignedBy: i}}
	}
	// AND('Org1MSP.peer', OR('Org2MSP.peer', 'Org3MSP.peer'))
	org1AndAnother := &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_SignaturePolicy{SignaturePolicy: &common.SignaturePolicyEnvelope{
		Rule: &common.SignaturePolicy{Type: &common.SignaturePolicy_NOutOf_{NOutOf: &common.SignaturePolicy_NOutOf{N: 2, Rules: []*common.SignaturePolicy{
			signedBy(0), {Type: &common.SignaturePolicy_NOutOf_{NOutOf: &common.SignaturePolicy_NOutOf{N: 1, Rules: []*common.SignaturePolicy{signedBy(1), signedBy(2)}}}}}}}},
		Identities: []*msp.MSPPrincipal{peerOf("Org1MSP"), peerOf("Org2MSP"), peerOf("Org3MSP")},
	}}}
	// The channel's /Channel/Application/Endorsement: a MAJORITY of the
	// organisations' Endorsement policies, each OR('OrgN.peer').
	msps := map[string]*msp.FabricMSPConfig{}
	for _, o := range three {
		msps[o] = &msp.FabricMSPConfig{Name: o}
	}
	cfg, err := blockConfig(withConfig(t, configBlockMSPs(t, msps), func(c *common.Config) {
		app := c.ChannelGroup.Groups["Application"]
		app.Policies = map[string]*common.ConfigPolicy{"Endorsement": implicitMeta(t, "Endorsement", common.ImplicitMetaPolicy_MAJORITY)}
		for name, g := range app.Groups {
			g.Policies = map[string]*common.ConfigPolicy{"Endorsement": signaturePolicy(t, outOf(1, peerOf(name+"MSP")).GetSignaturePolicy())}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	majority := &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Endorsement"}}
	outOf2 := outOf(2, peerOf("Org1MSP"), peerOf("Org2MSP"), peerOf("Org3MSP"))

	for _, c := range []struct {
		name      string
		endorsers []string
		needed    int // the profile's EndorsersNeeded
		policy    *peer.ApplicationPolicy
		asked     int    // how many a transaction asks
		want      string // "" passes; "cannot" cannot be judged; else in the error
	}{
		{"two of three, OutOf(2)", three, 2, outOf2, 2, ""},
		{"all of three, OutOf(2)", three, 0, outOf2, 3, ""},
		{"one of three, OutOf(2): two asked", three, 1, outOf2, 2, ""},
		{"two of three under AND: three asked", three, 2, andOf(msp.MSPRole_PEER, three...), 3, ""},
		{"one of three under AND: three asked", three, 1, andOf(msp.MSPRole_PEER, three...), 3, ""},
		{"two listed under AND of three", three[:2], 0, andOf(msp.MSPRole_PEER, three...), 0,
			"fabric: profile: field endorsers: the peers of Org1MSP, Org2MSP, every endorser listed, do not satisfy chaincode cc's endorsement policy AND("},
		{"one of two listed under AND of three", three[:2], 1, andOf(msp.MSPRole_PEER, three...), 0, "field endorsers: the peers of Org1MSP, Org2MSP, every endorser listed"},
		{"members satisfied by peers", three[:2], 0, andOf(msp.MSPRole_MEMBER, three[:2]...), 2, ""},
		{"two of three, Org1 and another: three asked", three, 2, org1AndAnother, 3, ""},
		{"Org1 and another, Org1 not listed", three[1:], 1, org1AndAnother, 0, "field endorsers: the peers of Org2MSP, Org3MSP, every endorser listed"},
		{"a majority by reference, two asked", three, 2, majority, 2, ""},
		{"a majority by reference, one in the profile: two asked", three, 1, majority, 2, ""},
		{"an admin named", three, 2, outOf(2, roleOf(t, "Org1MSP", msp.MSPRole_ADMIN), peerOf("Org2MSP")), 0, "cannot"},
		{"a reference to no policy", three, 2, &peer.ApplicationPolicy{Type: &peer.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Nothing"}}, 0, "cannot"},
		{"no endorsers: the gateway chooses", nil, 0, andOf(msp.MSPRole_PEER, three...), 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Profile{Endorsers: c.endorsers, EndorsersNeeded: c.needed}
			asked, err := endorsersNeeded(p, "cc", cfg, c.policy)
			switch {
			case c.want == "":
				if err != nil || asked != c.asked {
					t.Fatalf("got %d asked, %v; want %d asked", asked, err, c.asked)
				}
			case c.want == "cannot":
				if !errors.Is(err, errCannotCheck) {
					t.Fatalf("got %v, want errCannotCheck", err)
				}
			default:
				if !errors.Is(err, ErrEndorsersShort) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v, want ErrEndorsersShort with %q", err, c.want)
				}
			}
		})
	}
}

// TestLeastNeeded: the fewest endorsers any set of which meets a policy.
func TestLeastNeeded(t *testing.T) {
	three := []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	peerOf := func(o string) *msp.MSPPrincipal { return roleOf(t, o, msp.MSPRole_PEER) }
	for _, c := range []struct {
		policy *peer.ApplicationPolicy
		want   int
	}{
		{outOf(1, peerOf("Org1MSP"), peerOf("Org2MSP"), peerOf("Org3MSP")), 1},
		{outOf(2, peerOf("Org1MSP"), peerOf("Org2MSP"), peerOf("Org3MSP")), 2},
		{andOf(msp.MSPRole_PEER, three...), 3},
		{andOf(msp.MSPRole_PEER, "Org1MSP", "Org4MSP"), 0}, // not even all of them
	} {
		if got := leastNeeded(three, nil, c.policy); got != c.want {
			t.Errorf("%s: got %d, want %d", policyText(c.policy), got, c.want)
		}
	}
}

// TestEachSubset: every subset of k, in order, each once; stopping early
// stops.
func TestEachSubset(t *testing.T) {
	var got []string
	eachSubset([]string{"A", "B", "C", "D"}, 2, func(s []string) bool { got = append(got, strings.Join(s, "")); return true })
	if fmt.Sprint(got) != "[AB AC AD BC BD CD]" {
		t.Fatalf("subsets of 2 of ABCD: %v", got)
	}
	n := 0
	eachSubset([]string{"A", "B", "C"}, 3, func([]string) bool { n++; return true })
	eachSubset([]string{"A", "B", "C"}, 1, func([]string) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("subsets of 3 of ABC, then of 1 until the second: %d calls, want 3", n)
	}
}

// TestFailureLog: a failure that repeats is logged first, then once an
// interval with the failures since; a new streak (reset) is logged at once.
func TestFailureLog(t *testing.T) {
	var f failureLog
	t0 := time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration
		n    int
		logs bool
	}
	for i, s := range []step{{0, 1, true}, {time.Second, 0, false}, {5 * time.Second, 0, false}, {10 * time.Second, 3, true}, {11 * time.Second, 0, false}, {25 * time.Second, 2, true}} {
		n, logs := f.failed(t0.Add(s.at), 10*time.Second)
		if n != s.n || logs != s.logs {
			t.Fatalf("step %d (%v): got %d, %v; want %d, %v", i, s.at, n, logs, s.n, s.logs)
		}
	}
	f = failureLog{}
	if n, logs := f.failed(t0.Add(26*time.Second), 10*time.Second); n != 1 || !logs {
		t.Fatalf("a new streak: got %d, %v; want 1, true", n, logs)
	}
}
