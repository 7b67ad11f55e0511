package account

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// HashClient names whom a password hash is computed for, so that a Service
// can share its hashing slots fairly (see Service.MaxConcurrentHashes).
type HashClient struct {
	// Key identifies the client, e.g. httpauth.IPKey of its address.
	// Empty: every call is a client of its own.
	Key string
	// Known marks an attempt already tied to its account, such as a login
	// with a valid device cookie (httpauth.DeviceCookies). Known and other
	// attempts take turns for the slots, so a flood of unknown ones holds
	// known ones up by one hash at most, and the other way round.
	Known bool
}

type hashClientCtx struct{}

type admitCtx struct{}

// WithAdmission returns a copy of ctx under which a Service calls admit
// once a hashing slot is held, right before the hash: if admit returns an
// error, the slot is given back, nothing is hashed, and the call returns
// that error (wrapped). A login throttle uses it to judge again an attempt
// that waited for its turn, since failures recorded meanwhile (by the
// attempts it waited behind) may refuse it now.
func WithAdmission(ctx context.Context, admit func(context.Context) error) context.Context {
	return context.WithValue(ctx, admitCtx{}, admit)
}

func admissionOf(ctx context.Context) func(context.Context) error {
	f, _ := ctx.Value(admitCtx{}).(func(context.Context) error)
	return f
}

type rejectCtx struct{}

// WithRejection returns a copy of ctx under which a Service, having found
// a password wrong, calls rejected before it gives the hashing slot back.
// If rejected returns an error, the call returns that error wrapped
// beside ErrBadCredentials (errors.Is finds both), so a caller can still
// tell the password was wrong while it answers the failure. A login
// throttle records the failure there, so that the attempt next in line
// for the slot, judged again by WithAdmission, already sees it: recorded
// after the slot is given back, a failure on a store a round trip away
// could arrive after the next attempt was admitted, and one more guess
// than the back-off allows would be hashed.
func WithRejection(ctx context.Context, rejected func(context.Context) error) context.Context {
	return context.WithValue(ctx, rejectCtx{}, rejected)
}

// rejected is what a check that found the password wrong returns, called
// while the hashing slot is still held: ErrBadCredentials, once the
// rejection ctx holds (WithRejection) has been told.
func rejected(ctx context.Context) error {
	if f, _ := ctx.Value(rejectCtx{}).(func(context.Context) error); f != nil {
		if err := f(ctx); err != nil {
			return fmt.Errorf("%w, and recording it failed: %w", ErrBadCredentials, err)
		}
	}
	return ErrBadCredentials
}

// WithClient returns a copy of ctx naming the client the password hashes
// of calls made with it are computed for.
func WithClient(ctx context.Context, c HashClient) context.Context {
	return context.WithValue(ctx, hashClientCtx{}, c)
}

func clientOf(ctx context.Context) HashClient {
	c, _ := ctx.Value(hashClientCtx{}).(HashClient)
	return c
}

// usageEpoch is how long a hashQueue remembers the hashes it granted a
// client: for this long at least, twice as long at most.
const usageEpoch = 10 * time.Second

// hashQueue hands out n hashing slots. When a slot is free and nobody
// waits, it is taken at once. Otherwise callers wait, and each freed slot
// goes to a waiting client of the class (known, unknown) not served last,
// if that class has one waiting; within the class, to the client with the
// fewest hashes in flight, then the fewest granted lately (the last 10 to
// 20 seconds), then the one that has waited longest. So under a flood a
// client that floods only waits behind itself, the flooding clients share
// the slots in turn, a client that asks now and then (a person logging
// in) goes before every client that has been hashing lately, and each
// class gets at least half of the slots.
type hashQueue struct {
	mu   sync.Mutex
	free int
	// clients are the clients with a hash in flight or waiting.
	clients map[HashClient]*hashClient
	// ready are, per class (0 unknown, 1 known), the clients with waiters
	// in the order they began to wait (a client served goes to the back if
	// it still has waiters).
	ready [2][]*hashClient
	// last is the class served last.
	last int
	// used and prevUsed count the slots granted to each client in the
	// current epoch (begun at epoch) and the one before; a grant costs one
	// entry, so they hold at most as many clients as hashes were computed
	// in two epochs.
	now            func() time.Time
	epoch          time.Time
	used, prevUsed map[HashClient]int
}

