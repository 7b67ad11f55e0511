package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sessiond/sessiond/account"
)

// resetTokens are the password-reset tokens, by hash, under a lock of
// their own. The zero value is ready to use.
type resetTokens struct {
	mu     sync.Mutex
	byHash map[string]resetToken
}

type resetToken struct {
	accountID string
	expires   time.Time
}

// CreateResetToken stores the token with hash for accountID until expires.
func (s *Store) CreateResetToken(ctx context.Context, hash []byte, accountID string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: create reset token: %w", err)
	}
	r := &s.acc.resets
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byHash == nil {
		r.byHash = make(map[string]resetToken)
	}
	r.byHash[string(hash)] = resetToken{accountID: accountID, expires: expires}
	return nil
}

// ResetTokenAccount returns the account of the unexpired token with hash,
// or account.ErrNotFound.
func (s *Store) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return s.resetToken(ctx, "reset token account", hash, now, false)
}

// ConsumeResetToken removes the unexpired token with hash and returns its
// account, or account.ErrNotFound; under the lock, so once.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return s.resetToken(ctx, "consume reset token", hash, now, true)
}

func (s *Store) resetToken(ctx context.Context, op string, hash []byte, now time.Time, consume bool) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memstore: %s: %w", op, err)
	}
	r := &s.acc.resets
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.byHash[string(hash)]
	if !ok || !t.expires.After(now) {
		return "", fmt.Errorf("memstore: %s: %w", op, account.ErrNotFound)
	}
	if consume {
		delete(r.byHash, string(hash))
	}
	return t.accountID, nil
}

// DeleteExpiredResetTokens removes the tokens that expire at or before now.
func (s *Store) DeleteExpiredResetTokens(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: delete expired reset tokens: %w", err)
	}
	r := &s.acc.resets
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for h, t := range r.byHash {
		if !t.expires.After(now) {
			delete(r.byHash, h)
			n++
		}
	}
	return n, nil
}
