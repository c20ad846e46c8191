package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// TestLastUseOnce: a client of every organisation of the network (two or
// more), each through its own organisation's gateway, race for an
// agreement's last use. Exactly one transfer commits; the others are
// refused by the rulebook (at endorsement, or after a read conflict at
// commit and a resubmission).
func TestLastUseOnce(t *testing.T) {
	p := twoOrgs(t)
	ctx := context.Background()
	s, l1 := registered(t, p)
	ag, err := s.Agreement("p1", "p2", "ds-1", "ag-1", &ledger.Terms{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Append(ctx, mustBatch(t, s, "p1", s.Dataset("p1", "ds-1", policy.General, "traffic"), ag)); err != nil {
		t.Fatal(err)
	}
	ls := []*Ledger{l1}
	var batches []*ledger.Batch
	for org := range p.Orgs {
		if org > 0 {
			l, err := Open(ctx, Config{Profile: p, Org: org, Chaincode: l1.Chaincode()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close(ctx)
			ls = append(ls, l)
		}
		batches = append(batches, mustBatch(t, s, "p1", s.Transfer("p1", "p2", "ag-1", "ds-1", fmt.Sprintf("t-%d", org))))
	}
	errs := make([]error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = l.Append(ctx, batches[i])
		}()
	}
	wg.Wait()
	var ok, refused int
	for _, err := range errs {
		var re *ledger.RuleError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re) && re.Rule == rulebook.RuleMaxUses:
			refused++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 || refused != len(ls)-1 {
		t.Fatalf("%d organisations racing: %d transfers committed, %d refused by %s; want one committed (errors %v)", len(ls), ok, refused, rulebook.RuleMaxUses, errs)
	}
}