type hashClient struct {
	id        HashClient
	running   int
	waiters   []*hashWaiter
	inReady   bool
	anonymous bool // not in clients: a call that named no client
}

func (c *hashClient) class() int {
	if c.id.Known {
		return 1
	}
	return 0
}

type hashWaiter struct {
	granted chan struct{}
	done    bool // granted, or given up; guarded by hashQueue.mu
}

func newHashQueue(n int, now func() time.Time) *hashQueue {
	if now == nil {
		now = time.Now
	}
	return &hashQueue{free: n, clients: map[HashClient]*hashClient{}, now: now, epoch: now(), used: map[HashClient]int{}}
}

// roll starts a new epoch when the current one is over. The caller holds
// q.mu.
func (q *hashQueue) roll() {
	now := q.now()
	switch d := now.Sub(q.epoch); {
	case d >= 2*usageEpoch || d < 0:
		q.prevUsed, q.used, q.epoch = nil, map[HashClient]int{}, now
	case d >= usageEpoch:
		q.prevUsed, q.used, q.epoch = q.used, map[HashClient]int{}, now
	}
}

// grant records a slot handed to c. The caller holds q.mu.
func (q *hashQueue) grant(c *hashClient) {
	c.running++
	q.free--
	if !c.anonymous {
		q.roll()
		q.used[c.id]++
	}
}

// usage is how many slots c was granted lately. The caller holds q.mu
// and has rolled the epochs.
func (q *hashQueue) usage(c *hashClient) int { return q.used[c.id] + q.prevUsed[c.id] }

// waiting reports whether anyone waits. The caller holds q.mu.
func (q *hashQueue) waiting() bool { return len(q.ready[0])+len(q.ready[1]) > 0 }

// acquire waits for a slot for id; the returned func gives it back.
func (q *hashQueue) acquire(ctx context.Context, id HashClient) (func(), error) {
	q.mu.Lock()
	var c *hashClient
	if id.Key == "" {
		c = &hashClient{id: id, anonymous: true}
	} else if c = q.clients[id]; c == nil {
		c = &hashClient{id: id}
		q.clients[id] = c
	}
	if q.free > 0 && !q.waiting() {
		q.grant(c)
		q.mu.Unlock()
		return q.releaser(c), nil
	}
	w := &hashWaiter{granted: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	if !c.inReady {
		c.inReady = true
		q.ready[c.class()] = append(q.ready[c.class()], c)
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
		for k := range q.ready {
			q.ready[k] = live(q.ready[k])
		}
		k := 1 - q.last
		if len(q.ready[k]) == 0 {
			k = q.last
		}
		ready := q.ready[k]
		if len(ready) == 0 {
			return
		}
		q.roll()
		best, bestUse := 0, q.usage(ready[0])
		for i, c := range ready[1:] {
			u := q.usage(c)
			if c.running < ready[best].running || c.running == ready[best].running && u < bestUse {
				best, bestUse = i+1, u
			}
		}
		c := ready[best]
		ready = append(ready[:best], ready[best+1:]...)
		w := c.waiters[0]
		c.waiters = c.waiters[1:]
		w.done = true
		q.grant(c)
		q.last = k
		close(w.granted)
		if len(c.waiters) > 0 {
			ready = append(ready, c)
		} else {
			c.inReady = false
		}
		q.ready[k] = ready
	}
}

// live drops from ready the clients that no longer wait (they gave up).
func live(ready []*hashClient) []*hashClient {
	out := ready[:0]
	for _, c := range ready {
		if len(c.waiters) > 0 {
			out = append(out, c)
		} else {
			c.inReady = false
		}
	}
	clear(ready[len(out):])
	return out
}

// forgetIfIdle drops c from the clients once it has nothing in flight or
// waiting. The caller holds q.mu.
func (q *hashQueue) forgetIfIdle(c *hashClient) {
	if c.running == 0 && len(c.waiters) == 0 && !c.anonymous && q.clients[c.id] == c {
		delete(q.clients, c.id)
	}
}
