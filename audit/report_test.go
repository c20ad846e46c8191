package audit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// scenario is a small circulation story: a department in Beijing shares an
// important dataset with a domestic firm and, under a legal basis, with a
// Singapore firm; a negative-listed request is refused; one agreement is
// revoked; a deletion duty is fulfilled for one agreement and overdue for the other;
// one objection stays open and another is resolved.
func scenario() []ledger.Record {
	at := func(s string) string { return "2026-11-20T" + s + "+08:00" }
	part := func(id, region string) ledger.Record {
		return ledger.Record{Schema: 1, ID: "r-" + id, Kind: ledger.KindParticipantRegistered, Time: at("09:00:00"), Actor: "authority",
			Participant: &ledger.Participant{ID: id, Name: id, Region: region, Status: "active"}}
	}
	return []ledger.Record{
		part("dept", "CN-BJ"), part("firm", "CN-SH"), part("sgco", "SG"),
		{Schema: 1, ID: "d1", Kind: ledger.KindDatasetRegistered, Time: at("09:10:00"), Actor: "dept", Dataset: "traffic",
			Classification: policy.Important, Category: "transport"},
		{Schema: 1, ID: "d2", Kind: ledger.KindDatasetRegistered, Time: at("09:11:00"), Actor: "dept", Dataset: "census",
			Classification: policy.Core, Category: "population"},
		{Schema: 1, ID: "a1", Kind: ledger.KindAgreementSigned, Time: at("10:00:00"), Actor: "dept", Counterparty: "firm",
			Dataset: "traffic", Agreement: "ag1", Terms: &ledger.Terms{Duties: []ledger.Duty{{ID: "del", Action: "delete", Due: "2026-11-21T10:00:00+08:00"}}}},
		{Schema: 1, ID: "a2", Kind: ledger.KindAgreementSigned, Time: at("10:01:00"), Actor: "dept", Counterparty: "sgco",
			Dataset: "traffic", Agreement: "ag2", LegalBasis: "PIPL-38-contract",
			Terms: &ledger.Terms{Duties: []ledger.Duty{{ID: "del", Action: "delete", Due: "2026-11-21T10:00:00+08:00"}}}},
		{Schema: 1, ID: "t1", Kind: ledger.KindTransferAuthorized, Time: at("10:05:00"), Actor: "dept", Counterparty: "firm", Agreement: "ag1", Transfer: "tr1", Dataset: "traffic"},
		{Schema: 1, ID: "t1c", Kind: ledger.KindTransferCompleted, Time: at("10:06:00"), Actor: "dept", Counterparty: "firm", Transfer: "tr1", Bytes: 1000},
		{Schema: 1, ID: "t2", Kind: ledger.KindTransferAuthorized, Time: at("10:07:00"), Actor: "dept", Counterparty: "sgco", Agreement: "ag2", Transfer: "tr2", Dataset: "traffic"},
		{Schema: 1, ID: "t2c", Kind: ledger.KindTransferCompleted, Time: at("10:08:00"), Actor: "dept", Counterparty: "sgco", Transfer: "tr2", Bytes: 500},
		{Schema: 1, ID: "t3", Kind: ledger.KindTransferAuthorized, Time: at("10:09:00"), Actor: "dept", Counterparty: "firm", Agreement: "ag1", Transfer: "tr3", Dataset: "traffic"},
		{Schema: 1, ID: "t3c", Kind: ledger.KindTransferCompleted, Time: at("10:10:00"), Actor: "dept", Counterparty: "firm", Transfer: "tr3", Bytes: 1000},
		{Schema: 1, ID: "n1", Kind: ledger.KindNegotiationDenied, Time: at("10:20:00"), Actor: "dept", Counterparty: "firm", Dataset: "census",
			Rule: policy.RuleNegativeList, Reason: "category population is on the negative list"},
		{Schema: 1, ID: "n2", Kind: ledger.KindNegotiationDenied, Time: at("10:21:00"), Actor: "dept", Counterparty: "firm", Dataset: "traffic",
			Rule: "permission[0].constraint[0]", Reason: "purpose marketing is not research"},
		{Schema: 1, ID: "f1", Kind: ledger.KindDutyFulfilled, Time: at("11:00:00"), Actor: "firm", Counterparty: "dept", Agreement: "ag1", Duty: &ledger.Duty{ID: "del", Action: "delete"}},
		{Schema: 1, ID: "rv", Kind: ledger.KindAgreementRevoked, Time: at("12:00:00"), Actor: "dept", Agreement: "ag1", Reason: "contract ended"},
		{Schema: 1, ID: "o1", Kind: ledger.KindObjectionFiled, Time: at("12:30:00"), Actor: "firm", Dataset: "traffic", Objection: &ledger.Objection{ID: "obj1", Subject: "stale rows"}},
		{Schema: 1, ID: "o2", Kind: ledger.KindObjectionFiled, Time: at("12:31:00"), Actor: "sgco", Dataset: "traffic", Objection: &ledger.Objection{ID: "obj2", Subject: "wrong unit"}},
		{Schema: 1, ID: "o2r", Kind: ledger.KindObjectionResolved, Time: at("13:00:00"), Actor: "dept", Dataset: "traffic", Objection: &ledger.Objection{ID: "obj2", Resolution: "fixed"}},
	}
}

