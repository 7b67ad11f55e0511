package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/session"
)

// scanBatch is the COUNT hint of the SCAN that DeleteExpired walks with,
// and so the most sessions it handles in one pipeline.
const scanBatch = 256

// indexAdd puts id into user's index with its creation time as score
// (the listing order; ties are broken by the member, see ListUserPage),
// pushing the index's TTL out to the session's absolute expiry.
func (s *Store) indexAdd(ctx context.Context, user, id string, created, abs time.Time) error {
	return scriptIndexAdd.Run(ctx, s.c, []string{s.userKey(user)},
		micros(created), id, expireMillis(abs)).Err()
}

// reindexIfMissing is Create's (and a moving Update's) second look: if a
// pruner removed the entry while the session was being written, put it
// back (see the package comment).
func (s *Store) reindexIfMissing(ctx context.Context, user, id string, created, abs time.Time) error {
	err := s.c.ZScore(ctx, s.userKey(user), id).Err()
	if errors.Is(err, redis.Nil) {
		return s.indexAdd(ctx, user, id, created, abs)
	}
	return err
}

// Create indexes the session under its user, then stores it with Version 1
// (and sets r.Version to 1); session.ErrExists if the id is taken.
func (s *Store) Create(ctx context.Context, r *session.Record) error {
	const op = "create"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	f, err := encode(r, 1)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if err := s.indexAdd(ctx, r.UserID, r.ID, r.CreatedAt, r.AbsExpiresAt); err != nil {
		return fail(op, err)
	}
	args := append([]any{expireMillis(r.ExpiresAt())}, f...)
	res, err := scriptCreate.Run(ctx, s.c, []string{s.sessKey(r.ID)}, args...).Slice()
	if err != nil {
		return fail(op, err)
	}
	if code, _ := res[0].(int64); code != 1 {
		// Taken: undo our index entry unless the id is the same user's.
		if owner, _ := res[1].(string); owner != r.UserID {
			if err := s.c.ZRem(ctx, s.userKey(r.UserID), r.ID).Err(); err != nil {
				return fail(op, err)
			}
		}
		return fmt.Errorf("redisstore: %s %w", op, session.ErrExists)
	}
	if err := s.reindexIfMissing(ctx, r.UserID, r.ID, r.CreatedAt, r.AbsExpiresAt); err != nil {
		return fail(op, err)
	}
	r.Version = 1
	return nil
}

// Get returns the session, or session.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*session.Record, error) {
	const op = "get"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	m, err := s.c.HGetAll(ctx, s.sessKey(id)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	r, err := decode(id, m)
	if err != nil {
		return nil, fail(op, err)
	}
	if r == nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, session.ErrNotFound)
	}
	return r, nil
}

// Update replaces the session if its stored Version is r.Version (one
// script), storing Version+1 and bumping r.Version. If the owner or the
// absolute expiry changes, the new index entry is written first.
func (s *Store) Update(ctx context.Context, r *session.Record) error {
	const op = "update"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	f, err := encode(r, r.Version+1)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	key := []string{s.sessKey(r.ID)}
	run := func(move string) (int64, string, error) {
		args := append([]any{strconv.FormatUint(r.Version, 10), move, expireMillis(r.ExpiresAt()),
			r.UserID, micros(r.AbsExpiresAt), micros(r.CreatedAt)}, f...)
		res, err := scriptUpdate.Run(ctx, s.c, key, args...).Slice()
		if err != nil {
			return 0, "", err
		}
		code, _ := res[0].(int64)
		var old string
		if len(res) > 1 {
			old, _ = res[1].(string)
		}
		return code, old, nil
	}
	code, old, err := run("0")
	if err != nil {
		return fail(op, err)
	}
	moved := false
	if code == -3 {
		moved = true
		if err := s.indexAdd(ctx, r.UserID, r.ID, r.CreatedAt, r.AbsExpiresAt); err != nil {
			return fail(op, err)
		}
		if code, old, err = run("1"); err != nil {
			return fail(op, err)
		}
	}
	switch code {
	case -1:
		return fmt.Errorf("redisstore: %s: %w", op, session.ErrNotFound)
	case -2:
		return fmt.Errorf("redisstore: %s: %w", op, session.ErrConflict)
	case 1:
	default:
		return fail(op, fmt.Errorf("unexpected script result %d", code))
	}
	r.Version++
	if moved {
		if old != r.UserID {
			if err := s.c.ZRem(ctx, s.userKey(old), r.ID).Err(); err != nil {
				return fail(op, err)
			}
		}
		if err := s.reindexIfMissing(ctx, r.UserID, r.ID, r.CreatedAt, r.AbsExpiresAt); err != nil {
			return fail(op, err)
		}
	}
	return nil
}

