package chaincode

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tdsc/tdsc/ledger"
)

// RuleLocalPolicy names a refusal by one endorser's local policy.
const RuleLocalPolicy = "endorser.local-policy"

// LocalPolicy is what one organisation's endorser refuses on top of the
// space's rulebook, e.g. its own negative list. With an endorsement policy
// that needs every organisation, a batch commits only if every endorser's
// rulebook and local policy accept it.
type LocalPolicy struct {
	// RefuseCategories are record categories this endorser does not endorse.
	RefuseCategories []string `json:"refuseCategories,omitempty"`
}

func (p *LocalPolicy) check(b *ledger.Batch) error {
	if p == nil {
		return nil
	}
	for i := range b.Records {
		r := &b.Records[i]
		if r.Category != "" && slices.Contains(p.RefuseCategories, r.Category) {
			return &ledger.RuleError{Rule: RuleLocalPolicy, Field: "category", RecordID: r.ID,
				Reason: fmt.Sprintf("this endorser's organisation does not endorse records of category %q", r.Category)}
		}
	}
	return nil
}

// LocalPolicyFile returns a Contract.Local that reads path, rereading it when
// it changes; a missing file is no local policy.
func LocalPolicyFile(path string) func() (*LocalPolicy, error) {
	var mu sync.Mutex
	var mod time.Time
	var cur *LocalPolicy
	return func() (*LocalPolicy, error) {
		mu.Lock()
		defer mu.Unlock()
		fi, err := os.Stat(path)
		if os.IsNotExist(err) {
			cur, mod = nil, time.Time{}
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if fi.ModTime().Equal(mod) && cur != nil {
			return cur, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var p LocalPolicy
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("chaincode: local policy %s: %w", path, err)
		}
		cur, mod = &p, fi.ModTime()
		return cur, nil
	}
}
