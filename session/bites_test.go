package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// TestExpiredTokenRefusedEvenWhenCached replays an access token after its
// exp (plus the largest leeway), once on a Manager that never saw it and
// once on one whose verify cache remembers it from a request made while it
// was good. Both must refuse it: the cache saves a signature check, it must
// never stretch a token's life.
func TestExpiredTokenRefusedEvenWhenCached(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache int
		warm  bool
	}{
		{"no cache", -1, false},
		{"cache, cold", 0, false},
		{"cache, warmed before exp", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, func(c *session.Config) { c.VerifyCacheSize = tc.cache })
			a := login(t, m, "alice")
			if tc.warm {
				if _, err := m.Verify(ctx, a.AccessToken); err != nil {
					t.Fatalf("fresh token: %v", err)
				}
			}
			f.clock.Advance(a.AccessExpiresAt.Sub(f.clock.Now()) + session.MaxLeeway + time.Second)
			id, err := m.Verify(ctx, a.AccessToken)
			if !errors.Is(err, session.ErrInvalidToken) || !errors.Is(err, token.ErrExpired) {
				t.Fatalf("Verify of an expired token = %+v, %v; want ErrInvalidToken wrapping token.ErrExpired", id, err)
			}
		})
	}
}

// feedless is a store that offers no change feed (session.Store only, its
// RevocationFeed hidden), as a backend whose feed is slow or down looks to
// the Manager: only what the Manager records itself protects this node.
type feedless struct{ session.Store }

// TestRevocationBitesOnThisNodeWithoutFeed revokes in each of the ways the
// Manager offers and at once replays the revoked sessions' access tokens
// on the same node, whose verify cache already holds them. Nothing may
// depend on the store's feed coming back to the node that revoked.
func TestRevocationBitesOnThisNodeWithoutFeed(t *testing.T) {
	tests := []struct {
		name string
		// revoke ends some of alice's sessions a, b, c (c is "current")
		// and reports which of them must now be refused.
		revoke func(t *testing.T, m *session.Manager, a, b, c *session.Tokens) (gone, kept []*session.Tokens)
	}{
		{"Revoke", func(t *testing.T, m *session.Manager, a, b, c *session.Tokens) ([]*session.Tokens, []*session.Tokens) {
			if err := m.Revoke(ctx, a.Session.ID); err != nil {
				t.Fatal(err)
			}
			return []*session.Tokens{a}, []*session.Tokens{b, c}
		}},
		{"Logout", func(t *testing.T, m *session.Manager, a, b, c *session.Tokens) ([]*session.Tokens, []*session.Tokens) {
			if err := m.Logout(ctx, c.Session.ID); err != nil {
				t.Fatal(err)
			}
			return []*session.Tokens{c}, []*session.Tokens{a, b}
		}},
		{"RevokeUser all but current", func(t *testing.T, m *session.Manager, a, b, c *session.Tokens) ([]*session.Tokens, []*session.Tokens) {
			if _, err := m.RevokeUser(ctx, "alice", c.Session.ID); err != nil {
				t.Fatal(err)
			}
			return []*session.Tokens{a, b}, []*session.Tokens{c}
		}},
		{"RevokeUser everywhere", func(t *testing.T, m *session.Manager, a, b, c *session.Tokens) ([]*session.Tokens, []*session.Tokens) {
			if _, err := m.RevokeUser(ctx, "alice", ""); err != nil {
				t.Fatal(err)
			}
			return []*session.Tokens{a, b, c}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, func(c *session.Config) { c.Store = feedless{f.store} })
			a, b, c := login(t, m, "alice"), login(t, m, "alice"), login(t, m, "alice")
			for _, tk := range []*session.Tokens{a, b, c} {
				if _, err := m.Verify(ctx, tk.AccessToken); err != nil { // warm the verify cache
					t.Fatal(err)
				}
			}
			gone, kept := tc.revoke(t, m, a, b, c)
			for _, tk := range gone {
				if _, err := m.Verify(ctx, tk.AccessToken); !errors.Is(err, session.ErrRevoked) {
					t.Errorf("revoked session %s: Verify = %v, want ErrRevoked", tk.Session.ID[:6], err)
				}
			}
			for _, tk := range kept {
				if _, err := m.Verify(ctx, tk.AccessToken); err != nil {
					t.Errorf("kept session %s: Verify = %v", tk.Session.ID[:6], err)
				}
			}
		})
	}
}
