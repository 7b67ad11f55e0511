package account

import (
	"context"
	"fmt"
	"sync"
)

type clientKeyCtx struct{}

// WithClient returns a copy of ctx that names the client a password hash
// is computed for, e.g. httpauth.IPKey of its address. A Service shares
// its hashing slots (MaxConcurrentHashes) fairly between clients: see
// Service.MaxConcurrentHashes. Calls whose ctx names no client are each a
// client of their own.
func WithClient(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, clientKeyCtx{}, key)
}

func clientOf(ctx context.Context) string {
	k, _ := ctx.Value(clientKeyCtx{}).(string)
	return k
}

// hashQueue hands out n hashing slots. When a slot is free and nobody
// waits, it is taken at once. Otherwise callers wait, and each freed slot
// goes to the waiting client with the fewest hashes in flight, the one
// that has waited longest among those: so under a flood every client gets
// one hash at a time in turn, and a client that floods only waits behind
// itself; a newcomer waits for at most one round of the clients ahead of
// it, not for the flood.
type hashQueue struct {
	mu   sync.Mutex
	free int
	// clients are the clients with a hash in flight or waiting.
	clients map[string]*hashClient
	// ready are the clients with waiters, in the order they began to wait
	// (a client served goes to the back if it still has waiters).
	ready []*hashClient
}

type hashClient struct {
	key       string // "" for a call that named no client
	running   int
	waiters   []*hashWaiter
	inReady   bool
	anonymous bool // not in clients: a call that named no client
}

type hashWaiter struct {
	granted chan struct{}
	done    bool // granted, or given up; guarded by hashQueue.mu
}

func newHashQueue(n int) *hashQueue {
	return &hashQueue{free: n, clients: map[string]*hashClient{}}
}

// acquire waits for a slot for key; the returned func gives it back.
func (q *hashQueue) acquire(ctx context.Context, key string) (func(), error) {
	q.mu.Lock()
	var c *hashClient
	if key == "" {
		c = &hashClient{anonymous: true}
	} else if c = q.clients[key]; c == nil {
		c = &hashClient{key: key}
		q.clients[key] = c
	}
	if q.free > 0 && len(q.ready) == 0 {
		q.free--
		c.running++
		q.mu.Unlock()
		return q.releaser(c), nil
	}
	w := &hashWaiter{granted: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	if !c.inReady {
		c.inReady = true
		q.ready = append(q.ready, c)
	}
	q.mu.Unlock()

	select {
	case <-w.granted:
		return q.releaser(c), nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	if w.done { // granted meanwhile: give the slot back
		q.mu.Unlock()
		q.releaser(c)()
		return nil, fmt.Errorf("account: waiting to hash: %w", ctx.Err())
	}
	w.done = true
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			break
		}
	}
	q.forgetIfIdle(c)
	q.dispatch()
	q.mu.Unlock()
	return nil, fmt.Errorf("account: waiting to hash: %w", ctx.Err())
}

// releaser returns the func that gives c's slot back, once.
func (q *hashQueue) releaser(c *hashClient) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			c.running--
			q.free++
			q.forgetIfIdle(c)
			q.dispatch()
			q.mu.Unlock()
		})
	}
}

// dispatch hands free slots to waiters. The caller holds q.mu.
func (q *hashQueue) dispatch() {
	for q.free > 0 {
		// Drop clients that no longer wait (they gave up).
		live := q.ready[:0]
		for _, c := range q.ready {
			if len(c.waiters) > 0 {
				live = append(live, c)
			} else {
				c.inReady = false
			}
		}
		clear(q.ready[len(live):])
		q.ready = live
		if len(q.ready) == 0 {
			return
		}
		best := 0
		for i, c := range q.ready {
			if c.running < q.ready[best].running {
				best = i
			}
		}
		c := q.ready[best]
		q.ready = append(q.ready[:best], q.ready[best+1:]...)
		w := c.waiters[0]
		c.waiters = c.waiters[1:]
		w.done = true
		c.running++
		q.free--
		close(w.granted)
		if len(c.waiters) > 0 {
			q.ready = append(q.ready, c)
		} else {
			c.inReady = false
		}
	}
}

// forgetIfIdle drops c from the clients once it has nothing in flight or
// waiting. The caller holds q.mu.
func (q *hashQueue) forgetIfIdle(c *hashClient) {
	if c.running == 0 && len(c.waiters) == 0 && !c.anonymous && q.clients[c.key] == c {
		delete(q.clients, c.key)
	}
}
