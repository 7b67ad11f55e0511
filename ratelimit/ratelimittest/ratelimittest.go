// Package ratelimittest is the conformance suite that every
// ratelimit.Limiter backend runs unchanged, so that Memory and shared
// backends (Redis) mean the same thing by the same Limit.
//
// The suite drives time itself through the clock it hands to the backend;
// every duration it uses is a whole number of milliseconds, so a backend
// that keeps time in milliseconds passes too.
package ratelimittest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

// NewLimiter returns a fresh, empty backend that reads the time from now.
// Keys must not leak between calls (use a fresh key prefix or database).
type NewLimiter func(t *testing.T, now func() time.Time) ratelimit.Limiter

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Start is the time the suite's clocks start at.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Run runs the whole suite against the backend made by newLimiter.
func Run(t *testing.T, newLimiter NewLimiter) {
	t.Run("Sequences", func(t *testing.T) { testSequences(t, newLimiter) })
	t.Run("IndependentKeys", func(t *testing.T) { testIndependentKeys(t, newLimiter) })
	t.Run("Unlimited", func(t *testing.T) { testUnlimited(t, newLimiter) })
	t.Run("InvalidLimit", func(t *testing.T) { testInvalid(t, newLimiter) })
	t.Run("MatchesGCRA", func(t *testing.T) { testMatchesGCRA(t, newLimiter) })
	t.Run("ConcurrentOneKey", func(t *testing.T) { testConcurrent(t, newLimiter) })
}

// call is one request of a sequence: advance the clock, then Allow.
type call struct {
	advance time.Duration
	want    ratelimit.Decision
}

func allow(remaining int, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, Remaining: remaining, ResetAfter: reset}
}

func deny(retry, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{RetryAfter: retry, ResetAfter: reset}
}

const ms = time.Millisecond

func testSequences(t *testing.T, newLimiter NewLimiter) {
	s := time.Second
	tests := []struct {
		name  string
		limit ratelimit.Limit
		calls []call
	}{
		{
			name:  "burst then deny with exact retry",
			limit: ratelimit.Limit{Rate: 1, Period: s, Burst: 2},
			calls: []call{
				{0, allow(2, 1*s)},
				{0, allow(1, 2*s)},
				{0, allow(0, 3*s)},
				{0, deny(1*s, 3*s)},
				{400 * ms, deny(600*ms, 2600*ms)},
				{599 * ms, deny(1*ms, 2001*ms)},
				{1 * ms, allow(0, 3*s)}, // exactly RetryAfter later
				{0, deny(1*s, 3*s)},
			},
		},
		{
			name:  "refill one interval at a time",
			limit: ratelimit.Limit{Rate: 10, Period: s, Burst: 1}, // interval 100ms
			calls: []call{
				{0, allow(1, 100*ms)},
				{0, allow(0, 200*ms)},
				{0, deny(100*ms, 200*ms)},
				{100 * ms, allow(0, 200*ms)},
				{250 * ms, allow(1, 100*ms)}, // rested: 50ms past the TAT
				{0, allow(0, 200*ms)},
			},
		},
		{
			name:  "no burst spaces events",
			limit: ratelimit.Limit{Rate: 10, Period: time.Minute}, // interval 6s
			calls: []call{
				{0, allow(0, 6*s)},
				{1 * s, deny(5*s, 5*s)},
				{5 * s, allow(0, 6*s)},
				{5999 * ms, deny(1*ms, 1*ms)},
				{1 * ms, allow(0, 6*s)},
			},
		},
		{
			name:  "denied calls do not extend the wait",
			limit: ratelimit.Limit{Rate: 1, Period: s},
			calls: []call{
				{0, allow(0, 1*s)},
				{0, deny(1*s, 1*s)},
				{0, deny(1*s, 1*s)},
				{0, deny(1*s, 1*s)},
				{500 * ms, deny(500*ms, 500*ms)},
				{500 * ms, allow(0, 1*s)},
			},
		},
		{
			name:  "partial refill",
			limit: ratelimit.Limit{Rate: 4, Period: s, Burst: 3}, // interval 250ms, 4 at once
			calls: []call{
				{0, allow(3, 250*ms)},
				{0, allow(2, 500*ms)},
				{0, allow(1, 750*ms)},
				{0, allow(0, 1000*ms)},
				{0, deny(250*ms, 1000*ms)},
				{600 * ms, allow(1, 650*ms)}, // 2 intervals back, partially a third
				{0, allow(0, 900*ms)},
				{0, deny(150*ms, 900*ms)},
				{900 * ms, allow(3, 250*ms)}, // fully rested at ResetAfter
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewClock(Start)
			l := newLimiter(t, clock.Now)
			for i, c := range tt.calls {
				clock.Advance(c.advance)
				got, err := l.Allow(t.Context(), "k", tt.limit)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got != c.want {
					t.Fatalf("call %d (at +%v): got %+v, want %+v", i, clock.Now().Sub(Start), got, c.want)
				}
			}
		})
	}
}

