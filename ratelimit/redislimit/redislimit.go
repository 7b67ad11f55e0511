// Package redislimit is a ratelimit.Limiter shared by every node through
// Redis (a single server or a Redis Cluster): GCRA, as ratelimit.GCRA
// states it, in one Lua script per request.
//
// Each key is one STRING "<prefix>:rl:{<key>}" holding its theoretical
// arrival time (TAT) as "<unix ms>:<ns within the ms>", with a TTL that
// ends when the TAT passes (a minute later under WithClock), so a rested
// key costs nothing. The hash tag
// puts each key in its own slot; the script touches that key only.
//
// It is also a ratelimit.FailureLimiter (failures counted under a
// ratelimit.Backoff), each key one STRING "<prefix>:bo:{<key>}" beside
// them; see backoff.go.
//
// Time: by default the script reads Redis's own clock (TIME), so every
// node judges by one clock however far theirs drift. WithClock passes the
// caller's time instead (tests drive the suite's clock this way).
//
// Denials are remembered: a key refused at time t with RetryAfter r is
// refused by every node until t+r (GCRA's state only moves forward while
// it refuses), so the Limiter answers a repeat within that span from its
// own memory, without a round trip: a flood on one key costs Redis one
// script per allowed request, and nothing for the refused ones. The span
// starts when the request was sent, not when its answer came back, so the
// memory never refuses what Redis would let through; see deny.
//
// Precision: Lua has only doubles. The script computes with nanoseconds
// split into milliseconds and a remainder, so results equal ratelimit.GCRA
// to the nanosecond as long as (Burst+1)*Interval stays below 2^53 ns
// (about 104 days); longer windows are rounded by at most a few hundred
// nanoseconds.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/ratelimit"
)

// ErrBackend wraps every failure of Redis itself. Callers fail closed:
// a request that could not be judged is not let through.
var ErrBackend = errors.New("redislimit: redis unavailable")

// Limiter is a ratelimit.Limiter on Redis. It is safe for concurrent use.
type Limiter struct {
	c      redis.UniversalClient
	prefix string
	now    func() time.Time // nil: Redis's TIME

	mu     sync.Mutex
	denied map[denialKey]denial // refusals still in force; see deny
}

// denialKey names a refusal: the Redis key under one Limit (a call with
// another Limit is judged afresh).
type denialKey struct {
	key      string
	interval time.Duration
	burst    int
}

// denial is a refusal in force until until, with the key fully rested at
// reset, on the clock the Limiter judges by locally (see clock).
type denial struct{ until, reset time.Time }

// maxDenials bounds the remembered refusals; past it, expired ones are
// swept, and if none has expired a refusal is not remembered (the next
// request asks Redis, as without the memory).
const maxDenials = 1 << 16

var _ ratelimit.Limiter = (*Limiter)(nil)

// Option configures New.
type Option func(*Limiter)

