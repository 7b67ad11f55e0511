package account

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// VerifyPassword returns the account with id when password is its
// password: ErrBadCredentials when it is not, ErrNotFound when there is no
// account with id. It is for a user already identified (by a session) who
// proves the password again: a re-authentication, a password change. The
// check is Authenticate's argon2id, under the same bound on concurrent
// hashes (MaxConcurrentHashes); a password no account could have (not
// UTF-8, or far over MaxPasswordLen) costs the same work and is refused.
// Unlike Authenticate it does not hide whether the account exists: the
// caller already knows the user.
func (s *Service) VerifyPassword(ctx context.Context, id, password string) (*Account, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, a, password); err != nil {
		return nil, err
	}
	return a, nil
}

// ChangePassword gives the account with id the password newPassword once
// current is proved to be its password. newPassword must pass the rules
// for a chosen password (ValidateNewPassword, with the account's email);
// they are checked first, so a refused one costs no hashing. Errors:
// ErrNotFound (no such account, or it was deleted meanwhile: nothing is
// created), ErrInvalidPassword (the rules; the error says which),
// ErrBadCredentials (current is wrong). It does not end the account's
// sessions: the caller revokes them through the session Manager
// (sessiond's POST /v1/password ends every other session of the user).
func (s *Service) ChangePassword(ctx context.Context, id, current, newPassword string) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := ValidateNewPassword(newPassword, a.Email); err != nil {
		return err
	}
	if err := s.checkPassword(ctx, a, current); err != nil {
		return err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	hash, err := HashPassword(newPassword, s.params())
	release()
	if err != nil {
		return err
	}
	if err := s.Store.SetAccountPassword(ctx, id, hash); err != nil {
		return fmt.Errorf("account: change password of %s: %w", id, err)
	}
	return nil
}

// checkPassword checks password against a's hash, holding a hashing slot:
// nil or ErrBadCredentials.
func (s *Service) checkPassword(ctx context.Context, a *Account, password string) error {
	hash := a.PasswordHash
	if !utf8.ValidString(password) || len(password) > 4*MaxPasswordLen {
		// No password an account was given looks like this; do the same
		// work on a bounded input, against a hash nothing matches.
		password, hash = "", ""
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer release() // after rejected: see WithRejection
	if hash == "" {
		if _, err := s.checkDummy(password); err != nil {
			return err
		}
		return rejected(ctx)
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return fmt.Errorf("account: check the password of %s: %w", a.ID, err)
	}
	if !ok {
		return rejected(ctx)
	}
	return nil
}
