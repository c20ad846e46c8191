package rulebook_test

import (
	"reflect"
	"testing"

	"github.com/tdsc/tdsc/ledger/rulebook"
)

// TestMemContents rebuilds a state from its Contents and expects the same
// answers and the same contents, in a stable order.
func TestMemContents(t *testing.T) {
	s, m := world(t)
	contents := m.Contents()
	kinds := map[string]int{}
	for _, c := range contents {
		switch {
		case c.Participant != nil:
			kinds["participant"]++
		case c.Rules != nil:
			kinds["rules"]++
		case c.Dataset != nil:
			kinds["dataset"]++
		case c.Agreement != nil:
			kinds["agreement"]++
		case c.Transfer != nil:
			kinds["transfer"]++
		case c.Objection != nil:
			kinds["objection"]++
		case c.Key != nil:
			kinds["key"]++
		case c.Seen != "":
			kinds["seen"]++
		}
	}
	// world: the authority and six participants (one key each, the
	// authority's genesis key not indexed), rules, four datasets, two
	// agreements, a transfer, an objection; 16 records (a suspension too).
	want := map[string]int{"participant": 7, "rules": 1, "dataset": 4, "agreement": 2, "transfer": 1, "objection": 1, "key": 6, "seen": 16}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("contents by kind %v, want %v", kinds, want)
	}
	n := rulebook.NewMem(s.Genesis)
	n.Put(contents...)
	if got := n.Contents(); !reflect.DeepEqual(got, contents) {
		t.Fatalf("rebuilt state's contents differ:\n%+v\nwant\n%+v", got, contents)
	}
	for _, c := range contents {
		if c.Seen != "" {
			if ok, _ := n.Seen(c.Seen); !ok {
				t.Fatalf("rebuilt state has not seen %s", c.Seen)
			}
		}
		if c.Key != nil {
			if h, _ := n.KeyHolder(c.Key.Thumbprint); h != c.Key.Participant || h == "" {
				t.Fatalf("rebuilt key index: %s held by %q, want %q", c.Key.Thumbprint, h, c.Key.Participant)
			}
		}
	}
}
