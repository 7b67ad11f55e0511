package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// uninterruptible is a store whose writes and reads, once stalled, ignore
// their context until released, as a bbolt write in a stalled fsync does.
type uninterruptible struct {
	*memstore.Store
	mu      sync.Mutex
	stalled chan struct{} // nil: not stalled
}

func (u *uninterruptible) wait() {
	u.mu.Lock()
	c := u.stalled
	u.mu.Unlock()
	if c != nil {
		<-c
	}
}

func (u *uninterruptible) stall() {
	u.mu.Lock()
	u.stalled = make(chan struct{})
	u.mu.Unlock()
}

func (u *uninterruptible) release() {
	u.mu.Lock()
	if u.stalled != nil {
		close(u.stalled)
		u.stalled = nil
	}
	u.mu.Unlock()
}

func (u *uninterruptible) Create(ctx context.Context, r *session.Record) error {
	u.wait()
	return u.Store.Create(context.WithoutCancel(ctx), r)
}

func (u *uninterruptible) Get(ctx context.Context, id string) (*session.Record, error) {
	u.wait()
	return u.Store.Get(context.WithoutCancel(ctx), id)
}

// TestStoreCallsHaveADeadline: a store call that does not return, even
// one that ignores its context, is answered at the store timeout with an
// error that is both a store failure and DeadlineExceeded, and Ready says
// the store stalls; once the store returns, everything works again.
func TestStoreCallsHaveADeadline(t *testing.T) {
	const timeout = 100 * time.Millisecond
	u := &uninterruptible{Store: memstore.New()}
	t.Cleanup(u.release)
	n, err := node.Open(context.Background(), node.Config{
		Backend: u, MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), StoreTimeout: timeout, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-ran; n.Close() })
	<-n.Running()

	u.stall()
	start := time.Now()
	_, err = n.Manager().Login(ctx, "user-1", session.Meta{})
	took := time.Since(start)
	if !errors.Is(err, session.ErrStore) || !errors.Is(err, context.DeadlineExceeded) || took > 3*timeout {
		t.Fatalf("Login on a stalled store: %v after %v; want ErrStore and DeadlineExceeded within 3x the timeout %v", err, took, 3*timeout)
	}
	// A caller's shorter deadline is kept.
	short, cancel := context.WithTimeout(ctx, timeout/10)
	defer cancel()
	start = time.Now()
	if _, err := n.Backend().Get(short, "x"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > timeout {
		t.Fatalf("Get with a shorter deadline: %v after %v", err, time.Since(start))
	}
	if err := n.Ready(ctx); !errors.Is(err, node.ErrStoreStalled) {
		t.Fatalf("Ready on a stalled store: %v, want ErrStoreStalled", err)
	}

	u.release()
	if _, err := n.Manager().Login(ctx, "user-1", session.Meta{}); err != nil {
		t.Fatalf("Login once the store answers: %v", err)
	}
	if err := n.Ready(ctx); err != nil {
		t.Fatalf("Ready once the store answers: %v", err)
	}
}

// contextBound is a store that, once stalled, waits for its context's
// deadline and then fails as a driver that carries the deadline to its
// socket does (node.DeadlineBound): with the context's error, or with a
// socket's i/o timeout a moment before the context's.
type contextBound struct {
	*memstore.Store
	stalled bool
	fail    func(ctx context.Context) error
}

func (c *contextBound) ReturnsByDeadline() bool { return true }

func (c *contextBound) Get(ctx context.Context, id string) (*session.Record, error) {
	if c.stalled {
		<-ctx.Done()
		return nil, c.fail(ctx)
	}
	return c.Store.Get(ctx, id)
}

// ioTimeout is a socket's deadline error.
type ioTimeout struct{}

func (ioTimeout) Error() string   { return "read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout" }
func (ioTimeout) Timeout() bool   { return true }
func (ioTimeout) Temporary() bool { return true }

// TestDeadlineBoundStoreCalls: the calls of a store that gives up at its
// context's deadline by itself run without a goroutine of their own, and
// are answered as any other: a stalled call is ErrStore and
// DeadlineExceeded at the deadline, and Ready says the store stalls; a
// store's own answer (not found) stays what it is.
func TestDeadlineBoundStoreCalls(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, tc := range []struct {
		name string
		fail func(ctx context.Context) error
	}{
		{"the context's error", func(ctx context.Context) error { return ctx.Err() }},
		{"a store error wrapping it", func(ctx context.Context) error { return fmt.Errorf("%w: get: %w", session.ErrStore, ctx.Err()) }},
		{"a socket's i/o timeout", func(context.Context) error { return fmt.Errorf("%w: get: %w", session.ErrStore, ioTimeout{}) }},
		{"a late not found", func(context.Context) error { return session.ErrNotFound }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &contextBound{Store: memstore.New(), fail: tc.fail}
			n, err := node.Open(t.Context(), node.Config{
				Backend: c, MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), StoreTimeout: timeout, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Close() })
			if _, err := n.Backend().Get(t.Context(), "nobody"); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("Get of an unknown session: %v, want ErrNotFound", err)
			}
			c.stalled = true
			start := time.Now()
			_, err = n.Backend().Get(t.Context(), "nobody")
			took := time.Since(start)
			if !errors.Is(err, session.ErrStore) || !errors.Is(err, context.DeadlineExceeded) || took > 3*timeout {
				t.Fatalf("Get on a stalled store: %v after %v; want ErrStore and DeadlineExceeded within 3x the timeout %v", err, took, 3*timeout)
			}
			if err := n.Ready(t.Context()); !errors.Is(err, node.ErrStoreStalled) {
				t.Fatalf("Ready on a stalled store: %v, want ErrStoreStalled", err)
			}
		})
	}
}
