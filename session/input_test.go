package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Two different user ids must never be given the same identity. JSON (the
// access token's sub, and the bolt store's records) turns every invalid
// UTF-8 byte into U+FFFD, so "\xff" and "\xfe" would both come back as
// "\ufffd": a refresh or a Verify would then name one user as the other.
// Login refuses such ids (and NUL, which PostgreSQL cannot store, and ids
// too long to fit an access token) before anything is stored.
func TestLoginRefusesUserIDsThatCannotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		user string
	}{
		{"invalid-utf8", "\xff"},
		{"invalid-utf8-other", "alice\xfe"},
		{"lone-surrogate-bytes", "\xed\xa0\x80"},
		{"nul", "alice\x00admin"},
		{"too-long", strings.Repeat("u", session.MaxUserIDLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, nil)
			tk, err := m.Login(ctx, tt.user, session.Meta{})
			if !errors.Is(err, session.ErrInvalidUserID) {
				var got string
				if tk != nil {
					id, verr := m.Verify(ctx, tk.AccessToken)
					if verr == nil {
						got = id.UserID
					}
				}
				t.Fatalf("Login(%q) = %v (identity %q); want ErrInvalidUserID", tt.user, err, got)
			}
			if n, _ := f.store.CountSessions(ctx, f.clock.Now()); n != 0 {
				t.Fatalf("a refused login stored %d sessions", n)
			}
		})
	}
	t.Run("accepted", func(t *testing.T) {
		f := newFixture(t)
		m := f.manager(t, nil)
		for _, user := range []string{"alice", "ünïcödé-用户", "a{b}c*d:e", strings.Repeat("<", session.MaxUserIDLen)} {
			tk, err := m.Login(ctx, user, session.Meta{})
			if err != nil {
				t.Fatalf("Login(%.20q): %v", user, err)
			}
			id, err := m.Verify(ctx, tk.AccessToken)
			if err != nil || id.UserID != user {
				t.Fatalf("Verify: %v, user %.20q, want %.20q", err, id.UserID, user)
			}
			r, err := m.Refresh(ctx, tk.RefreshToken, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if id, err := m.Verify(ctx, r.AccessToken); err != nil || id.UserID != user {
				t.Fatalf("after refresh: %v, user %.20q", err, id.UserID)
			}
		}
	})
}

// Device metadata comes from request headers. Login keeps it bounded and
// storable by every backend: valid UTF-8, no control characters, and no
// more than MaxUserAgentLen (or MaxMetaLen) bytes, however much the client
// sent.
func TestLoginCleansDeviceMetadata(t *testing.T) {
	huge := strings.Repeat("Mozilla/5.0 ", 1<<17) // 1.5 MiB
	tests := []struct {
		name string
		in   session.Meta
		want session.Meta
	}{
		{"plain", session.Meta{IP: "192.0.2.1", UserAgent: "curl/8.5", AuthMethod: "password"},
			session.Meta{IP: "192.0.2.1", UserAgent: "curl/8.5", AuthMethod: "password"}},
		{"obs-text", session.Meta{UserAgent: "Mozilla\xff/5.0"}, session.Meta{UserAgent: "Mozilla\uFFFD/5.0"}},
		{"controls", session.Meta{IP: "192.0.2.1\x00", UserAgent: "a\x00b\r\nc\x7fd\u0085e", AuthMethod: "pw\tx"},
			session.Meta{IP: "192.0.2.1", UserAgent: "abcde", AuthMethod: "pwx"}},
		{"huge", session.Meta{UserAgent: huge, IP: strings.Repeat("1", 1000)},
			session.Meta{UserAgent: huge[:session.MaxUserAgentLen], IP: strings.Repeat("1", session.MaxMetaLen)}},
		{"cut-at-a-rune", session.Meta{UserAgent: strings.Repeat("a", session.MaxUserAgentLen-1) + "é"},
			session.Meta{UserAgent: strings.Repeat("a", session.MaxUserAgentLen-1)}},
		{"already-split", session.Meta{UserAgent: "ab" + "é"[:1]}, session.Meta{UserAgent: "ab\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, nil)
			tk, err := m.Login(ctx, "alice", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []*session.Session{tk.Session, mustGet(t, m, tk.Session.ID)} {
				got := session.Meta{IP: s.IP, UserAgent: s.UserAgent, AuthMethod: s.AuthMethod}
				if got != tt.want {
					t.Fatalf("stored %.80q, want %.80q", got, tt.want)
				}
			}
		})
	}
}

func mustGet(t *testing.T, m *session.Manager, id string) *session.Session {
	t.Helper()
	s, err := m.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// failingDeletes is a real store whose deletions fail, as a store that
// went away in the middle of a logout.
type failingDeletes struct{ session.Store }

func (failingDeletes) Delete(context.Context, string, time.Time) (bool, error) {
	return false, fmt.Errorf("%w: injected", session.ErrStore)
}

// A revocation the store could not confirm must still fail closed on the
// node that was asked: its access tokens and refresh token are refused
// here at once, even though the error is reported.
func TestRevokeFailsClosedOnStoreError(t *testing.T) {
	for _, name := range []string{"revoke", "logout"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, func(c *session.Config) { c.Store = failingDeletes{f.store} })
			tk := login(t, m, "alice")
			var err error
			if name == "revoke" {
				err = m.Revoke(ctx, tk.Session.ID)
			} else {
				err = m.Logout(ctx, tk.Session.ID)
			}
			if !errors.Is(err, session.ErrStore) {
				t.Fatalf("%s = %v, want ErrStore", name, err)
			}
			if _, err := m.Verify(ctx, tk.AccessToken); !errors.Is(err, session.ErrRevoked) {
				t.Fatalf("Verify after a failed %s: %v, want ErrRevoked", name, err)
			}
			if _, err := m.Refresh(ctx, tk.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("Refresh after a failed %s: %v", name, err)
			}
		})
	}
}
