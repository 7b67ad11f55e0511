package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"go.etcd.io/bbolt"
)

// Group commit.
//
// The session writes (Create, Update, Rotate, Delete, DeleteUser) go
// through a committer: a write that arrives while no commit is running
// starts one at once; writes that arrive while one runs queue, and the
// next commit runs all of them (at most maxBatch) in one bbolt write
// transaction, so they share its fsync. A caller is answered only after
// the transaction holding its write has committed (bbolt fsyncs every
// commit; nothing here turns that off), so an answer still means the write
// is on disk and survives kill -9.
//
// Why not bbolt's DB.Batch: Batch collects calls on a timer
// (MaxBatchDelay, 10 ms by default) started by the first call, so a lone
// write waits out the delay before it starts: with a commit taking a few
// hundred µs here, a single client or an admin command would run tens of
// times slower. A delay short enough not to matter for it makes batches
// hold only what arrives within the delay: calls that arrive during a
// running commit start batches of their own, whose timers fire one after
// another while that commit still holds the lock.
// The committer needs no timer: the batch is whatever arrived during the
// previous commit, which adapts to the load by itself (one write alone
// when idle, as many as are waiting under load), and the added wait is
// bounded by the commit in progress (at most maxBatch writes and one
// fsync). It also drops a write whose context ended while it queued, so a
// write still waiting when its caller gives up changes nothing.
// The price: when commits are slow (a busy disk) and the same writers come
// straight back, they split into two groups that take turns, so a commit
// holds fewer of them than a timer would gather (BENCHMARKS.md measures
// both).
//
// Failure isolation is Batch's: a function that returns an error rolls
// back the whole transaction; it is taken out, the others run again in a
// new transaction, and its caller re-runs it alone in a transaction of its
// own, so its error is judged against committed state only, never against
// writes of others that were rolled back. Functions may therefore run more
// than once and must be idempotent: each computes its outcome from the
// stored state, resets what it reports on every run, and has no side
// effects outside the transaction (the caller publishes revocations after
// the commit). Outcomes a caller expects (ErrNotFound, ErrConflict,
// ErrExists, ErrDeadline, a reuse) are carried out of the function, which
// returns nil: only failures of the store itself (a corrupt record, an
// I/O error) take the retry path.

// defaultMaxBatch bounds how many writes share one commit: enough to make
// the fsync's share of a write negligible, small enough that a batch's
// own work (tens of µs a write) keeps the wait of its first write short.
const defaultMaxBatch = 256

// errRunAlone tells a caller to run its function alone; no caller returns
// it.
var errRunAlone = errors.New("boltstore: batch function failed and is re-run alone")

// committer groups concurrent write transactions into shared commits.
type committer struct {
	db  *bbolt.DB
	max int

	mu      sync.Mutex
	queue   []*pending
	running bool // a goroutine is draining queue

	// attempted, if set (by tests, before any write), is called before
	// each transaction of a batch with the number of functions in it.
	attempted func(n int)
}

type pending struct {
	ctx  context.Context
	fn   func(*bbolt.Tx) error
	done chan error // buffered: the committer never blocks on a caller
}

// do runs fn in a write transaction shared with other concurrent calls and
// returns once that transaction has committed (or failed). A context that
// ends before fn's transaction starts means fn changes nothing and do
// returns the context's error.
func (c *committer) do(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.max <= 1 {
		return c.alone(ctx, fn)
	}
	p := &pending{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if !c.running {
		c.running = true
		go c.drain()
	}
	c.mu.Unlock()
	if err := <-p.done; err != errRunAlone {
		return err
	}
	return c.alone(ctx, fn)
}

// alone runs fn in a write transaction of its own.
func (c *committer) alone(ctx context.Context, fn func(*bbolt.Tx) error) error {
	return c.db.Update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(tx)
	})
}

// drain commits batches until the queue is empty.
func (c *committer) drain() {
	for {
		// Let the goroutines that are ready to run (the callers just
		// answered, requests in progress) queue their next writes first:
		// without this, the first write after a commit often starts the
		// next one alone and the rest wait for the one after, so batches
		// alternate between small and large. With nothing else to run it
		// returns at once: a lone write is not delayed.
		runtime.Gosched()
		c.mu.Lock()
		n := min(len(c.queue), c.max)
		if n == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		batch := make([]*pending, n)
		copy(batch, c.queue)
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		c.commit(batch)
	}
}

// commit runs batch in one transaction, taking out (and sending back to
// run alone) each function that fails, and answers every caller.
func (c *committer) commit(batch []*pending) {
	for len(batch) > 0 {
		live := batch[:0]
		for _, p := range batch {
			if err := p.ctx.Err(); err != nil {
				p.done <- err
				continue
			}
			live = append(live, p)
		}
		batch = live
		if len(batch) == 0 {
			return
		}
		if c.attempted != nil {
			c.attempted(len(batch))
		}
		failed := -1
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for i, p := range batch {
				if err := call(p.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, p := range batch { // committed, or the commit failed for all
				p.done <- err
			}
			return
		}
		batch[failed].done <- errRunAlone
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// call runs fn, turning a panic into an error so that one function's bug
// cannot take down the committer's goroutine (and every caller waiting on
// it): the function is then re-run alone, in its caller's goroutine, where
// the panic surfaces as it did before group commit.
func call(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(tx)
}
