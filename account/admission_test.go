package account_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/account"
)

// TestAdmission: an admission that refuses, once the hashing slot is held,
// makes Authenticate and Signup return its error without hashing anything
// and gives the slot back; one that admits changes nothing.
func TestAdmission(t *testing.T) {
	s := newService(t)
	s.MaxConcurrentHashes = 1
	if _, err := s.Signup(context.Background(), "alice@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	derivations := account.RecordDerivations(t)
	refuse := errors.New("throttled meanwhile")
	asked := 0
	ctx := account.WithAdmission(account.WithClient(context.Background(), account.HashClient{Key: "198.51.100.7"}),
		func(context.Context) error { asked++; return refuse })
	if _, err := s.Authenticate(ctx, "alice@example.com", "correct horse"); !errors.Is(err, refuse) {
		t.Fatalf("Authenticate refused by its admission: %v", err)
	}
	if _, err := s.Signup(ctx, "bob@example.com", "correct horse"); !errors.Is(err, refuse) {
		t.Fatalf("Signup refused by its admission: %v", err)
	}
	if asked != 2 || len(derivations()) != 0 {
		t.Fatalf("admission asked %d times, %d hashes computed; want 2 and none", asked, len(derivations()))
	}
	// The slot was given back: with one slot, the next call gets it.
	ok := account.WithAdmission(context.Background(), func(context.Context) error { return nil })
	if _, err := s.Authenticate(ok, "alice@example.com", "correct horse"); err != nil {
		t.Fatalf("Authenticate after refusals: %v", err)
	}
	if n := len(derivations()); n != 1 {
		t.Fatalf("%d hashes for one admitted login", n)
	}
}
