package session_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// TestReauthenticate: an hour after login, Reauthenticate makes the
// session's auth_time now, in the store and in the access token it
// returns, without a new session id or refresh token; the refresh token
// the client holds goes on working, and its tokens carry the new
// auth_time too. The audit line names no session id.
func TestReauthenticate(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	l := login(t, m, "alice")
	loggedIn := f.clock.Now()
	f.clock.Advance(time.Hour + 300*time.Millisecond)
	now := f.clock.Now()

	tk, err := m.Reauthenticate(ctx, l.Session.ID, session.Meta{IP: "192.0.2.9", AuthMethod: "password"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.RefreshToken != "" || tk.Session.ID != l.Session.ID || !tk.Session.AuthTime.Equal(now) {
		t.Fatalf("tokens: refresh %q, session %q (want %q), auth time %v (want %v)", tk.RefreshToken, tk.Session.ID, l.Session.ID, tk.Session.AuthTime, now)
	}
	id, err := m.Verify(ctx, tk.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !id.AuthTime.Equal(now.Truncate(time.Second)) || id.SessionID != l.Session.ID {
		t.Fatalf("the new access token: auth_time %v (want %v), sid %q", id.AuthTime, now.Truncate(time.Second), id.SessionID)
	}
	if !tk.AccessExpiresAt.Equal(now.Add(session.DefaultAccessTTL).Truncate(time.Second)) {
		t.Errorf("access token expires at %v, want %v", tk.AccessExpiresAt, now.Add(session.DefaultAccessTTL).Truncate(time.Second))
	}
	// The old access token keeps the old auth_time until it expires.
	if old, err := m.Verify(ctx, l.AccessToken); err == nil && !old.AuthTime.Equal(loggedIn.Truncate(time.Second)) {
		t.Errorf("the old access token's auth_time changed to %v", old.AuthTime)
	}
	rec, err := f.store.Get(ctx, l.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.AuthTime.Equal(now) || !rec.LastSeenAt.Equal(loggedIn) {
		t.Fatalf("stored auth time %v (want %v), last seen %v (want %v: a re-authentication is no refresh)", rec.AuthTime, now, rec.LastSeenAt, loggedIn)
	}
	f.clock.Advance(time.Minute)
	r, err := m.Refresh(ctx, l.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatalf("the refresh token after the re-authentication: %v", err)
	}
	if rid, err := m.Verify(ctx, r.AccessToken); err != nil || !rid.AuthTime.Equal(now.Truncate(time.Second)) {
		t.Fatalf("a refreshed token: %v, auth_time %v, want %v", err, rid.AuthTime, now.Truncate(time.Second))
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"event":"reauth.ok"`) || !strings.Contains(logs, `"ip":"192.0.2.9"`) || strings.Contains(logs, l.Session.ID) {
		t.Fatalf("audit:\n%s", logs)
	}
}

// TestReauthenticateRefusals: a session that is no longer usable is
// refused with the error a caller branches on, and nothing is written:
// the store keeps no record it had deleted, and the auth time of one it
// still holds does not move.
func TestReauthenticateRefusals(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the id to re-authenticate.
		setup func(t *testing.T, f *fixture, m *session.Manager) string
		want  error
		// deaf: the Manager does not hear the store's revocations (as a
		// node that has not heard one yet), so the store's answer decides.
		deaf bool
	}{
		{"malformed id", func(*testing.T, *fixture, *session.Manager) string { return "not-a-session" }, session.ErrNotFound, false},
		{"unknown id", func(*testing.T, *fixture, *session.Manager) string {
			var b [16]byte
			rand.Read(b[:])
			return base64.RawURLEncoding.EncodeToString(b[:])
		}, session.ErrNotFound, false},
		{"revoked", func(t *testing.T, f *fixture, m *session.Manager) string {
			l := login(t, m, "alice")
			if err := m.Revoke(ctx, l.Session.ID); err != nil {
				t.Fatal(err)
			}
			return l.Session.ID
		}, session.ErrRevoked, false},
		{"deleted behind this node's back", func(t *testing.T, f *fixture, m *session.Manager) string {
			l := login(t, m, "alice")
			// Another node revoked it; this one has not heard yet.
			if _, err := f.store.Delete(ctx, l.Session.ID, f.clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			return l.Session.ID
		}, session.ErrNotFound, true},
		{"idle-expired", func(t *testing.T, f *fixture, m *session.Manager) string {
			l := login(t, m, "alice")
			f.clock.Advance(session.DefaultIdleTimeout)
			return l.Session.ID
		}, session.ErrExpired, false},
		{"less than a second left", func(t *testing.T, f *fixture, m *session.Manager) string {
			l := login(t, m, "alice")
			f.clock.Advance(l.Session.ExpiresAt.Sub(f.clock.Now()) - 900*time.Millisecond)
			return l.Session.ID
		}, session.ErrExpired, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var deaf func(*session.Config)
			if tc.deaf {
				deaf = func(c *session.Config) { c.Store = struct{ session.Store }{f.store} } // no RevocationFeed
			}
			m := f.manager(t, deaf)
			id := tc.setup(t, f, m)
			before, beforeErr := f.store.Get(ctx, id)
			f.clock.Advance(time.Millisecond)
			tk, err := m.Reauthenticate(ctx, id, session.Meta{})
			if !errors.Is(err, tc.want) || tk != nil {
				t.Fatalf("Reauthenticate = %v, %v; want %v", tk, err, tc.want)
			}
			after, afterErr := f.store.Get(ctx, id)
			switch {
			case beforeErr != nil && afterErr == nil:
				t.Fatal("a refused re-authentication brought a deleted session back")
			case beforeErr == nil && (afterErr != nil || !after.AuthTime.Equal(before.AuthTime) || after.Version != before.Version):
				t.Fatalf("a refused re-authentication wrote: %+v, %v", after, afterErr)
			}
			if strings.Contains(f.logs.String(), "reauth.ok") {
				t.Fatal("a refused re-authentication was audited as done")
			}
		})
	}
}
