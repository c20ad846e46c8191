package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// manyCheckpoints serves an embedded store holding n+1 checkpoints: p1's
// registration, then n one-record batches appended one after another, so
// each is its own group commit and checkpoint. It returns the tree sizes of
// the checkpoints in order.
func manyCheckpoints(t *testing.T, n int) (*embedded.Store, *httptest.Server, []uint64) {
	t.Helper()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	st, srv := serve(t, s.Genesis)
	ctx := context.Background()
	p1, err := s.Participant("p1", "CN-BJ")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Batch(s.Authority(), p1)
	if err != nil {
		t.Fatal(err)
	}
	batches := []*ledger.Batch{b}
	for i := range n {
		b, err := s.Batch("p1", s.Dataset("p1", fmt.Sprintf("ds-%d", i), policy.General, "traffic"))
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	var sizes []uint64
	for _, b := range batches {
		rc, err := st.Append(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, rc.TreeSize)
	}
	return st, srv, sizes
}

// getPage is a raw GET /ledger/v1/checkpoints with an auditor token.
func getPage(t *testing.T, srv *httptest.Server, query string) (int, ledger.CheckpointPage, api.Error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/ledger/v1/checkpoints"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer auditor-token")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page ledger.CheckpointPage
	var body api.Error
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&page)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&body)
	}
	if err != nil {
		t.Fatalf("GET checkpoints%s: %d: %v", query, resp.StatusCode, err)
	}
	return resp.StatusCode, page, body
}

func sizesOf(p ledger.CheckpointPage) []uint64 {
	out := []uint64{}
	for _, c := range p.Checkpoints {
		out = append(out, c.Size)
	}
	return out
}

// TestCheckpointPagesOverHTTP lists 251 checkpoints: the default page is
// bounded, pages follow next to the end, and the client pages through them
// for a whole verification.
func TestCheckpointPagesOverHTTP(t *testing.T) {
	st, srv, sizes := manyCheckpoints(t, 250)
	if len(sizes) != 251 {
		t.Fatalf("%d checkpoints, want 251", len(sizes))
	}

	t.Run("default page", func(t *testing.T) {
		code, p, _ := getPage(t, srv, "")
		if code != http.StatusOK || len(p.Checkpoints) != ledger.DefaultCheckpointPageSize || p.Next != sizes[ledger.DefaultCheckpointPageSize] {
			t.Fatalf("got %d with %d checkpoints next %d, want %d checkpoints next %d", code, len(p.Checkpoints), p.Next,
				ledger.DefaultCheckpointPageSize, sizes[ledger.DefaultCheckpointPageSize])
		}
	})

	t.Run("following next", func(t *testing.T) {
		var all []uint64
		query, pages := "?limit=60", 0
		for {
			code, p, body := getPage(t, srv, query)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %+v", query, code, body)
			}
			pages++
			all = append(all, sizesOf(p)...)
			if p.Next == 0 {
				break
			}
			query = fmt.Sprintf("?limit=60&from=%d", p.Next)
		}
		if pages != 5 {
			t.Fatalf("%d pages of 60 for 251 checkpoints, want 5", pages)
		}
		if diff := cmp.Diff(sizes, all); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})

	t.Run("middle and past the end", func(t *testing.T) {
		_, p, _ := getPage(t, srv, fmt.Sprintf("?from=%d&limit=3", sizes[120]))
		if diff := cmp.Diff(sizes[120:123], sizesOf(p)); diff != "" || p.Next != sizes[123] {
			t.Fatalf("middle page next %d (want %d), sizes (-want +got):\n%s", p.Next, sizes[123], diff)
		}
		_, p, _ = getPage(t, srv, fmt.Sprintf("?from=%d", sizes[250]+1))
		if len(p.Checkpoints) != 0 || p.Next != 0 {
			t.Fatalf("past the end: %v next %d, want nothing", sizesOf(p), p.Next)
		}
		_, p, _ = getPage(t, srv, fmt.Sprintf("?limit=%d", ledger.MaxCheckpointPageSize))
		if diff := cmp.Diff(sizes, sizesOf(p)); diff != "" || p.Next != 0 {
			t.Fatalf("largest page next %d, sizes (-want +got):\n%s", p.Next, diff)
		}
	})

	t.Run("client pages through", func(t *testing.T) {
		c := newClient(t, srv, "auditor-token")
		var all []uint64
		q := ledger.CheckpointQuery{Limit: 7}
		for {
			p, err := c.CheckpointPage(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Checkpoints) > 7 {
				t.Fatalf("page of %d, limit 7", len(p.Checkpoints))
			}
			all = append(all, sizesOf(p)...)
			if p.Next == 0 {
				break
			}
			q.From = p.Next
		}
		if diff := cmp.Diff(sizes, all); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		rep, err := verify.Ledger(context.Background(), c, st.VerifierKey())
		if err != nil || rep.Checkpoints != len(sizes) || rep.Records != sizes[len(sizes)-1] {
			t.Fatalf("verify over URL: %+v %v, want %d checkpoints", rep, err, len(sizes))
		}
	})
}

