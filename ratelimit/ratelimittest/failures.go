package ratelimittest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

// NewFailureLimiter returns a fresh, empty ratelimit.FailureLimiter that
// reads the time from now, as NewLimiter does.
type NewFailureLimiter func(t *testing.T, now func() time.Time) ratelimit.FailureLimiter

// RunFailures runs the suite of the failure side (ratelimit.FailureLimiter)
// against the backend made by newLimiter.
func RunFailures(t *testing.T, newLimiter NewFailureLimiter) {
	t.Run("Sequences", func(t *testing.T) { testFailSequences(t, newLimiter) })
	t.Run("IndependentKeys", func(t *testing.T) { testFailKeys(t, newLimiter) })
	t.Run("Forget", func(t *testing.T) { testForget(t, newLimiter) })
	t.Run("InvalidBackoff", func(t *testing.T) { testInvalidBackoff(t, newLimiter) })
	t.Run("MatchesFailStep", func(t *testing.T) { testMatchesFailStep(t, newLimiter) })
	t.Run("ConcurrentOneKey", func(t *testing.T) { testFailConcurrent(t, newLimiter) })
}

// op is one step of a failure sequence: advance the clock, then record a
// failure (fail) or only ask (not fail), and compare.
type op struct {
	advance time.Duration
	fail    bool
	count   int           // the Count a failure must report
	wait    time.Duration // the RetryAfter of a failure, or what Blocked says
}

func testFailSequences(t *testing.T, newLimiter NewFailureLimiter) {
	s := time.Second
	cognito := ratelimit.Backoff{Free: 5, Base: s, Max: 15 * time.Minute, Decay: 15 * time.Minute}
	tests := []struct {
		name string
		b    ratelimit.Backoff
		ops  []op
	}{
		{
			name: "free failures cost nothing, then the wait doubles",
			b:    ratelimit.Backoff{Free: 2, Base: s, Max: time.Hour, Decay: time.Hour},
			ops: []op{
				{0, false, 0, 0},
				{0, true, 1, 0},
				{0, true, 2, 0},
				{0, false, 0, 0},
				{0, true, 3, 1 * s},
				{0, false, 0, 1 * s},
				{400 * ms, false, 0, 600 * ms},
				{600 * ms, false, 0, 0},
				{0, true, 4, 2 * s},
				{2 * s, true, 5, 4 * s},
				{4 * s, true, 6, 8 * s},
			},
		},
		{
			name: "the wait is capped",
			b:    ratelimit.Backoff{Free: 0, Base: s, Max: 5 * s, Decay: time.Hour},
			ops: []op{
				{0, true, 1, 1 * s},
				{0, true, 2, 2 * s},
				{0, true, 3, 4 * s},
				{0, true, 4, 5 * s},
				{0, true, 5, 5 * s},
				{5 * s, false, 0, 0},
				{0, true, 6, 5 * s},
			},
		},
		{
			name: "failures decay one per Decay",
			b:    ratelimit.Backoff{Free: 2, Base: s, Max: time.Minute, Decay: 10 * s},
			ops: []op{
				{0, true, 1, 0},
				{0, true, 2, 0},
				{0, true, 3, 1 * s},
				{10 * s, true, 3, 1 * s}, // one forgotten, one added
				{15 * s, true, 3, 1 * s}, // 1.5 forgotten: the count rounds up
				{20 * s, true, 2, 0},     // 2.5 forgotten of 3: 0.5 left, 1.5 after this one
				{100 * s, false, 0, 0},
				{0, true, 1, 0}, // all forgotten
			},
		},
		{
			name: "a later failure never shortens a wait",
			b:    ratelimit.Backoff{Free: 1, Base: 8 * s, Max: time.Minute, Decay: s},
			ops: []op{
				{0, true, 1, 0},
				{0, true, 2, 8 * s},
				{0, true, 3, 16 * s},
				{5 * s, true, 1, 11 * s}, // all forgotten: this one is free, but 11s of the 16s are left
				{1 * s, false, 0, 10 * s},
			},
		},
		{
			name: "the Cognito policy: 5 free, 1s doubling to 15m",
			b:    cognito,
			ops: []op{
				{0, true, 1, 0}, {0, true, 2, 0}, {0, true, 3, 0}, {0, true, 4, 0}, {0, true, 5, 0},
				{0, true, 6, 1 * s},
				{1 * s, true, 7, 2 * s},
				{2 * s, true, 8, 4 * s},
				{4 * s, true, 9, 8 * s},
				{8 * s, true, 10, 16 * s},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewClock(Start)
			l := newLimiter(t, clock.Now)
			for i, o := range tt.ops {
				clock.Advance(o.advance)
				at := clock.Now().Sub(Start)
				if o.fail {
					f, err := l.Fail(t.Context(), "k", tt.b)
					if err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
					if want := (ratelimit.Failure{Count: o.count, RetryAfter: o.wait}); f != want {
						t.Fatalf("op %d (fail at +%v): got %+v, want %+v", i, at, f, want)
					}
					continue
				}
				w, err := l.Blocked(t.Context(), "k")
				if err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				if w != o.wait {
					t.Fatalf("op %d (blocked at +%v): %v, want %v", i, at, w, o.wait)
				}
			}
		})
	}
}

