package redislimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/redislimit"
)

// scriptCounter is a go-redis hook counting the rate-limit scripts a
// client has Redis run: EVALSHA, or EVAL when the script is not cached
// yet. An EVALSHA refused with NOSCRIPT ran nothing and is not counted:
// the first call on a Redis (each node of a fresh cluster) is one, and
// go-redis follows it with the EVAL, which is.
type scriptCounter struct{ n atomic.Int64 }

func (h *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			k, _ := cmd.Args()[3].(string)
			if strings.Contains(k, ":rl:") && !errors.Is(err, redis.ErrNoScript) && !redis.HasErrorPrefix(err, "NOSCRIPT") {
				h.n.Add(1)
			}
		}
		return err
	}
}

func (h *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// counting adds a scriptCounter to c.
func counting(c redis.UniversalClient) *scriptCounter {
	h := &scriptCounter{}
	c.AddHook(h)
	return h
}

// TestFloodCostsNoRoundTrips: once a key is refused, a flood on it is
// refused from the Limiter's memory until the refusal's RetryAfter is
// over, with no script sent; each answer is the one Redis would give.
// Then Redis is asked again, and judges; another Limiter on the same
// keys (another node) is not fooled by the first one's memory.
func TestFloodCostsNoRoundTrips(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c, prefix := newClient(t, b.client)
			scripts := counting(c)
			var mu sync.Mutex
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			l := redislimit.New(c, prefix, redislimit.WithClock(clock))
			other := redislimit.New(c, prefix, redislimit.WithClock(clock)) // no memory of l's refusals
			lim := ratelimit.Limit{Rate: 60, Period: time.Minute, Burst: 2}
			ctx := t.Context()
			for i := range 3 {
				if d, err := l.Allow(ctx, "session:s1", lim); err != nil || !d.Allowed {
					t.Fatalf("request %d of the burst: %+v, %v", i, d, err)
				}
			}
			first, err := l.Allow(ctx, "session:s1", lim)
			if err != nil || first.Allowed || first.RetryAfter != time.Second {
				t.Fatalf("first request past the burst: %+v, %v; want refused for 1s", first, err)
			}
			sent := scripts.n.Load()
			if sent != 4 {
				t.Fatalf("%d scripts for 4 requests", sent)
			}
			for i := range 1000 {
				if i == 500 {
					advance(600 * time.Millisecond)
				}
				d, err := l.Allow(ctx, "session:s1", lim)
				want := ratelimit.Decision{RetryAfter: time.Second, ResetAfter: 3 * time.Second}
				if i >= 500 {
					want = ratelimit.Decision{RetryAfter: 400 * time.Millisecond, ResetAfter: 2400 * time.Millisecond}
				}
				if err != nil || d != want {
					t.Fatalf("flood request %d: %+v, %v; want %+v", i, d, err, want)
				}
			}
			if n := scripts.n.Load(); n != sent {
				t.Fatalf("the flood of 1000 refused requests sent %d scripts, want none", n-sent)
			}
			// Another node asks Redis, which refuses alike.
			if d, err := other.Allow(ctx, "session:s1", lim); err != nil || d.Allowed || d.RetryAfter != 400*time.Millisecond {
				t.Fatalf("another node: %+v, %v; want Redis's refusal", d, err)
			}
			// Another limit on the same key is judged by Redis, not by the
			// memory of a refusal under this one.
			wider := ratelimit.Limit{Rate: 60, Period: time.Minute, Burst: 10}
			if d, err := l.Allow(ctx, "session:s1", wider); err != nil || !d.Allowed {
				t.Fatalf("under a wider limit: %+v, %v; want allowed", d, err)
			}
			if d, err := l.Allow(ctx, "session:s2", lim); err != nil || !d.Allowed {
				t.Fatalf("another key: %+v, %v", d, err)
			}
			// Past the refusal (and the one request the wider limit spent),
			// Redis is asked again and lets one through.
			advance(1400 * time.Millisecond)
			before := scripts.n.Load()
			if d, err := l.Allow(ctx, "session:s1", lim); err != nil || !d.Allowed {
				t.Fatalf("after RetryAfter: %+v, %v; want allowed", d, err)
			}
			if scripts.n.Load() != before+1 {
				t.Fatal("the request after the refusal did not ask Redis")
			}
		})
	}
}

// TestFloodOnServerClock: judged by Redis's own clock, a flood is still
// refused with no script per request, and the memory never outlives the
// refusal by Redis's clock: once its RetryAfter has passed, Redis judges
// the next request.
func TestFloodOnServerClock(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c, prefix := newClient(t, b.client)
			scripts := counting(c)
			l := redislimit.New(c, prefix)
			lim := ratelimit.Limit{Rate: 10, Period: time.Second, Burst: 0} // one per 100 ms
			ctx := t.Context()
			if d, err := l.Allow(ctx, "k", lim); err != nil || !d.Allowed {
				t.Fatalf("first: %+v, %v", d, err)
			}
			refused := 0
			var wait time.Duration
			for range 200 {
				d, err := l.Allow(ctx, "k", lim)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					break // a slow machine took 100 ms for the loop
				}
				refused++
				wait = d.RetryAfter
			}
			if refused > 0 && scripts.n.Load() > 2+int64(refused)/100 {
				t.Fatalf("%d scripts for 1 allowed and %d refused requests", scripts.n.Load(), refused)
			}
			// Once the RetryAfter it told has passed, the memory lets the
			// request go to Redis, which judges: it may still refuse it for
			// the round trip by which the memory's span starts early.
			time.Sleep(wait)
			before := scripts.n.Load()
			d, err := l.Allow(ctx, "k", lim)
			if err != nil {
				t.Fatal(err)
			}
			if scripts.n.Load() != before+1 {
				t.Fatalf("after the refusal's RetryAfter (%v) the memory answered %+v", wait, d)
			}
			if !d.Allowed {
				time.Sleep(d.RetryAfter)
				if d, err := l.Allow(ctx, "k", lim); err != nil || !d.Allowed {
					t.Fatalf("after Redis's own RetryAfter: %+v, %v; want allowed", d, err)
				}
			}
		})
	}
}