func TestBuildReport(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	rep := BuildReport(scenario(), Window{Now: now})

	wantFlows := []Flow{
		{Provider: "dept", Consumer: "firm", Dataset: "traffic", Category: "transport", Classification: policy.Important,
			FromRegion: "CN-BJ", ToRegion: "CN-SH", Transfers: 2, Bytes: 2000},
		{Provider: "dept", Consumer: "sgco", Dataset: "traffic", Category: "transport", Classification: policy.Important,
			FromRegion: "CN-BJ", ToRegion: "SG", CrossBorder: true, LegalBasis: "PIPL-38-contract", Transfers: 1, Bytes: 500},
	}
	if d := cmp.Diff(wantFlows, rep.Flows); d != "" {
		t.Errorf("flows (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantFlows[1:], rep.CrossBorder); d != "" {
		t.Errorf("cross-border (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]LevelTotal{{Classification: policy.Important, Transfers: 3, Bytes: 2500}}, rep.ByClassification); d != "" {
		t.Errorf("by classification (-want +got):\n%s", d)
	}
	wantDenials := []DenialTotal{
		{Rule: "permission[0].constraint[0]", Count: 1, Example: "purpose marketing is not research"},
		{Rule: policy.RuleNegativeList, Count: 1, Example: "category population is on the negative list"},
	}
	if d := cmp.Diff(wantDenials, rep.Denials); d != "" {
		t.Errorf("denials (-want +got):\n%s", d)
	}
	if len(rep.NegativeListHits) != 1 || rep.NegativeListHits[0].Category != "population" {
		t.Errorf("negative-list hits = %+v, want one on category population", rep.NegativeListHits)
	}
	if len(rep.Revoked) != 1 || rep.Revoked[0].Consumer != "firm" {
		t.Errorf("revoked = %+v, want ag1 of firm", rep.Revoked)
	}
	// ag1 is revoked and its duty fulfilled; ag2's deletion is overdue.
	if d := cmp.Diff([]OverdueDuty{{Agreement: "ag2", Consumer: "sgco", Provider: "dept", Duty: "del", Action: "delete",
		Due: "2026-11-21T10:00:00+08:00"}}, rep.DutiesOverdue); d != "" {
		t.Errorf("overdue duties (-want +got):\n%s", d)
	}
	if len(rep.ObjectionsOpen) != 1 || rep.ObjectionsOpen[0].Objection != "obj1" {
		t.Errorf("open objections = %+v, want obj1 only", rep.ObjectionsOpen)
	}
}

func TestBuildReportWindow(t *testing.T) {
	since := time.Date(2026, 11, 20, 2, 9, 30, 0, time.UTC) // 10:09:30 +08:00
	rep := BuildReport(scenario(), Window{Since: since, Now: since})
	if len(rep.Flows) != 1 || rep.Flows[0].Transfers != 1 || rep.Flows[0].Bytes != 1000 {
		t.Fatalf("flows since 10:09:30+08:00 = %+v, want only tr3", rep.Flows)
	}
	if len(rep.DutiesOverdue) != 0 {
		t.Errorf("duties overdue before their due time: %+v", rep.DutiesOverdue)
	}
}

func TestBuildHistory(t *testing.T) {
	h := BuildHistory(scenario(), "firm", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if h.Region != "CN-SH" || h.AgreementsAsConsumer != 1 || h.BytesReceived != 2000 || h.TransfersReceived != 2 {
		t.Errorf("history = region %q, agreements %d, bytes %d, transfers %d; want CN-SH, 1, 2000, 2",
			h.Region, h.AgreementsAsConsumer, h.BytesReceived, h.TransfersReceived)
	}
	if len(h.Denials) != 2 || h.DutiesFulfilled != 1 || len(h.Revoked) != 1 || len(h.ObjectionsOpen) != 1 {
		t.Errorf("history denials %d, fulfilled %d, revoked %d, open objections %d; want 2, 1, 1, 1",
			len(h.Denials), h.DutiesFulfilled, len(h.Revoked), len(h.ObjectionsOpen))
	}
	dept := BuildHistory(scenario(), "dept", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if dept.BytesSent != 2500 || dept.DatasetsOwned != 2 || dept.AgreementsAsProvider != 2 {
		t.Errorf("dept sent %d bytes, owns %d datasets, %d agreements; want 2500, 2, 2", dept.BytesSent, dept.DatasetsOwned, dept.AgreementsAsProvider)
	}
}

// TestBuildReportCountsEachTransferOnce: both parties record a completion;
// the bytes count once, from the provider's record when there is one (even
// when the consumer's came first or says the hash did not match), else from
// the consumer's.
func TestBuildReportCountsEachTransferOnce(t *testing.T) {
	at := func(s string) string { return "2026-11-20T" + s + "+08:00" }
	recs := scenario()
	recs = append(recs,
		// tr1 and tr2: the consumers' own records besides the provider's.
		ledger.Record{Schema: 1, ID: "t1c/firm", Kind: ledger.KindTransferCompleted, Time: at("10:06:01"), Actor: "firm", Counterparty: "dept",
			Transfer: "tr1", Bytes: 1000, Decision: ledger.DecisionAllow},
		ledger.Record{Schema: 1, ID: "t2c/sgco", Kind: ledger.KindTransferCompleted, Time: at("10:08:01"), Actor: "sgco", Counterparty: "dept",
			Transfer: "tr2", Bytes: 499, Decision: ledger.DecisionDeny, Rule: "transfer.hash-mismatch", Reason: "hash-mismatch: received sha256:aa, registered sha256:bb"},
		// tr4: the consumer recorded first, the provider after; tr5: only the consumer recorded.
		ledger.Record{Schema: 1, ID: "t4", Kind: ledger.KindTransferAuthorized, Time: at("10:11:00"), Actor: "dept", Counterparty: "firm", Agreement: "ag1", Transfer: "tr4", Dataset: "traffic"},
		ledger.Record{Schema: 1, ID: "t4c/firm", Kind: ledger.KindTransferCompleted, Time: at("10:12:00"), Actor: "firm", Counterparty: "dept", Transfer: "tr4", Bytes: 7},
		ledger.Record{Schema: 1, ID: "t4c/dept", Kind: ledger.KindTransferCompleted, Time: at("10:12:01"), Actor: "dept", Counterparty: "firm", Transfer: "tr4", Bytes: 8},
		ledger.Record{Schema: 1, ID: "t5", Kind: ledger.KindTransferAuthorized, Time: at("10:13:00"), Actor: "dept", Counterparty: "firm", Agreement: "ag1", Transfer: "tr5", Dataset: "traffic"},
		ledger.Record{Schema: 1, ID: "t5c/firm", Kind: ledger.KindTransferCompleted, Time: at("10:14:00"), Actor: "firm", Counterparty: "dept", Transfer: "tr5", Bytes: 30},
	)
	rep := BuildReport(recs, Window{Now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
	want := []Flow{
		{Provider: "dept", Consumer: "firm", Dataset: "traffic", Category: "transport", Classification: policy.Important,
			FromRegion: "CN-BJ", ToRegion: "CN-SH", Transfers: 4, Bytes: 2000 + 8 + 30},
		{Provider: "dept", Consumer: "sgco", Dataset: "traffic", Category: "transport", Classification: policy.Important,
			FromRegion: "CN-BJ", ToRegion: "SG", CrossBorder: true, LegalBasis: "PIPL-38-contract", Transfers: 1, Bytes: 500},
	}
	if d := cmp.Diff(want, rep.Flows); d != "" {
		t.Errorf("flows (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]LevelTotal{{Classification: policy.Important, Transfers: 5, Bytes: 2538}}, rep.ByClassification); d != "" {
		t.Errorf("by classification (-want +got):\n%s", d)
	}
}
