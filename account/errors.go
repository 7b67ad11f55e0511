package account

import "errors"

// More errors callers branch on with errors.Is (see also ErrNotFound and
// ErrEmailTaken in store.go).
var (
	// ErrInvalidEmail: NormalizeEmail refused the address; the wrapping
	// error says why.
	ErrInvalidEmail = errors.New("account: invalid email")
	// ErrInvalidPassword: the password breaks the password rules; the
	// wrapping error says which.
	ErrInvalidPassword = errors.New("account: invalid password")
	// ErrBadCredentials: Authenticate found no account with that email or
	// the password did not match. The two cases are deliberately the same
	// error, so a caller cannot leak which accounts exist.
	ErrBadCredentials = errors.New("account: bad credentials")
	// ErrInvalidHash: a stored password hash is not a PHC argon2id string
	// this package accepts (malformed, unsupported version, or parameters
	// outside the bounds in Params.Validate).
	ErrInvalidHash = errors.New("account: invalid password hash")
	// ErrInvalidParams: Params outside the accepted bounds.
	ErrInvalidParams = errors.New("account: invalid argon2 parameters")
	// ErrInvalidPage: a listing asked for a page size out of range, or
	// gave a cursor that no listing hands out.
	ErrInvalidPage = errors.New("account: invalid page request")
)
