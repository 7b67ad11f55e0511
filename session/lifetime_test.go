package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// TestGrantAbsoluteTimeout: a session started with a shorter absolute
// timeout (a login not to be remembered) ends then, however active, and
// refreshes never extend it; without one it lives the policy's.
func TestGrantAbsoluteTimeout(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		want     time.Duration
	}{
		{"policy's", 0, session.DefaultAbsoluteTimeout},
		{"twelve hours", 12 * time.Hour, 12 * time.Hour},
		{"the policy's exactly", session.DefaultAbsoluteTimeout, session.DefaultAbsoluteTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, nil)
			start := f.clock.Now()
			tk, err := m.Start(ctx, session.Grant{UserID: "u", AbsoluteTimeout: tc.lifetime})
			if err != nil {
				t.Fatal(err)
			}
			if got := tk.Session.AbsExpiresAt.Sub(start); got != tc.want {
				t.Fatalf("absolute lifetime %v, want %v", got, tc.want)
			}
			// Refresh every 20 hours (within the idle timeout) until past
			// the absolute end: the last refresh before it works, none after.
			rt := tk.RefreshToken
			for f.clock.Now().Add(20 * time.Hour).Before(start.Add(tc.want)) {
				f.clock.Advance(20 * time.Hour)
				n, err := m.Refresh(ctx, rt, session.Meta{})
				if err != nil {
					t.Fatalf("refresh at %v: %v", f.clock.Now().Sub(start), err)
				}
				if !n.Session.AbsExpiresAt.Equal(tk.Session.AbsExpiresAt) {
					t.Fatal("a refresh moved the absolute expiry")
				}
				if n.AccessExpiresAt.After(tk.Session.AbsExpiresAt) {
					t.Fatal("an access token outlives the session")
				}
				rt = n.RefreshToken
			}
			f.clock.Advance(start.Add(tc.want).Sub(f.clock.Now()))
			if _, err := m.Refresh(ctx, rt, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("refresh at the absolute end: %v", err)
			}
		})
	}
}

// TestRefreshAtTheVeryEnd: a refresh with less than a second of the
// session left is refused with ErrInvalidToken (ErrExpired), hands out
// nothing and does not move the session's end; with a second or more it works and the access
// token ends with the session, after its iat. The session starts at a
// fraction of a second, as real ones do, so its end is not a whole second
// (where an access token's exp, truncated, fell on its iat: a 500 after
// the rotation had been committed).
func TestRefreshAtTheVeryEnd(t *testing.T) {
	tests := []struct {
		name string
		left time.Duration
		ok   bool
	}{
		{"100 ms left", 100 * time.Millisecond, false},
		{"1 ns left", time.Nanosecond, false},
		{"999 ms left", 999 * time.Millisecond, false},
		{"1 s left", time.Second, true},
		{"1.5 s left", 1500 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, nil)
			f.clock.Advance(300 * time.Millisecond)
			tk, err := m.Start(ctx, session.Grant{UserID: "u", AbsoluteTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			end := tk.Session.AbsExpiresAt
			f.clock.Advance(end.Add(-tc.left).Sub(f.clock.Now()))
			before, err := f.store.Get(ctx, tk.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			n, err := m.Refresh(ctx, tk.RefreshToken, session.Meta{})
			after, gerr := f.store.Get(ctx, tk.Session.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if !tc.ok {
				if !errors.Is(err, session.ErrInvalidToken) || !errors.Is(err, session.ErrExpired) {
					t.Fatalf("refresh with %v left: %v, want ErrInvalidToken (ErrExpired)", tc.left, err)
				}
				// Nothing usable was handed out: the store may have rotated
				// (see Refresh), but its child never left the Manager, the
				// same token retried is refused the same way, and the record
				// still ends when it did.
				if n != nil {
					t.Fatal("a refused refresh returned tokens")
				}
				if _, err := m.Refresh(ctx, tk.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrExpired) {
					t.Fatalf("the same token retried: %v, want ErrExpired", err)
				}
				if !after.ExpiresAt().Equal(before.ExpiresAt()) {
					t.Fatalf("a refused refresh moved the session's end from %v to %v", before.ExpiresAt(), after.ExpiresAt())
				}
				return
			}
			if err != nil {
				t.Fatalf("refresh with %v left: %v", tc.left, err)
			}
			if n.AccessExpiresAt.After(end) || !n.AccessExpiresAt.After(f.clock.Now().Truncate(time.Second)) {
				t.Fatalf("access token expires at %v: session ends %v, now %v", n.AccessExpiresAt, end, f.clock.Now())
			}
			if after.Version == before.Version {
				t.Fatal("the refresh did not rotate")
			}
		})
	}
}
