package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches the keys of one hash slot only (one key,
// in fact), so it runs unchanged on a cluster. Times arrive as decimal
// strings of unix microseconds; they are compared as Lua numbers (exact:
// below 2^53) but never written back from a Lua number, because Redis
// formats numbers passed to redis.call with limited precision. The only
// number written is a PEXPIREAT in milliseconds (13 digits, exact).

// scriptIndexAdd adds (or moves) ARGV[2] with score ARGV[1] (its creation
// time, unix µs) to the index KEYS[1] and
// pushes the key's TTL out to ARGV[3] (unix ms) if that is later than its
// current one. An expiry already past by Redis's clock is not set (PEXPIREAT
// in the past would delete the whole index).
var scriptIndexAdd = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if want > now then
  local cur = redis.call('PEXPIRETIME', KEYS[1])
  if cur == -1 or cur < want then
    redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  end
end
return 1
`)

// scriptCreate creates the session KEYS[1] from the field pairs in
// ARGV[2..] with TTL at ARGV[1] (unix ms) unless it exists: {1} if
// created, {0, owner} if taken.
var scriptCreate = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'u') or ''}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return {1}
`)

// scriptUpdate is Update's compare-and-set. ARGV: expected version,
// allow-move ("0"/"1"), TTL (unix ms), new owner, new absolute expiry,
// new creation time, then the field pairs. Returns {-1} if the session is
// gone (or compromised), {-2} on a version mismatch, {-3} if the owner,
// absolute expiry or creation time (the index entry's score and TTL)
// would change and allow-move is "0" (nothing written: the caller
// re-indexes first), else {1, old owner}.
var scriptUpdate = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'x', 'u', 'a', 'c')
if not cur[1] or cur[2] then return {-1} end
if cur[1] ~= ARGV[1] then return {-2} end
if ARGV[2] == '0' and (cur[3] ~= ARGV[4] or cur[4] ~= ARGV[5] or cur[5] ~= ARGV[6]) then return {-3} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1, cur[3]}
`)

// scriptRotate is refresh rotation in one step. ARGV: presented hash,
// next hash, now (µs), grace (µs), new idle expiry (µs), deadline (µs,
// "0" for none), the next hash's own child hash (empty for none); an
// empty presented hash matches nothing (as in session.Decide). Returns
// {4} and changes nothing if Redis's own clock (TIME) has reached the
// deadline: the caller has given up, and a command it left queued must
// not act. Otherwise {0} if the session is gone, compromised or dead at
// now; {1, fields} when rotated (the parent takes the current token's
// reissued mark 'e' as its own 'o'); {2, fields} for a replay of the
// parent within grace or, if the parent was handed out only once (no
// 'o'), at any time (its child has never been used), after marking the
// current token reissued; {5, fields} when the presented hash is the
// stored child 'n' of the current token (a rotation Redis acknowledged
// and then lost): rotated from the presented token as if that rotation
// had been kept; {3, owner} on reuse, after marking the session
// compromised so that nothing can rotate, update or read it before the
// caller deletes it. TIME in a script is allowed since Redis 5 replicates
// a script's effects, not the script.
var scriptRotate = redis.NewScript(`
if ARGV[6] ~= '0' then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) >= tonumber(ARGV[6]) then return {4} end
end
local f = redis.call('HMGET', KEYS[1], 'i', 'a', 'h', 'q', 'r', 'x', 'u', 'e', 'o', 'n')
if not f[1] or not f[2] or f[6] then return {0} end
local now = tonumber(ARGV[3])
local abs = tonumber(f[2])
if math.min(tonumber(f[1]), abs) <= now then return {0} end
local code = 0
if ARGV[1] ~= '' and f[3] == ARGV[1] then
  code = 1
elseif ARGV[1] ~= '' and f[10] and f[10] == ARGV[1] then
  code = 5
end
if code ~= 0 then
  redis.call('HSET', KEYS[1], 'q', ARGV[1], 'h', ARGV[2], 'r', ARGV[3], 'l', ARGV[3], 'i', ARGV[5])
  if code == 1 and f[8] then redis.call('HSET', KEYS[1], 'o', '1') else redis.call('HDEL', KEYS[1], 'o') end
  if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'n', ARGV[7]) else redis.call('HDEL', KEYS[1], 'n') end
  redis.call('HDEL', KEYS[1], 'e')
  redis.call('HINCRBY', KEYS[1], 'v', 1)
  redis.call('PEXPIREAT', KEYS[1], math.ceil(math.min(tonumber(ARGV[5]), abs) / 1000))
  return {code, redis.call('HGETALL', KEYS[1])}
end
if ARGV[1] ~= '' and f[4] and f[4] == ARGV[1] and f[5] and
    (tonumber(f[5]) + tonumber(ARGV[4]) > now or not f[9]) then
  if not f[8] then
    redis.call('HSET', KEYS[1], 'e', '1')
    redis.call('HINCRBY', KEYS[1], 'v', 1)
  end
  return {2, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'x', '1')
return {3, f[7] or ''}
`)

// scriptKill marks the session KEYS[1] dead (compromised: no rotation,
// update or read succeeds any more) and returns its owner, or false if it
// does not exist. With ARGV[1], only a session owned by ARGV[1] is
// marked. Delete and DeleteUser run it before they record the revocation,
// so that a failure between their steps never leaves a session that only
// the revocation log (forgotten after RevokeHold) keeps out.
var scriptKill = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'u')
if u and (ARGV[1] == nil or ARGV[1] == u) then redis.call('HSET', KEYS[1], 'x', '1') end
return u
`)

// scriptDelete deletes the session KEYS[1] and returns its owner, or
// false if it did not exist.
var scriptDelete = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'u')
if u then redis.call('DEL', KEYS[1]) end
return u
`)

// scriptDeleteDead deletes the session KEYS[1] if it is dead at ARGV[1]
// (µs) or compromised, and returns its owner; false otherwise.
var scriptDeleteDead = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'i', 'a', 'u', 'x')
if not f[3] then return false end
if f[4] or math.min(tonumber(f[1]), tonumber(f[2])) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return f[3]
end
return false
`)

// scriptRevoke records revocations in the log KEYS[1] and publishes each
// as stored (a later Until wins: ZADD GT) on channel ARGV[1]. ARGV[2] is
// Until (µs), ARGV[3] the same in ms rounded up, ARGV[4..] the session
// ids. The log's own TTL is pushed out to its latest Until, as the index's
// is, so a log nobody sweeps still goes once everything in it is over.
var scriptRevoke = redis.NewScript(`
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[i])
  redis.call('PUBLISH', ARGV[1], ARGV[i] .. ' ' .. redis.call('ZSCORE', KEYS[1], ARGV[i]))
end
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
if want > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
  local cur = redis.call('PEXPIRETIME', KEYS[1])
  if cur == -1 or cur < want then
    redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  end
end
return #ARGV - 3
`)

// scriptSaveRing stores blob ARGV[2] as version ARGV[3] if the stored
// version is ARGV[1] ("0": none): 1 if saved, 0 on conflict.
var scriptSaveRing = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'v') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'b', ARGV[2], 'v', ARGV[3])
return 1
`)
