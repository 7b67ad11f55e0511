package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
)

// The account.Store half of Store lives in two buckets, created by the
// first write: accounts maps id to the JSON record, accounts_by_email maps
// the normalised email to the id (bbolt keeps keys in byte order, so
// ListAccountsPage seeks and walks this index to list by email).
var (
	bucketAccounts       = []byte("accounts")
	bucketAccountsByMail = []byte("accounts_by_email")
)

var _ account.Store = (*Store)(nil)

// errIDTaken: CreateAccount with an id already in use (ids are random, so
// this is a caller bug, not a condition callers branch on).
var errIDTaken = errors.New("account id already exists")

// accountRecord is the stored form of account.Account, with field names
// fixed here so that renaming a Go field cannot silently break stored data.
type accountRecord struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
	// Claims is left out when there are none (and in records written
	// before accounts had claims).
	Claims map[string]json.RawMessage `json:"claims,omitempty"`
}

func encodeAccount(a *account.Account) ([]byte, error) {
	return json.Marshal(accountRecord{ID: a.ID, Email: a.Email, PasswordHash: a.PasswordHash, CreatedAt: a.CreatedAt, Claims: a.Claims})
}

// decodeAccount copies out of v (bbolt memory is valid only inside the
// transaction; json.Unmarshal copies).
func decodeAccount(v []byte) (*account.Account, error) {
	var r accountRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: corrupt account record: %w", session.ErrStore, err)
	}
	if len(r.Claims) == 0 {
		r.Claims = nil
	}
	return &account.Account{ID: r.ID, Email: r.Email, PasswordHash: r.PasswordHash, CreatedAt: r.CreatedAt, Claims: r.Claims}, nil
}

// storeErr wraps a bbolt failure so callers fail closed; errors that are
// already classified (account sentinels, ctx errors, ErrStore) pass as
// they are.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, account.ErrNotFound), errors.Is(err, account.ErrEmailTaken),
		errors.Is(err, session.ErrStore), errors.Is(err, errIDTaken):
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return fmt.Errorf("boltstore: %s: %w: %w", op, session.ErrStore, err)
}

// CreateAccount stores a; account.ErrEmailTaken if its email already has
// an account. It refuses an id that is already taken.
func (s *Store) CreateAccount(ctx context.Context, a *account.Account) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: create account: %w", err)
	}
	v, err := encodeAccount(a)
	if err != nil {
		return fmt.Errorf("boltstore: create account: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		byID, err := tx.CreateBucketIfNotExists(bucketAccounts)
		if err != nil {
			return err
		}
		byMail, err := tx.CreateBucketIfNotExists(bucketAccountsByMail)
		if err != nil {
			return err
		}
		if byMail.Get([]byte(a.Email)) != nil {
			return account.ErrEmailTaken
		}
		if byID.Get([]byte(a.ID)) != nil {
			return fmt.Errorf("%w: %q", errIDTaken, a.ID)
		}
		if err := byID.Put([]byte(a.ID), v); err != nil {
			return err
		}
		return byMail.Put([]byte(a.Email), []byte(a.ID))
	})
	if err != nil {
		return storeErr("create account", err)
	}
	return nil
}

// AccountByEmail returns the account with that (normalised) email, or
// account.ErrNotFound.
func (s *Store) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: account by email: %w", err)
	}
	var a *account.Account
	err := s.db.View(func(tx *bbolt.Tx) error {
		byMail, byID := tx.Bucket(bucketAccountsByMail), tx.Bucket(bucketAccounts)
		if byMail == nil || byID == nil {
			return account.ErrNotFound
		}
		id := byMail.Get([]byte(email))
		if id == nil {
			return account.ErrNotFound
		}
		v := byID.Get(id)
		if v == nil {
			return fmt.Errorf("%w: email index names missing account", session.ErrStore)
		}
		var err error
		a, err = decodeAccount(v)
		return err
	})
	if err != nil {
		return nil, storeErr("account by email", err)
	}
	return a, nil
}

// AccountByID returns the account with id, or account.ErrNotFound.
func (s *Store) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: account by id: %w", err)
	}
	var a *account.Account
	err := s.db.View(func(tx *bbolt.Tx) error {
		byID := tx.Bucket(bucketAccounts)
		if byID == nil {
			return account.ErrNotFound
		}
		v := byID.Get([]byte(id))
		if v == nil {
			return account.ErrNotFound
		}
		var err error
		a, err = decodeAccount(v)
		return err
	})
	if err != nil {
		return nil, storeErr("account by id", err)
	}
	return a, nil
}

// ListAccountsPage returns at most limit accounts whose email sorts after
// the position after, ordered by email: one seek in the accounts_by_email
// index, then limit steps, in one read transaction.
func (s *Store) ListAccountsPage(ctx context.Context, after string, limit int) ([]*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: list accounts: %w", err)
	}
	if err := account.CheckPageLimit(limit); err != nil {
		return nil, fmt.Errorf("boltstore: list accounts: %w", err)
	}
	out := []*account.Account{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		byMail, byID := tx.Bucket(bucketAccountsByMail), tx.Bucket(bucketAccounts)
		if byMail == nil || byID == nil {
			return nil
		}
		c := byMail.Cursor()
		k, id := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, id = c.Next()
		}
		for ; k != nil && len(out) < limit; k, id = c.Next() {
			v := byID.Get(id)
			if v == nil {
				return fmt.Errorf("%w: email index names missing account", session.ErrStore)
			}
			a, err := decodeAccount(v)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("list accounts", err)
	}
	return out, nil
}

// SetAccountPassword replaces the password hash of the account with id
// (read, changed and written back in one write transaction), or returns
// account.ErrNotFound.
func (s *Store) SetAccountPassword(ctx context.Context, id, passwordHash string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: set account password: %w", err)
	}
	err := s.updateAccount(id, func(a *account.Account) { a.PasswordHash = passwordHash })
	if err != nil {
		return storeErr("set account password", err)
	}
	return nil
}

// updateAccount reads the account with id, applies change and writes it
// back, in one write transaction; account.ErrNotFound if there is none.
func (s *Store) updateAccount(id string, change func(*account.Account)) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		byID := tx.Bucket(bucketAccounts)
		if byID == nil {
			return account.ErrNotFound
		}
		v := byID.Get([]byte(id))
		if v == nil {
			return account.ErrNotFound
		}
		a, err := decodeAccount(v)
		if err != nil {
			return err
		}
		change(a)
		if v, err = encodeAccount(a); err != nil {
			return err
		}
		return byID.Put([]byte(id), v)
	})
}

// SetAccountClaims replaces the claims of the account with id (read,
// changed and written back in one write transaction), or returns
// account.ErrNotFound.
func (s *Store) SetAccountClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: set account claims: %w", err)
	}
	err := s.updateAccount(id, func(a *account.Account) { a.Claims = claims })
	if err != nil {
		return storeErr("set account claims", err)
	}
	return nil
}

// DeleteAccount removes the account with id, or returns
// account.ErrNotFound.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: delete account: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		byID, byMail := tx.Bucket(bucketAccounts), tx.Bucket(bucketAccountsByMail)
		if byID == nil || byMail == nil {
			return account.ErrNotFound
		}
		v := byID.Get([]byte(id))
		if v == nil {
			return account.ErrNotFound
		}
		a, err := decodeAccount(v)
		if err != nil {
			return err
		}
		if err := byID.Delete([]byte(id)); err != nil {
			return err
		}
		return byMail.Delete([]byte(a.Email))
	})
	if err != nil {
		return storeErr("delete account", err)
	}
	return nil
}
