package account

import (
	"context"
	"time"
)

// ResetTokenStore keeps password-reset tokens, each by its hash
// (HashResetToken), never the token itself. It is part of Store. Tokens
// are independent of each other: a new one for an account does not end
// the older ones (Service.ResetPassword refuses every token issued before
// the account's password last changed, so one use ends them all).
type ResetTokenStore interface {
	// CreateResetToken stores the token whose hash is hash for the account
	// accountID, usable until expires. The store need not check that the
	// account exists (a store that does answers ErrNotFound); the Service
	// reads the account again when the token is used, and a token of a
	// deleted account is refused then.
	CreateResetToken(ctx context.Context, hash []byte, accountID string, expires time.Time) error
	// ResetTokenAccount returns the account id of the token with hash if
	// it is stored and expires after now, else ErrNotFound. It changes
	// nothing: the Service looks before it checks the new password, so a
	// refused password does not use the token up.
	ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (accountID string, err error)
	// ConsumeResetToken removes the token with hash and returns its account
	// id if it was stored and expires after now, else ErrNotFound. It is one
	// atomic step: of concurrent calls with the same hash, exactly one gets
	// the id, so a token is used once.
	ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (accountID string, err error)
	// DeleteExpiredResetTokens removes the tokens that expire at or before
	// now and returns how many it removed; a store that drops them by
	// itself (Redis, by TTL) returns 0.
	DeleteExpiredResetTokens(ctx context.Context, now time.Time) (int, error)
}
