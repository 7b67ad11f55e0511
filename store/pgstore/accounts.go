package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/account"
)

var _ account.Store = (*Store)(nil)

// errIDTaken: CreateAccount with an id already in use (ids are random, so
// this is a caller bug, not a condition callers branch on).
var errIDTaken = errors.New("pgstore: account id already exists")

// CreateAccount stores a new account; ErrEmailTaken if the email is taken.
func (s *Store) CreateAccount(ctx context.Context, a *account.Account) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: create account: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO accounts (id, email, password_hash, created_at, created_ns, claims) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.Email, a.PasswordHash, a.CreatedAt.Truncate(time.Microsecond), a.CreatedAt.Nanosecond()%1000, nullClaims(a.Claims))
	if code, constraint := pgCode(err); code == codeUniqueViolation {
		if constraint == "accounts_email_key" {
			return fmt.Errorf("pgstore: create account: %w", account.ErrEmailTaken)
		}
		return errIDTaken
	}
	if err != nil {
		return wrapErr(ctx, "create account", err)
	}
	return nil
}

const accountCols = `id, email, password_hash, created_at, created_ns, claims`

// nullClaims maps no claims (nil or empty) to NULL; others are stored as
// a jsonb object.
func nullClaims(claims map[string]json.RawMessage) any {
	if len(claims) == 0 {
		return nil
	}
	return claims
}

func scanAccount(row pgx.Row) (*account.Account, error) {
	var (
		a  account.Account
		ns int32
	)
	if err := row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.CreatedAt, &ns, &a.Claims); err != nil {
		return nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC().Add(time.Duration(ns))
	if len(a.Claims) == 0 {
		a.Claims = nil
	}
	return &a, nil
}

func (s *Store) accountBy(ctx context.Context, op, where, arg string) (*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where+` = $1`, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: %s: %w", op, account.ErrNotFound)
	}
	if err != nil {
		return nil, wrapErr(ctx, op, err)
	}
	return a, nil
}

// AccountByEmail looks an account up by its normalised email.
func (s *Store) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	return s.accountBy(ctx, "account by email", "email", email)
}

// AccountByID looks an account up by id.
func (s *Store) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	return s.accountBy(ctx, "account by id", "id", id)
}

// listAccountsPageSQL is the page query of ListAccountsPage.
const listAccountsPageSQL = `SELECT ` + accountCols + ` FROM accounts
	WHERE email COLLATE "C" > $1
	ORDER BY email COLLATE "C" LIMIT $2`

// ListAccountsPage returns at most limit accounts whose email sorts after
// the position after, ordered by email byte by byte (the "C" collation,
// whatever the database's locale): keyset pagination over the index
// accounts_email_c (migration 6), so a page costs one index descent and
// limit rows.
func (s *Store) ListAccountsPage(ctx context.Context, after string, limit int) ([]*account.Account, error) {
	const op = "list accounts"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if err := account.CheckPageLimit(limit); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	rows, err := s.pool.Query(ctx, listAccountsPageSQL, after, limit)
	if err != nil {
		return nil, wrapErr(ctx, op, err)
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*account.Account, error) { return scanAccount(row) })
	if err != nil {
		return nil, wrapErr(ctx, op, err)
	}
	return as, nil
}

// SetAccountPassword replaces the password hash of an account; ErrNotFound
// if there is none.
func (s *Store) SetAccountPassword(ctx context.Context, id, passwordHash string) error {
	const op = "set account password"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, id, passwordHash)
	if err != nil {
		return wrapErr(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s: %w", op, account.ErrNotFound)
	}
	return nil
}

// SetAccountClaims replaces the claims of an account (column claims,
// migration 7); ErrNotFound if there is none.
func (s *Store) SetAccountClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error {
	const op = "set account claims"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET claims = $2 WHERE id = $1`, id, nullClaims(claims))
	if err != nil {
		return wrapErr(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s: %w", op, account.ErrNotFound)
	}
	return nil
}

// DeleteAccount removes an account; ErrNotFound if there is none.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: delete account: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id)
	if err != nil {
		return wrapErr(ctx, "delete account", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: delete account: %w", account.ErrNotFound)
	}
	return nil
}
