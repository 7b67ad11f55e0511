package session

import "time"

// FeedHealth is implemented by stores whose RevocationFeed can go deaf: a
// feed over a connection to a server (Redis pub/sub, PostgreSQL LISTEN)
// that may die without closing, as a blackholed link does. Such a feed
// checks its connection on its own (a ping whose reply it must receive
// within a deadline), and when the check fails it drops the connection,
// reconnects with back-off and reloads the revocations recorded
// meanwhile. FeedStatus says how that stands, so that an operator (the
// /metrics and /readyz of sessiond) sees a node that cannot hear other
// nodes' revocations, which it otherwise learns of only by
// Config.RevocationPoll.
//
// An in-process feed (store/memstore, store/boltstore) cannot go deaf: it
// reports LastHeard as now and no error.
type FeedHealth interface {
	// FeedStatus reports the feed's health now. It does no I/O and is
	// safe for concurrent use.
	FeedStatus() FeedStatus
}

// FeedStatus is the health of a store's revocation feed, over all of the
// store's subscriptions (see RevocationFeed).
type FeedStatus struct {
	// LastHeard is when the feed last heard from the server: a revocation,
	// a subscription's confirmation, or the reply to a liveness check. With
	// several subscriptions, the stalest of them. Zero when there is no
	// subscription.
	LastHeard time.Time
	// Err is non-nil while a subscription cannot hear: its connection
	// broke or failed a liveness check, and it has not yet been replaced
	// and caught up on the revocations recorded meanwhile. It wraps
	// ErrStore.
	Err error
	// Reconnects counts the subscriptions re-established, since the store
	// was opened, after their connection was lost or found dead.
	Reconnects int64
}
