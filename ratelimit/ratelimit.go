// Package ratelimit limits how often a key (a client IP, an account, a
// session) may act, with the generic cell rate algorithm (GCRA).
//
// GCRA keeps one timestamp per key, the theoretical arrival time (TAT): the
// moment at which the key would be fully rested again. A request is allowed
// if it does not push the TAT more than Burst+1 emission intervals past now;
// each allowed request moves the TAT one interval (Period/Rate) forward.
// Denied requests change nothing, so a client that keeps hammering while
// denied does not lengthen its own wait. The algorithm is that of ATM
// networks (ITU-T I.371) as popularised by redis-cell and throttled; see
// https://brandur.org/rate-limiting.
//
// [GCRA] is the pure step, shared by every backend: [Memory] here, and a
// Redis script that mirrors it. Backends implement [Limiter].
//
// Apart from requests, a [FailureLimiter] counts failures (a wrong
// password, say) with an exponential [Backoff]: a few are free, then each
// one doubles the wait, up to a cap, and they are forgotten one by one.
// [FailStep] is its pure step; Memory and the Redis limiter implement it.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidLimit is returned (wrapped) by Limiter.Allow for a Limit that
// Validate rejects.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// Limit says how often a key may act: Rate events per Period on average,
// with up to Burst more at once. The zero Limit does not limit.
type Limit struct {
	// Rate is how many events are allowed per Period in the long run. Zero
	// (the zero value) means no limiting at all: every request is allowed
	// and nothing is stored. Negative is invalid.
	Rate int
	// Period is the window Rate is counted over, e.g. time.Minute. It must
	// be positive when Rate is, and Period/Rate (the emission interval,
	// truncated to a nanosecond) must be at least a nanosecond.
	Period time.Duration
	// Burst is how many events beyond the first may happen at once after a
	// rested key: a rested key may act Burst+1 times in a row, then once
	// every Period/Rate. Zero (the zero value) means no burst: events must
	// be spaced Period/Rate apart. Negative is invalid.
	Burst int
}

// PerMinute returns a Limit of n events a minute with the given burst.
func PerMinute(n, burst int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: burst} }

// PerSecond returns a Limit of n events a second with the given burst.
func PerSecond(n, burst int) Limit { return Limit{Rate: n, Period: time.Second, Burst: burst} }

// Unlimited reports whether l does no limiting (Rate == 0).
func (l Limit) Unlimited() bool { return l.Rate == 0 }

// Interval returns the emission interval Period/Rate: the steady-state
// spacing between allowed events. It is 0 for an unlimited Limit.
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 {
		return 0
	}
	return l.Period / time.Duration(l.Rate)
}

// maxWindow bounds (Burst+1)*Interval so that the arithmetic of GCRA cannot
// overflow, with room to spare for a clock that runs backwards.
const maxWindow = time.Duration(math.MaxInt64 / 4)

// Validate reports whether l is usable, with an error wrapping
// ErrInvalidLimit if not.
func (l Limit) Validate() error {
	switch {
	case l.Rate < 0:
		return fmt.Errorf("%w: negative rate %d", ErrInvalidLimit, l.Rate)
	case l.Burst < 0:
		return fmt.Errorf("%w: negative burst %d", ErrInvalidLimit, l.Burst)
	case l.Rate == 0:
		return nil
	case l.Period <= 0:
		return fmt.Errorf("%w: period %v must be positive", ErrInvalidLimit, l.Period)
	case l.Interval() <= 0:
		return fmt.Errorf("%w: %d per %v is more than one a nanosecond", ErrInvalidLimit, l.Rate, l.Period)
	case int64(l.Burst) >= int64(maxWindow/l.Interval()):
		return fmt.Errorf("%w: burst %d of %v intervals is too long", ErrInvalidLimit, l.Burst, l.Interval())
	}
	return nil
}

// String formats l as e.g. "10/1m0s+5".
func (l Limit) String() string {
	if l.Unlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%d/%v+%d", l.Rate, l.Period, l.Burst)
}

// Decision is the answer to one request.
type Decision struct {
	// Allowed says whether the request may go ahead.
	Allowed bool
	// RetryAfter is, when denied, how long until the same request would be
	// allowed (exact, not rounded); 0 when allowed.
	RetryAfter time.Duration
	// Remaining is how many more requests would be allowed right now, after
	// this one; 0 when denied, -1 when the Limit is unlimited.
	Remaining int
	// ResetAfter is how long until the key is fully rested (Burst+1
	// requests available again) if it makes no further request; 0 when
	// the Limit is unlimited.
	ResetAfter time.Duration
}

// Limiter decides whether the holder of key may act now under l.
//
// Every use of a key should pass the same Limit: the state kept per key is
// one timestamp, interpreted under the Limit of the current call. Give each
// rule its own key space, e.g. "login:ip:192.0.2.7" and "login:user:alice".
//
// Implementations are safe for concurrent use. An error means the decision
// could not be made (invalid Limit, backend down); callers fail closed.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}

// GCRA is one step of the algorithm, without storage: given the key's
// stored theoretical arrival time tat (the zero Time for a key never seen,
// or any time not after now for a rested key) and the current time, it
// returns the TAT to store and the decision. When the request is denied, or
// the Limit is unlimited, newTAT is tat unchanged. An invalid Limit (see
// Validate) is denied with RetryAfter 0, failing closed; backends validate
// first and report an error instead.
//
// Backends that cannot run Go (a Redis Lua script) mirror this function;
// its tests pin the arithmetic they must reproduce.
func GCRA(tat, now time.Time, l Limit) (newTAT time.Time, d Decision) {
	if l.Validate() != nil {
		return tat, Decision{}
	}
	if l.Unlimited() {
		return tat, Decision{Allowed: true, Remaining: -1}
	}
	var ahead time.Duration // how far the TAT is ahead of now; 0 when rested
	if !tat.IsZero() && tat.After(now) {
		ahead = tat.Sub(now) // saturates instead of overflowing
	}
	newAhead, d := step(ahead, l)
	if !d.Allowed {
		return tat, d
	}
	return now.Add(newAhead), d
}

// step is GCRA on the distance between the TAT and now, which is all the
// algorithm needs: ahead <= 0 means a rested key. l must be valid and
// limited (Rate > 0). It returns the new distance to store, meaningful only
// when the request is allowed.
func step(ahead time.Duration, l Limit) (newAhead time.Duration, d Decision) {
	t := l.Interval()
	tolerance := t * time.Duration(l.Burst) // how far ahead the TAT may be and still admit one more
	ahead = max(ahead, 0)
	if ahead > tolerance {
		return ahead, Decision{RetryAfter: ahead - tolerance, ResetAfter: ahead}
	}
	newAhead = ahead + t
	used := int((newAhead + t - 1) / t) // intervals of the burst now taken, rounded up
	return newAhead, Decision{
		Allowed:    true,
		Remaining:  l.Burst + 1 - used,
		ResetAfter: newAhead,
	}
}
