package authority

import (
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/suite"
)

// A gm space: the authority key is SM2, the genesis says gm and reopens;
// an Ed25519 participant key is refused naming rule suite.key.
func TestInitGMSuite(t *testing.T) {
	dir := t.TempDir()
	a, err := Init(dir, InitOptions{Space: "space-gm", Suite: "gm"})
	if err != nil {
		t.Fatal(err)
	}
	g := a.Genesis()
	if g.Suite != "gm" || g.Authority.Keys[0].Crv != "SM2" || g.Authority.Keys[0].Alg != suite.AlgSM2 {
		t.Fatalf("genesis %+v", g)
	}
	b, err := Open(dir)
	if err != nil || b.Genesis().CryptoSuite() != suite.GM {
		t.Fatalf("reopen: %v", err)
	}
	ed, _ := identity.GenerateEd25519()
	reg := Registration{ID: "p1", Name: "P1", Key: ed.JWK(), Region: "CN-BJ", Industry: "finance", OrgType: "enterprise"}
	if _, err := a.Register(reg); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), suite.RuleKey) {
		t.Fatalf("Ed25519 key in a gm space: %v", err)
	}
	sm, _ := identity.GenerateSM2()
	reg.Key = sm.JWK()
	rec, err := a.Register(reg)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := a.Batch(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := batch.CheckRoot(suite.GM); err != nil {
		t.Fatalf("authority batch not an SM3 tree: %v", err)
	}
	if err := batch.VerifySignature(g.Authority.Keys[0]); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []InitOptions{{Space: "s", Suite: "gm", Alg: "EdDSA"}, {Space: "s", Suite: "intl", Alg: suite.AlgSM2}, {Space: "s", Suite: "sm"}} {
		if _, err := Init(t.TempDir(), bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Init(%+v): %v", bad, err)
		}
	}
}
