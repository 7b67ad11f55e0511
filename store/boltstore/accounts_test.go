package boltstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/account/accounttest"
	"github.com/sessiond/sessiond/store/boltstore"
)

func openAccounts(t *testing.T, dir string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

func TestAccountStore(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) account.Store {
		s := openAccounts(t, t.TempDir())
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

func TestAccountsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	want := []*account.Account{
		{ID: "id-alice", Email: "alice@example.com", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$YWxpY2Vzc2FsdA$YWxpY2VoYXNoYWxpY2VoYXNo", CreatedAt: created},
		{ID: "id-bob", Email: "bob@example.com", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$Ym9ic2FsdHNhbHQ$Ym9iaGFzaGJvYmhhc2hib2I", CreatedAt: created.Add(time.Hour)},
		{ID: "id-carol", Email: "carol@example.com", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$Y2Fyb2xzYWx0$Y2Fyb2xoYXNoY2Fyb2xoYXNo", CreatedAt: created.Add(2 * time.Hour)},
	}

	s := openAccounts(t, dir)
	for _, a := range want {
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatalf("CreateAccount(%s): %v", a.ID, err)
		}
	}
	if err := s.DeleteAccount(ctx, "id-bob"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAccounts(t, dir)
	t.Cleanup(func() { s.Close() })
	got, err := s.ListAccountsPage(ctx, "", account.MaxStorePage)
	if err != nil {
		t.Fatalf("ListAccountsPage after reopen: %v", err)
	}
	wantLeft := []*account.Account{want[0], want[2]}
	if len(got) != len(wantLeft) {
		t.Fatalf("ListAccountsPage after reopen: got %d accounts, want %d", len(got), len(wantLeft))
	}
	for i, w := range wantLeft {
		g := got[i]
		if g.ID != w.ID || g.Email != w.Email || g.PasswordHash != w.PasswordHash || !g.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("account %d after reopen:\n got %+v\nwant %+v", i, *g, *w)
		}
	}
	byMail, err := s.AccountByEmail(ctx, "carol@example.com")
	if err != nil || byMail.ID != "id-carol" {
		t.Errorf("AccountByEmail after reopen: got %v, %v; want id-carol", byMail, err)
	}
	if _, err := s.AccountByEmail(ctx, "bob@example.com"); err == nil {
		t.Error("deleted account came back after reopen")
	}
	// The email index survived too: a duplicate is still refused.
	if err := s.CreateAccount(ctx, &account.Account{ID: "id-x", Email: "alice@example.com", CreatedAt: created}); err == nil {
		t.Error("CreateAccount with a taken email succeeded after reopen")
	}
}