func testIndependentKeys(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	lim := ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 1}
	for _, key := range []string{"a", "b", "login:ip:192.0.2.1", "login:user:192.0.2.1", ""} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			for i, want := range []bool{true, true, false} {
				d, err := l.Allow(t.Context(), key, lim)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != want {
					t.Fatalf("call %d: Allowed = %v, want %v", i, d.Allowed, want)
				}
			}
		})
	}
}

func testUnlimited(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	for i := range 1000 {
		d, err := l.Allow(t.Context(), "k", ratelimit.Limit{})
		if err != nil {
			t.Fatal(err)
		}
		if want := (ratelimit.Decision{Allowed: true, Remaining: -1}); d != want {
			t.Fatalf("call %d: got %+v, want %+v", i, d, want)
		}
	}
	// The unlimited calls left no state: a real limit on the key starts rested.
	d, err := l.Allow(t.Context(), "k", ratelimit.Limit{Rate: 1, Period: time.Second, Burst: 4})
	if err != nil || !d.Allowed || d.Remaining != 4 {
		t.Fatalf("after unlimited calls: %+v, %v; want a rested key", d, err)
	}
}

func testInvalid(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	for _, lim := range []ratelimit.Limit{
		{Rate: -1, Period: time.Second},
		{Rate: 1, Period: time.Second, Burst: -1},
		{Rate: 1},
		{Rate: 1, Period: -time.Second},
		{Rate: 2, Period: 1},
		{Rate: 1, Period: time.Hour, Burst: 1 << 40},
	} {
		t.Run(lim.String(), func(t *testing.T) {
			d, err := l.Allow(t.Context(), "k", lim)
			if !errors.Is(err, ratelimit.ErrInvalidLimit) {
				t.Errorf("err = %v, want ErrInvalidLimit", err)
			}
			if d.Allowed {
				t.Error("an invalid limit allowed the request")
			}
		})
	}
}

// testMatchesGCRA plays random calls on a few keys and checks every
// decision against ratelimit.GCRA, the reference step.
func testMatchesGCRA(t *testing.T, newLimiter NewLimiter) {
	rng := rand.New(rand.NewPCG(1, 2))
	limits := []ratelimit.Limit{
		{Rate: 1, Period: time.Second},
		{Rate: 5, Period: time.Second, Burst: 3},
		{Rate: 60, Period: time.Minute, Burst: 10},
		{Rate: 8, Period: 2 * time.Second, Burst: 1},
	}
	for li, lim := range limits {
		t.Run(lim.String(), func(t *testing.T) {
			clock := NewClock(Start)
			l := newLimiter(t, clock.Now)
			tats := map[string]time.Time{}
			for i := range 2000 {
				clock.Advance(time.Duration(rng.IntN(4)*rng.IntN(300)) * ms)
				key := fmt.Sprintf("g%d-%d", li, rng.IntN(3))
				var want ratelimit.Decision
				tats[key], want = ratelimit.GCRA(tats[key], clock.Now(), lim)
				got, err := l.Allow(t.Context(), key, lim)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("call %d on %s at +%v: got %+v, GCRA says %+v",
						i, key, clock.Now().Sub(Start), got, want)
				}
			}
		})
	}
}

// testConcurrent runs many goroutines on one key with the clock stopped:
// exactly Burst+1 of them are allowed, however they interleave.
func testConcurrent(t *testing.T, newLimiter NewLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	lim := ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 24}
	const goroutines, each = 16, 20
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				d, err := l.Allow(t.Context(), "hot", lim)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got, want := allowed.Load(), int64(lim.Burst+1); got != want {
		t.Errorf("allowed %d, want exactly Burst+1 = %d", got, want)
	}
	if got := allowed.Load() + denied.Load(); got != goroutines*each {
		t.Errorf("%d decisions, want %d", got, goroutines*each)
	}
}
