package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

func ExampleMemory() {
	// A fake clock stopped at one instant; a server passes nil (time.Now).
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limiter := ratelimit.NewMemory(func() time.Time { return now })

	// Five login attempts a minute per IP, three of them at once.
	login := ratelimit.PerMinute(5, 2)
	for range 4 {
		d, err := limiter.Allow(context.Background(), "login:ip:192.0.2.7", login)
		if err != nil {
			panic(err) // a real handler fails closed: 503
		}
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", d.Allowed, d.Remaining, d.RetryAfter)
	}
	// Output:
	// allowed=true remaining=2 retry-after=0s
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=12s
}

func ExampleGCRA() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.Limit{Rate: 1, Period: time.Second} // one a second, no burst

	tat, d := ratelimit.GCRA(time.Time{}, now, l) // a key never seen
	fmt.Println(d.Allowed, tat.Sub(now))
	_, d = ratelimit.GCRA(tat, now.Add(300*time.Millisecond), l)
	fmt.Println(d.Allowed, d.RetryAfter)
	// Output:
	// true 1s
	// false 700ms
}