func testFailKeys(t *testing.T, newLimiter NewFailureLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	b := ratelimit.Backoff{Free: 1, Base: time.Minute, Max: time.Hour, Decay: time.Hour}
	keys := []string{"a", "b", "login:acct:x", "login:client:x:192.0.2.1", ""}
	for _, key := range keys {
		for i := range 2 {
			if _, err := l.Fail(t.Context(), key, b); err != nil {
				t.Fatalf("%q fail %d: %v", key, i, err)
			}
		}
	}
	for _, key := range keys {
		if w, err := l.Blocked(t.Context(), key); err != nil || w != time.Minute {
			t.Errorf("%q: blocked %v, %v; want 1m (two failures of its own)", key, w, err)
		}
	}
	if w, err := l.Blocked(t.Context(), "never"); err != nil || w != 0 {
		t.Errorf("a key never seen: blocked %v, %v", w, err)
	}
	// The failure side is apart from Allow's: a key's failures do not
	// count as requests, nor the other way round.
	if al, ok := l.(ratelimit.Limiter); ok {
		d, err := al.Allow(t.Context(), "a", ratelimit.Limit{Rate: 1, Period: time.Hour})
		if err != nil || !d.Allowed {
			t.Errorf("Allow on a key with failures: %+v, %v; want a rested key", d, err)
		}
		if _, err := al.Allow(t.Context(), "fresh", ratelimit.Limit{Rate: 1, Period: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if w, err := l.Blocked(t.Context(), "fresh"); err != nil || w != 0 {
			t.Errorf("Blocked on a key Allow used: %v, %v", w, err)
		}
	}
}

func testForget(t *testing.T, newLimiter NewFailureLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	b := ratelimit.Backoff{Free: 1, Base: time.Minute, Max: time.Hour, Decay: time.Hour}
	for range 3 {
		if _, err := l.Fail(t.Context(), "k", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Forget(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if w, err := l.Blocked(t.Context(), "k"); err != nil || w != 0 {
		t.Fatalf("after Forget: blocked %v, %v", w, err)
	}
	if f, err := l.Fail(t.Context(), "k", b); err != nil || f != (ratelimit.Failure{Count: 1}) {
		t.Fatalf("the first failure after Forget: %+v, %v; want count 1, no wait", f, err)
	}
	if err := l.Forget(t.Context(), "never"); err != nil {
		t.Fatalf("Forget of a key never seen: %v", err)
	}
}

func testInvalidBackoff(t *testing.T, newLimiter NewFailureLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	for _, b := range []ratelimit.Backoff{
		{},
		{Free: -1, Base: time.Second, Max: time.Second, Decay: time.Second},
		{Free: 1, Base: 0, Max: time.Second, Decay: time.Second},
		{Free: 1, Base: time.Second, Max: time.Millisecond, Decay: time.Second},
		{Free: 1, Base: time.Second, Max: time.Second, Decay: 0},
		{Free: 1, Base: 1500 * time.Microsecond, Max: time.Second, Decay: time.Second},
		{Free: ratelimit.MaxBackoffFree + 1, Base: time.Second, Max: time.Second, Decay: time.Second},
		{Free: 1, Base: time.Second, Max: time.Second, Decay: 1 << 62},
	} {
		t.Run(b.String(), func(t *testing.T) {
			if _, err := l.Fail(t.Context(), "k", b); !errors.Is(err, ratelimit.ErrInvalidLimit) {
				t.Errorf("err = %v, want ErrInvalidLimit", err)
			}
			if w, err := l.Blocked(t.Context(), "k"); err != nil || w != 0 {
				t.Errorf("an invalid back-off recorded something: blocked %v, %v", w, err)
			}
		})
	}
}

// testMatchesFailStep plays random failures and questions on a few keys and
// checks every answer against ratelimit.FailStep, the reference step.
func testMatchesFailStep(t *testing.T, newLimiter NewFailureLimiter) {
	rng := rand.New(rand.NewPCG(3, 4))
	policies := []ratelimit.Backoff{
		{Free: 0, Base: time.Second, Max: time.Minute, Decay: 2 * time.Second},
		{Free: 3, Base: 250 * ms, Max: 10 * time.Second, Decay: time.Second},
		{Free: 5, Base: time.Second, Max: 15 * time.Minute, Decay: 15 * time.Minute},
	}
	for pi, b := range policies {
		t.Run(b.String(), func(t *testing.T) {
			clock := NewClock(Start)
			l := newLimiter(t, clock.Now)
			states := map[string]ratelimit.BackoffState{}
			for i := range 1500 {
				clock.Advance(time.Duration(rng.IntN(4)*rng.IntN(700)) * ms)
				key := fmt.Sprintf("f%d-%d", pi, rng.IntN(3))
				if rng.IntN(3) == 0 {
					got, err := l.Blocked(t.Context(), key)
					if err != nil {
						t.Fatal(err)
					}
					if want := states[key].BlockedFor(clock.Now()); got != want {
						t.Fatalf("op %d: Blocked(%s) at +%v: %v, FailStep's state says %v", i, key, clock.Now().Sub(Start), got, want)
					}
					continue
				}
				var want ratelimit.Failure
				states[key], want = ratelimit.FailStep(states[key], clock.Now(), b)
				got, err := l.Fail(t.Context(), key, b)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("op %d: Fail(%s) at +%v: %+v, FailStep says %+v", i, key, clock.Now().Sub(Start), got, want)
				}
			}
		})
	}
}

// testFailConcurrent records failures of one key from many goroutines with
// the clock stopped: every one is counted, whatever the interleaving.
func testFailConcurrent(t *testing.T, newLimiter NewFailureLimiter) {
	clock := NewClock(Start)
	l := newLimiter(t, clock.Now)
	b := ratelimit.Backoff{Free: 1000, Base: time.Second, Max: time.Hour, Decay: time.Hour}
	const goroutines, each = 16, 20
	seen := make([]bool, goroutines*each+1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				f, err := l.Fail(t.Context(), "hot", b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if f.Count < 1 || f.Count >= len(seen) || seen[f.Count] {
					t.Errorf("count %d reported twice or out of range", f.Count)
				} else {
					seen[f.Count] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	f, err := l.Fail(t.Context(), "hot", b)
	if err != nil || f.Count != goroutines*each+1 {
		t.Fatalf("after %d concurrent failures, the next one counts %d (%v)", goroutines*each, f.Count, err)
	}
}
