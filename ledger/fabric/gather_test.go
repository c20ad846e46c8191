package fabric

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
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

// TestSubmitQueuesFirst: Submit queues a batch before it checks and encodes
// it, so batches submitted together are gathered by when they were
// submitted; the committer waits until each is ready, answers one that
// fails its checks with the error and puts it in no transaction, and takes
// a good one's encoding as written() makes it.
func TestSubmitQueuesFirst(t *testing.T) {
	ctx := context.Background()
	l := &Ledger{reqs: make(chan *request, 2), stop: make(chan struct{})}
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Participant("p9", "CN-BJ")
	good, err := s.Batch(s.Authority(), p)
	if err != nil {
		t.Fatal(err)
	}
	bad := &ledger.Batch{Records: []ledger.Record{{ID: "r-1"}}}
	errc := make(chan error, 2)
	for _, b := range []*ledger.Batch{bad, good} {
		go func() { _, err := l.Submit(ctx, b); errc <- err }()
	}
	var got []*request
	for range 2 {
		select {
		case r := <-l.reqs:
			got = append(got, r)
		case <-time.After(10 * time.Second):
			t.Fatal("a batch was not queued")
		}
	}
	for _, r := range got {
		if r.b == bad {
			l.commit(0, []*request{r}) // nothing left to transact
			continue
		}
		<-r.ready
		want, err := written(good)
		if err != nil || r.bad != nil || !bytes.Equal(r.raw, want) {
			t.Fatalf("good batch: raw %d bytes, bad %v; want written() (%d bytes, %v)", len(r.raw), r.bad, len(want), err)
		}
		r.done <- result{} // as its transaction would
	}
	var malformed *ledger.MalformedError
	for range 2 {
		if err := <-errc; err != nil && !errors.As(err, &malformed) {
			t.Fatalf("got %v, want the bad batch's MalformedError", err)
		}
	}
	if malformed == nil {
		t.Fatal("the bad batch was not answered with its MalformedError")
	}
}
