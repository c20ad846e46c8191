package dataplane_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, 1<<20, func(c *dataplane.Config, e *env) { c.Registerer = reg })
	tok := e.token(nil)
	if _, err := pull.Download(context.Background(), e.url("t1"), tok, e.proof(e.consumer, tok), filepath.Join(t.TempDir(), "o")); err != nil {
		t.Fatal(err)
	}
	e.rec.waitCompleted(t, 1)
	e.get(t, "t1", tok, nil, nil).Body.Close() // no proof: denied

	got := gather(t, reg)
	want := map[string]float64{
		"tdsc_dataplane_bytes_sent_total":                             1 << 20,
		"tdsc_dataplane_requests_total/completed":                     1,
		"tdsc_dataplane_requests_total/denied":                        1,
		"tdsc_dataplane_denied_total/" + dataplane.ReasonProofInvalid: 1,
		"tdsc_dataplane_active_streams":                               0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestGrantTravelsInContext(t *testing.T) {
	var seen dataplane.Grant
	e := newEnv(t, 1<<10, func(c *dataplane.Config, e *env) {
		e.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: grantSource{dataplane.FileSource{Path: e.file}, &seen}}
	})
	tok := e.token(nil)
	e.get(t, "t1", tok, e.proof(e.consumer, tok), nil).Body.Close()
	if seen.Transfer != "t1" || seen.Subject != consumerID {
		t.Errorf("source saw grant %+v", seen)
	}
}

type grantSource struct {
	dataplane.FileSource
	seen *dataplane.Grant
}

func (s grantSource) Stat(ctx context.Context, p string) (dataplane.Info, error) {
	*s.seen, _ = dataplane.GrantFromContext(ctx)
	return s.FileSource.Stat(ctx, p)
}
