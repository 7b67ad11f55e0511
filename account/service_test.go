package account_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/store/memstore"
)

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T) *account.Service {
	t.Helper()
	return &account.Service{
		Store:  memstore.New(),
		Params: testParams,
		Now:    func() time.Time { return testNow },
	}
}

func TestSignup(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, err := s.Signup(ctx, "  Alice@Example.COM ", "correct horse")
	if err != nil {
		t.Fatalf("Signup: %v", err)
	}
	if a.Email != "alice@example.com" {
		t.Errorf("Email = %q, want the normalised alice@example.com", a.Email)
	}
	if len(a.ID) != 22 || strings.ContainsAny(a.ID, "+/=") {
		t.Errorf("ID = %q, want 22 base64url characters", a.ID)
	}
	if !a.CreatedAt.Equal(testNow) {
		t.Errorf("CreatedAt = %v, want the injected clock's %v", a.CreatedAt, testNow)
	}
	if strings.Contains(a.PasswordHash, "correct horse") || !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("PasswordHash = %q, want a PHC argon2id string under Params", a.PasswordHash)
	}
	stored, err := s.Store.AccountByID(ctx, a.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	if !reflect.DeepEqual(stored, a) {
		t.Errorf("stored %+v, returned %+v", *stored, *a)
	}

	b, err := s.Signup(ctx, "bob@example.com", "another password")
	if err != nil {
		t.Fatalf("second Signup: %v", err)
	}
	if b.ID == a.ID {
		t.Error("two accounts got the same id")
	}
}

func TestSignupRefuses(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	if _, err := s.Signup(ctx, "alice@example.com", "correct horse"); err != nil {
		t.Fatalf("Signup: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name, email, pw string
		ctx             context.Context
		want            error
	}{
		{"email taken", "alice@example.com", "other password", ctx, account.ErrEmailTaken},
		{"email taken, other case", "ALICE@example.com", "other password", ctx, account.ErrEmailTaken},
		{"invalid email", "alice", "correct horse", ctx, account.ErrInvalidEmail},
		{"short password", "bob@example.com", "short", ctx, account.ErrInvalidPassword},
		{"long password", "bob@example.com", strings.Repeat("x", 129), ctx, account.ErrInvalidPassword},
		{"cancelled", "bob@example.com", "correct horse", cancelled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := s.Signup(tt.ctx, tt.email, tt.pw)
			if !errors.Is(err, tt.want) || a != nil {
				t.Fatalf("Signup = %v, %v; want %v", a, err, tt.want)
			}
		})
	}
	all, next, err := s.ListPage(ctx, "", account.MaxPageSize)
	if err != nil || next != "" {
		t.Fatalf("ListPage: %v, next %q", err, next)
	}
	if len(all) != 1 {
		t.Errorf("%d accounts after refused signups, want 1", len(all))
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	alice, err := s.Signup(ctx, "alice@example.com", "correct horse")
	if err != nil {
		t.Fatalf("Signup: %v", err)
	}
	tests := []struct {
		name, email, pw string
		ok              bool
	}{
		{"right", "alice@example.com", "correct horse", true},
		{"right, email in other case and padded", " Alice@EXAMPLE.com", "correct horse", true},
		{"wrong password", "alice@example.com", "correct horsE", false},
		{"empty password", "alice@example.com", "", false},
		{"unknown email", "bob@example.com", "correct horse", false},
		{"invalid email", "alice", "correct horse", false},
		{"invalid UTF-8 password", "alice@example.com", "correct horse\xff", false},
		{"huge password", "alice@example.com", strings.Repeat("x", 1<<20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := s.Authenticate(ctx, tt.email, tt.pw)
			if tt.ok {
				if err != nil || a == nil || a.ID != alice.ID {
					t.Fatalf("Authenticate = %v, %v; want alice", a, err)
				}
				return
			}
			if err != account.ErrBadCredentials || a != nil {
				// Exactly the sentinel, unwrapped: nothing in the error may
				// tell an unknown email from a wrong password.
				t.Fatalf("Authenticate = %v, %v; want exactly ErrBadCredentials", a, err)
			}
		})
	}
}

// TestAuthenticateSameWork checks that every refusal (wrong password,
// unknown email, invalid email) runs exactly one argon2id computation,
// with the same parameters as checking a real account's password.
func TestAuthenticateSameWork(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	if _, err := s.Signup(ctx, "alice@example.com", "correct horse"); err != nil {
		t.Fatalf("Signup: %v", err)
	}
	record := account.RecordDerivations(t)
	if _, err := s.Authenticate(ctx, "alice@example.com", "correct horse"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	base := record()
	if len(base) != 1 {
		t.Fatalf("a successful login ran %d argon2 computations, want 1", len(base))
	}
	want := account.Derivation{Time: testParams.Time, Memory: testParams.Memory, Threads: testParams.Threads, SaltLen: int(testParams.SaltLen), KeyLen: testParams.KeyLen}
	if base[0] != want {
		t.Fatalf("successful login derived with %+v, want %+v", base[0], want)
	}
	tests := []struct{ name, email, pw string }{
		{"wrong password", "alice@example.com", "wrong password"},
		{"unknown email", "nobody@example.com", "wrong password"},
		{"invalid email", "not an email", "wrong password"},
		{"empty email", "", ""},
		{"oversized password", "alice@example.com", strings.Repeat("x", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Authenticate(ctx, tt.email, tt.pw); err != account.ErrBadCredentials {
				t.Fatalf("Authenticate: %v, want ErrBadCredentials", err)
			}
			got := record()
			if len(got) != 1 || got[0] != base[0] {
				t.Errorf("derivations %+v, want exactly one like a real check: %+v", got, base[0])
			}
		})
	}
}

func TestAuthenticateCorruptHash(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	err := s.Store.CreateAccount(ctx, &account.Account{ID: "id-x", Email: "x@example.com", PasswordHash: "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", CreatedAt: testNow})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if _, err := s.Authenticate(ctx, "x@example.com", "password"); !errors.Is(err, account.ErrInvalidHash) {
		t.Fatalf("Authenticate with a tampered hash: %v, want ErrInvalidHash", err)
	}
}

func TestAuthenticateCancelled(t *testing.T) {
	s := newService(t)
	if _, err := s.Signup(context.Background(), "alice@example.com", "correct horse"); err != nil {
		t.Fatalf("Signup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A store that cannot answer is not "bad credentials": fail closed
	// with the store's error.
	_, err := s.Authenticate(ctx, "alice@example.com", "correct horse")
	if !errors.Is(err, context.Canceled) || errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Authenticate: %v, want context.Canceled", err)
	}
}

func TestDeleteAndList(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	var ids []string
	for _, e := range []string{"carol@example.com", "alice@example.com", "bob@example.com"} {
		a, err := s.Signup(ctx, e, "correct horse")
		if err != nil {
			t.Fatalf("Signup(%s): %v", e, err)
		}
		ids = append(ids, a.ID)
	}
	if err := s.Delete(ctx, ids[1]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(ctx, ids[1]); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	all, next, err := s.ListPage(ctx, "", 0)
	if err != nil || next != "" {
		t.Fatalf("ListPage: %v, next %q", err, next)
	}
	var emails []string
	for _, a := range all {
		emails = append(emails, a.Email)
	}
	if got, want := strings.Join(emails, " "), "bob@example.com carol@example.com"; got != want {
		t.Errorf("ListPage = %s, want %s", got, want)
	}
	if _, err := s.Authenticate(ctx, "alice@example.com", "correct horse"); err != account.ErrBadCredentials {
		t.Errorf("Authenticate deleted account: %v, want ErrBadCredentials", err)
	}
}

func TestZeroParamsMeansDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes under DefaultParams (64 MiB)")
	}
	s := &account.Service{Store: memstore.New()}
	a, err := s.Signup(context.Background(), "alice@example.com", "correct horse")
	if err != nil {
		t.Fatalf("Signup: %v", err)
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("PasswordHash = %q, want DefaultParams", a.PasswordHash)
	}
	if time.Since(a.CreatedAt) > time.Hour || a.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want about now in UTC", a.CreatedAt)
	}
}

func TestMaxConcurrentHashes(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			ctx := context.Background()
			s := newService(t)
			s.MaxConcurrentHashes = limit
			if _, err := s.Signup(ctx, "alice@example.com", "correct horse"); err != nil {
				t.Fatalf("Signup: %v", err)
			}
			highest := account.MaxInFlight(t)
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					email := "alice@example.com"
					if i%2 == 1 {
						email = "nobody@example.com"
					}
					if _, err := s.Authenticate(ctx, email, "wrong password"); err != account.ErrBadCredentials {
						t.Errorf("Authenticate: %v", err)
					}
				})
			}
			wg.Wait()
			if h := highest(); h > limit || h < 1 {
				t.Errorf("%d argon2 computations ran at once, want at most %d", h, limit)
			}
		})
	}
}

