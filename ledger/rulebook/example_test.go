package rulebook_test

import (
	"errors"
	"fmt"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
)

// ExampleApply runs records through the rulebook over an in-memory state, as
// a backend does for each record of a batch: a completion with no
// authorisation is refused and the refusal names its rule.
func ExampleApply() {
	space, _ := ledgertest.NewSpace()
	state := rulebook.NewMem(space.Genesis)

	reg, _ := space.Participant("p1", "CN-BJ")
	changes, err := rulebook.Apply(state, space.Genesis, space.Authority(), &reg)
	fmt.Println("registered:", err == nil)
	state.Put(changes...) // a backend writes the changes only when the whole batch passes

	done := space.Completed("p1", "t-unknown", 1024)
	_, err = rulebook.Apply(state, space.Genesis, "p1", &done)
	var re *ledger.RuleError
	if errors.As(err, &re) {
		fmt.Println("refused by", re.Rule, "on field", re.Field)
	}
	// Output:
	// registered: true
	// refused by transfer.completion-needs-authorization on field transfer
}
