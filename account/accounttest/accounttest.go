// Package accounttest states the account.Store contract as tests. Every
// backend in store/* runs it unchanged:
//
//	func TestAccounts(t *testing.T) {
//		accounttest.Run(t, func(t *testing.T) account.Store { return memstore.New() })
//	}
package accounttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
)

// Run runs the account.Store conformance suite. newStore must return a
// new, empty store for each call; it may register cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) account.Store) {
	t.Run("CreateAndGet", func(t *testing.T) { testCreateAndGet(t, newStore(t)) })
	t.Run("ReturnsCopies", func(t *testing.T) { testReturnsCopies(t, newStore(t)) })
	t.Run("EmailTaken", func(t *testing.T) { testEmailTaken(t, newStore(t)) })
	t.Run("EmailTakenConcurrently", func(t *testing.T) { testEmailTakenConcurrently(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("ListOrderedByEmail", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("ListPage", func(t *testing.T) { testListPage(t, newStore(t)) })
	t.Run("ListPageConcurrent", func(t *testing.T) { testListPageConcurrent(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("Claims", func(t *testing.T) { testClaims(t, newStore(t)) })
	t.Run("ClaimsNotFound", func(t *testing.T) { testClaimsNotFound(t, newStore(t)) })
	t.Run("ClaimsCopies", func(t *testing.T) { testClaimsCopies(t, newStore(t)) })
	t.Run("ClaimsConcurrent", func(t *testing.T) { testClaimsConcurrent(t, newStore(t)) })
	t.Run("SetPassword", func(t *testing.T) { testSetPassword(t, newStore(t)) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, newStore(t)) })
	runReset(t, newStore)
}

// created is a fixed instant with a non-zero nanosecond part, to catch a
// backend that loses precision; UTC, as account.Service writes it.
var created = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// newAcct returns a distinct account for email, as account.Service would
// create it (the hash is a well-formed PHC string, not a real one).
func newAcct(id, email string) *account.Account {
	return &account.Account{
		ID:           id,
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + id,
		CreatedAt:    created,
	}
}

func mustCreate(t *testing.T, s account.Store, a *account.Account) {
	t.Helper()
	if err := s.CreateAccount(context.Background(), a); err != nil {
		t.Fatalf("CreateAccount(%q, %q): %v", a.ID, a.Email, err)
	}
}

func checkEqual(t *testing.T, what string, got, want *account.Account) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil account, want %+v", what, want)
	}
	if got.ID != want.ID || got.Email != want.Email || got.PasswordHash != want.PasswordHash || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, *got, *want)
	}
}

func testCreateAndGet(t *testing.T, s account.Store) {
	ctx := context.Background()
	accts := []*account.Account{newAcct("id-alice", "alice@example.com"), newAcct("id-bob", "bob@example.org")}
	for _, a := range accts {
		mustCreate(t, s, a)
	}
	for _, want := range accts {
		got, err := s.AccountByID(ctx, want.ID)
		if err != nil {
			t.Fatalf("AccountByID(%q): %v", want.ID, err)
		}
		checkEqual(t, "AccountByID", got, want)
		got, err = s.AccountByEmail(ctx, want.Email)
		if err != nil {
			t.Fatalf("AccountByEmail(%q): %v", want.Email, err)
		}
		checkEqual(t, "AccountByEmail", got, want)
	}
}

func testReturnsCopies(t *testing.T, s account.Store) {
	ctx := context.Background()
	a := newAcct("id-alice", "alice@example.com")
	want := *a
	mustCreate(t, s, a)
	a.Email, a.PasswordHash = "mallory@example.com", "changed"
	got, err := s.AccountByID(ctx, want.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	checkEqual(t, "after changing the created value", got, &want)
	got.PasswordHash = "changed"
	again, err := s.AccountByEmail(ctx, want.Email)
	if err != nil {
		t.Fatalf("AccountByEmail: %v", err)
	}
	checkEqual(t, "after changing a returned value", again, &want)
}

func testEmailTaken(t *testing.T, s account.Store) {
	ctx := context.Background()
	mustCreate(t, s, newAcct("id-1", "alice@example.com"))
	err := s.CreateAccount(ctx, newAcct("id-2", "alice@example.com"))
	if !errors.Is(err, account.ErrEmailTaken) {
		t.Fatalf("second CreateAccount with the same email: got %v, want ErrEmailTaken", err)
	}
	if _, err := s.AccountByID(ctx, "id-2"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByID of the refused account: got %v, want ErrNotFound", err)
	}
	got, err := s.AccountByEmail(ctx, "alice@example.com")
	if err != nil {
		t.Fatalf("AccountByEmail: %v", err)
	}
	if got.ID != "id-1" {
		t.Errorf("AccountByEmail: got id %q, want the first account id-1", got.ID)
	}
}

func testEmailTakenConcurrently(t *testing.T, s account.Store) {
	ctx := context.Background()
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateAccount(ctx, newAcct(fmt.Sprintf("id-%02d", i), "race@example.com"))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both created race@example.com", winner, i)
			}
			winner = i
		case !errors.Is(err, account.ErrEmailTaken):
			t.Errorf("goroutine %d: got %v, want nil or ErrEmailTaken", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine created the account")
	}
	got, err := s.AccountByEmail(ctx, "race@example.com")
	if err != nil {
		t.Fatalf("AccountByEmail: %v", err)
	}
	if want := fmt.Sprintf("id-%02d", winner); got.ID != want {
		t.Errorf("AccountByEmail: got id %q, want the winner's %q", got.ID, want)
	}
	if all := listAll(t, s, account.MaxStorePage); len(all) != 1 {
		t.Errorf("ListAccountsPage: got %d accounts, want 1", len(all))
	}
}

func testNotFound(t *testing.T, s account.Store) {
	ctx := context.Background()
	// Once on an empty store (a backend may create its tables lazily) and
	// once on a store with someone else in it.
	for _, setup := range []string{"empty", "other account"} {
		t.Run(setup, func(t *testing.T) {
			if setup == "other account" {
				mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
			}
			if _, err := s.AccountByID(ctx, "id-nobody"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("AccountByID: got %v, want ErrNotFound", err)
			}
			if _, err := s.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("AccountByEmail: got %v, want ErrNotFound", err)
			}
			if err := s.DeleteAccount(ctx, "id-nobody"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("DeleteAccount: got %v, want ErrNotFound", err)
			}
			all := listAll(t, s, account.MaxStorePage)
			if want := map[string]int{"empty": 0, "other account": 1}[setup]; len(all) != want {
				t.Errorf("ListAccountsPage: got %d accounts, want %d", len(all), want)
			}
		})
	}
}

