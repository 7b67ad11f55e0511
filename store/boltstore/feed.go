package boltstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/session"
)

var _ session.FeedHealth = (*Store)(nil)

// SubscribeRevocations calls fn, from a goroutine of its own, for every
// revocation this Store records after SubscribeRevocations returns, in
// commit order per writer, until ctx is done. Events wait in an unbounded
// queue, so a slow fn never blocks a write and no event is dropped.
// Revocations recorded by other processes are not seen: a bbolt file has
// one process.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if err := ctx.Err(); err != nil {
		return fail("subscribe", err)
	}
	s.feed.Subscribe(ctx, fn)
	return nil
}

// FeedStatus reports the feed healthy: an in-process feed cannot go deaf
// (see session.FeedHealth).
func (s *Store) FeedStatus() session.FeedStatus { return session.FeedStatus{LastHeard: time.Now()} }

func (s *Store) publish(revs []session.Revocation) {
	for _, r := range revs {
		s.feed.Publish(r)
	}
}
