package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/account"
)

// Password-reset tokens are rows of reset_tokens (migration 8): the hash,
// the account (deleting it deletes them) and the expiry.

// codeForeignKeyViolation is PostgreSQL's foreign_key_violation.
const codeForeignKeyViolation = "23503"

// resetSweepBatch bounds the rows one sweep statement deletes.
const resetSweepBatch = 1000

// CreateResetToken stores the token with hash for accountID until expires;
// account.ErrNotFound if there is no such account.
func (s *Store) CreateResetToken(ctx context.Context, hash []byte, accountID string, expires time.Time) error {
	const op = "create reset token"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO reset_tokens (hash, account_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO UPDATE SET account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
		hash, accountID, expires)
	if code, _ := pgCode(err); code == codeForeignKeyViolation {
		return fmt.Errorf("pgstore: %s: %w", op, account.ErrNotFound)
	}
	if err != nil {
		return wrapErr(ctx, op, err)
	}
	return nil
}

// ResetTokenAccount returns the account of the unexpired token with hash,
// or account.ErrNotFound.
func (s *Store) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return s.resetToken(ctx, "reset token account", `SELECT account_id FROM reset_tokens WHERE hash = $1 AND expires_at > $2`, hash, now)
}

// ConsumeResetToken deletes the unexpired token with hash and returns its
// account, or account.ErrNotFound: one DELETE ... RETURNING, so of
// concurrent uses exactly one gets the row.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return s.resetToken(ctx, "consume reset token", `DELETE FROM reset_tokens WHERE hash = $1 AND expires_at > $2 RETURNING account_id`, hash, now)
}

func (s *Store) resetToken(ctx context.Context, op, query string, hash []byte, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("pgstore: %s: %w", op, err)
	}
	var id string
	err := s.pool.QueryRow(ctx, query, hash, now).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("pgstore: %s: %w", op, account.ErrNotFound)
	}
	if err != nil {
		return "", wrapErr(ctx, op, err)
	}
	return id, nil
}

// DeleteExpiredResetTokens deletes the tokens that expire at or before
// now, resetSweepBatch rows to a statement.
func (s *Store) DeleteExpiredResetTokens(ctx context.Context, now time.Time) (int, error) {
	const op = "delete expired reset tokens"
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("pgstore: %s: %w", op, err)
		}
		tag, err := s.pool.Exec(ctx, `DELETE FROM reset_tokens WHERE hash IN
			(SELECT hash FROM reset_tokens WHERE expires_at <= $1 LIMIT $2)`, now, resetSweepBatch)
		if err != nil {
			return total, wrapErr(ctx, op, err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < resetSweepBatch {
			return total, nil
		}
	}
}
