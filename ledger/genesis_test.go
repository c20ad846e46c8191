package ledger_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/suite"
)

func TestGenesisSuite(t *testing.T) {
	ed, _ := identity.GenerateEd25519()
	sm, _ := identity.GenerateSM2()
	g := func(name string, k *identity.Key) ledger.Genesis {
		return ledger.Genesis{Space: "s", Suite: name, Authority: identity.Participant{ID: "a", Keys: []identity.JWK{k.JWK()}}}
	}
	for _, ok := range []ledger.Genesis{g("", ed), g("intl", ed), g("gm", sm)} {
		if err := ok.CheckSuite(); err != nil {
			t.Errorf("%s: %v", ok.Suite, err)
		}
	}
	err := g("gm", ed).CheckSuite()
	var re *ledger.RuleError
	if !errors.As(err, &re) || re.Rule != suite.RuleKey || re.Field != "authority.keys[0]" {
		t.Fatalf("Ed25519 authority in a gm genesis: %v", err)
	}
	if strings.Count(err.Error(), suite.RuleKey) != 1 {
		t.Fatalf("rule named more than once: %v", err)
	}
	if err := g("", sm).CheckSuite(); err == nil {
		t.Fatal("SM2 authority in an intl genesis accepted")
	}
	var me *ledger.MalformedError
	if err := g("sm", sm).CheckSuite(); !errors.As(err, &me) || me.Field != "suite" {
		t.Fatalf("unknown suite: %v", err)
	}
	if g("gm", sm).CryptoSuite() != suite.GM || g("", ed).CryptoSuite() != suite.Intl {
		t.Fatal("CryptoSuite")
	}
}
