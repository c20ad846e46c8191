package dataplane

import "github.com/prometheus/client_golang/prometheus"

// metrics are the data plane's Prometheus series, registered with
// Config.Registerer when it is set.
type metrics struct {
	bytes   prometheus.Counter
	outcome *prometheus.CounterVec
	denied  *prometheus.CounterVec
	active  prometheus.Gauge
	hashes  *prometheus.CounterVec
}

// How a completed send's content hash was obtained, in tdsc_dataplane_content_hashes_total.
const (
	hashStreamed = "streamed" // SHA-256 over the bytes as they were sent
	hashKnown    = "known"    // the local file's version was hashed in full before
)

// Outcomes counted in tdsc_dataplane_requests_total.
const (
	outcomeCompleted = "completed" // the object was sent to its end
	outcomePartial   = "partial"   // a range that stops before the end, or HEAD
	outcomeAborted   = "aborted"   // client gone or source failed mid-stream
	outcomeDenied    = "denied"
	outcomeBusy      = "busy"
	outcomeOther     = "other" // 304, 404, 412, 416, listings, source errors
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "tdsc_dataplane_bytes_sent_total",
			Help: "Dataset bytes written to clients by the pull handler."}),
		outcome: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tdsc_dataplane_requests_total",
			Help: "Pull requests by outcome."}, []string{"outcome"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tdsc_dataplane_denied_total",
			Help: "Refused pull requests by reason (as recorded in transfer.denied)."}, []string{"reason"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tdsc_dataplane_active_streams",
			Help: "Streams being served now."}),
		hashes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tdsc_dataplane_content_hashes_total",
			Help: "Completed sends by how their content hash was obtained: streamed (hashed as sent) or known (the file version's earlier hash, sent zero-copy)."}, []string{"how"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.bytes, m.outcome, m.denied, m.active, m.hashes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
