package connector

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus collectors (WithMetrics). Process
// counts are read from the store at scrape time, so they are exact across
// restarts; requests are counted as they are served.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// WithMetrics registers the node's collectors (tdsc_connector_*) and the data
// plane's (tdsc_dataplane_*) with reg; serve them with promhttp.
func WithMetrics(reg prometheus.Registerer) Option { return func(o *options) { o.metrics = reg } }

func (n *Node) registerMetrics(reg prometheus.Registerer) error {
	n.metrics = &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tdsc_connector_dsp_requests_total",
			Help: "DSP requests served, by endpoint and HTTP status."}, []string{"endpoint", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tdsc_connector_dsp_request_seconds",
			Help: "Time to serve a DSP request, by endpoint.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"endpoint"}),
	}
	processes := prometheus.NewDesc("tdsc_connector_processes", "Negotiations and transfers in the store, by kind, role and state.",
		[]string{"kind", "role", "state"}, nil)
	outbox := prometheus.NewDesc("tdsc_connector_outbox_records", "Ledger records in the outbox, by state.", []string{"state"}, nil)
	ledgerUp := prometheus.NewDesc("tdsc_connector_ledger_up", "1 if the last attempt to reach the ledger succeeded.", nil, nil)
	credUntil := prometheus.NewDesc("tdsc_connector_dcp_credential_valid_until_seconds",
		"Unix time at which each credential the node holds (config did) stops being valid, by issuer and type; alert well before it.",
		[]string{"issuer", "type", "credential"}, nil)
	keeperFailing := prometheus.NewDesc("tdsc_connector_dcp_credential_renewal_failing",
		"1 if the node's last request for its membership credential (config credentialIssuer) failed.", []string{"issuer"}, nil)
	coll := collectorFunc{descs: []*prometheus.Desc{processes, outbox, ledgerUp, credUntil, keeperFailing}, collect: func(ch chan<- prometheus.Metric) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v := n.st.View(ctx)
		for _, kind := range []string{"negotiations", "transfers"} {
			if c, err := v.CountByState(kind); err == nil {
				for k, count := range c {
					ch <- prometheus.MustNewConstMetric(processes, prometheus.GaugeValue, float64(count), kind, k[0], k[1])
				}
			}
		}
		if c, err := v.OutboxCounts(); err == nil {
			for state, count := range c {
				ch <- prometheus.MustNewConstMetric(outbox, prometheus.GaugeValue, float64(count), state)
			}
		}
		up := 0.0
		if n.lw.healthy() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(ledgerUp, prometheus.GaugeValue, up)
		if n.dcp == nil {
			return
		}
		for _, c := range n.dcp.Credentials.Held() {
			if c.ValidUntil.IsZero() || c.Expired {
				continue
			}
			typ := "VerifiableCredential"
			for _, t := range c.Types {
				if t != "VerifiableCredential" {
					typ = t
				}
			}
			ch <- prometheus.MustNewConstMetric(credUntil, prometheus.GaugeValue, float64(c.ValidUntil.Unix()), c.Issuer, typ, c.ID)
		}
		if k := n.dcp.Keeper(); k.Issuer != "" {
			failing := 0.0
			if k.Error != "" {
				failing = 1
			}
			ch <- prometheus.MustNewConstMetric(keeperFailing, prometheus.GaugeValue, failing, k.Issuer)
		}
	}}
	for _, c := range []prometheus.Collector{n.metrics.requests, n.metrics.duration, coll} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// instrument counts and times a DSP endpoint when metrics are on.
func (n *Node) instrument(endpoint string, h http.Handler) http.Handler {
	if n.metrics == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		n.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(rec.status)).Inc()
		n.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}
