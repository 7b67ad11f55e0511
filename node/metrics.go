package node

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/session"
)

// metrics are a node's Prometheus metrics, on a registry of the node's own
// (several nodes in one process, as in tests, do not collide).
type metrics struct {
	reg       *prometheus.Registry
	events    *prometheus.CounterVec
	storeDur  *prometheus.HistogramVec
	storeErrs *prometheus.CounterVec
	feedLag   prometheus.Histogram
}

// SessionCounter is implemented by stores that can count live sessions
// cheaply; /metrics then reports sessiond_active_sessions.
type SessionCounter interface {
	CountSessions(ctx context.Context, now time.Time) (int64, error)
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessiond_events_total",
		Help: "Audit events by kind: login.ok, login.failed, refresh, refresh.reuse_detected, logout, revoke, ratelimit.throttled, ...",
	}, []string{"event"})
	m.storeDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sessiond_store_duration_seconds",
		Help:    "Latency of store operations.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"op"})
	m.storeErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessiond_store_errors_total",
		Help: "Store operations that failed (the store was unreachable or broken, not 'not found').",
	}, []string{"op"})
	m.feedLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sessiond_revocation_feed_lag_seconds",
		Help:    "Time from a revocation being recorded to this node hearing of it through the store's change feed.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
	})
	m.reg.MustRegister(m.events, m.storeDur, m.storeErrs, m.feedLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeEvent(e audit.Event) { m.events.WithLabelValues(string(e.Kind)).Inc() }

// observeStore records one store call's latency, and its failure if it is
// a failure of the store rather than an ordinary answer.
func (m *metrics) observeStore(op string, start time.Time, err error) {
	m.storeDur.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, session.ErrNotFound) && !errors.Is(err, session.ErrConflict) &&
		!errors.Is(err, session.ErrExists) && !errors.Is(err, account.ErrNotFound) && !errors.Is(err, account.ErrEmailTaken) &&
		!errors.Is(err, context.Canceled) {
		m.storeErrs.WithLabelValues(op).Inc()
	}
}

// registerGauges adds the gauges that read state at scrape time.
func (m *metrics) registerGauges(n *Node) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessiond_revoked_sessions_tracked",
		Help: "Revoked session ids this node holds in memory to refuse their access tokens.",
	}, func() float64 { return float64(n.mgr.RevokedCount()) }))
	m.registerFeed(n)
	if c, ok := n.backend.(instrumented).Backend.(SessionCounter); ok {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessiond_active_sessions",
			Help: "Live sessions in the store.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			count, err := c.CountSessions(ctx, n.cfg.Now())
			if err != nil {
				return -1
			}
			return float64(count)
		}))
	}
}

// Registry is the node's Prometheus registry: store latency and errors,
// audit events by kind, revocation feed lag, silence and reconnects,
// revoked sessions tracked, live sessions (where the store counts them)
// and the Go runtime. A server adds its own HTTP metrics to it and serves
// it at /metrics.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.reg }
