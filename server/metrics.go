package server

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's own Prometheus metrics, on its node's registry
// (so /metrics shows both).
type metrics struct {
	reg      *prometheus.Registry
	httpReqs *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{reg: reg}
	m.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessiond_http_requests_total",
		Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	if err := reg.Register(m.httpReqs); err != nil {
		// A second server on the same node counts into the first's.
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			return nil, err
		}
		m.httpReqs = dup.ExistingCollector.(*prometheus.CounterVec)
	}
	return m, nil
}
