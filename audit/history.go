package audit

import (
	"time"

	"github.com/tdsc/tdsc/ledger"
)

// History is one participant's record in circulation: how it behaved as a
// provider and as a consumer, what was refused, revoked, owed and disputed.
type History struct {
	Participant          string          `json:"participant"`
	Name                 string          `json:"name,omitempty"`
	Region               string          `json:"region,omitempty"`
	Status               string          `json:"status,omitempty"`
	DatasetsOwned        int             `json:"datasetsOwned"`
	AgreementsAsProvider int             `json:"agreementsAsProvider"`
	AgreementsAsConsumer int             `json:"agreementsAsConsumer"`
	BytesSent            int64           `json:"bytesSent"`
	BytesReceived        int64           `json:"bytesReceived"`
	TransfersSent        int             `json:"transfersSent"`
	TransfersReceived    int             `json:"transfersReceived"`
	Denials              []Denial        `json:"denials"`
	Revoked              []Revocation    `json:"revoked"`
	DutiesFulfilled      int             `json:"dutiesFulfilled"`
	DutiesOverdue        []OverdueDuty   `json:"dutiesOverdue"`
	ObjectionsOpen       []OpenObjection `json:"objectionsOpen"`
	UsesLogged           int             `json:"usesLogged"`
	Records              []ledger.Record `json:"records"`
}

// BuildHistory gathers everything the ledger says about one participant.
func BuildHistory(recs []ledger.Record, id string, now time.Time) History {
	ix := newIndex(recs)
	h := History{Participant: id}
	if p := ix.participants[id]; p != nil {
		h.Name, h.Region, h.Status = p.Name, p.Region, p.Status
	}
	involves := func(r *ledger.Record) bool {
		if r.Actor == id || r.Counterparty == id {
			return true
		}
		return r.Participant != nil && r.Participant.ID == id
	}
	for i := range recs {
		r := &recs[i]
		if !involves(r) {
			continue
		}
		h.Records = append(h.Records, *r)
		switch r.Kind {
		case ledger.KindDatasetRegistered:
			h.DatasetsOwned++
		case ledger.KindAgreementSigned:
			if r.Actor == id {
				h.AgreementsAsProvider++
			} else {
				h.AgreementsAsConsumer++
			}
		case ledger.KindUsageLogged:
			h.UsesLogged++
		case ledger.KindDutyFulfilled:
			h.DutiesFulfilled++
		case ledger.KindNegotiationDenied, ledger.KindTransferDenied:
			h.Denials = append(h.Denials, Denial{Record: r.ID, Kind: string(r.Kind), Time: r.Time, Provider: r.Actor,
				Consumer: r.Counterparty, Dataset: r.Dataset, Rule: r.Rule, Reason: r.Reason})
		}
	}
	// Flows, revocations, duties and objections come from the whole-ledger report,
	// filtered to this participant, so both views always agree.
	rep := BuildReport(recs, Window{Now: now})
	for _, f := range rep.Flows {
		if f.Provider == id {
			h.BytesSent += f.Bytes
			h.TransfersSent += f.Transfers
		}
		if f.Consumer == id {
			h.BytesReceived += f.Bytes
			h.TransfersReceived += f.Transfers
		}
	}
	for _, rv := range rep.Revoked {
		if rv.Provider == id || rv.Consumer == id {
			h.Revoked = append(h.Revoked, rv)
		}
	}
	for _, d := range rep.DutiesOverdue {
		if d.Consumer == id || d.Provider == id {
			h.DutiesOverdue = append(h.DutiesOverdue, d)
		}
	}
	for _, o := range rep.ObjectionsOpen {
		if o.Filer == id || ix.datasets[o.Dataset] != nil && ix.datasets[o.Dataset].Actor == id {
			h.ObjectionsOpen = append(h.ObjectionsOpen, o)
		}
	}
	return h
}
