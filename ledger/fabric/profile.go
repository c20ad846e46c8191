package fabric

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
)

// Profile says how to reach a Fabric network: scripts/fabric.sh writes one
// to .cache/fabric/net/profile.json.
type Profile struct {
	Channel   string `json:"channel"`
	Chaincode string `json:"chaincode"`
	Orderer   struct {
		Address string `json:"address"`
		TLSCA   string `json:"tlsCA"`
	} `json:"orderer"`
	Orgs []Org `json:"orgs"`
	// Endorsers, if set, are the MSP IDs of the organisations whose peers
	// endorse every Append, asked all at once. Without it the gateway asks
	// its own peer first and the others only after that answer (it learns
	// from the answer whom else to ask), which doubles the time of an
	// endorsement. The list must meet the chaincode's endorsement policy
	// (scripts/fabric.sh writes the organisations its policy names):
	// Ledger.CheckEndorsers refuses one that falls short (ErrEndorsersShort),
	// as Init does; a transaction endorsed by too few is marked invalid at
	// commit (ENDORSEMENT_POLICY_FAILURE).
	Endorsers []string `json:"endorsers,omitempty"`
	// EndorsersNeeded, if set, is how many of Endorsers every Append asks
	// at least, for a policy that needs some of them (OutOf(2, ...) of
	// three, a MAJORITY): the gateway's own organisation if listed, then
	// the others in turn, transaction by transaction, so that each peer
	// endorses its share and a transaction costs that many endorsements,
	// not one per organisation. Zero asks them all. The ledger asks more
	// while the chaincode's endorsement policy, as its definition on the
	// channel says now, needs more of them (Ledger.CheckEndorsers, and
	// again after every new definition of the chaincode), and logs it. An
	// organisation left out of a transaction does not apply its local
	// policy to it: under such a policy it can be outvoted.
	EndorsersNeeded int `json:"endorsersNeeded,omitempty"`
	// OrdererOperations, if set, maps an orderer's address (as the
	// channel's configuration names it) to its operations endpoint
	// ("http://host:port"): of a BFT channel, `tdsc fabric orderers` reads
	// each one's SmartBFT view there and says which are level
	// (ReadBFTViews). scripts/fabric.sh writes it.
	OrdererOperations map[string]string `json:"ordererOperations,omitempty"`
	// Deploy is the script that defines more chaincodes (one per space),
	// and Dir the network directory it manages (scripts/fabric.sh).
	Deploy string `json:"deploy,omitempty"`
	Dir    string `json:"dir,omitempty"`
}

// Script runs the profile's network script (scripts/fabric.sh) with args,
// on the profile's network directory.
func (p *Profile) Script(ctx context.Context, args ...string) error {
	if p.Deploy == "" {
		return fmt.Errorf("fabric: the profile names no network script (field deploy)")
	}
	cmd := exec.CommandContext(ctx, p.Deploy, args...)
	if p.Dir != "" {
		cmd.Env = append(os.Environ(), "TDSC_FABRIC_DIR="+p.Dir)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("fabric: %s %v: %v\n%s", p.Deploy, args, err, out)
	}
	return nil
}

// Org is one organisation: its peer and the files of its client identities.
type Org struct {
	MSPID       string `json:"mspId"`
	Peer        string `json:"peer"`
	PeerTLSCA   string `json:"peerTLSCA"`
	UserCert    string `json:"userCert"`
	UserKey     string `json:"userKey"`
	AdminCert   string `json:"adminCert"`
	AdminKey    string `json:"adminKey"`
	LocalPolicy string `json:"localPolicy,omitempty"`
}

// LoadProfile reads a profile file.
func LoadProfile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fabric: profile: %w", err)
	}
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("fabric: profile %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("fabric: profile %s: %w", path, err)
	}
	return &p, nil
}

// Validate checks the profile names a channel, a chaincode and a complete org.
func (p *Profile) Validate() error {
	switch {
	case p.Channel == "":
		return fmt.Errorf("field channel: must not be empty")
	case p.Chaincode == "":
		return fmt.Errorf("field chaincode: must not be empty")
	case len(p.Orgs) == 0:
		return fmt.Errorf("field orgs: needs at least one organisation")
	}
	for i, o := range p.Orgs {
		for _, f := range []struct{ name, v string }{{"mspId", o.MSPID}, {"peer", o.Peer}, {"peerTLSCA", o.PeerTLSCA}, {"userCert", o.UserCert}, {"userKey", o.UserKey}} {
			if f.v == "" {
				return fmt.Errorf("field orgs[%d].%s: must not be empty", i, f.name)
			}
		}
	}
	for i, e := range p.Endorsers {
		if e == "" {
			return fmt.Errorf("field endorsers[%d]: must not be empty", i)
		}
		if slices.Contains(p.Endorsers[:i], e) {
			return fmt.Errorf("field endorsers[%d]: %s is listed twice", i, e)
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(p.OrdererOperations)) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("field ordererOperations: key %q must be an orderer's host:port: %v", addr, err)
		}
		u, err := url.Parse(p.OrdererOperations[addr])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return fmt.Errorf("field ordererOperations[%q]: %q must be an operations endpoint's base URL, http(s)://host:port", addr, p.OrdererOperations[addr])
		}
	}
	if n := p.EndorsersNeeded; n < 0 || n > len(p.Endorsers) || (n > 0 && len(p.Endorsers) == 0) {
		return fmt.Errorf("field endorsersNeeded: from 1 to the %d endorsers listed (0 asks them all), got %d", len(p.Endorsers), n)
	}
	return nil
}

// EndorsersAsked is how many organisations each transaction asks to endorse
// it at least: EndorsersNeeded, or every endorser listed (0: none listed,
// the gateway finds them). The ledger may ask more (Ledger.endorsersAsked).
func (p *Profile) EndorsersAsked() int {
	if n := p.EndorsersNeeded; n > 0 && n < len(p.Endorsers) {
		return n
	}
	return len(p.Endorsers)
}

// endorsersFor returns the organisations transaction turn asks to endorse
// it: every endorser, or need of them — own first if it is one, then the
// others from turn on, round the list, leaving out those away says are
// away (own among them) while enough others are not (away may be nil).
func (p *Profile) endorsersFor(own string, turn uint64, need int, away func(msp string) bool) []string {
	if need <= 0 || need >= len(p.Endorsers) {
		return p.Endorsers
	}
	asksOwn := slices.Contains(p.Endorsers, own)
	others := slices.DeleteFunc(slices.Clone(p.Endorsers), func(e string) bool { return e == own })
	if away != nil {
		ownHere := asksOwn && !away(own)
		here := slices.DeleteFunc(slices.Clone(others), away)
		n := len(here)
		if ownHere {
			n++
		}
		if n >= need {
			asksOwn, others = ownHere, here
		}
	}
	orgs := make([]string, 0, need)
	if asksOwn {
		orgs = append(orgs, own)
	}
	for i := uint64(0); len(orgs) < need; i++ {
		orgs = append(orgs, others[(turn+i)%uint64(len(others))])
	}
	return orgs
}

// org returns the organisation of MSP ID msp, if the profile lists it.
func (p *Profile) org(msp string) (Org, bool) {
	for _, o := range p.Orgs {
		if o.MSPID == msp {
			return o, true
		}
	}
	return Org{}, false
}