func testList(t *testing.T, s account.Store) {
	// Byte order, not insertion order, not id order: "a.b" < "a@" < "ab".
	emails := []string{"zed@example.com", "ab@example.com", "a.b@example.com", "a@example.com", "m@a.example"}
	for i, e := range emails {
		mustCreate(t, s, newAcct(fmt.Sprintf("id-%d", len(emails)-i), e))
	}
	got := listAll(t, s, account.MaxStorePage)
	want := slices.Clone(emails)
	slices.Sort(want)
	var gotEmails []string
	for _, a := range got {
		gotEmails = append(gotEmails, a.Email)
		if a.PasswordHash == "" || a.ID == "" || a.CreatedAt.IsZero() {
			t.Errorf("ListAccountsPage: incomplete account %+v", *a)
		}
	}
	if !slices.Equal(gotEmails, want) {
		t.Errorf("ListAccountsPage order:\n got %q\nwant %q", gotEmails, want)
	}
}

func testDelete(t *testing.T, s account.Store) {
	ctx := context.Background()
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	mustCreate(t, s, newAcct("id-bob", "bob@example.com"))
	if err := s.DeleteAccount(ctx, "id-alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, err := s.AccountByID(ctx, "id-alice"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByID after delete: got %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByEmail(ctx, "alice@example.com"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByEmail after delete: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, "id-alice"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("second DeleteAccount: got %v, want ErrNotFound", err)
	}
	if all := listAll(t, s, account.MaxStorePage); len(all) != 1 || all[0].ID != "id-bob" {
		t.Errorf("ListAccountsPage after delete: got %d accounts, want only id-bob", len(all))
	}
	// The email is free again.
	mustCreate(t, s, newAcct("id-alice-2", "alice@example.com"))
	got, err := s.AccountByEmail(ctx, "alice@example.com")
	if err != nil {
		t.Fatalf("AccountByEmail after re-signup: %v", err)
	}
	if got.ID != "id-alice-2" {
		t.Errorf("AccountByEmail after re-signup: got id %q, want id-alice-2", got.ID)
	}
}

func testCancelled(t *testing.T, s account.Store) {
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateAccount", func() error { return s.CreateAccount(ctx, newAcct("id-bob", "bob@example.com")) }},
		{"AccountByEmail", func() error { _, err := s.AccountByEmail(ctx, "alice@example.com"); return err }},
		{"AccountByID", func() error { _, err := s.AccountByID(ctx, "id-alice"); return err }},
		{"ListAccountsPage", func() error { _, err := s.ListAccountsPage(ctx, "", 10); return err }},
		{"SetAccountClaims", func() error { return s.SetAccountClaims(ctx, "id-alice", claimsOf("role", `"admin"`)) }},
		{"SetAccountPassword", func() error { return s.SetAccountPassword(ctx, "id-alice", "$argon2id$changed") }},
		{"DeleteAccount", func() error { return s.DeleteAccount(ctx, "id-alice") }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want an error wrapping context.Canceled", err)
			}
		})
	}
	bg := context.Background()
	if all := listAll(t, s, account.MaxStorePage); len(all) != 1 || all[0].ID != "id-alice" {
		var ids []string
		for _, a := range all {
			ids = append(ids, a.ID)
		}
		t.Errorf("after cancelled calls: accounts %q, want only id-alice", ids)
	}
	if _, err := s.AccountByEmail(bg, "bob@example.com"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("cancelled CreateAccount created bob: %v", err)
	}
	if a, err := s.AccountByID(bg, "id-alice"); err != nil || len(a.Claims) != 0 {
		t.Errorf("after a cancelled SetAccountClaims: %+v, %v; want alice without claims", a, err)
	}
	if a, err := s.AccountByID(bg, "id-alice"); err != nil || a.PasswordHash != newAcct("id-alice", "").PasswordHash {
		t.Errorf("after a cancelled SetAccountPassword: %+v, %v; want alice's hash unchanged", a, err)
	}
}
