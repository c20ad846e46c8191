package ledgerhttp

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/ledger/fabric"
)

// TestFabricMetrics: the Fabric backend's counts are read at each scrape;
// the next block is where the follower started plus the blocks it read.
func TestFabricMetrics(t *testing.T) {
	st := fabric.Stats{Transactions: 7, Conflicts: 2, Retries: 3, Rechecks: 1, Resent: 5, ResendAfter: 1500 * time.Millisecond, BlocksRead: 5, FromBlock: 40, FollowFailures: 4,
		UnableMarks: 3, Unable: []string{"Org3MSP"}, EndorsersAsked: 2, EndorsersAble: 1}
	reg := prometheus.NewRegistry()
	reg.MustRegister(fabricMetrics(func() fabric.Stats { return st })...)
	st.Transactions, st.BlocksRead = 9, 6 // after registering: read at the scrape
	got := gathered(t, reg)
	want := map[string]float64{
		"tdsc_ledger_fabric_transactions_total": 9, "tdsc_ledger_fabric_conflicts_total": 2, "tdsc_ledger_fabric_retries_total": 3,
		"tdsc_ledger_fabric_rechecks_total": 1, "tdsc_ledger_fabric_resent_total": 5, "tdsc_ledger_fabric_blocks_read_total": 6, "tdsc_ledger_fabric_next_block": 46,
		"tdsc_ledger_fabric_follow_failures_total": 4, "tdsc_ledger_fabric_unable_marks_total": 3, "tdsc_ledger_fabric_endorsers_unable": 1,
		"tdsc_ledger_fabric_endorsers_asked": 2, "tdsc_ledger_fabric_endorsers_able": 1, "tdsc_ledger_fabric_resend_after_seconds": 1.5,
	}
	if len(got) != len(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

// TestOrdererMetrics: a scrape counts the consenters that answer (not an
// orderer that is no consenter), the quorum they need, and of BFT the
// consenters by their views once one was read; none of them where the
// orderers could not be asked.
func TestOrdererMetrics(t *testing.T) {
	yes, no := true, false
	level := func(l bool) *fabric.BFTView { return &fabric.BFTView{View: 2, Leader: 1, Level: l} }
	for _, c := range []struct {
		name string
		a    fabric.OrdererAnswers
		want map[string]float64
	}{
		{"raft, one away", fabric.OrdererAnswers{Consensus: "etcdraft", Need: 1, Answers: []fabric.OrdererAnswer{
			{Address: "o1:1", Consenter: &yes, Height: 9}, {Address: "o2:1", Consenter: &yes, Error: "unavailable"}, {Address: "o3:1", Consenter: &yes, Height: 9},
		}}, map[string]float64{"answering": 2, "needed": 1}},
		{"bft, views", fabric.OrdererAnswers{Consensus: "BFT", Need: 3, Answers: []fabric.OrdererAnswer{
			{Address: "o1:1", Consenter: &yes, Height: 9, BFT: level(true)},
			{Address: "o2:1", Consenter: &yes, Height: 9, BFT: level(true)},
			{Address: "o3:1", Consenter: &yes, Height: 8, BFT: &fabric.BFTView{View: 2, NextView: 3, Alone: true}},
			{Address: "o4:1", Consenter: &yes, Height: 9, BFT: level(false)},
			{Address: "o5:1", Consenter: &yes, Error: "unavailable"},
			{Address: "o6:1", Consenter: &yes, Height: 9, BFTError: "refused"},
			{Address: "o7:1", Consenter: &no, Height: 9},
		}}, map[string]float64{"answering": 5, "needed": 3, "level": 2, "trailing": 1, "alone": 1, "away": 1, "unread": 1}},
		{"bft, no view read", fabric.OrdererAnswers{Consensus: "BFT", Need: 1, Answers: []fabric.OrdererAnswer{
			{Address: "o1:1", Height: 9},
		}}, map[string]float64{"answering": 1, "needed": 1}},
		{"not asked", fabric.OrdererAnswers{}, map[string]float64{}},
	} {
		reg := prometheus.NewRegistry()
		calls := 0
		reg.MustRegister(ordererMetrics{func(ctx context.Context) (fabric.OrdererAnswers, error) {
			calls++
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("%s: asked without a deadline", c.name)
			}
			return c.a, c.a.Err()
		}})
		got := map[string]float64{}
		for name, v := range gathered(t, reg) {
			name = strings.TrimPrefix(name, "tdsc_ledger_fabric_orderers_")
			name = strings.TrimSuffix(strings.TrimPrefix(name, `tdsc_ledger_fabric_bft_consenters{standing="`), `"}`)
			got[name] = v
		}
		if calls != 1 || !maps.Equal(got, c.want) {
			t.Errorf("%s: %v (asked %d times), want %v", c.name, got, calls, c.want)
		}
	}
}

// gathered is what reg gives a scrape: each counter's or gauge's value by
// its name, with its labels as name{label="value",…}.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if ls := m.GetLabel(); len(ls) > 0 {
				var kv []string
				for _, l := range ls {
					kv = append(kv, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				name += "{" + strings.Join(kv, ",") + "}"
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			} else {
				got[name] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}
