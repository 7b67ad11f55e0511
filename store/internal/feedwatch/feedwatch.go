// Package feedwatch keeps the health of a store's revocation feed
// subscriptions (when each last heard from its server, whether it can hear
// now, how often one was re-established); the shared stores (redisstore,
// pgstore) report it as session.FeedHealth. It also holds their liveness
// settings, so both stores check their connections alike.
package feedwatch

import (
	"sync"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Default liveness settings: a subscription that has heard nothing for
// DefaultInterval pings its server and must hear the reply within
// DefaultDeadline, or its connection is taken for dead.
const (
	DefaultInterval = 5 * time.Second
	DefaultDeadline = 5 * time.Second
)

// Liveness is how a subscription checks its connection.
type Liveness struct {
	// Interval is how long a subscription may hear nothing before it
	// pings.
	Interval time.Duration
	// Deadline is how long it waits for the reply to a ping (and for each
	// attempt to reconnect) before it takes the connection for dead.
	Deadline time.Duration
}

// WithDefaults fills the fields that are not positive with the defaults.
func (l Liveness) WithDefaults() Liveness {
	if l.Interval <= 0 {
		l.Interval = DefaultInterval
	}
	if l.Deadline <= 0 {
		l.Deadline = DefaultDeadline
	}
	return l
}

// Watch is the health of one store's subscriptions. Its zero value is
// ready to use; all methods are safe for concurrent use.
type Watch struct {
	mu         sync.Mutex
	subs       map[*Sub]struct{}
	reconnects int64
}

// Sub is one subscription's health.
type Sub struct {
	w     *Watch
	heard time.Time
	err   error
}

// Add registers a subscription that has just heard from its server (its
// subscription was confirmed) at now.
func (w *Watch) Add(now time.Time) *Sub {
	s := &Sub{w: w, heard: now}
	w.mu.Lock()
	if w.subs == nil {
		w.subs = make(map[*Sub]struct{})
	}
	w.subs[s] = struct{}{}
	w.mu.Unlock()
	return s
}

// Remove forgets the subscription (it ended).
func (s *Sub) Remove() {
	s.w.mu.Lock()
	delete(s.w.subs, s)
	s.w.mu.Unlock()
}

// Heard records that the subscription heard from its server at now.
func (s *Sub) Heard(now time.Time) {
	s.w.mu.Lock()
	if now.After(s.heard) {
		s.heard = now
	}
	s.w.mu.Unlock()
}

// Deaf records that the subscription cannot hear, and why. err should
// wrap session.ErrStore.
func (s *Sub) Deaf(err error) {
	s.w.mu.Lock()
	s.err = err
	s.w.mu.Unlock()
}

// Reconnected records that the subscription was re-established on a new
// connection and has caught up, at now: it hears again. It counts one
// reconnect.
func (s *Sub) Reconnected(now time.Time) {
	s.w.mu.Lock()
	s.err = nil
	if now.After(s.heard) {
		s.heard = now
	}
	s.w.reconnects++
	s.w.mu.Unlock()
}

// Status reports the health of all subscriptions: the stalest LastHeard,
// the error of one that cannot hear (if any), and the reconnects.
func (w *Watch) Status() session.FeedStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := session.FeedStatus{Reconnects: w.reconnects}
	for s := range w.subs {
		if st.LastHeard.IsZero() || s.heard.Before(st.LastHeard) {
			st.LastHeard = s.heard
		}
		if st.Err == nil {
			st.Err = s.err
		}
	}
	return st
}
