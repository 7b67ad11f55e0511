package accounttest

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/account"
)

// testSetPassword: SetAccountPassword replaces the hash that every read
// gives back and nothing else, of that account only; an unknown or deleted
// account is ErrNotFound and is not brought back.
func testSetPassword(t *testing.T, s account.Store) {
	ctx := context.Background()
	alice := newAcct("id-alice", "alice@example.com")
	alice.Claims = claimsOf("role", `"admin"`)
	bob := newAcct("id-bob", "bob@example.com")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)

	const newHash = "$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$changed"
	if err := s.SetAccountPassword(ctx, alice.ID, newHash); err != nil {
		t.Fatalf("SetAccountPassword: %v", err)
	}
	want := *alice
	want.PasswordHash = newHash
	checkClaimsEverywhere(t, s, &want)
	checkClaimsEverywhere(t, s, bob)

	if err := s.SetAccountPassword(ctx, "id-nobody", newHash); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("SetAccountPassword of an unknown id: got %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByID(ctx, "id-nobody"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByID after SetAccountPassword of an unknown id: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, bob.ID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if err := s.SetAccountPassword(ctx, bob.ID, newHash); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("SetAccountPassword of a deleted account: got %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByEmail(ctx, bob.Email); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByEmail of the deleted account after SetAccountPassword: got %v, want ErrNotFound", err)
	}
}