func TestWaitingForHashHonoursContext(t *testing.T) {
	s := newService(t)
	s.MaxConcurrentHashes = 1
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Signup(ctx, "alice@example.com", "correct horse"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Signup with cancelled ctx: %v, want context.Canceled", err)
	}
}

// TestLookup: an argument with an '@' is an email, normalised as Signup
// does; anything else an id.
func TestLookup(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, err := s.Signup(ctx, "Lee@Example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arg  string
		want error // nil: finds a
	}{
		{a.ID, nil},
		{"lee@example.com", nil},
		{"  LEE@EXAMPLE.COM ", nil},
		{"nobody@example.com", account.ErrNotFound},
		{"no-such-id", account.ErrNotFound},
		{"not an @ email", account.ErrInvalidEmail},
		{"", account.ErrNotFound},
	} {
		got, err := s.Lookup(ctx, tc.arg)
		switch {
		case tc.want == nil && (err != nil || got.ID != a.ID):
			t.Errorf("Lookup(%q) = %+v, %v; want the account %s", tc.arg, got, err, a.ID)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("Lookup(%q): got %+v, %v; want %v", tc.arg, got, err, tc.want)
		}
	}
}

// TestSetClaims: SetClaims replaces the account's claims, which Get and
// Authenticate then return; an unknown id is ErrNotFound.
func TestSetClaims(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, err := s.Signup(ctx, "lee@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if a.Claims != nil {
		t.Fatalf("a new account has claims %v", a.Claims)
	}
	want := map[string]json.RawMessage{"role": json.RawMessage(`"admin"`)}
	if err := s.SetClaims(ctx, a.ID, want); err != nil {
		t.Fatalf("SetClaims: %v", err)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got.Claims, want) {
		t.Fatalf("Get after SetClaims: %+v, %v; want claims %s", got, err, want["role"])
	}
	auth, err := s.Authenticate(ctx, "lee@example.com", "correct horse battery")
	if err != nil || !reflect.DeepEqual(auth.Claims, want) {
		t.Fatalf("Authenticate after SetClaims: %+v, %v; want claims %s", auth, err, want["role"])
	}
	if err := s.SetClaims(ctx, "no-such-id", want); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("SetClaims of an unknown id: got %v, want ErrNotFound", err)
	}
}
