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
}

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
	l := &Limiter{c: c, prefix: prefix}
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
	nowMs, nowNs := "", ""
	if l.now != nil {
		ns := l.now().UnixNano()
		if ns < 0 {
			return ratelimit.Decision{}, errors.New("redislimit: clock before 1970")
		}
		nowMs, nowNs = strconv.FormatInt(ns/1e6, 10), strconv.FormatInt(ns%1e6, 10)
	}
	res, err := script.Run(ctx, l.c, []string{l.prefix + ":rl:{" + key + "}"},
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
	return d, nil
}