// Rotate does refresh rotation in one script, one round trip. On reuse
// the script marks the session compromised; the revocation is then
// recorded and published, and the session deleted, as Delete does.
func (s *Store) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	const op = "rotate"
	if err := ctx.Err(); err != nil {
		return 0, nil, fail(op, err)
	}
	deadline := "0"
	if !req.Deadline.IsZero() {
		deadline = micros(req.Deadline)
	}
	res, err := scriptRotate.Run(ctx, s.c, []string{s.sessKey(id)},
		string(req.Presented), string(req.Next), micros(req.Now),
		strconv.FormatInt(req.Grace.Microseconds(), 10), micros(req.IdleExpiresAt), deadline,
		string(req.NextChild)).Slice()
	if err != nil {
		return 0, nil, fail(op, err)
	}
	code, _ := res[0].(int64)
	switch code {
	case 4:
		return 0, nil, fmt.Errorf("redisstore: %s: %w", op, session.ErrDeadline)
	case 0:
		return 0, nil, fmt.Errorf("redisstore: %s: %w", op, session.ErrNotFound)
	case 1, 2, 5:
		m, err := pairs(res[1])
		if err != nil {
			return 0, nil, fail(op, err)
		}
		r, err := decode(id, m)
		if err != nil || r == nil {
			return 0, nil, fail(op, cmp.Or(err, errors.New("rotated session vanished")))
		}
		switch code {
		case 1:
			return session.Rotated, r, nil
		case 5:
			return session.Resumed, r, nil
		}
		return session.GraceReplay, r, nil
	case 3:
		// Use a context that outlives the caller's: the session is
		// already unusable, and its revocation must be recorded.
		dctx := context.WithoutCancel(ctx)
		owner, _ := res[1].(string)
		// If a later step fails the outcome is still Reused (the session
		// is unusable), reported with the error so the caller refuses the
		// session's tokens itself.
		if err := s.revoke(dctx, req.Now.Add(req.RevokeHold), id); err != nil {
			return session.Reused, nil, fail(op, err)
		}
		if _, err := s.deleteOne(dctx, id, owner); err != nil {
			return session.Reused, nil, fail(op, err)
		}
		return session.Reused, nil, nil
	}
	return 0, nil, fail(op, fmt.Errorf("unexpected script result %d", code))
}

// revoke records and publishes the revocations of ids until until.
func (s *Store) revoke(ctx context.Context, until time.Time, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 3+len(ids))
	args = append(args, s.revChannel(), micros(until), expireMillis(until))
	for _, id := range ids {
		args = append(args, id)
	}
	return scriptRevoke.Run(ctx, s.c, []string{s.revKey()}, args...).Err()
}

