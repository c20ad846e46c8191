package audit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger"
)

func TestBuildReportMetersComputations(t *testing.T) {
	recs := scenario()
	run := func(id, ag, consumer, decision, rule string, cpu, out int64) ledger.Record {
		r := ledger.Record{Schema: 1, ID: id, Kind: ledger.KindComputeExecuted, Time: "2026-11-20T14:00:00+08:00", Actor: "dept",
			Counterparty: consumer, Agreement: ag, Dataset: "census", Decision: decision, Rule: rule, Bytes: out,
			Compute: &ledger.Compute{Run: id, Program: "sha256:00", CPUMillis: cpu, InputBytes: 1000, OutputBytes: out}}
		if rule != "" {
			r.Reason, r.Bytes = "refused", 0
		}
		return r
	}
	recs = append(recs,
		run("c1", "ag-c", "firm", ledger.DecisionAllow, "", 30, 120),
		run("c2", "ag-c", "firm", ledger.DecisionAllow, "", 20, 80),
		run("c3", "ag-c", "firm", ledger.DecisionDeny, "permission[0].constraint[4]", 10, 999),
		run("c4", "ag-d", "sgco", ledger.DecisionDeny, "permission[0].constraint[0]", 0, 0),
	)
	rep := BuildReport(recs, Window{Now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
	want := []ComputeTotal{
		{Agreement: "ag-c", Provider: "dept", Consumer: "firm", Dataset: "census", Runs: 2, Denied: 1, CPUMillis: 60, BytesOut: 200, BytesIn: 3000},
		{Agreement: "ag-d", Provider: "dept", Consumer: "sgco", Dataset: "census", Denied: 1, BytesIn: 1000},
	}
	if d := cmp.Diff(want, rep.Compute); d != "" {
		t.Errorf("per agreement (-want +got):\n%s", d)
	}
	wantP := []ParticipantMeter{
		{Participant: "dept", Role: "provider", Runs: 2, Denied: 2, CPUMillis: 60, BytesOut: 200},
		{Participant: "firm", Role: "consumer", Runs: 2, Denied: 1, CPUMillis: 60, BytesOut: 200},
		{Participant: "sgco", Role: "consumer", Denied: 1},
	}
	if d := cmp.Diff(wantP, rep.ComputeByParticipant); d != "" {
		t.Errorf("per participant (-want +got):\n%s", d)
	}
	found := 0
	for _, d := range rep.Denials {
		if d.Rule == "permission[0].constraint[4]" || d.Rule == "permission[0].constraint[0]" && d.Count >= 1 {
			found++
		}
	}
	if found != 2 {
		t.Errorf("denied runs missing from the denials by rule: %+v", rep.Denials)
	}
}