// TestCheckpointsClientPagesPastOnePage has the client's Checkpoints (what
// tdsc audit verify reads over HTTP) cross a page of MaxCheckpointPageSize.
// It appends more than a thousand batches, so it is skipped with -short.
func TestCheckpointsClientPagesPastOnePage(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 1,100 batches")
	}
	_, srv, sizes := manyCheckpoints(t, ledger.MaxCheckpointPageSize+99)
	var all []uint64
	err := newClient(t, srv, "auditor-token").Checkpoints(context.Background(), func(size uint64, _ []byte) error {
		all = append(all, size)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sizes, all); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestCheckpointPageBadParams refuses bad from and limit with a 400 naming
// the parameter and the rule, before reading the ledger.
func TestCheckpointPageBadParams(t *testing.T) {
	_, srv, _ := manyCheckpoints(t, 2)
	for _, tc := range []struct {
		query, field, rule string
	}{
		{"?limit=-1", "limit", ledger.RuleFormat},
		{"?limit=ten", "limit", ledger.RuleFormat},
		{"?limit=1001", "limit", ledger.RuleSize},
		{"?limit=18446744073709551615", "limit", ledger.RuleSize},
		{"?limit=18446744073709551616", "limit", ledger.RuleFormat},
		{"?from=-5", "from", ledger.RuleFormat},
		{"?from=1.5", "from", ledger.RuleFormat},
		{"?from=", "", ""}, // empty is absent: the first page
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, p, body := getPage(t, srv, tc.query)
			if tc.field == "" {
				if code != http.StatusOK || len(p.Checkpoints) != 3 {
					t.Fatalf("got %d %+v %v, want the three checkpoints", code, body, sizesOf(p))
				}
				return
			}
			if code != http.StatusBadRequest || body.Kind != api.KindMalformed || body.Field != tc.field || body.Rule != tc.rule ||
				!strings.Contains(body.Err().Error(), "field "+tc.field+": ") || !strings.Contains(body.Err().Error(), "(rule "+tc.rule+")") {
				t.Fatalf("got %d %+v, want 400 malformed field %s rule %s, both in the message", code, body, tc.field, tc.rule)
			}
		})
	}
	// Any role token may list checkpoints, a participant's too; no token is 401.
	p, err := newClient(t, srv, "p1-token").CheckpointPage(context.Background(), ledger.CheckpointQuery{Limit: 2})
	if err != nil || len(p.Checkpoints) != 2 || p.Next == 0 {
		t.Fatalf("participant listing checkpoints: %v next %d %v", sizesOf(p), p.Next, err)
	}
	resp, err := srv.Client().Get(srv.URL + "/ledger/v1/checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", resp.StatusCode)
	}
}