// deleteOne deletes the session and drops its index entry (under the
// owner the delete script found, and under hint if that differs). It
// reports whether this call deleted it.
func (s *Store) deleteOne(ctx context.Context, id, hint string) (bool, error) {
	owner, err := scriptDelete.Run(ctx, s.c, []string{s.sessKey(id)}).Text()
	if errors.Is(err, redis.Nil) {
		if hint != "" {
			return false, s.c.ZRem(ctx, s.userKey(hint), id).Err()
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := s.c.ZRem(ctx, s.userKey(owner), id).Err(); err != nil {
		return true, err
	}
	if hint != "" && hint != owner {
		if err := s.c.ZRem(ctx, s.userKey(hint), id).Err(); err != nil {
			return true, err
		}
	}
	return true, nil
}

// Delete records the revocation of the session (and publishes it), then
// deletes the session and its index entry. A missing session records
// nothing and returns false.
func (s *Store) Delete(ctx context.Context, id string, until time.Time) (bool, error) {
	const op = "delete"
	if err := ctx.Err(); err != nil {
		return false, fail(op, err)
	}
	owner, err := scriptKill.Run(ctx, s.c, []string{s.sessKey(id)}).Text()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fail(op, err)
	}
	// The session is dead now: finish recording and deleting it even if
	// the caller gives up.
	dctx := context.WithoutCancel(ctx)
	if err := s.revoke(dctx, until, id); err != nil {
		return false, fail(op, err)
	}
	ok, err := s.deleteOne(dctx, id, owner)
	if err != nil {
		return false, fail(op, err)
	}
	return ok, nil
}

// DeleteUser revokes (recording and publishing first) and deletes every
// session of userID but except, and returns the ids it deleted.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	const op = "delete user"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	members, err := s.c.ZRange(ctx, s.userKey(userID), 0, -1).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	members = slices.DeleteFunc(members, func(id string) bool { return id == except })
	if len(members) == 0 {
		return nil, nil
	}
	// Only sessions that exist and are this user's (an entry may be stale,
	// or in flight to another owner); those are marked dead at once.
	owners := make([]*redis.Cmd, len(members))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range members {
			owners[i] = scriptKill.Eval(ctx, p, []string{s.sessKey(id)}, userID)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail(op, err)
	}
	var targets, stale []string
	for i, id := range members {
		u, err := owners[i].Text()
		switch {
		case err == nil && u == userID:
			targets = append(targets, id)
		case errors.Is(err, redis.Nil):
			stale = append(stale, id)
		case err != nil:
			return nil, fail(op, err)
		}
	}
	dctx := context.WithoutCancel(ctx) // dead already: finish the job
	if err := s.revoke(dctx, until, targets...); err != nil {
		return nil, fail(op, err)
	}
	dels := make([]*redis.Cmd, len(targets))
	_, err = s.c.Pipelined(dctx, func(p redis.Pipeliner) error {
		for i, id := range targets {
			dels[i] = scriptDelete.Eval(dctx, p, []string{s.sessKey(id)})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail(op, err)
	}
	var gone []string
	for i, id := range targets {
		owner, err := dels[i].Text()
		if err != nil && !errors.Is(err, redis.Nil) {
			return gone, fail(op, err)
		}
		if err == nil {
			gone = append(gone, id)
			if owner != userID { // moved meanwhile
				stale = append(stale, id)
				if err := s.c.ZRem(dctx, s.userKey(owner), id).Err(); err != nil {
					return gone, fail(op, err)
				}
			}
		}
	}
	if len(gone) > 0 {
		if err := s.c.ZRem(dctx, s.userKey(userID), toAny(gone)...).Err(); err != nil {
			return gone, fail(op, err)
		}
	}
	// An entry without a session may be a Create in flight: prune with
	// the second look.
	if err := s.prune(dctx, userID, stale); err != nil {
		return gone, fail(op, err)
	}
	return gone, nil
}

func toAny(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}

// userRecords reads the sessions ids of userID's index in one pipeline,
// in that order, and prunes the index entries whose session is gone or
// belongs to someone else now.
func (s *Store) userRecords(ctx context.Context, userID string, ids []string) ([]*session.Record, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.sessKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*session.Record, 0, len(ids))
	var stale []string
	for i, id := range ids {
		r, err := decode(id, cmds[i].Val())
		if err != nil {
			return nil, err
		}
		if r == nil || r.UserID != userID {
			stale = append(stale, id)
			continue
		}
		out = append(out, r)
	}
	if err := s.prune(ctx, userID, stale); err != nil {
		return nil, err
	}
	return out, nil
}

// ListUser returns the user's sessions, oldest first. Index entries whose
// session is gone (or belongs to someone else now) are pruned on the way.
func (s *Store) ListUser(ctx context.Context, userID string) ([]*session.Record, error) {
	const op = "list user"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	members, err := s.c.ZRange(ctx, s.userKey(userID), 0, -1).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	out, err := s.userRecords(ctx, userID, members)
	if err != nil {
		return nil, fail(op, err)
	}
	slices.SortFunc(out, func(a, b *session.Record) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// prune removes stale entries from user's index, then looks at each
// session again and puts back any that turned up as user's meanwhile (a
// Create or a moving Update in flight; see the package comment).
func (s *Store) prune(ctx context.Context, user string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.c.ZRem(ctx, s.userKey(user), toAny(ids)...).Err(); err != nil {
		return err
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.sessKey(id), fUser, fAbsExp, fCompromise, fCreated)
		}
		return nil
	}); err != nil {
		return err
	}
	for i, id := range ids {
		v := cmds[i].Val()
		if len(v) != 4 || v[0] != user || v[2] != nil {
			continue
		}
		us, err := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: corrupt session record: %w", session.ErrStore, err)
		}
		cus, err := strconv.ParseInt(fmt.Sprint(v[3]), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: corrupt session record: %w", session.ErrStore, err)
		}
		if err := s.indexAdd(ctx, user, id, time.UnixMicro(cus), time.UnixMicro(us)); err != nil {
			return err
		}
	}
	return nil
}

