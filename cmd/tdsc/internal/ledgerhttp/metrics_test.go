package ledgerhttp

import (
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
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			} else {
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
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
