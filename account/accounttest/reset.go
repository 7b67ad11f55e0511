package accounttest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
)

// runReset runs the part of the suite about password-reset tokens: the
// ResetTokenStore contract, and account.Service.ResetPassword on the
// store, since what a user relies on (a link works once, and not after the
// password changed) depends on every backend.
func runReset(t *testing.T, newStore func(t *testing.T) account.Store) {
	t.Run("ResetTokens", func(t *testing.T) { testResetTokens(t, newStore(t)) })
	t.Run("ResetTokenExpiry", func(t *testing.T) { testResetTokenExpiry(t, newStore(t)) })
	t.Run("ResetTokenConsumedOnce", func(t *testing.T) { testResetTokenConsumedOnce(t, newStore(t)) })
	t.Run("ResetTokenSweep", func(t *testing.T) { testResetTokenSweep(t, newStore(t)) })
	t.Run("ResetTokenCancelled", func(t *testing.T) { testResetTokenCancelled(t, newStore(t)) })
	t.Run("ResetPassword", func(t *testing.T) { testResetPassword(t, newStore(t)) })
	t.Run("ResetPasswordConcurrent", func(t *testing.T) { testResetPasswordConcurrent(t, newStore(t)) })
}

// tokenHash is the hash of a new random token, as the Service stores it.
func tokenHash() []byte {
	var b [32]byte
	rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return h[:]
}

// now is the wall clock (Redis expires keys on its own), truncated as a
// backend keeping microseconds would.
func now() time.Time { return time.Now().Truncate(time.Millisecond) }

