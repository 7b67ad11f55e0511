package redisstore_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/redisstore"
)

// TestTimedOutConnectionIsNotReused stalls a private Redis under a store
// with one pooled connection: a write (INCR) gives up at the timeout, long
// before the stall ends; once Redis resumes, it has run that write exactly
// once (the client did not send it again), and the next callers read
// their own replies, not the late one (go-redis closes a connection whose
// read timed out).
func TestTimedOutConnectionIsNotReused(t *testing.T) {
	const timeout = 200 * time.Millisecond
	rp := testenv.StartRedis(t)
	ctx := context.Background()
	st, err := redisstore.Open(ctx, rp.URL()+"?pool_size=1", redisstore.WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := st.Client()
	if err := c.MSet(ctx, "a", "reply-of-a", "b", "reply-of-b").Err(); err != nil {
		t.Fatal(err)
	}

	dials := &dialCounter{}
	c.AddHook(dials)

	rp.Pause()
	paused := true
	t.Cleanup(func() {
		if paused {
			rp.Resume()
		}
	})
	start := time.Now()
	err = c.Incr(ctx, "n").Err() // no deadline of its own: the store's timeout bounds it
	took := time.Since(start)
	t.Logf("INCR during a stall failed after %v: %v", took.Round(time.Millisecond), err)
	if err == nil || took > 3*timeout {
		t.Fatalf("INCR during a stall: err %v after %v; want an error within 3x the timeout %v", err, took, 3*timeout)
	}
	// Not sent again: a retry would have dialled a new connection (the
	// timed-out one is closed).
	if n := dials.n.Load(); n != 0 {
		t.Fatalf("the client dialled %d new connections for the INCR that timed out: it retried the write", n)
	}
	// The store's own calls are store failures (503), as are those cut
	// short by a caller's deadline.
	if _, err := st.Get(ctx, "no-such-session"); !errors.Is(err, session.ErrStore) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get during a stall: %v, want ErrStore or DeadlineExceeded", err)
	}
	time.Sleep(10*timeout - time.Since(start))
	rp.Resume()
	paused = false

	// Redis now runs what it was sent on connections the client has given
	// up: the INCR, once. None of the late replies may reach the next
	// caller.
	var n int64
	for deadline := time.Now().Add(10 * time.Second); n == 0 && time.Now().Before(deadline); {
		if n, err = c.Get(ctx, "n").Int64(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("GET n after the stall: %v", err)
		}
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err = c.Get(ctx, "n").Int64(); err != nil || n != 1 {
		t.Fatalf("the INCR sent during the stall ran %d times (%v), want once", n, err)
	}
	for i := range 20 {
		got, err := c.Get(ctx, "b").Result()
		if err != nil {
			t.Fatalf("GET b #%d after the stall: %v", i, err)
		}
		if got != "reply-of-b" {
			t.Fatalf("GET b #%d after the stall read %q: a late reply left on a reused connection", i, got)
		}
	}
}

// dialCounter counts the connections a go-redis client dials.
type dialCounter struct{ n atomic.Int64 }

func (d *dialCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.n.Add(1)
		return next(ctx, network, addr)
	}
}

func (d *dialCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (d *dialCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
