package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Limiter {
		return ratelimit.NewMemory(now)
	})
}

func TestMemoryZeroValue(t *testing.T) {
	var m ratelimit.Memory // real clock, default cap
	lim := ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	for i, want := range []bool{true, true, false} {
		d, err := m.Allow(t.Context(), "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != want {
			t.Fatalf("call %d: Allowed = %v, want %v", i, d.Allowed, want)
		}
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d, want 1", m.Len())
	}
}

func TestMemorySweep(t *testing.T) {
	short := ratelimit.Limit{Rate: 1, Period: time.Second}          // rested 1s after its last call
	long := ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 2} // rested 1m after one call
	tests := []struct {
		name    string
		advance time.Duration
		want    int // keys left after Sweep
	}{
		{"nothing stale yet", 999 * time.Millisecond, 20},
		{"short keys rested at their TAT", time.Second, 10},
		{"long keys still live", 59 * time.Second, 10},
		{"everything rested", time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := ratelimittest.NewClock(ratelimittest.Start)
			m := ratelimit.NewMemory(clock.Now)
			for i := range 10 {
				mustAllow(t, m, fmt.Sprint("short", i), short)
				mustAllow(t, m, fmt.Sprint("long", i), long)
			}
			if m.Len() != 20 {
				t.Fatalf("Len = %d before sweep, want 20", m.Len())
			}
			clock.Advance(tt.advance)
			m.Sweep()
			if got := m.Len(); got != tt.want {
				t.Errorf("Len after Sweep = %d, want %d", got, tt.want)
			}
			// A swept key behaves as rested: full burst again.
			if d, _ := m.Allow(t.Context(), "long0", long); tt.want == 0 && d.Remaining != long.Burst {
				t.Errorf("swept key: %+v, want a rested key", d)
			}
		})
	}
}

// TestMemorySweepsOnItsOwn checks that stale keys go away through normal
// traffic, without anyone calling Sweep.
func TestMemorySweepsOnItsOwn(t *testing.T) {
	clock := ratelimittest.NewClock(ratelimittest.Start)
	m := ratelimit.NewMemory(clock.Now)
	lim := ratelimit.Limit{Rate: 1, Period: time.Second, Burst: 1000}
	for i := range 1000 {
		mustAllow(t, m, fmt.Sprint("old", i), lim)
	}
	clock.Advance(2 * time.Second) // every "old" key is rested now
	// 200 calls for each of 1000 new keys: every shard sees well over the
	// 1024 calls that trigger a sweep.
	for range 200 {
		for i := range 1000 {
			mustAllow(t, m, fmt.Sprint("new", i), lim)
		}
	}
	if got := m.Len(); got != 1000 {
		t.Errorf("Len = %d, want 1000 (the live keys only)", got)
	}
}

func TestMemoryCap(t *testing.T) {
	clock := ratelimittest.NewClock(ratelimittest.Start)
	m := ratelimit.NewMemory(clock.Now, ratelimit.WithMaxKeys(64)) // 2 keys a shard
	lim := ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 1}

	// Spray keys: each shard admits 2 and then denies newcomers.
	var admitted []string
	for i := range 2000 {
		key := fmt.Sprint("spray", i)
		d, err := m.Allow(t.Context(), key, lim)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			admitted = append(admitted, key)
			continue
		}
		// Denied for want of room: told to come back when the shard's
		// oldest entry rests.
		if want := (ratelimit.Decision{RetryAfter: time.Minute, ResetAfter: time.Minute}); d != want {
			t.Fatalf("%s at the cap: got %+v, want %+v", key, d, want)
		}
	}
	t.Run("bounded", func(t *testing.T) {
		if len(admitted) != 64 || m.Len() != 64 {
			t.Errorf("admitted %d keys, Len %d; want 64 and 64", len(admitted), m.Len())
		}
	})
	t.Run("tracked keys still decided normally", func(t *testing.T) {
		for _, key := range admitted {
			if d := mustAllow(t, m, key, lim); d.Remaining != 0 {
				t.Fatalf("%s: %+v, want allowed with 0 remaining", key, d)
			}
			if d, _ := m.Allow(t.Context(), key, lim); d.Allowed {
				t.Fatalf("%s: allowed past its burst", key)
			}
		}
	})
	t.Run("stale keys make room", func(t *testing.T) {
		clock.Advance(2 * time.Minute)
		mustAllow(t, m, "newcomer", lim)
		if got := m.Len(); got > 64 {
			t.Errorf("Len = %d, want <= 64", got)
		}
	})
}

func TestWithMaxKeys(t *testing.T) {
	tests := []struct {
		max, want int
	}{
		{1, 32}, {32, 32}, {100, 96}, {-5, ratelimit.DefaultMaxKeys},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			if tt.want > 1000 && testing.Short() {
				t.Skip("fills a default-sized Memory")
			}
			clock := ratelimittest.NewClock(ratelimittest.Start)
			m := ratelimit.NewMemory(clock.Now, ratelimit.WithMaxKeys(tt.max))
			lim := ratelimit.Limit{Rate: 1, Period: time.Hour}
			n := 0
			// Enough keys that every shard overflows.
			for i := range max(2*tt.want, 4096) {
				if d, _ := m.Allow(t.Context(), fmt.Sprint(i), lim); d.Allowed {
					n++
				}
			}
			if n != tt.want {
				t.Errorf("admitted %d keys, want %d", n, tt.want)
			}
		})
	}
}

// TestMemoryConcurrentMixed exercises Allow on many keys, Sweep, Len and a
// moving clock at once; run under -race.
func TestMemoryConcurrentMixed(t *testing.T) {
	clock := ratelimittest.NewClock(ratelimittest.Start)
	m := ratelimit.NewMemory(clock.Now, ratelimit.WithMaxKeys(320))
	lim := ratelimit.Limit{Rate: 5, Period: time.Second, Burst: 2}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if _, err := m.Allow(t.Context(), fmt.Sprint(g, ":", i%500), lim); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			clock.Advance(10 * time.Millisecond)
			m.Sweep()
			if n := m.Len(); n > 320 {
				t.Errorf("Len = %d, over the cap of 320", n)
			}
		}
	})
	wg.Wait()
}

func mustAllow(t *testing.T, m *ratelimit.Memory, key string, lim ratelimit.Limit) ratelimit.Decision {
	t.Helper()
	d, err := m.Allow(t.Context(), key, lim)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed {
		t.Fatalf("%s denied: %+v", key, d)
	}
	return d
}

// BenchmarkMemoryAllow measures Allow on tracked keys (no allocation
// expected). The floor is the clock read every call pays: time.Now, alone.
func BenchmarkMemoryAllow(b *testing.B) {
	lim := ratelimit.PerSecond(100, 50)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("req:session:%022d", i)
	}
	b.Run("parallel/many-keys", func(b *testing.B) {
		m := ratelimit.NewMemory(nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Allow(b.Context(), keys[i%len(keys)], lim)
				i++
			}
		})
	})
	b.Run("parallel/one-key", func(b *testing.B) {
		m := ratelimit.NewMemory(nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Allow(b.Context(), keys[0], lim)
			}
		})
	})
	b.Run("floor/time.Now", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = time.Now()
		}
	})
}

func TestMemoryFailureConformance(t *testing.T) {
	ratelimittest.RunFailures(t, func(t *testing.T, now func() time.Time) ratelimit.FailureLimiter {
		return ratelimit.NewMemory(now)
	})
}
