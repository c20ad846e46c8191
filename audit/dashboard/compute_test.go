package dashboard_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tdsc/tdsc/audit/dashboard"
)

// TestFlowsMeterComputations: the flows API carries the compute metering,
// to the regulator and to the parties, not to others.
func TestFlowsMeterComputations(t *testing.T) {
	sc := newScenario(t)
	s := sc.space
	ag, err := s.Agreement("bj-transport", "sh-health", "bus-timetable", "ag-compute", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Batch("bj-transport", ag,
		s.Compute("bj-transport", "sh-health", "ag-compute", "bus-timetable", "run-1", 120, ""),
		s.Compute("bj-transport", "sh-health", "ag-compute", "bus-timetable", "run-2", 0, "permission[1].constraint[3]"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.store.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	srv := sc.server(t)
	for _, who := range []struct {
		name, token string
		see         bool
	}{
		{"regulator", sc.regulatorToken(t), true},
		{"sh-health", sc.participantToken(t, "sh-health"), true},
		{"gd-bank", sc.participantToken(t, "gd-bank"), false},
	} {
		var v dashboard.FlowsView
		call(t, srv, "GET", login(t, srv, who.token, http.StatusOK), "/ui/api/flows", &v)
		if !who.see {
			if len(v.Compute) != 0 || len(v.ComputeByParticipant) != 0 {
				t.Errorf("%s sees others' computations: %+v %+v", who.name, v.Compute, v.ComputeByParticipant)
			}
			continue
		}
		if len(v.Compute) != 1 || v.Compute[0].Runs != 1 || v.Compute[0].Denied != 1 || v.Compute[0].BytesOut != 120 || v.Compute[0].CPUMillis != 84 {
			t.Errorf("%s: compute %+v", who.name, v.Compute)
		}
		if len(v.ComputeByParticipant) == 0 {
			t.Errorf("%s: no per-participant metering", who.name)
		}
	}
}
