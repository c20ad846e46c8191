package fabric

import (
	"crypto/rand"
	"maps"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/ledger/service"
)

// The Fabric backend serves the ledger API as the embedded store does.
var _ service.Backend = (*Ledger)(nil)

func TestVerifierKey(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, Origin("space-1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifierKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	if got != vkey {
		t.Fatalf("verifier key %q, want %q", got, vkey)
	}
	for _, bad := range []string{"", vkey, "PRIVATE+KEY+x+y+!!"} {
		if _, err := verifierKey(bad); err == nil {
			t.Errorf("verifierKey(%q): no error", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	p := &Profile{Channel: "audit", Chaincode: "tdsc", Orgs: []Org{{MSPID: "Org1MSP", Peer: "127.0.0.1:1", PeerTLSCA: "ca", UserCert: "c", UserKey: "k"}}}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Profile: p}, true},
		{"no profile", Config{}, false},
		{"org out of range", Config{Profile: p, Org: 1}, false},
		{"negative linger", Config{Profile: p, Linger: -1}, false},
		{"profile without orgs", Config{Profile: &Profile{Channel: "audit", Chaincode: "tdsc"}}, false},
		{"endorsers", Config{Profile: withEndorsers(p, "Org1MSP", "Org2MSP")}, true},
		{"endorser listed twice", Config{Profile: withEndorsers(p, "Org1MSP", "Org1MSP")}, false},
		{"empty endorser", Config{Profile: withEndorsers(p, "")}, false},
		{"two of three endorsers", Config{Profile: needing(withEndorsers(p, "Org1MSP", "Org2MSP", "Org3MSP"), 2)}, true},
		{"three of three endorsers", Config{Profile: needing(withEndorsers(p, "Org1MSP", "Org2MSP", "Org3MSP"), 3)}, true},
		{"more needed than listed", Config{Profile: needing(withEndorsers(p, "Org1MSP", "Org2MSP"), 3)}, false},
		{"needed without endorsers", Config{Profile: needing(p, 1)}, false},
		{"negative needed", Config{Profile: needing(withEndorsers(p, "Org1MSP"), -1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.setDefaults()
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func withEndorsers(p *Profile, e ...string) *Profile {
	c := *p
	c.Endorsers = e
	return &c
}

// needing is p with EndorsersNeeded n (0: every endorser asked).
func needing(p *Profile, n int) *Profile {
	c := *p
	c.EndorsersNeeded = n
	return &c
}

// TestEndorsersFor: of a policy that needs some of the endorsers, a
// transaction asks its gateway's organisation and the others in turn, so
// over len(others) transactions each other endorses its share; zero or all
// needed asks every endorser.
func TestEndorsersFor(t *testing.T) {
	three := []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	tests := []struct {
		name string
		need int
		own  string
		want [][]string // transactions 0, 1, 2, ...
	}{
		{"all", 0, "Org2MSP", [][]string{three, three}},
		{"three of three", 3, "Org1MSP", [][]string{three}},
		{"two of three, own first", 2, "Org2MSP", [][]string{{"Org2MSP", "Org1MSP"}, {"Org2MSP", "Org3MSP"}, {"Org2MSP", "Org1MSP"}}},
		{"one of three", 1, "Org3MSP", [][]string{{"Org3MSP"}, {"Org3MSP"}}},
		{"own not an endorser", 2, "Org9MSP", [][]string{{"Org1MSP", "Org2MSP"}, {"Org2MSP", "Org3MSP"}, {"Org3MSP", "Org1MSP"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Profile{Endorsers: three, EndorsersNeeded: tt.need}
			for turn, want := range tt.want {
				if got := p.endorsersFor(tt.own, uint64(turn), p.EndorsersAsked(), nil); !slices.Equal(got, want) {
					t.Errorf("transaction %d: got %v, want %v", turn, got, want)
				}
			}
			if !slices.Equal(p.Endorsers, three) {
				t.Fatalf("endorsing changed the profile's list: %v", p.Endorsers)
			}
		})
	}
	// Four organisations, three needed: the two others of each transaction
	// go round the three others.
	p := &Profile{Endorsers: []string{"A", "B", "C", "D"}, EndorsersNeeded: 3}
	counts := map[string]int{}
	for turn := range uint64(30) {
		for _, o := range p.endorsersFor("B", turn, p.EndorsersAsked(), nil) {
			counts[o]++
		}
	}
	if want := map[string]int{"A": 20, "B": 30, "C": 20, "D": 20}; !maps.Equal(counts, want) {
		t.Fatalf("endorsements over 30 transactions: got %v, want %v", counts, want)
	}

	// An organisation away is left out while enough others are not; with
	// too many away they are asked all the same (the endorsement fails as
	// unavailable and is retried).
	awayC := func(msp string) bool { return msp == "C" }
	for turn := range uint64(6) {
		if got := p.endorsersFor("B", turn, p.EndorsersAsked(), awayC); len(got) != 3 || slices.Contains(got, "C") || got[0] != "B" {
			t.Fatalf("transaction %d with C away: got %v, want B and the two others but C", turn, got)
		}
	}
	awayCD := func(msp string) bool { return msp == "C" || msp == "D" }
	if got := p.endorsersFor("B", 0, p.EndorsersAsked(), awayCD); len(got) != 3 || got[0] != "B" {
		t.Fatalf("C and D away, three needed: got %v, want three organisations asked", got)
	}
	// A profile asking one, the chaincode's policy needing two: the ledger
	// asks two (need above the profile's EndorsersNeeded), own first.
	one := &Profile{Endorsers: []string{"Org1MSP", "Org2MSP", "Org3MSP"}, EndorsersNeeded: 1}
	if got := one.endorsersFor("Org2MSP", 1, 2, nil); !slices.Equal(got, []string{"Org2MSP", "Org3MSP"}) {
		t.Fatalf("one asked by the profile, two needed: got %v, want [Org2MSP Org3MSP]", got)
	}
	three = []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	q := &Profile{Endorsers: three, EndorsersNeeded: 2}
	away3 := func(msp string) bool { return msp == "Org3MSP" }
	for turn := range uint64(4) {
		if got := q.endorsersFor("Org1MSP", turn, q.EndorsersAsked(), away3); !slices.Equal(got, []string{"Org1MSP", "Org2MSP"}) {
			t.Fatalf("transaction %d with Org3 away: got %v, want [Org1MSP Org2MSP]", turn, got)
		}
	}
	// The gateway's own organisation away (its chaincode service down):
	// the two others; with another away too, asked all the same.
	away1 := func(msp string) bool { return msp == "Org1MSP" }
	for turn := range uint64(4) {
		if got := q.endorsersFor("Org1MSP", turn, q.EndorsersAsked(), away1); len(got) != 2 || slices.Contains(got, "Org1MSP") {
			t.Fatalf("transaction %d with the own Org1 away: got %v, want [Org2MSP Org3MSP] in some order", turn, got)
		}
	}
	away13 := func(msp string) bool { return msp == "Org1MSP" || msp == "Org3MSP" }
	if got := q.endorsersFor("Org1MSP", 1, q.EndorsersAsked(), away13); len(got) != 2 || got[0] != "Org1MSP" {
		t.Fatalf("Org1 and Org3 away, two needed: got %v, want Org1MSP and one other", got)
	}
	if got := q.endorsersFor("Org1MSP", 1, q.EndorsersAsked(), func(string) bool { return true }); !slices.Equal(got, []string{"Org1MSP", "Org3MSP"}) {
		t.Fatalf("every other away: got %v, want the turn's choice [Org1MSP Org3MSP]", got)
	}
}
