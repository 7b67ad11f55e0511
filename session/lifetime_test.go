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
