package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/session"
)

// errNotListening: Run has not yet subscribed to the revocation feed.
var errNotListening = errors.New("node: not listening to the revocation feed yet (Run has not started)")

// FeedHealth reports whether this node can hear revocations made by other
// nodes through the store's change feed: nil when it can (or the store
// keeps no other nodes to hear), else why not. Before Run has subscribed
// the node cannot hear; after, the store's feed says (see
// session.FeedHealth): an error while its connection is lost or found dead
// by its liveness check and not yet replaced and caught up. /readyz
// reports it. It does no I/O.
func (n *Node) FeedHealth() error {
	select {
	case <-n.running:
	default:
		return errNotListening
	}
	f, ok := n.feedHealth()
	if !ok {
		return nil
	}
	if err := f.FeedStatus().Err; err != nil {
		return fmt.Errorf("node: cannot hear revocations: %w", err)
	}
	return nil
}

// feedHealth is the backend's session.FeedHealth, if it has one.
func (n *Node) feedHealth() (session.FeedHealth, bool) {
	f, ok := n.backend.(instrumented).Backend.(session.FeedHealth)
	return f, ok
}

// registerFeed adds the feed's health to the registry, where the backend
// reports it: how long since the feed last heard from the store (a
// revocation or a liveness check; 0 before Run subscribes) and how often
// it reconnected.
func (m *metrics) registerFeed(n *Node) {
	f, ok := n.feedHealth()
	if !ok {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessiond_revocation_feed_silence_seconds",
			Help: "Time since the revocation feed last heard from the store (a revocation or the reply to a liveness check). It grows past the liveness interval plus deadline only while the feed cannot hear.",
		}, func() float64 {
			heard := f.FeedStatus().LastHeard
			if heard.IsZero() {
				return 0
			}
			return max(0, time.Since(heard).Seconds())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sessiond_revocation_feed_reconnects_total",
			Help: "Times the revocation feed's connection was lost or found dead and replaced (then caught up on the revocations recorded meanwhile).",
		}, func() float64 { return float64(f.FeedStatus().Reconnects) }),
	)
}
