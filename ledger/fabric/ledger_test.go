package fabric

import (
	"crypto/rand"
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
