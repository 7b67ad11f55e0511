package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Backoff is an exponential back-off policy for the failures of a key (a
// failed password check, say), which is what a FailureLimiter counts.
//
// A key remembers its recent failures as a count that decays: each failure
// adds one, and the count drops by one every Decay. A failure that leaves
// the count at or below Free costs nothing; the first beyond makes the key
// wait Base before its next attempt, and each further one doubles the wait,
// up to Max. A wait, once imposed, is never shortened by a later failure,
// and nothing but time (or FailureLimiter.Forget) lifts it. So a key that
// stops failing is rested again after Free+n failures decayed, and one that
// keeps failing at the capped pace gets about one attempt per Max: there is
// no lockout that lasts longer than Max.
//
// Successes are not counted; the caller decides whether one forgets the
// failures (Forget).
type Backoff struct {
	// Free is how many remembered failures cost no wait. Zero or more.
	Free int
	// Base is the wait after the first failure beyond Free. At least a
	// millisecond.
	Base time.Duration
	// Max caps the wait. At least Base.
	Max time.Duration
	// Decay is how long it takes the count to drop by one. At least a
	// millisecond.
	Decay time.Duration
}

// MaxBackoffFree is the largest Backoff.Free.
const MaxBackoffFree = 1 << 20

// backoffDoublings bounds how far the count of a key grows beyond Free: the
// wait is capped long before 2^62, and a key failing at the capped pace
// must not remember its failures for ever.
const backoffDoublings = 62

// Validate reports whether b is usable, with an error wrapping
// ErrInvalidLimit if not. Every duration must be a whole number of
// milliseconds, so that every backend (Redis keeps milliseconds) judges
// alike.
func (b Backoff) Validate() error {
	switch {
	case b.Free < 0 || b.Free > MaxBackoffFree:
		return fmt.Errorf("%w: back-off free failures %d not in 0..%d", ErrInvalidLimit, b.Free, MaxBackoffFree)
	case b.Base < time.Millisecond || b.Decay < time.Millisecond:
		return fmt.Errorf("%w: back-off base %v and decay %v must be at least 1ms", ErrInvalidLimit, b.Base, b.Decay)
	case b.Max < b.Base:
		return fmt.Errorf("%w: back-off max %v is less than its base %v", ErrInvalidLimit, b.Max, b.Base)
	case b.Base%time.Millisecond != 0 || b.Max%time.Millisecond != 0 || b.Decay%time.Millisecond != 0:
		return fmt.Errorf("%w: back-off durations must be whole milliseconds", ErrInvalidLimit)
	case b.Max > maxWindow || b.Decay > maxWindow/time.Duration(b.Free+backoffDoublings+1):
		return fmt.Errorf("%w: back-off of %v a failure or a %v wait is too long", ErrInvalidLimit, b.Decay, b.Max)
	}
	return nil
}

// String formats b as e.g. "5 free, 1s doubling to 15m0s, one forgotten every 15m0s".
func (b Backoff) String() string {
	return fmt.Sprintf("%d free, %v doubling to %v, one forgotten every %v", b.Free, b.Base, b.Max, b.Decay)
}

// Wait returns the wait that the n-th remembered failure imposes: none up
// to Free, then Base, doubling with each further failure, at most Max.
func (b Backoff) Wait(n int) time.Duration {
	if n <= b.Free {
		return 0
	}
	w := b.Base
	for i := b.Free + 1; i < n && w < b.Max; i++ {
		w *= 2
	}
	return min(w, b.Max)
}

// BackoffState is what a backend keeps for one key of a FailureLimiter.
// The zero value is a key with no failures.
type BackoffState struct {
	// Forgotten is when the key's count will have decayed to zero: each
	// failure moves it Decay further (from now, if it has passed). The
	// count now is ⌈(Forgotten−now)/Decay⌉.
	Forgotten time.Time
	// Until is when the key's current wait ends.
	Until time.Time
}

// Expires returns when the state is no different from the zero value, so
// a backend may drop it: the later of Forgotten and Until.
func (s BackoffState) Expires() time.Time {
	if s.Until.After(s.Forgotten) {
		return s.Until
	}
	return s.Forgotten
}

// Failure is what recording one failure found.
type Failure struct {
	// Count is how many failures the key remembers, this one included.
	Count int
	// RetryAfter is how long the key must now wait before its next
	// attempt; 0 when it need not.
	RetryAfter time.Duration
}

// FailStep is one failure recorded, without storage: given a key's state
// (the zero value for a key never seen) and the current time, it returns
// the state to store and what the failure found. b must be valid (see
// Validate); an invalid one records nothing and reports a zero Failure.
//
// Backends that cannot run Go (a Redis Lua script) mirror this function,
// in milliseconds; its tests pin the arithmetic they must reproduce.
func FailStep(st BackoffState, now time.Time, b Backoff) (BackoffState, Failure) {
	if b.Validate() != nil {
		return st, Failure{}
	}
	var ahead time.Duration
	if st.Forgotten.After(now) {
		ahead = st.Forgotten.Sub(now)
	}
	ahead = min(ahead+b.Decay, b.Decay*time.Duration(b.Free+backoffDoublings+1))
	n := int((ahead + b.Decay - 1) / b.Decay)
	until := now.Add(b.Wait(n))
	if st.Until.After(until) {
		until = st.Until
	}
	return BackoffState{Forgotten: now.Add(ahead), Until: until}, Failure{Count: n, RetryAfter: until.Sub(now)}
}

// BlockedFor returns how long a key in state st must still wait at now.
func (s BackoffState) BlockedFor(now time.Time) time.Duration {
	if s.Until.After(now) {
		return s.Until.Sub(now)
	}
	return 0
}

// FailureLimiter counts the failures of keys under a Backoff, so that a
// caller can make a key wait before its next attempt. It is how a login
// throttle counts failed password checks rather than attempts: a key that
// succeeds is never slowed down by its successes.
//
// Use one Backoff per key (the state is interpreted under the policy of the
// current call), and give each rule its own key space. Implementations
// are safe for concurrent use; an error means nothing could be judged or
// recorded (backend down), and callers fail closed.
type FailureLimiter interface {
	// Blocked reports how long key must still wait before its next
	// attempt (0: it may go now). It records nothing.
	Blocked(ctx context.Context, key string) (time.Duration, error)
	// Fail records one failure of key under b (an invalid b is an error
	// wrapping ErrInvalidLimit) and reports the count and the wait it
	// leaves.
	Fail(ctx context.Context, key string, b Backoff) (Failure, error)
	// Forget drops every failure of key, and its wait.
	Forget(ctx context.Context, key string) error
}
