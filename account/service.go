package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Service signs users up and authenticates them against a Store.
//
// Its fields are read on every call and are not guarded: set them before
// first use and do not change them afterwards. With that, a *Service is
// safe for concurrent use. A Service must not be copied after first use.
type Service struct {
	// Store keeps the accounts. Required.
	Store Store
	// Params hashes new passwords. The zero value means DefaultParams.
	Params Params
	// Now is the clock for CreatedAt and for how long the hashing slots
	// remember whom they served. Nil means time.Now.
	Now func() time.Time
	// MaxConcurrentHashes bounds how many argon2id computations (signups
	// and logins) run at once; further calls wait their turn or until their
	// ctx is done. Each computation holds Params.Memory (64 MiB by
	// default), so without a bound a burst of logins could exhaust memory.
	// Zero means runtime.GOMAXPROCS(0) at first use.
	//
	// The slots are shared fairly between clients (see WithClient): a free
	// slot goes at once to whoever asks while nobody waits; otherwise
	// known attempts (HashClient.Known) and the others take turns, and
	// within each, the slot goes to the waiting client with the fewest
	// hashes in flight, then the fewest granted in the last 10 to 20
	// seconds, then the longest waiting. A client that floods the service
	// thus gets one slot at a time while others wait, cannot make them
	// wait behind its own queue, and one that logs in now and then goes
	// before every client that has been hashing.
	MaxConcurrentHashes int
	// ResetTTL is how long a password-reset token may be used (see
	// reset.go). Zero means DefaultResetTTL; at most MaxResetTTL.
	ResetTTL time.Duration

	semOnce sync.Once
	sem     *hashQueue
}

// acquire waits for a hashing slot, in the queue of the client ctx names
// (WithClient), and then asks the admission ctx holds (WithAdmission);
// the returned func gives the slot back.
func (s *Service) acquire(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	s.semOnce.Do(func() {
		n := s.MaxConcurrentHashes
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		s.sem = newHashQueue(n, s.Now)
	})
	release, err := s.sem.acquire(ctx, clientOf(ctx))
	if err != nil {
		return nil, err
	}
	if admit := admissionOf(ctx); admit != nil {
		if err := admit(ctx); err != nil {
			release()
			return nil, fmt.Errorf("account: not admitted to hash: %w", err)
		}
	}
	return release, nil
}

func (s *Service) params() Params {
	if s.Params == (Params{}) {
		return DefaultParams
	}
	return s.Params
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Signup creates an account: it normalises the email (ErrInvalidEmail),
// checks the password rules (ErrInvalidPassword), hashes the password
// under s.Params and stores the account with a new random id
// (ErrEmailTaken if the email already has one). It returns the account as
// stored.
func (s *Service) Signup(ctx context.Context, email, password string) (*Account, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := ValidateNewPassword(password, email); err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	hash, err := HashPassword(password, s.params())
	release()
	if err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	a := &Account{ID: id, Email: email, PasswordHash: hash, CreatedAt: s.now().UTC()}
	if err := s.Store.CreateAccount(ctx, a); err != nil {
		return nil, fmt.Errorf("account: signup: %w", err)
	}
	return a, nil
}

// Authenticate returns the account whose email and password match, or
// ErrBadCredentials. An email that is invalid or has no account gets the
// same error after the same work as a wrong password: the password is
// checked against a dummy hash made with s.Params, so the argon2id
// computation (the only expensive step) is done in every case, and the
// response time does not reveal whether the account exists. (If an
// account's stored hash was made under other Params than s.Params, its
// timing differs from the dummy's; rehash such accounts to close that.)
//
// Store failures other than ErrNotFound are returned wrapped, so callers
// fail closed.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*Account, error) {
	if !utf8.ValidString(password) || len(password) > 4*MaxPasswordLen {
		// No password that Signup accepted looks like this; still do the
		// work, on a bounded input.
		password = ""
		email = ""
	}
	var a *Account
	norm, err := NormalizeEmail(email)
	if err == nil {
		a, err = s.Store.AccountByEmail(ctx, norm)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("account: authenticate: %w", err)
		}
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release() // after rejected: see WithRejection
	if a == nil {
		if _, err := s.checkDummy(password); err != nil {
			return nil, err
		}
		return nil, rejected(ctx)
	}
	ok, err := CheckPassword(a.PasswordHash, password)
	if err != nil {
		return nil, fmt.Errorf("account: authenticate %s: %w", a.ID, err)
	}
	if !ok {
		return nil, rejected(ctx)
	}
	return a, nil
}

// checkDummy runs CheckPassword against a hash made with s.Params that no
// password matches. The dummy is built from random bytes rather than by
// hashing, so making it costs nothing, yet checking it costs exactly what
// checking a real hash made with the same Params costs.
func (s *Service) checkDummy(password string) (bool, error) {
	p := s.params()
	if err := p.Validate(); err != nil {
		return false, err
	}
	buf := make([]byte, p.SaltLen+p.KeyLen)
	if _, err := rand.Read(buf); err != nil {
		return false, fmt.Errorf("account: reading random dummy hash: %w", err)
	}
	return CheckPassword(formatPHC(p, buf[:p.SaltLen], buf[p.SaltLen:]), password)
}

// Delete removes the account with id (ErrNotFound if there is none). It
// does not end the account's sessions: callers revoke those through the
// session Manager.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.Store.DeleteAccount(ctx, id); err != nil {
		return fmt.Errorf("account: delete %s: %w", id, err)
	}
	return nil
}

// Get returns the account with id (ErrNotFound if there is none).
func (s *Service) Get(ctx context.Context, id string) (*Account, error) {
	a, err := s.Store.AccountByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("account: get: %w", err)
	}
	return a, nil
}

// Lookup returns the account named by emailOrID: by its email when the
// argument holds an '@' (normalised first: ErrInvalidEmail for an address
// NormalizeEmail refuses), else by its id (no id holds an '@'). ErrNotFound
// if there is none.
func (s *Service) Lookup(ctx context.Context, emailOrID string) (*Account, error) {
	if !strings.Contains(emailOrID, "@") {
		return s.Get(ctx, emailOrID)
	}
	email, err := NormalizeEmail(emailOrID)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.AccountByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("account: lookup: %w", err)
	}
	return a, nil
}

// SetClaims replaces the application claims of the account with id (nil
// or empty removes them; ErrNotFound if there is none). The claims are
// stored as given: check them first with session.Manager.CheckClaims. It
// does not change the account's live sessions: callers update those
// through the session Manager, after this call, so that a login racing
// with the change can tell (see the server's login).
func (s *Service) SetClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error {
	if err := s.Store.SetAccountClaims(ctx, id, claims); err != nil {
		return fmt.Errorf("account: set claims of %s: %w", id, err)
	}
	return nil
}

// newID returns 128 random bits, base64url without padding (22 bytes).
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("account: reading random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
