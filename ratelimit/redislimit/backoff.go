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

var _ ratelimit.FailureLimiter = (*Limiter)(nil)

// The failure side (ratelimit.FailureLimiter) keeps each key as one STRING
// "<prefix>:bo:{<key>}" holding "<forgotten ms>:<until ms>" (Unix
// milliseconds, see ratelimit.BackoffState), with a TTL that ends when both
// have passed. Milliseconds suffice: a Backoff's durations are whole
// milliseconds (Backoff.Validate).

// failScript is ratelimit.FailStep in milliseconds, line for line.
// ARGV: now ms ("" to use TIME), free, base, max, decay (ms). Returns
// {count, retry after ms}.
var failScript = redis.NewScript(`
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local maxw = tonumber(ARGV[4])
local decay = tonumber(ARGV[5])
local forgotten, untl = 0, 0
local v = redis.call('GET', KEYS[1])
if v then
  local sp = string.find(v, ':', 1, true)
  forgotten = tonumber(string.sub(v, 1, sp - 1))
  untl = tonumber(string.sub(v, sp + 1))
end
local ahead = forgotten - now
if ahead < 0 then ahead = 0 end
ahead = math.min(ahead + decay, decay * (free + 63))
local n = math.floor((ahead + decay - 1) / decay)
local wait = 0
if n > free then
  wait = base
  local i = free + 1
  while i < n and wait < maxw do
    wait = wait * 2
    i = i + 1
  end
  wait = math.min(wait, maxw)
end
if now + wait > untl then untl = now + wait end
forgotten = now + ahead
local ttl = math.max(forgotten, untl) - now
redis.call('SET', KEYS[1], string.format('%.0f:%.0f', forgotten, untl), 'PX', string.format('%.0f', ttl))
return {n, untl - now}
`)

// blockedScript reads the wait of a key. ARGV: now ms ("" to use TIME).
// Returns the wait in ms (0: none).
var blockedScript = redis.NewScript(`
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local sp = string.find(v, ':', 1, true)
local untl = tonumber(string.sub(v, sp + 1))
if untl > now then return untl - now end
return 0
`)

func (l *Limiter) failKey(key string) string { return l.prefix + ":bo:{" + key + "}" }

// nowMs is the caller's clock in Unix milliseconds, or "" to judge by
// Redis's TIME.
func (l *Limiter) nowMs() (string, error) {
	if l.now == nil {
		return "", nil
	}
	ns := l.now().UnixNano()
	if ns < 0 {
		return "", errors.New("redislimit: clock before 1970")
	}
	return strconv.FormatInt(ns/1e6, 10), nil
}

// wrap gives a failure of Redis ErrBackend, leaving context errors as they are.
func wrap(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redislimit: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrBackend, err)
}

// Blocked reports how long key must still wait (see
// ratelimit.FailureLimiter), in one script run that writes nothing.
func (l *Limiter) Blocked(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redislimit: %w", err)
	}
	now, err := l.nowMs()
	if err != nil {
		return 0, err
	}
	ms, err := blockedScript.Run(ctx, l.c, []string{l.failKey(key)}, now).Int64()
	if err != nil {
		return 0, wrap(err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Fail records one failure of key under b (see ratelimit.FailureLimiter
// and ratelimit.FailStep), in one script run.
func (l *Limiter) Fail(ctx context.Context, key string, b ratelimit.Backoff) (ratelimit.Failure, error) {
	if err := b.Validate(); err != nil {
		return ratelimit.Failure{}, fmt.Errorf("redislimit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Failure{}, fmt.Errorf("redislimit: %w", err)
	}
	now, err := l.nowMs()
	if err != nil {
		return ratelimit.Failure{}, err
	}
	res, err := failScript.Run(ctx, l.c, []string{l.failKey(key)}, now, b.Free,
		b.Base.Milliseconds(), b.Max.Milliseconds(), b.Decay.Milliseconds()).Int64Slice()
	if err != nil {
		return ratelimit.Failure{}, wrap(err)
	}
	if len(res) != 2 {
		return ratelimit.Failure{}, fmt.Errorf("%w: unexpected script reply %v", ErrBackend, res)
	}
	return ratelimit.Failure{Count: int(res[0]), RetryAfter: time.Duration(res[1]) * time.Millisecond}, nil
}

// Forget deletes the failures of key (see ratelimit.FailureLimiter).
func (l *Limiter) Forget(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redislimit: %w", err)
	}
	if err := l.c.Del(ctx, l.failKey(key)).Err(); err != nil {
		return wrap(err)
	}
	return nil
}
