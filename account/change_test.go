package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/account"
)

// TestVerifyPassword: the password of an identified user, checked again.
func TestVerifyPassword(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, err := s.Signup(ctx, "ann@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, password string
		want               error
	}{
		{"right", a.ID, "correct horse battery", nil},
		{"wrong", a.ID, "correct horse battery!", account.ErrBadCredentials},
		{"empty", a.ID, "", account.ErrBadCredentials},
		{"not UTF-8", a.ID, "correct horse \xff", account.ErrBadCredentials},
		{"far too long", a.ID, strings.Repeat("x", 4*account.MaxPasswordLen+1), account.ErrBadCredentials},
		{"no such account", "nobody", "correct horse battery", account.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.VerifyPassword(ctx, tc.id, tc.password)
			if !errors.Is(err, tc.want) || (err == nil) != (got != nil) {
				t.Fatalf("VerifyPassword = %v, %v; want %v", got, err, tc.want)
			}
			if err == nil && got.ID != a.ID {
				t.Fatalf("VerifyPassword returned %s, want %s", got.ID, a.ID)
			}
		})
	}
}

// TestChangePassword: the right current password and a new one that keeps
// the rules change it (the old one stops working, nothing else of the
// account changes); anything else is refused with the error a caller
// branches on, and the stored hash stays as it was.
func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	const old = "correct horse battery"
	tests := []struct {
		name, current, next string
		missing             bool
		want                error
		says                string
	}{
		{"changed", old, "tr0ub4dor and then some", false, nil, ""},
		{"the same again", old, old, false, nil, ""},
		{"wrong current", "wrong horse battery", "tr0ub4dor and then some", false, account.ErrBadCredentials, ""},
		{"new too short", old, "short", false, account.ErrInvalidPassword, "at least 8 characters"},
		{"new not UTF-8", old, "long enough \xff", false, account.ErrInvalidPassword, "UTF-8"},
		{"new too short and current wrong", "wrong", "short", false, account.ErrInvalidPassword, "at least 8"},
		{"no such account", old, "tr0ub4dor and then some", true, account.ErrNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t)
			a, err := s.Signup(ctx, "ann@example.com", old)
			if err != nil {
				t.Fatal(err)
			}
			id := a.ID
			if tc.missing {
				id = "no-such-id"
			}
			err = s.ChangePassword(ctx, id, tc.current, tc.next)
			if !errors.Is(err, tc.want) || (tc.says != "" && !strings.Contains(err.Error(), tc.says)) {
				t.Fatalf("ChangePassword = %v, want %v saying %q", err, tc.want, tc.says)
			}
			after, err := s.Store.AccountByID(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.Email != a.Email || !after.CreatedAt.Equal(a.CreatedAt) {
				t.Fatalf("the account changed beyond its password: %+v", after)
			}
			if _, err := s.Store.AccountByID(ctx, "no-such-id"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("a change for a missing account created one: %v", err)
			}
			if tc.want != nil {
				if after.PasswordHash != a.PasswordHash {
					t.Fatal("a refused change replaced the hash")
				}
				return
			}
			if after.PasswordHash == a.PasswordHash {
				t.Fatal("the hash did not change (a new salt makes every hash new)")
			}
			if _, err := s.Authenticate(ctx, "ann@example.com", tc.next); err != nil {
				t.Fatalf("login with the new password: %v", err)
			}
			if tc.next != old {
				if _, err := s.Authenticate(ctx, "ann@example.com", old); !errors.Is(err, account.ErrBadCredentials) {
					t.Fatalf("login with the old password: %v", err)
				}
			}
		})
	}
}
