package ratelimit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		limit ratelimit.Limit
		ok    bool
	}{
		{"zero is unlimited", ratelimit.Limit{}, true},
		{"unlimited ignores period", ratelimit.Limit{Period: -time.Second, Burst: 3}, true},
		{"plain", ratelimit.PerMinute(10, 5), true},
		{"one a nanosecond", ratelimit.Limit{Rate: 1, Period: 1}, true},
		{"huge but representable burst", ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 500_000}, true},
		{"negative rate", ratelimit.Limit{Rate: -1, Period: time.Second}, false},
		{"negative burst", ratelimit.Limit{Rate: 1, Period: time.Second, Burst: -1}, false},
		{"negative burst, unlimited", ratelimit.Limit{Burst: -1}, false},
		{"no period", ratelimit.Limit{Rate: 1}, false},
		{"negative period", ratelimit.Limit{Rate: 1, Period: -time.Second}, false},
		{"faster than a nanosecond", ratelimit.Limit{Rate: 2, Period: 1}, false},
		{"burst overflows", ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 1 << 40}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limit.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ratelimit.ErrInvalidLimit) {
				t.Errorf("error %v does not wrap ErrInvalidLimit", err)
			}
		})
	}
}

// TestGCRA pins the arithmetic that every backend (and the Redis script)
// must reproduce, including intervals that are not a whole number of
// milliseconds.
func TestGCRA(t *testing.T) {
	third := time.Second / 3 // 333.333333ms
	tests := []struct {
		name    string
		tat     time.Time
		now     time.Time
		limit   ratelimit.Limit
		wantTAT time.Time
		want    ratelimit.Decision
	}{
		{
			name: "new key", tat: time.Time{}, now: t0, limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(third), want: ratelimit.Decision{Allowed: true, Remaining: 2, ResetAfter: third},
		},
		{
			name: "rested key (TAT in the past)", tat: t0.Add(-time.Hour), now: t0, limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(third), want: ratelimit.Decision{Allowed: true, Remaining: 2, ResetAfter: third},
		},
		{
			name: "TAT exactly now is rested", tat: t0, now: t0, limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(third), want: ratelimit.Decision{Allowed: true, Remaining: 2, ResetAfter: third},
		},
		{
			name: "last of the burst", tat: t0.Add(2 * third), now: t0, limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(3 * third), want: ratelimit.Decision{Allowed: true, Remaining: 0, ResetAfter: 3 * third},
		},
		{
			name: "past the burst", tat: t0.Add(3 * third), now: t0, limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(3 * third), want: ratelimit.Decision{RetryAfter: third, ResetAfter: 3 * third},
		},
		{
			name: "half an interval later", tat: t0.Add(3 * third), now: t0.Add(third / 2), limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(3 * third), want: ratelimit.Decision{RetryAfter: third - third/2, ResetAfter: 3*third - third/2},
		},
		{
			name: "partly refilled rounds remaining down", tat: t0.Add(third + 1), now: t0, limit: ratelimit.PerSecond(3, 2),
			wantTAT: t0.Add(2*third + 1), want: ratelimit.Decision{Allowed: true, Remaining: 0, ResetAfter: 2*third + 1},
		},
		{
			name: "clock went backwards far", tat: t0.Add(24 * time.Hour), now: t0, limit: ratelimit.PerSecond(1, 0),
			wantTAT: t0.Add(24 * time.Hour), want: ratelimit.Decision{RetryAfter: 24 * time.Hour, ResetAfter: 24 * time.Hour},
		},
		{
			name: "TAT beyond a Duration saturates", tat: t0.AddDate(400, 0, 0), now: t0, limit: ratelimit.PerSecond(1, 0),
			wantTAT: t0.AddDate(400, 0, 0),
			want:    ratelimit.Decision{RetryAfter: time.Duration(1<<63 - 1), ResetAfter: time.Duration(1<<63 - 1)},
		},
		{
			name: "unlimited leaves the TAT", tat: t0.Add(time.Minute), now: t0, limit: ratelimit.Limit{},
			wantTAT: t0.Add(time.Minute), want: ratelimit.Decision{Allowed: true, Remaining: -1},
		},
		{
			name: "invalid fails closed", tat: time.Time{}, now: t0, limit: ratelimit.Limit{Rate: 1},
			wantTAT: time.Time{}, want: ratelimit.Decision{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotTAT, got := ratelimit.GCRA(tt.tat, tt.now, tt.limit)
			if got != tt.want {
				t.Errorf("decision = %+v, want %+v", got, tt.want)
			}
			if !gotTAT.Equal(tt.wantTAT) {
				t.Errorf("TAT = %v, want %v", gotTAT, tt.wantTAT)
			}
		})
	}
}

