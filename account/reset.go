package account

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// Lifetimes of a password-reset token (Service.ResetTTL).
const (
	DefaultResetTTL = 30 * time.Minute
	MinResetTTL     = time.Minute
	MaxResetTTL     = 4 * time.Hour
)

// ErrInvalidResetToken: the reset token is malformed, unknown, expired,
// already used, of a deleted account, or was issued before the account's
// password last changed. The cases are one error on purpose: whoever holds
// a dead token learns nothing more.
var ErrInvalidResetToken = errors.New("account: invalid reset token")

// CheckResetTTL reports whether d may be a Service.ResetTTL (0 is the
// default): an error unless MinResetTTL <= d <= MaxResetTTL.
func CheckResetTTL(d time.Duration) error {
	if d != 0 && (d < MinResetTTL || d > MaxResetTTL) {
		return fmt.Errorf("reset token lifetime %v must be between %v and %v", d, MinResetTTL, MaxResetTTL)
	}
	return nil
}

func (s *Service) resetTTL() time.Duration {
	if s.ResetTTL == 0 {
		return DefaultResetTTL
	}
	return s.ResetTTL
}

// ResetIssue is a password-reset token made by PrepareReset or IssueReset.
type ResetIssue struct {
	// Token is the secret to hand to the account's owner (in a link's
	// fragment). It is never stored, and must never be logged.
	Token string
	// Account is the account it resets; nil when no account has the email
	// PrepareReset was given (the token then resets nothing and must be
	// neither stored nor sent).
	Account *Account
	// ExpiresAt is when the token stops working.
	ExpiresAt time.Time

	hash []byte
}

// PrepareReset makes a reset token for the account with email (normalised
// first: ErrInvalidEmail), storing nothing: SaveReset stores it, for
// instance from a queue that also mails it, so the caller's answer does
// not wait on either. When no account has the email it does the same work
// (the lookup, a token bound to a random password hash, its hash) and
// returns a ResetIssue whose Account is nil, so the time taken does not
// tell whether the account exists. Store failures other than ErrNotFound
// are returned wrapped.
func (s *Service) PrepareReset(ctx context.Context, email string) (*ResetIssue, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.AccountByEmail(ctx, norm)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("account: prepare reset: %w", err)
	}
	phc := ""
	if a != nil {
		phc = a.PasswordHash
	} else if phc, err = s.dummyHash(); err != nil {
		return nil, err
	}
	ri, err := s.newIssue(phc)
	if err != nil {
		return nil, err
	}
	ri.Account = a
	return ri, nil
}

// dummyHash is a PHC string of s.Params from random bytes: what an unknown
// email's token is bound to, as long as a real one.
func (s *Service) dummyHash() (string, error) {
	p := s.params()
	buf := make([]byte, p.SaltLen+p.KeyLen)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("account: reading random dummy hash: %w", err)
	}
	return formatPHC(p, buf[:p.SaltLen], buf[p.SaltLen:]), nil
}

func (s *Service) newIssue(phc string) (*ResetIssue, error) {
	tok, err := newResetToken(phc)
	if err != nil {
		return nil, err
	}
	return &ResetIssue{Token: tok, ExpiresAt: s.now().Add(s.resetTTL()).UTC(), hash: HashResetToken(tok)}, nil
}

// SaveReset stores the token of ri (by its hash) so that ResetPassword
// accepts it until ri.ExpiresAt. ri must name an account (ErrNotFound
// when PrepareReset found none).
func (s *Service) SaveReset(ctx context.Context, ri *ResetIssue) error {
	if ri == nil || ri.Account == nil || ri.hash == nil {
		return fmt.Errorf("account: save reset: %w", ErrNotFound)
	}
	if err := s.Store.CreateResetToken(ctx, ri.hash, ri.Account.ID, ri.ExpiresAt); err != nil {
		return fmt.Errorf("account: save reset of %s: %w", ri.Account.ID, err)
	}
	return nil
}

// IssueReset makes and stores a reset token for the account emailOrID
// names (see Lookup; ErrNotFound if there is none), for an operator to
// pass on: it is not timed like PrepareReset, as only an operator calls it.
func (s *Service) IssueReset(ctx context.Context, emailOrID string) (*ResetIssue, error) {
	a, err := s.Lookup(ctx, emailOrID)
	if err != nil {
		return nil, err
	}
	ri, err := s.newIssue(a.PasswordHash)
	if err != nil {
		return nil, err
	}
	ri.Account = a
	if err := s.SaveReset(ctx, ri); err != nil {
		return nil, err
	}
	return ri, nil
}

// ResetPassword sets the password of the account token was issued for to
// newPassword, and uses the token up. It returns the account as it is now.
//
// The token must be well formed, stored and unexpired, its account must
// exist, and the account's password must not have changed since the token
// was issued; otherwise the error wraps ErrInvalidResetToken and nothing
// changes. A new password that breaks the rules (ValidateNewPassword with
// the account's email) is ErrInvalidPassword, and the token stays usable.
// Of concurrent calls with one token at most one succeeds: the token is
// consumed in one atomic step of the store, after the new password was
// checked and hashed and before it is written.
//
// It does not end the account's sessions: the caller revokes them
// (session.Manager.RevokeUser) once this returns. Two different tokens of
// one account used at the same instant may both succeed, the later write
// winning; each was sent to the account's owner.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) (*Account, error) {
	raw, err := parseResetToken(token)
	if err != nil {
		return nil, err
	}
	hash := HashResetToken(token)
	now := s.now()
	id, err := s.Store.ResetTokenAccount(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown, expired or used", ErrInvalidResetToken)
	}
	if err != nil {
		return nil, fmt.Errorf("account: reset password: %w", err)
	}
	a, err := s.Store.AccountByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: its account was deleted", ErrInvalidResetToken)
	}
	if err != nil {
		return nil, fmt.Errorf("account: reset password: %w", err)
	}
	if !resetBoundTo(&raw, a.PasswordHash) {
		return nil, fmt.Errorf("%w: the password changed since it was issued", ErrInvalidResetToken)
	}
	if err := ValidateNewPassword(newPassword, a.Email); err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	phc, err := HashPassword(newPassword, s.params())
	release()
	if err != nil {
		return nil, err
	}
	used, err := s.Store.ConsumeResetToken(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: used meanwhile", ErrInvalidResetToken)
	}
	if err != nil {
		return nil, fmt.Errorf("account: reset password: %w", err)
	}
	if used != id {
		return nil, fmt.Errorf("account: reset password: the store gave the token to account %s, then %s", id, used)
	}
	if err := s.Store.SetAccountPassword(ctx, id, phc); errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: its account was deleted", ErrInvalidResetToken)
	} else if err != nil {
		return nil, fmt.Errorf("account: reset password of %s: %w", id, err)
	}
	a.PasswordHash = phc
	return a, nil
}

// SweepResetTokens deletes the reset tokens that have expired (see
// ResetTokenStore.DeleteExpiredResetTokens) and returns how many.
func (s *Service) SweepResetTokens(ctx context.Context) (int, error) {
	n, err := s.Store.DeleteExpiredResetTokens(ctx, s.now())
	if err != nil {
		return n, fmt.Errorf("account: sweep reset tokens: %w", err)
	}
	return n, nil
}