// Revocations returns the revocations whose Until is after now.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]session.Revocation, error) {
	const op = "revocations"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	zs, err := s.c.ZRangeByScoreWithScores(ctx, s.revKey(), &redis.ZRangeBy{
		Min: "(" + micros(now), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	out := make([]session.Revocation, 0, len(zs))
	for _, z := range zs {
		id, _ := z.Member.(string)
		out = append(out, session.Revocation{SessionID: id, Until: time.UnixMicro(int64(z.Score)).UTC()})
	}
	return out, nil
}

// DeleteExpired removes sessions dead at now (by the caller's clock) and
// revocations whose Until has passed, and returns how many sessions went.
//
// Redis drops sessions by TTL on its own, so in production this finds
// little; it exists for the contract and for `sessiond gc`, and it costs a
// SCAN (in batches of scanBatch keys) of this prefix's session keys on
// every master, with one small script per session found.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	const op = "delete expired"
	if err := ctx.Err(); err != nil {
		return 0, fail(op, err)
	}
	if err := s.c.ZRemRangeByScore(ctx, s.revKey(), "-inf", micros(now)).Err(); err != nil {
		return 0, fail(op, err)
	}
	nowArg := micros(now)
	match := globEscape(s.prefix) + ":s:{*"
	var total int
	var mu sync.Mutex // ForEachMaster runs the callbacks concurrently
	err := s.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, match, scanBatch).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				n, err := s.deleteDead(ctx, node, keys, nowArg)
				mu.Lock()
				total += n
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return total, fail(op, err)
	}
	return total, nil
}

// deleteDead runs scriptDeleteDead on keys (all on node) in one pipeline,
// then drops the index entries of those it deleted.
func (s *Store) deleteDead(ctx context.Context, node *redis.Client, keys []string, now string) (int, error) {
	cmds := make([]*redis.Cmd, len(keys))
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = scriptDeleteDead.Eval(ctx, p, []string{k}, now)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	byUser := map[string][]any{}
	n := 0
	for i, k := range keys {
		owner, err := cmds[i].Text()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
		id := strings.TrimSuffix(strings.TrimPrefix(k, s.prefix+":s:{"), "}")
		byUser[owner] = append(byUser[owner], id)
	}
	for owner, ids := range byUser {
		if err := s.c.ZRem(ctx, s.userKey(owner), ids...).Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}
