package session

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by this package and by a conforming
// Store wraps at most one of these (ErrDeadline being itself an ErrStore),
// so callers branch with errors.Is at any depth.
var (
	// ErrNotFound: no such session (never existed, revoked, or swept).
	ErrNotFound = errors.New("session: not found")
	// ErrExpired: the session exists but its idle or absolute lifetime is over.
	ErrExpired = errors.New("session: expired")
	// ErrRevoked: the session was revoked; its access tokens are refused.
	ErrRevoked = errors.New("session: revoked")
	// ErrReused: a refresh token was presented again outside the grace
	// window. The whole session has been revoked.
	ErrReused = errors.New("session: refresh token reused")
	// ErrConflict: a compare-and-set lost against a concurrent write.
	ErrConflict = errors.New("session: conflicting update")
	// ErrExists: Create was called with an id that is already taken.
	ErrExists = errors.New("session: already exists")
	// ErrDataTooLarge: application data over Policy.MaxDataBytes.
	ErrDataTooLarge = errors.New("session: app data too large")
	// ErrInvalidData: application data that not every backend can keep
	// as given (a NUL character, an unpaired surrogate, a key that is not
	// UTF-8).
	ErrInvalidData = errors.New("session: invalid app data")
	// ErrInvalidUserID: Login was given a user id that cannot be kept and
	// handed back unchanged: empty, longer than MaxUserIDLen, not valid
	// UTF-8, or holding a NUL.
	ErrInvalidUserID = errors.New("session: invalid user id")
	// ErrInvalidClaims: application claims with a name the Manager was not
	// configured with (Config.Claims), a value that is not JSON, or more
	// than Policy.MaxClaimsBytes in all; or an AMR or client id that
	// cannot be kept.
	ErrInvalidClaims = errors.New("session: invalid claims")
	// ErrInvalidToken: an access or refresh token that is malformed, forged,
	// expired or otherwise unacceptable. The wrapped error says why.
	ErrInvalidToken = errors.New("session: invalid token")
	// ErrInvalidPage: a listing asked for a page size out of range or
	// gave a cursor that no listing handed out. HTTP servers answer 400.
	ErrInvalidPage = errors.New("session: invalid page request")
	// ErrStore: the store failed (unreachable, timed out, corrupt). Callers
	// must fail closed: HTTP servers answer 503.
	ErrStore = errors.New("session: store unavailable")
	// ErrDeadline: the store reached a command after its caller's deadline
	// (RotateRequest.Deadline) and changed nothing. It is a kind of
	// ErrStore (errors.Is finds both), so callers answer 503.
	ErrDeadline = fmt.Errorf("%w: deadline passed before the command was applied", ErrStore)
)

// tokenError is ErrInvalidToken for a cause (revoked, reused, expired,
// a bad signature), saying "session:" once whatever the cause's prefix.
type tokenError struct{ cause error }

func (e tokenError) Error() string {
	return ErrInvalidToken.Error() + ": " + strings.TrimPrefix(e.cause.Error(), "session: ")
}

func (e tokenError) Unwrap() []error { return []error{ErrInvalidToken, e.cause} }

// invalidToken wraps cause under ErrInvalidToken: errors.Is finds both.
func invalidToken(cause error) error { return tokenError{cause} }
