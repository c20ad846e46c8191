package ledger

import (
	"fmt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/suite"
)

// Genesis fixes a space at creation: its id, the authority whose key is
// pinned for participant.* and rules.updated records, and the crypto suite
// every signature and hash of the space follows ("intl", the default when
// empty, or "gm": package suite). `tdsc authority init` writes it; every
// ledger backend is created from it and refuses a different one.
type Genesis struct {
	Space     string               `json:"space"`
	Authority identity.Participant `json:"authority"`
	Created   string               `json:"created"`
	Suite     string               `json:"suite,omitempty"`
}

// CryptoSuite is the space's suite. The genesis must have passed
// CheckSuite (every backend checks it when it opens); an unknown name is
// Intl's caller's bug and panics.
func (g Genesis) CryptoSuite() *suite.Suite { return suite.Must(g.Suite) }

// CheckSuite refuses a genesis whose suite is unknown or whose authority keys
// are of another suite, naming the field and the rule (suite.key).
func (g Genesis) CheckSuite() error {
	s, err := suite.Lookup(g.Suite)
	if err != nil {
		return &MalformedError{Rule: RuleFormat, Field: "suite", Reason: err.Error()}
	}
	for i, k := range g.Authority.Keys {
		if err := s.CheckAlg(k.Algorithm(), true); err != nil {
			return &RuleError{Rule: suite.RuleKey, Field: fmt.Sprintf("authority.keys[%d]", i), Reason: suite.Reason(err)}
		}
	}
	return nil
}