// testResetTokens: a token names its account until consumed; looking does
// not use it up; consuming does, once; tokens are independent of each
// other; an unknown hash is ErrNotFound; the store keeps its own copy of
// the hash.
func testResetTokens(t *testing.T, s account.Store) {
	ctx := context.Background()
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	mustCreate(t, s, newAcct("id-bob", "bob@example.com"))
	t0 := now()
	h1, h2, hb := tokenHash(), tokenHash(), tokenHash()
	given := append([]byte(nil), h1...)
	for _, c := range []struct {
		hash []byte
		id   string
	}{{given, "id-alice"}, {h2, "id-alice"}, {hb, "id-bob"}} {
		if err := s.CreateResetToken(ctx, c.hash, c.id, t0.Add(30*time.Minute)); err != nil {
			t.Fatalf("CreateResetToken(%s): %v", c.id, err)
		}
	}
	given[0] ^= 0xff // the caller's slice is the caller's
	for range 2 {
		if id, err := s.ResetTokenAccount(ctx, h1, t0); err != nil || id != "id-alice" {
			t.Fatalf("ResetTokenAccount: %q, %v; want id-alice", id, err)
		}
	}
	if _, err := s.ResetTokenAccount(ctx, given, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("ResetTokenAccount of a hash changed after CreateResetToken: %v, want ErrNotFound", err)
	}
	if id, err := s.ConsumeResetToken(ctx, h1, t0); err != nil || id != "id-alice" {
		t.Fatalf("ConsumeResetToken: %q, %v; want id-alice", id, err)
	}
	if id, err := s.ConsumeResetToken(ctx, h1, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("second ConsumeResetToken: %q, %v; want ErrNotFound", id, err)
	}
	if id, err := s.ResetTokenAccount(ctx, h1, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("ResetTokenAccount of a consumed token: %q, %v; want ErrNotFound", id, err)
	}
	// The other tokens, of the same account and of another, are untouched.
	for hash, want := range map[*[]byte]string{&h2: "id-alice", &hb: "id-bob"} {
		if id, err := s.ResetTokenAccount(ctx, *hash, t0); err != nil || id != want {
			t.Errorf("ResetTokenAccount of another token: %q, %v; want %s", id, err, want)
		}
	}
	unknown := tokenHash()
	if _, err := s.ResetTokenAccount(ctx, unknown, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("ResetTokenAccount of an unknown hash: %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeResetToken(ctx, unknown, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("ConsumeResetToken of an unknown hash: %v, want ErrNotFound", err)
	}
}

// testResetTokenExpiry: a token is refused from its expiry on (judged by
// the caller's clock), by a look and by a use.
func testResetTokenExpiry(t *testing.T, s account.Store) {
	ctx := context.Background()
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	t0 := now()
	expires := t0.Add(10 * time.Minute)
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"a second before", expires.Add(-time.Second), true},
		{"at expiry", expires, false},
		{"an hour after", expires.Add(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tokenHash()
			if err := s.CreateResetToken(ctx, h, "id-alice", expires); err != nil {
				t.Fatalf("CreateResetToken: %v", err)
			}
			id, err := s.ResetTokenAccount(ctx, h, tc.at)
			if tc.ok != (err == nil) || (tc.ok && id != "id-alice") {
				t.Errorf("ResetTokenAccount: %q, %v; usable = %v", id, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, account.ErrNotFound) {
				t.Errorf("ResetTokenAccount of an expired token: %v, want ErrNotFound", err)
			}
			id, err = s.ConsumeResetToken(ctx, h, tc.at)
			if tc.ok != (err == nil) || (tc.ok && id != "id-alice") {
				t.Errorf("ConsumeResetToken: %q, %v; usable = %v", id, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, account.ErrNotFound) {
				t.Errorf("ConsumeResetToken of an expired token: %v, want ErrNotFound", err)
			}
		})
	}
	// One created already expired is never usable.
	h := tokenHash()
	if err := s.CreateResetToken(ctx, h, "id-alice", t0.Add(-time.Minute)); err != nil {
		t.Fatalf("CreateResetToken of an expired token: %v", err)
	}
	if _, err := s.ConsumeResetToken(ctx, h, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("ConsumeResetToken of a token created expired: %v, want ErrNotFound", err)
	}
}

// testResetTokenConsumedOnce: of many concurrent uses of one token,
// exactly one gets its account.
func testResetTokenConsumedOnce(t *testing.T, s account.Store) {
	ctx := context.Background()
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	const n = 16
	for round := range 3 {
		h := tokenHash()
		t0 := now()
		if err := s.CreateResetToken(ctx, h, "id-alice", t0.Add(time.Hour)); err != nil {
			t.Fatalf("CreateResetToken: %v", err)
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				id, err := s.ConsumeResetToken(ctx, h, t0)
				switch {
				case err == nil && id == "id-alice":
					won.Add(1)
				case err == nil:
					t.Errorf("ConsumeResetToken gave account %q", id)
				case !errors.Is(err, account.ErrNotFound):
					t.Errorf("ConsumeResetToken: %v, want nil or ErrNotFound", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if w := won.Load(); w != 1 {
			t.Fatalf("round %d: %d of %d concurrent uses of one token succeeded, want exactly 1", round, w, n)
		}
	}
}

// testResetTokenSweep: DeleteExpiredResetTokens removes the expired tokens
// and keeps the others (a store that expires them by itself may report 0).
func testResetTokenSweep(t *testing.T, s account.Store) {
	ctx := context.Background()
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	t0 := now()
	soon, later := tokenHash(), tokenHash()
	if err := s.CreateResetToken(ctx, soon, "id-alice", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateResetToken(ctx, later, "id-alice", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredResetTokens(ctx, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatalf("DeleteExpiredResetTokens: %v", err)
	}
	switch n {
	case 0: // the store drops expired tokens by itself
	case 1:
		if _, err := s.ResetTokenAccount(ctx, soon, t0); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("a swept token: %v, want ErrNotFound", err)
		}
	default:
		t.Errorf("DeleteExpiredResetTokens removed %d, want 1", n)
	}
	if id, err := s.ResetTokenAccount(ctx, later, t0); err != nil || id != "id-alice" {
		t.Errorf("an unexpired token after the sweep: %q, %v", id, err)
	}
	if n, err := s.DeleteExpiredResetTokens(ctx, t0.Add(2*time.Minute)); err != nil || n != 0 {
		t.Errorf("second DeleteExpiredResetTokens: %d, %v; want 0", n, err)
	}
}

func testResetTokenCancelled(t *testing.T, s account.Store) {
	mustCreate(t, s, newAcct("id-alice", "alice@example.com"))
	bg := context.Background()
	t0 := now()
	h := tokenHash()
	if err := s.CreateResetToken(bg, h, "id-alice", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	fresh := tokenHash()
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateResetToken", func() error { return s.CreateResetToken(ctx, fresh, "id-alice", t0.Add(time.Hour)) }},
		{"ResetTokenAccount", func() error { _, err := s.ResetTokenAccount(ctx, h, t0); return err }},
		{"ConsumeResetToken", func() error { _, err := s.ConsumeResetToken(ctx, h, t0); return err }},
		{"DeleteExpiredResetTokens", func() error { _, err := s.DeleteExpiredResetTokens(ctx, t0.Add(2*time.Hour)); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want an error wrapping context.Canceled", err)
			}
		})
	}
	if _, err := s.ResetTokenAccount(bg, fresh, t0); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("a cancelled CreateResetToken stored the token: %v", err)
	}
	if id, err := s.ConsumeResetToken(bg, h, t0); err != nil || id != "id-alice" {
		t.Errorf("after cancelled calls the token is %q, %v; want it still usable", id, err)
	}
}

// fastParams keep argon2id cheap in the suite.
var fastParams = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts the reset-token reads of the store it wraps, so a
// test can see that garbage never reaches the store.
type countingStore struct {
	account.Store
	reads atomic.Int32
}

func (c *countingStore) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (string, error) {
	c.reads.Add(1)
	return c.Store.ResetTokenAccount(ctx, hash, now)
}

func (c *countingStore) ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (string, error) {
	c.reads.Add(1)
	return c.Store.ConsumeResetToken(ctx, hash, now)
}

const (
	oldPassword = "correct horse battery"
	newPassword = "tangerine submarine 42"
)

func newService(s account.Store) (*account.Service, *testClock) {
	c := &testClock{t: now()}
	return &account.Service{Store: s, Params: fastParams, Now: c.Now}, c
}

func issue(t *testing.T, svc *account.Service, email string) string {
	t.Helper()
	ri, err := svc.PrepareReset(context.Background(), email)
	if err != nil || ri.Account == nil {
		t.Fatalf("PrepareReset(%q): %+v, %v", email, ri, err)
	}
	if err := svc.SaveReset(context.Background(), ri); err != nil {
		t.Fatalf("SaveReset: %v", err)
	}
	return ri.Token
}

func checkPassword(t *testing.T, svc *account.Service, email, pw string, ok bool) {
	t.Helper()
	_, err := svc.Authenticate(context.Background(), email, pw)
	if ok && err != nil {
		t.Errorf("login with %q: %v, want it to work", pw, err)
	}
	if !ok && !errors.Is(err, account.ErrBadCredentials) {
		t.Errorf("login with %q: %v, want ErrBadCredentials", pw, err)
	}
}

// testResetPassword: what a user relies on, on this store. A reset link
// sets the password once; a refused new password leaves it usable; it
// dies when used, when it expires, when the password changed since it was
// issued (another link used first), and with its account; garbage, an
// unknown email's token and a changed character are refused without a
// store read of the token.
func testResetPassword(t *testing.T, s account.Store) {
	ctx := context.Background()
	cs := &countingStore{Store: s}
	svc, clock := newService(cs)
	if _, err := svc.Signup(ctx, "alice@example.com", oldPassword); err != nil {
		t.Fatal(err)
	}
	tok := issue(t, svc, "Alice@Example.com")
	if !strings.HasPrefix(tok, account.ResetTokenPrefix) {
		t.Errorf("token %q lacks the prefix %q", tok, account.ResetTokenPrefix)
	}

	if _, err := svc.ResetPassword(ctx, tok, "short"); !errors.Is(err, account.ErrInvalidPassword) {
		t.Fatalf("a too short new password: %v, want ErrInvalidPassword", err)
	}
	checkPassword(t, svc, "alice@example.com", oldPassword, true)
	a, err := svc.ResetPassword(ctx, tok, newPassword)
	if err != nil {
		t.Fatalf("ResetPassword after a refused password: %v (a refused password must not use the token up)", err)
	}
	if a.Email != "alice@example.com" {
		t.Errorf("ResetPassword returned %+v", a)
	}
	checkPassword(t, svc, "alice@example.com", newPassword, true)
	checkPassword(t, svc, "alice@example.com", oldPassword, false)
	if _, err := svc.ResetPassword(ctx, tok, "another new password"); !errors.Is(err, account.ErrInvalidResetToken) {
		t.Errorf("second use: %v, want ErrInvalidResetToken", err)
	}
	checkPassword(t, svc, "alice@example.com", newPassword, true)

	t.Run("older link after a reset", func(t *testing.T) {
		first, second := issue(t, svc, "alice@example.com"), issue(t, svc, "alice@example.com")
		if _, err := svc.ResetPassword(ctx, second, "second link password"); err != nil {
			t.Fatalf("the newer link: %v", err)
		}
		if _, err := svc.ResetPassword(ctx, first, "first link password"); !errors.Is(err, account.ErrInvalidResetToken) {
			t.Errorf("the older link after the password changed: %v, want ErrInvalidResetToken", err)
		}
		checkPassword(t, svc, "alice@example.com", "second link password", true)
	})
	t.Run("expired", func(t *testing.T) {
		tok := issue(t, svc, "alice@example.com")
		clock.Advance(account.DefaultResetTTL)
		if _, err := svc.ResetPassword(ctx, tok, "too late password"); !errors.Is(err, account.ErrInvalidResetToken) {
			t.Errorf("at its expiry: %v, want ErrInvalidResetToken", err)
		}
	})
	t.Run("unknown email", func(t *testing.T) {
		ri, err := svc.PrepareReset(ctx, "nobody@example.com")
		if err != nil || ri.Account != nil || !strings.HasPrefix(ri.Token, account.ResetTokenPrefix) {
			t.Fatalf("PrepareReset of an unknown email: %+v, %v; want a token and no account", ri, err)
		}
		if err := svc.SaveReset(ctx, ri); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("SaveReset of an unknown email's token: %v, want ErrNotFound", err)
		}
		if _, err := svc.ResetPassword(ctx, ri.Token, "whatever password"); !errors.Is(err, account.ErrInvalidResetToken) {
			t.Errorf("an unknown email's token: %v, want ErrInvalidResetToken", err)
		}
	})
	t.Run("deleted account", func(t *testing.T) {
		b, err := svc.Signup(ctx, "bob@example.com", oldPassword)
		if err != nil {
			t.Fatal(err)
		}
		tok := issue(t, svc, "bob@example.com")
		if err := svc.Delete(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ResetPassword(ctx, tok, "ghost password"); !errors.Is(err, account.ErrInvalidResetToken) {
			t.Errorf("a deleted account's token: %v, want ErrInvalidResetToken", err)
		}
		if _, err := svc.Get(ctx, b.ID); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("the deleted account after a reset attempt: %v, want ErrNotFound", err)
		}
	})
	t.Run("garbage is refused before the store", func(t *testing.T) {
		tok := issue(t, svc, "alice@example.com")
		flipped := []byte(tok)
		i := len(account.ResetTokenPrefix) + 3
		flipped[i] = map[bool]byte{true: 'B', false: 'A'}[flipped[i] == 'A']
		for _, bad := range []string{"", "sdpr_", tok[:len(tok)-1], tok + "A", string(flipped),
			"sdrt_" + tok[len(account.ResetTokenPrefix):], strings.ToUpper(tok), tok[:len(tok)-2] + "=="} {
			cs.reads.Store(0)
			if _, err := svc.ResetPassword(ctx, bad, "garbage password"); !errors.Is(err, account.ErrInvalidResetToken) {
				t.Errorf("ResetPassword(%q): %v, want ErrInvalidResetToken", bad, err)
			}
			if n := cs.reads.Load(); n != 0 {
				t.Errorf("ResetPassword(%q) read the store %d times", bad, n)
			}
		}
		if _, err := svc.ResetPassword(ctx, tok, "the real thing"); err != nil {
			t.Errorf("the token itself after the garbage: %v", err)
		}
	})
	t.Run("CLI issue", func(t *testing.T) {
		ri, err := svc.IssueReset(ctx, "alice@example.com")
		if err != nil || ri.Account == nil || ri.Account.Email != "alice@example.com" {
			t.Fatalf("IssueReset: %+v, %v", ri, err)
		}
		if want := clock.Now().Add(account.DefaultResetTTL); !ri.ExpiresAt.Equal(want.UTC()) {
			t.Errorf("ExpiresAt %v, want %v", ri.ExpiresAt, want)
		}
		if _, err := svc.IssueReset(ctx, "nobody@example.com"); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("IssueReset of an unknown email: %v, want ErrNotFound", err)
		}
		if _, err := svc.ResetPassword(ctx, ri.Token, "operator given password"); err != nil {
			t.Errorf("the issued token: %v", err)
		}
	})
}

// testResetPasswordConcurrent: one link used at once from several places
// sets the password exactly once, to the winner's choice.
func testResetPasswordConcurrent(t *testing.T, s account.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	if _, err := svc.Signup(ctx, "alice@example.com", oldPassword); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		tok := issue(t, svc, "alice@example.com")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = svc.ResetPassword(ctx, tok, fmt.Sprintf("racer %d of round %d", i, round))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: uses %d and %d of one token both succeeded", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, account.ErrInvalidResetToken):
				t.Errorf("round %d: use %d: %v, want nil or ErrInvalidResetToken", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no use of the token succeeded", round)
		}
		checkPassword(t, svc, "alice@example.com", fmt.Sprintf("racer %d of round %d", winner, round), true)
	}
}
