package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/session"
)

// scriptPage returns one page of a user's index KEYS[1] as a flat list of
// member, score: at most ARGV[3] entries after the position (score
// ARGV[1], member ARGV[2]) in the ZSET's own order (score, then member in
// byte order), or from the start if ARGV[1] is "". The start is found
// without reading the entries of equal score one by one: ZCOUNT bounds
// the run of entries whose score is the cursor's, and a binary search by
// rank finds the first member after the cursor's in it, so the cost is
// O(log n) whatever the number of ties, and it is right whether or not
// the cursor's own entry still exists. Members are compared byte by byte,
// not with Lua's <, which follows the server's locale.
var scriptPage = redis.NewScript(`
local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local start = 0
if ARGV[1] ~= '' then
  local lo = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
  local hi = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZRANGE', KEYS[1], mid, mid)[1]
    if after(m, ARGV[2]) then hi = mid else lo = mid + 1 end
  end
  start = lo
end
return redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[3]) - 1, 'WITHSCORES')
`)

// ListUserPage returns at most limit of the user's sessions after the
// position after, in the order (CreatedAt, ID): the index's order, since
// its score is the creation time in µs (the precision of the record) and
// equal scores order by member. One script finds the page of index
// entries, one pipeline reads their sessions; entries whose session is
// gone (or now another user's) are pruned as ListUser does, and the page
// is topped up past them, so a short page still means the end.
func (s *Store) ListUserPage(ctx context.Context, userID string, after session.PageCursor, limit int) ([]*session.Record, error) {
	const op = "list user page"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	if err := session.CheckPageLimit(limit); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	score, member := "", ""
	if !after.IsZero() {
		score, member = micros(after.CreatedAt), after.ID
	}
	out := make([]*session.Record, 0, limit)
	for len(out) < limit {
		want := limit - len(out)
		res, err := scriptPage.Run(ctx, s.c, []string{s.userKey(userID)}, score, member, strconv.Itoa(want)).StringSlice()
		if err != nil {
			return nil, fail(op, err)
		}
		if len(res)%2 != 0 {
			return nil, fail(op, fmt.Errorf("%w: odd page reply", session.ErrStore))
		}
		n := len(res) / 2
		if n == 0 {
			break
		}
		ids := make([]string, n)
		for i := range n {
			ids[i] = res[2*i]
		}
		recs, err := s.userRecords(ctx, userID, ids)
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, recs...)
		if n < want {
			break
		}
		score, member = res[len(res)-1], res[len(res)-2]
	}
	return out, nil
}
