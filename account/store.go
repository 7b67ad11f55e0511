package account

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: no account with that id or email.
	ErrNotFound = errors.New("account: not found")
	// ErrEmailTaken: CreateAccount with an email that already has an account.
	ErrEmailTaken = errors.New("account: email already registered")
)

// Account is a built-in password account as a Store keeps it.
type Account struct {
	ID           string // random, URL-safe
	Email        string // normalised (see NormalizeEmail); unique
	PasswordHash string // PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
	CreatedAt    time.Time
	// Claims are the application claims the sessions of its logins carry
	// (names the server issues, see session.Config.Claims; each value one
	// JSON value, as session.Manager.CheckClaims returns them). Nil when it
	// has none. A store gives back the same JSON values, not necessarily
	// the same bytes (PostgreSQL's jsonb respells them).
	Claims map[string]json.RawMessage
}

// Store keeps accounts. Every backend in store/* implements it next to
// session.Store, so one --store URL keeps everything. Methods are safe for
// concurrent use; backend failures wrap session.ErrStore.
type Store interface {
	// CreateAccount stores a new account; ErrEmailTaken if the email is taken.
	CreateAccount(ctx context.Context, a *Account) error
	// AccountByEmail looks an account up by its normalised email.
	AccountByEmail(ctx context.Context, email string) (*Account, error)
	// AccountByID looks an account up by id.
	AccountByID(ctx context.Context, id string) (*Account, error)
	// ListAccountsPage returns one page of the accounts ordered by email,
	// compared byte by byte: at most limit accounts whose email sorts
	// strictly after the position after ("" is before the first; after
	// need not be the email of an account that exists, and is valid UTF-8
	// without NUL bytes, as every normalised email is). A page shorter
	// than limit means nothing follows. Repeated with the email of the
	// last account returned, it lists every account that exists
	// throughout exactly once, whatever is created or deleted between
	// pages. Its memory and work are bounded by limit, not by how many
	// accounts there are. A limit outside 1..MaxStorePage is an error
	// wrapping ErrInvalidPage.
	ListAccountsPage(ctx context.Context, after string, limit int) ([]*Account, error)
	// SetAccountClaims replaces the claims of the account with id (nil or
	// empty removes them all) and changes nothing else of it; ErrNotFound
	// if there is none, and then nothing is created. The store keeps the
	// values as given: callers check them first
	// (session.Manager.CheckClaims). It must not bring back an account a
	// concurrent DeleteAccount removed.
	SetAccountClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error
	// SetAccountPassword replaces the password hash (a PHC string) of the
	// account with id and changes nothing else of it; ErrNotFound if there
	// is none, and then nothing is created. It must not bring back an
	// account a concurrent DeleteAccount removed.
	SetAccountPassword(ctx context.Context, id, passwordHash string) error
	// DeleteAccount removes an account; ErrNotFound if there is none.
	DeleteAccount(ctx context.Context, id string) error
	// ResetTokenStore keeps password-reset tokens (resetstore.go).
	ResetTokenStore
}
