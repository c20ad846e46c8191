package main

import (
	"context"
	"testing"

	"github.com/tdsc/tdsc/suite"
)

// TestBenchDataplane runs the bench small: every round's completion hash is
// checked against the file inside benchDataplane; here, which rounds were
// streamed and which went under the known hash.
func TestBenchDataplane(t *testing.T) {
	for _, c := range []struct {
		cs        *suite.Suite
		hashEvery bool
		want      []string
	}{
		{suite.Intl, false, []string{"streamed", "known", "known"}},
		{suite.Intl, true, []string{"streamed", "streamed", "streamed"}},
		{suite.GM, false, []string{"streamed", "known", "known"}},
	} {
		res, err := benchDataplane(context.Background(), c.cs, 8<<20+123, len(c.want), t.TempDir(), c.hashEvery)
		if err != nil {
			t.Fatalf("hashEvery %v: %v", c.hashEvery, err)
		}
		if !res.HashVerified || res.Ratio <= 0 || res.ColdRatio <= 0 || res.MaxRSSBytes <= 0 || len(res.PerRound) != len(c.want) {
			t.Fatalf("hashEvery %v: result %+v", c.hashEvery, res)
		}
		for i, r := range res.PerRound {
			if r.Hash != c.want[i] {
				t.Errorf("hashEvery %v: round %d hash %s, want %s", c.hashEvery, i+1, r.Hash, c.want[i])
			}
		}
	}
}
