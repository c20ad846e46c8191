package fabric

import (
	"slices"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
)

func reqOf(records int) *request {
	return &request{b: &ledger.Batch{Records: make([]ledger.Record, records)}}
}

func sizes(group []*request) []int {
	var out []int
	for _, r := range group {
		out = append(out, len(r.b.Records))
	}
	return out
}

func TestGather(t *testing.T) {
	const long = time.Hour // a test that waits for it fails by its timeout
	for _, tc := range []struct {
		name   string
		first  int
		queued []int
		max    int
		linger time.Duration
		group  []int
		carry  int // records of the carried batch, 0 for none
	}{
		{"full for its smallest batch: goes at once, the next stays queued", 500, []int{500, 500}, 1024, long, []int{500, 500}, 0},
		{"room for a batch of its smallest: waits, carries one that does not fit", 500, []int{100, 500}, 1024, long, []int{500, 100}, 500},
		{"exactly the limit, nothing carried", 500, []int{524}, 1024, long, []int{500, 524}, 0},
		{"a first batch at the limit goes alone", 1024, []int{1}, 1024, long, []int{1024}, 0},
		{"a first batch past the limit goes alone", 2000, []int{1}, 1024, long, []int{2000}, 0},
		{"what queued within the linger", 10, []int{20, 30}, 1024, 50 * time.Millisecond, []int{10, 20, 30}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs := make(chan *request, len(tc.queued))
			for _, n := range tc.queued {
				reqs <- reqOf(n)
			}
			group, carry := gather(reqOf(tc.first), reqs, tc.max, tc.linger)
			left := len(tc.queued) - (len(group) - 1)
			if carry != nil {
				left--
			}
			if len(reqs) != left {
				t.Errorf("%d batches left queued, want %d", len(reqs), left)
			}
			if got := sizes(group); !slices.Equal(got, tc.group) {
				t.Errorf("group of %v records, want %v", got, tc.group)
			}
			switch {
			case tc.carry == 0 && carry != nil:
				t.Errorf("carried a batch of %d records, want none", len(carry.b.Records))
			case tc.carry != 0 && (carry == nil || len(carry.b.Records) != tc.carry):
				t.Errorf("carried %v, want a batch of %d records", carry, tc.carry)
			}
		})
	}
}