// WithClock makes the limiter judge by now instead of by Redis's clock.
// Every node sharing keys must then have closely synchronised clocks.
// Keys then live callerClockSlackMs longer than their TAT is ahead: Redis
// expires them on its own clock, and a caller's clock that runs behind it
// (a test's injected clock, a slow run) must not see a key vanish while
// its TAT is still ahead by the caller's time. A key kept past its TAT
// decides exactly as a missing one (its TAT lies in the past).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// New returns a Limiter that keeps its state in c under keys starting with
// prefix (e.g. "sd"). The client stays the caller's to close.
func New(c redis.UniversalClient, prefix string, opts ...Option) *Limiter {
	l := &Limiter{c: c, prefix: prefix, denied: map[denialKey]denial{}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// callerClockSlackMs is how much longer, in milliseconds, a key lives
// under WithClock (see there).
const callerClockSlackMs = "60000"

// script is one GCRA step (ratelimit's step function, line for line).
// ARGV: now ms, ns within the ms (both "" to use TIME), interval (ns),
// burst. Returns {allowed, retry after ns, remaining, reset after ns}.
var script = redis.NewScript(`
local now_ms, now_ns
if ARGV[1] == '' then
  local t = redis.call('TIME')
  local usec = tonumber(t[2])
  now_ms = tonumber(t[1]) * 1000 + math.floor(usec / 1000)
  now_ns = (usec % 1000) * 1000
else
  now_ms = tonumber(ARGV[1])
  now_ns = tonumber(ARGV[2])
end
local t = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local tolerance = t * burst
local ahead = 0
local v = redis.call('GET', KEYS[1])
if v then
  local sp = string.find(v, ':', 1, true)
  ahead = (tonumber(string.sub(v, 1, sp - 1)) - now_ms) * 1000000 + (tonumber(string.sub(v, sp + 1)) - now_ns)
  if ahead < 0 then ahead = 0 end
end
if ahead > tolerance then
  return {0, ahead - tolerance, 0, ahead}
end
local new = ahead + t
local used = math.floor((new + t - 1) / t)
local rel = now_ns + new
local tat = string.format('%.0f:%.0f', now_ms + math.floor(rel / 1000000), rel % 1000000)
local px = math.ceil(new / 1000000)
if ARGV[1] ~= '' then px = px + ` + callerClockSlackMs + ` end
redis.call('SET', KEYS[1], tat, 'PX', string.format('%.0f', px))
return {1, 0, burst + 1 - used, new}
`)

// Allow decides whether key may act now under l. An invalid Limit is an
// error wrapping ratelimit.ErrInvalidLimit; an unlimited one is allowed
// without a round trip. Failures of Redis wrap ErrBackend (context errors
// stay context errors); the Decision is then a denial.
func (l *Limiter) Allow(ctx context.Context, key string, lim ratelimit.Limit) (ratelimit.Decision, error) {
	if err := lim.Validate(); err != nil {
		return ratelimit.Decision{}, fmt.Errorf("redislimit: %w", err)
	}
	if lim.Unlimited() {
		return ratelimit.Decision{Allowed: true, Remaining: -1}, nil
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, fmt.Errorf("redislimit: %w", err)
	}
	key = l.prefix + ":rl:{" + key + "}"
	dk := denialKey{key, lim.Interval(), lim.Burst}
	sent := l.clock()
	if d, ok := l.stillDenied(dk, sent); ok {
		return d, nil
	}
	nowMs, nowNs := "", ""
	if l.now != nil {
		ns := sent.UnixNano()
		if ns < 0 {
			return ratelimit.Decision{}, errors.New("redislimit: clock before 1970")
		}
		nowMs, nowNs = strconv.FormatInt(ns/1e6, 10), strconv.FormatInt(ns%1e6, 10)
	}
	res, err := script.Run(ctx, l.c, []string{key},
		nowMs, nowNs, int64(lim.Interval()), lim.Burst).Int64Slice()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return ratelimit.Decision{}, fmt.Errorf("redislimit: %w", err)
		}
		return ratelimit.Decision{}, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	if len(res) != 4 {
		return ratelimit.Decision{}, fmt.Errorf("%w: unexpected script reply %v", ErrBackend, res)
	}
	d := ratelimit.Decision{
		Allowed:    res[0] == 1,
		RetryAfter: time.Duration(res[1]),
		Remaining:  int(res[2]),
		ResetAfter: time.Duration(res[3]),
	}
	if !d.Allowed {
		l.deny(dk, sent, d)
	}
	return d, nil
}

// clock is the time the Limiter keeps its refusals by: the caller's
// clock under WithClock (which the script judges by too), else the local
// clock's monotonic reading, which runs at the rate of Redis's.
func (l *Limiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// deny remembers the refusal d of a request sent at sent. Redis judged it
// at its own clock's reading of a moment no earlier than sent, and its
// state for the key stays as it was while it refuses (a refused request
// changes nothing, and the key's TTL runs to its TAT, later still), so
// every request before sent+d.RetryAfter would be refused too: at most a
// round trip's span sooner than Redis would, never later.
func (l *Limiter) deny(dk denialKey, sent time.Time, d ratelimit.Decision) {
	if d.RetryAfter <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.denied) >= maxDenials {
		for k, v := range l.denied {
			if !sent.Before(v.until) {
				delete(l.denied, k)
			}
		}
		if len(l.denied) >= maxDenials {
			return
		}
	}
	l.denied[dk] = denial{until: sent.Add(d.RetryAfter), reset: sent.Add(d.ResetAfter)}
}

// stillDenied answers from a refusal remembered for dk that is in force
// at now, as the script would answer it.
func (l *Limiter) stillDenied(dk denialKey, now time.Time) (ratelimit.Decision, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.denied[dk]
	if !ok {
		return ratelimit.Decision{}, false
	}
	if !now.Before(v.until) {
		delete(l.denied, dk)
		return ratelimit.Decision{}, false
	}
	return ratelimit.Decision{RetryAfter: v.until.Sub(now), ResetAfter: v.reset.Sub(now)}, true
}
