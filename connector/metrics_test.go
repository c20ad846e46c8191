package connector_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/connector"
)

func TestMetrics(t *testing.T) {
	s := newSpace(t)
	pk := s.register("did:tdsc:p", "CN-BJ", "government")
	ck := s.register("did:tdsc:c", "CN-SH", "research")
	reg := prometheus.NewRegistry()
	prov := s.node("did:tdsc:p", pk, "", "", connector.WithMetrics(reg))
	cons := s.node("did:tdsc:c", ck, "", "")
	_, offerID := provider(t, prov, false)
	neg, err := cons.StartNegotiation(context.Background(), connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	waitNeg(t, cons, neg.ID, "FINALIZED")
	eventually(t, "provider FINALIZED", func() (bool, string) {
		p := peerNegotiation(t, prov, neg.ID)
		return p != nil && p.State == "FINALIZED", ""
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, p := range m.GetLabel() {
				key += "," + p.GetName() + "=" + p.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				series[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				series[key] = m.GetGauge().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"tdsc_connector_dsp_requests_total,endpoint=POST /negotiations/request,status=201": 1,
		"tdsc_connector_processes,kind=negotiations,role=provider,state=FINALIZED":         1,
		"tdsc_connector_ledger_up": 1,
	} {
		if series[key] != want {
			t.Errorf("%s = %v, want %v (have %v)", key, series[key], want, series)
		}
	}
}
