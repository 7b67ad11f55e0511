package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/sessiond/sessiond/account"
)

// accounts is the account.Store half of Store: its own lock and maps, so
// account traffic never contends with session traffic. The zero value is
// ready to use.
type accounts struct {
	mu      sync.RWMutex
	byID    map[string]*account.Account
	byEmail map[string]string // email -> id
	emails  []string          // every email, sorted: the listing order
	resets  resetTokens       // password-reset tokens, see resettokens.go
}

var _ account.Store = (*Store)(nil)

// copyAccount copies a, its claims too, so that nobody shares the stored
// value's map or bytes.
func copyAccount(a *account.Account) *account.Account {
	c := *a
	c.Claims = copyClaims(a.Claims)
	return &c
}

// copyClaims copies claims deeply; nil when there are none.
func copyClaims(claims map[string]json.RawMessage) map[string]json.RawMessage {
	if len(claims) == 0 {
		return nil
	}
	c := make(map[string]json.RawMessage, len(claims))
	for k, v := range claims {
		c[k] = slices.Clone(v)
	}
	return c
}

// CreateAccount stores a copy of a; account.ErrEmailTaken if its email
// already has an account. It refuses an id that is already taken.
func (s *Store) CreateAccount(ctx context.Context, a *account.Account) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: create account: %w", err)
	}
	s.acc.mu.Lock()
	defer s.acc.mu.Unlock()
	if _, ok := s.acc.byEmail[a.Email]; ok {
		return fmt.Errorf("memstore: create account: %w", account.ErrEmailTaken)
	}
	if _, ok := s.acc.byID[a.ID]; ok {
		return fmt.Errorf("memstore: create account: id %q already exists", a.ID)
	}
	if s.acc.byID == nil {
		s.acc.byID = make(map[string]*account.Account)
		s.acc.byEmail = make(map[string]string)
	}
	s.acc.byID[a.ID] = copyAccount(a)
	s.acc.byEmail[a.Email] = a.ID
	i, _ := slices.BinarySearch(s.acc.emails, a.Email)
	s.acc.emails = slices.Insert(s.acc.emails, i, a.Email)
	return nil
}

// AccountByEmail returns a copy of the account with that (normalised)
// email, or account.ErrNotFound.
func (s *Store) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: account by email: %w", err)
	}
	s.acc.mu.RLock()
	defer s.acc.mu.RUnlock()
	id, ok := s.acc.byEmail[email]
	if !ok {
		return nil, fmt.Errorf("memstore: account by email: %w", account.ErrNotFound)
	}
	return copyAccount(s.acc.byID[id]), nil
}

// AccountByID returns a copy of the account with id, or
// account.ErrNotFound.
func (s *Store) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: account by id: %w", err)
	}
	s.acc.mu.RLock()
	defer s.acc.mu.RUnlock()
	a, ok := s.acc.byID[id]
	if !ok {
		return nil, fmt.Errorf("memstore: account by id: %w", account.ErrNotFound)
	}
	return copyAccount(a), nil
}

// ListAccountsPage returns copies of at most limit accounts whose email
// sorts after the position after, ordered by email. It finds the position
// by binary search in the sorted emails, so a page costs O(log n + limit)
// under the read lock.
func (s *Store) ListAccountsPage(ctx context.Context, after string, limit int) ([]*account.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: list accounts: %w", err)
	}
	if err := account.CheckPageLimit(limit); err != nil {
		return nil, fmt.Errorf("memstore: list accounts: %w", err)
	}
	s.acc.mu.RLock()
	defer s.acc.mu.RUnlock()
	i, found := slices.BinarySearch(s.acc.emails, after)
	if found {
		i++
	}
	emails := s.acc.emails[i:]
	if len(emails) > limit {
		emails = emails[:limit]
	}
	out := make([]*account.Account, 0, len(emails))
	for _, e := range emails {
		out = append(out, copyAccount(s.acc.byID[s.acc.byEmail[e]]))
	}
	return out, nil
}

// SetAccountPassword replaces the password hash of the account with id, or
// returns account.ErrNotFound.
func (s *Store) SetAccountPassword(ctx context.Context, id, passwordHash string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: set account password: %w", err)
	}
	s.acc.mu.Lock()
	defer s.acc.mu.Unlock()
	a, ok := s.acc.byID[id]
	if !ok {
		return fmt.Errorf("memstore: set account password: %w", account.ErrNotFound)
	}
	a.PasswordHash = passwordHash
	return nil
}

// SetAccountClaims replaces the claims of the account with id with a copy
// of claims, or returns account.ErrNotFound.
func (s *Store) SetAccountClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: set account claims: %w", err)
	}
	c := copyClaims(claims)
	s.acc.mu.Lock()
	defer s.acc.mu.Unlock()
	a, ok := s.acc.byID[id]
	if !ok {
		return fmt.Errorf("memstore: set account claims: %w", account.ErrNotFound)
	}
	a.Claims = c
	return nil
}

// DeleteAccount removes the account with id, or returns
// account.ErrNotFound.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete account: %w", err)
	}
	s.acc.mu.Lock()
	defer s.acc.mu.Unlock()
	a, ok := s.acc.byID[id]
	if !ok {
		return fmt.Errorf("memstore: delete account: %w", account.ErrNotFound)
	}
	delete(s.acc.byID, id)
	delete(s.acc.byEmail, a.Email)
	if i, found := slices.BinarySearch(s.acc.emails, a.Email); found {
		s.acc.emails = slices.Delete(s.acc.emails, i, i+1)
	}
	return nil
}