// FuzzGCRA checks the algorithm's invariants for any limit and state: the
// decision follows the tolerance rule, RetryAfter is exact (allowed at it,
// denied a nanosecond before), and Remaining counts exactly the immediate
// requests that would still pass.
func FuzzGCRA(f *testing.F) {
	f.Add(3, int64(time.Second), 2, int64(0))
	f.Add(1, int64(time.Minute), 0, int64(30*time.Second))
	f.Add(7, int64(time.Second), 5, int64(900*time.Millisecond))
	f.Add(1000, int64(time.Millisecond), 100, int64(-5))
	f.Fuzz(func(t *testing.T, rate int, period int64, burst int, ahead int64) {
		l := ratelimit.Limit{Rate: rate, Period: time.Duration(period), Burst: burst}
		if l.Validate() != nil || l.Unlimited() || burst > 200 {
			return
		}
		t1 := t0.Add(time.Duration(ahead % int64(100*24*time.Hour)))
		tat, d := ratelimit.GCRA(t1, t0, l)
		T := l.Interval()
		wasAhead := max(t1.Sub(t0), 0)
		if d.Allowed != (wasAhead <= T*time.Duration(burst)) {
			t.Fatalf("Allowed = %v with the TAT %v ahead, tolerance %v", d.Allowed, wasAhead, T*time.Duration(burst))
		}
		if !d.Allowed {
			if d.RetryAfter <= 0 || d.Remaining != 0 || !tat.Equal(t1) {
				t.Fatalf("bad denial %+v (TAT %v -> %v)", d, t1, tat)
			}
			if _, again := ratelimit.GCRA(t1, t0.Add(d.RetryAfter), l); !again.Allowed {
				t.Fatalf("denied again after RetryAfter %v: %+v", d.RetryAfter, again)
			}
			if _, early := ratelimit.GCRA(t1, t0.Add(d.RetryAfter-1), l); early.Allowed {
				t.Fatalf("allowed a nanosecond before RetryAfter %v", d.RetryAfter)
			}
			return
		}
		if d.RetryAfter != 0 || d.Remaining < 0 || d.Remaining > burst || d.ResetAfter != tat.Sub(t0) ||
			d.ResetAfter > T*time.Duration(burst+1) {
			t.Fatalf("bad allowance %+v for %v (TAT now +%v)", d, l, tat.Sub(t0))
		}
		n := 0
		for cur := tat; ; n++ {
			var next ratelimit.Decision
			cur, next = ratelimit.GCRA(cur, t0, l)
			if !next.Allowed {
				break
			}
		}
		if n != d.Remaining {
			t.Fatalf("Remaining = %d, but %d more requests pass", d.Remaining, n)
		}
	})
}

func BenchmarkGCRA(b *testing.B) {
	l := ratelimit.PerSecond(100, 50)
	now := time.Now()
	var tat time.Time
	b.ReportAllocs()
	for b.Loop() {
		tat, _ = ratelimit.GCRA(tat, now, l)
		if tat.Sub(now) > time.Second {
			tat = time.Time{}
		}
	}
}
