package session_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// claimsConfig configures the claim names of a test Manager.
func claimsConfig(names ...string) func(*session.Config) {
	return func(c *session.Config) { c.Claims = names }
}

// TestCheckClaims: CheckClaims refuses what Start refuses, with
// ErrInvalidClaims, and returns the rest as sessions keep it: compact, nil
// for none.
func TestCheckClaims(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, claimsConfig("role", "tenant"))
	for _, tc := range []struct {
		name   string
		claims map[string]json.RawMessage
		want   map[string]string // nil with err
		err    error
	}{
		{"none", nil, nil, nil},
		{"empty", map[string]json.RawMessage{}, nil, nil},
		{"compacted", map[string]json.RawMessage{"role": json.RawMessage(` "admin" `), "tenant": json.RawMessage(`{ "id" : 7 }`)},
			map[string]string{"role": `"admin"`, "tenant": `{"id":7}`}, nil},
		{"not configured", map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`)}, nil, session.ErrInvalidClaims},
		{"not JSON", map[string]json.RawMessage{"role": json.RawMessage(`admin`)}, nil, session.ErrInvalidClaims},
		{"over the cap", map[string]json.RawMessage{"role": json.RawMessage(`"` + strings.Repeat("x", session.DefaultMaxClaimsBytes) + `"`)}, nil, session.ErrInvalidClaims},
		{"NUL escape", map[string]json.RawMessage{"role": json.RawMessage(`"a\u0000b"`)}, nil, session.ErrInvalidClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.CheckClaims(tc.claims)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("CheckClaims = %v, want %v", err, tc.err)
			}
			if tc.want == nil {
				if got != nil {
					t.Fatalf("CheckClaims = %v, want nil", got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("CheckClaims = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if string(got[k]) != v {
					t.Errorf("claim %q = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

// TestCheckUserID: the user ids Start refuses, and no other.
func TestCheckUserID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"user-42", true},
		{strings.Repeat("u", session.MaxUserIDLen), true},
		{"", false},
		{strings.Repeat("u", session.MaxUserIDLen+1), false},
		{"a\x00b", false},
		{"\xff", false},
	} {
		if err := session.CheckUserID(tc.id); (err == nil) != tc.ok || (err != nil && !errors.Is(err, session.ErrInvalidUserID)) {
			t.Errorf("CheckUserID(%q) = %v, want ok %v (or ErrInvalidUserID)", tc.id, err, tc.ok)
		}
	}
}

// TestSetSessionClaims: SetSessionClaims changes the claims of that one
// session, which its next refresh carries; no other session of the user;
// refused claims change nothing; a session revoked, expired or unknown is
// false and nothing.
func TestSetSessionClaims(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, claimsConfig("role"))
	admin := map[string]json.RawMessage{"role": json.RawMessage(`"admin"`)}
	a, err := m.Start(ctx, session.Grant{UserID: "u", Claims: admin})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Start(ctx, session.Grant{UserID: "u", Claims: admin})
	if err != nil {
		t.Fatal(err)
	}
	roleOf := func(id string) string {
		t.Helper()
		s, err := m.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Claims["role"])
	}

	if ok, err := m.SetSessionClaims(ctx, a.Session.ID, map[string]json.RawMessage{"plan": json.RawMessage(`1`)}); ok || !errors.Is(err, session.ErrInvalidClaims) {
		t.Fatalf("unconfigured claim: %v, %v; want false, ErrInvalidClaims", ok, err)
	}
	if got := roleOf(a.Session.ID); got != `"admin"` {
		t.Fatalf("a refused change changed the claims: %s", got)
	}
	ok, err := m.SetSessionClaims(ctx, a.Session.ID, map[string]json.RawMessage{"role": json.RawMessage(` "viewer" `)})
	if err != nil || !ok {
		t.Fatalf("SetSessionClaims = %v, %v", ok, err)
	}
	if got := roleOf(a.Session.ID); got != `"viewer"` {
		t.Fatalf("claims after SetSessionClaims: %s, want the compact \"viewer\"", got)
	}
	if got := roleOf(b.Session.ID); got != `"admin"` {
		t.Fatalf("the user's other session changed: %s", got)
	}
	f.clock.Advance(time.Second)
	n, err := m.Refresh(ctx, a.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(n.Session.Claims["role"]); got != `"viewer"` {
		t.Fatalf("refresh after SetSessionClaims carries role %s", got)
	}

	if err := m.Revoke(ctx, b.Session.ID); err != nil {
		t.Fatal(err)
	}
	expiring, err := m.Start(ctx, session.Grant{UserID: "w", Claims: admin})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(session.DefaultIdleTimeout + time.Second)
	for name, id := range map[string]string{"revoked": b.Session.ID, "expired": expiring.Session.ID, "unknown": "AAAAAAAAAAAAAAAAAAAAAA", "malformed": "x"} {
		if ok, err := m.SetSessionClaims(ctx, id, map[string]json.RawMessage{"role": json.RawMessage(`"root"`)}); ok || err != nil {
			t.Errorf("%s session: SetSessionClaims = %v, %v; want false, nil", name, ok, err)
		}
	}
	if r, err := f.store.Get(ctx, expiring.Session.ID); err == nil && string(r.Claims["role"]) != `"admin"` {
		t.Errorf("the expired session's record changed: %s", r.Claims["role"])
	}
}
