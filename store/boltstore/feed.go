package boltstore

import (
	"context"

	"github.com/sessiond/sessiond/session"
)

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

func (s *Store) publish(revs []session.Revocation) {
	for _, r := range revs {
		s.feed.Publish(r)
	}
}
