package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/ratelimittest"
)

func TestBackoffWait(t *testing.T) {
	b := ratelimit.Backoff{Free: 5, Base: time.Second, Max: 15 * time.Minute, Decay: 15 * time.Minute}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 0}, {1, 0}, {5, 0}, {6, time.Second}, {7, 2 * time.Second}, {10, 16 * time.Second},
		{15, 512 * time.Second}, {16, 15 * time.Minute}, {1000, 15 * time.Minute}, {1 << 40, 15 * time.Minute},
	}
	for _, tc := range tests {
		if got := b.Wait(tc.n); got != tc.want {
			t.Errorf("Wait(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// TestFailStepCountIsBounded: a key that fails at the capped pace for ever
// does not make its failures remembered for ever: the count stops growing
// Free+63 failures in, so it is forgotten at most that many Decays after
// the last failure.
func TestFailStepCountIsBounded(t *testing.T) {
	b := ratelimit.Backoff{Free: 5, Base: time.Second, Max: time.Second, Decay: time.Hour}
	now := ratelimittest.Start
	var st ratelimit.BackoffState
	var f ratelimit.Failure
	for range 10_000 {
		st, f = ratelimit.FailStep(st, now, b)
	}
	if f.Count != 5+63 || st.Forgotten.Sub(now) != 68*time.Hour || f.RetryAfter != time.Second {
		t.Fatalf("after 10000 failures: count %d, forgotten in %v, wait %v", f.Count, st.Forgotten.Sub(now), f.RetryAfter)
	}
	if !st.Expires().Equal(st.Forgotten) {
		t.Fatalf("Expires %v, want the later of %v and %v", st.Expires(), st.Forgotten, st.Until)
	}
}

// TestMemoryFailuresBounded: a flood of new failure keys neither grows a
// Memory beyond its bound nor crowds out the keys of Allow, and a full
// shard makes room by dropping the key that would be forgotten first, so
// the one failing now is still counted.
func TestMemoryFailuresBounded(t *testing.T) {
	clock := ratelimittest.NewClock(ratelimittest.Start)
	m := ratelimit.NewMemory(clock.Now, ratelimit.WithMaxKeys(128)) // 4 a shard
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 1, Period: time.Hour}
	var tracked []string // Allow's keys (a full shard of Allow refuses more)
	for i := range 32 {
		k := fmt.Sprint("ip", i)
		d, err := m.Allow(ctx, k, lim)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			tracked = append(tracked, k)
		}
	}
	if len(tracked) < 8 {
		t.Fatalf("only %d of 32 keys tracked by a Memory of 128", len(tracked))
	}
	before := m.Len()
	b := ratelimit.Backoff{Free: 0, Base: time.Minute, Max: time.Hour, Decay: time.Hour}
	for i := range 1000 {
		clock.Advance(time.Millisecond)
		f, err := m.Fail(ctx, fmt.Sprint("acct", i), b)
		if err != nil || f.Count != 1 || f.RetryAfter != time.Minute {
			t.Fatalf("Fail %d on a full Memory: %+v %v; want counted", i, f, err)
		}
		if w, _ := m.Blocked(ctx, fmt.Sprint("acct", i)); w != time.Minute {
			t.Fatalf("the key just failed is not blocked: %v", w)
		}
	}
	if n := m.Len() - before; n > 128 {
		t.Fatalf("%d failure keys kept, the bound is 128", n)
	}
	// Allow's keys are still there: each is still limited.
	for _, k := range tracked {
		if d, _ := m.Allow(ctx, k, lim); d.Allowed {
			t.Fatalf("Allow key %s was dropped by the failure flood", k)
		}
	}
	// Sweep returns the memory once the failures are forgotten.
	clock.Advance(2 * time.Hour)
	m.Sweep()
	if n := m.Len(); n != 0 {
		t.Fatalf("%d keys after everything expired and a sweep", n)
	}
}
