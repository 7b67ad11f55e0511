// Package revfeed fans revocations out to in-process subscribers; the
// embedded stores use it as their session.RevocationFeed.
package revfeed

import (
	"context"
	"sync"

	"github.com/sessiond/sessiond/session"
)

// Feed fans revocations out to in-process subscribers. Each subscriber has
// its own unbounded queue and goroutine: publish only appends under a
// short lock, so a slow subscriber can neither block the store's writes nor
// lose an event, and each subscriber sees events in publish order.
//
// Hand-written because the standard library has no unbounded channel and
// the behaviour (never drop, never block the writer, stop exactly at ctx
// cancellation) is the contract of session.RevocationFeed.
type Feed struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ctx  context.Context
	fn   func(session.Revocation)
	mu   sync.Mutex
	q    []session.Revocation
	wake chan struct{} // capacity 1: "the queue may be non-empty"
}

// Subscribe registers fn until ctx is done; see session.RevocationFeed.
func (f *Feed) Subscribe(ctx context.Context, fn func(session.Revocation)) {
	sub := &subscriber{ctx: ctx, fn: fn, wake: make(chan struct{}, 1)}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*subscriber]struct{})
	}
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	go func() {
		defer func() {
			f.mu.Lock()
			delete(f.subs, sub)
			f.mu.Unlock()
		}()
		sub.run()
	}()
}

// Publish queues rev for every subscriber; it never blocks on one.
func (f *Feed) Publish(rev session.Revocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		sub.mu.Lock()
		sub.q = append(sub.q, rev)
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}

// run delivers queued events until ctx is done. ctx is checked before each
// call, so no event published after the cancellation is delivered.
func (sub *subscriber) run() {
	for {
		select {
		case <-sub.ctx.Done():
			return
		case <-sub.wake:
		}
		for {
			sub.mu.Lock()
			if len(sub.q) == 0 {
				sub.q = nil // let a burst's backing array go
				sub.mu.Unlock()
				break
			}
			rev := sub.q[0]
			sub.q = sub.q[1:]
			sub.mu.Unlock()
			if sub.ctx.Err() != nil {
				return
			}
			sub.fn(rev)
		}
	}
}
