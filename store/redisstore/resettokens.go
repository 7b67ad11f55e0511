package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
)

// A password-reset token is one STRING key, <p>:r:{<hex of its hash>},
// "<expiry unix ns> <account id>", with PEXPIREAT at the expiry: one key
// (one slot of a cluster) per token, consumed by GETDEL, so of concurrent
// uses exactly one reads it. Expiry is judged by the caller's clock, as
// everywhere in this store; the TTL only collects the garbage.
func (s *Store) resetKey(hash []byte) string {
	return s.prefix + ":r:{" + hex.EncodeToString(hash) + "}"
}

// CreateResetToken stores the token with hash for accountID until expires.
func (s *Store) CreateResetToken(ctx context.Context, hash []byte, accountID string, expires time.Time) error {
	const op = "create reset token"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	v := strconv.FormatInt(expires.UnixNano(), 10) + " " + accountID
	if err := s.c.SetArgs(ctx, s.resetKey(hash), v, redis.SetArgs{ExpireAt: expires}).Err(); err != nil {
		return fail(op, err)
	}
	return nil
}

// ResetTokenAccount returns the account of the unexpired token with hash
// (GET), or account.ErrNotFound.
func (s *Store) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (string, error) {
	const op = "reset token account"
	if err := ctx.Err(); err != nil {
		return "", fail(op, err)
	}
	return s.resetToken(op, now)(s.c.Get(ctx, s.resetKey(hash)).Result())
}

// ConsumeResetToken removes the token with hash (GETDEL, one atomic
// command) and returns its account if it was unexpired, or
// account.ErrNotFound.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (string, error) {
	const op = "consume reset token"
	if err := ctx.Err(); err != nil {
		return "", fail(op, err)
	}
	return s.resetToken(op, now)(s.c.GetDel(ctx, s.resetKey(hash)).Result())
}

// resetToken judges the value a GET or GETDEL read.
func (s *Store) resetToken(op string, now time.Time) func(string, error) (string, error) {
	return func(v string, err error) (string, error) {
		if errors.Is(err, redis.Nil) {
			return "", fmt.Errorf("redisstore: %s: %w", op, account.ErrNotFound)
		}
		if err != nil {
			return "", fail(op, err)
		}
		exp, id, ok := strings.Cut(v, " ")
		ns, perr := strconv.ParseInt(exp, 10, 64)
		if !ok || perr != nil {
			return "", fmt.Errorf("redisstore: %s: %w: corrupt reset token record", op, session.ErrStore)
		}
		if !time.Unix(0, ns).After(now) {
			return "", fmt.Errorf("redisstore: %s: %w", op, account.ErrNotFound)
		}
		return id, nil
	}
}

// DeleteExpiredResetTokens does nothing: Redis drops each token at its
// expiry (PEXPIREAT).
func (s *Store) DeleteExpiredResetTokens(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fail("delete expired reset tokens", err)
	}
	return 0, nil
}
