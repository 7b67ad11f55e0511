package session_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

func withClaims(names ...string) func(*session.Config) {
	return func(c *session.Config) { c.Claims = names }
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestStartRefusesWhatItCannotKeep: a Grant with a bad part is refused
// with a typed error, and no session is stored.
func TestStartRefusesWhatItCannotKeep(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, withClaims("role", "tenant"))
	now := f.clock.Now()
	for _, tc := range []struct {
		name string
		g    session.Grant
		want error
	}{
		{"no user", session.Grant{}, session.ErrInvalidUserID},
		{"claim not configured", session.Grant{UserID: "u", Claims: map[string]json.RawMessage{"plan": raw(`"gold"`)}}, session.ErrInvalidClaims},
		{"claim not JSON", session.Grant{UserID: "u", Claims: map[string]json.RawMessage{"role": raw(`admin`)}}, session.ErrInvalidClaims},
		{"claim with two values", session.Grant{UserID: "u", Claims: map[string]json.RawMessage{"role": raw(`"a" "b"`)}}, session.ErrInvalidClaims},
		{"claims over the cap", session.Grant{UserID: "u", Claims: map[string]json.RawMessage{"role": raw(`"` + strings.Repeat("x", session.DefaultMaxClaimsBytes) + `"`)}}, session.ErrInvalidClaims},
		{"claim with NUL escape", session.Grant{UserID: "u", Claims: map[string]json.RawMessage{"role": raw(`"a\u0000b"`)}}, session.ErrInvalidClaims},
		{"amr with a space", session.Grant{UserID: "u", AMR: []string{"one time"}}, session.ErrInvalidClaims},
		{"empty amr value", session.Grant{UserID: "u", AMR: []string{""}}, session.ErrInvalidClaims},
		{"too many amr", session.Grant{UserID: "u", AMR: slices.Repeat([]string{"pwd"}, session.MaxAMR+1)}, session.ErrInvalidClaims},
		{"client id with a control character", session.Grant{UserID: "u", ClientID: "a\nb"}, session.ErrInvalidClaims},
		{"client id too long", session.Grant{UserID: "u", ClientID: strings.Repeat("c", session.MaxClientIDLen+1)}, session.ErrInvalidClaims},
		{"auth time in the future", session.Grant{UserID: "u", AuthTime: now.Add(time.Hour)}, session.ErrInvalidClaims},
		{"auth time before the absolute timeout", session.Grant{UserID: "u", AuthTime: now.Add(-session.DefaultAbsoluteTimeout - time.Hour)}, session.ErrInvalidClaims},
		{"negative absolute timeout", session.Grant{UserID: "u", AbsoluteTimeout: -time.Hour}, session.ErrPolicy},
		{"absolute timeout over the policy's", session.Grant{UserID: "u", AbsoluteTimeout: session.DefaultAbsoluteTimeout + time.Second}, session.ErrPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Start(ctx, tc.g); !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v, want %v", err, tc.want)
			}
		})
	}
	for _, user := range []string{"u", ""} {
		if recs, err := f.store.ListUser(ctx, user); err != nil || len(recs) != 0 {
			t.Fatalf("sessions of %q stored by refused grants: %d %v", user, len(recs), err)
		}
	}
}

func TestStartKeepsTheGrant(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, withClaims("role", "tenant"))
	authAt := f.clock.Now().Add(-time.Minute)
	tk, err := m.Start(ctx, session.Grant{
		UserID: "user-42", ClientID: "shop", AMR: []string{"pwd", "mfa"}, AuthTime: authAt,
		Claims: map[string]json.RawMessage{"role": raw(` "admin" `), "tenant": raw(`{"id": 7}`)},
		Meta:   session.Meta{IP: "192.0.2.9", UserAgent: "ua", AuthMethod: "sso"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := tk.Session
	if s.ClientID != "shop" || !s.AuthTime.Equal(authAt) || !slices.Equal(s.AMR, []string{"pwd", "mfa"}) {
		t.Fatalf("session: client %q auth %v amr %v", s.ClientID, s.AuthTime, s.AMR)
	}
	// Stored compact, as tokens will carry them.
	if string(s.Claims["role"]) != `"admin"` || string(s.Claims["tenant"]) != `{"id":7}` {
		t.Fatalf("claims stored as %s, %s", s.Claims["role"], s.Claims["tenant"])
	}
	// A login without a grant gets the Manager's client id and now.
	l := login(t, m, "alice")
	if l.Session.ClientID != session.DefaultClientID || !l.Session.AuthTime.Equal(f.clock.Now()) || l.Session.Claims != nil {
		t.Fatalf("login: client %q auth %v claims %v", l.Session.ClientID, l.Session.AuthTime, l.Session.Claims)
	}
	// Refresh keeps all of it.
	f.clock.Advance(time.Minute)
	n, err := m.Refresh(ctx, tk.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Session.ClientID != "shop" || !n.Session.AuthTime.Equal(authAt) || string(n.Session.Claims["role"]) != `"admin"` {
		t.Fatalf("after refresh: %+v", n.Session)
	}
}

func TestSetUserClaims(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, withClaims("role"))
	var tks []*session.Tokens
	for range 3 {
		tk, err := m.Start(ctx, session.Grant{UserID: "u", Claims: map[string]json.RawMessage{"role": raw(`"admin"`)}})
		if err != nil {
			t.Fatal(err)
		}
		tks = append(tks, tk)
	}
	other := login(t, m, "v")
	if _, err := m.SetUserClaims(ctx, "u", map[string]json.RawMessage{"plan": raw(`1`)}, false); !errors.Is(err, session.ErrInvalidClaims) {
		t.Fatalf("unconfigured claim: %v", err)
	}
	ids, err := m.SetUserClaims(ctx, "u", map[string]json.RawMessage{"role": raw(`"viewer"`)}, false)
	if err != nil || len(ids) != 3 {
		t.Fatalf("SetUserClaims = %v, %v", ids, err)
	}
	for _, tk := range tks {
		n, err := m.Refresh(ctx, tk.RefreshToken, session.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(n.Session.Claims["role"]); got != `"viewer"` {
			t.Fatalf("role after change and refresh = %s", got)
		}
	}
	if s, _ := m.Get(ctx, other.Session.ID); s.Claims != nil {
		t.Fatalf("another user's session changed: %v", s.Claims)
	}
	// {} removes them; revoke ends the sessions instead.
	if _, err := m.SetUserClaims(ctx, "u", map[string]json.RawMessage{}, false); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Get(ctx, tks[0].Session.ID); len(s.Claims) != 0 {
		t.Fatalf("claims after {}: %v", s.Claims)
	}
	ids, err = m.SetUserClaims(ctx, "u", nil, true)
	if err != nil || len(ids) != 3 {
		t.Fatalf("SetUserClaims revoke = %v, %v", ids, err)
	}
	for _, tk := range tks {
		if _, err := m.Verify(ctx, tk.AccessToken); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("access token after revoke: %v", err)
		}
	}
}

func TestClaimNamesAreChecked(t *testing.T) {
	for _, names := range [][]string{{"role", "role"}, {"role", "Role"}, {"sub"}, {"client_id"}, {"password"}, {"api_token"}, {""}, {"has space"}} {
		f := newFixture(t)
		cfg := f.cfg
		cfg.Claims = names
		if _, err := session.New(ctx, cfg); !errors.Is(err, session.ErrPolicy) {
			t.Fatalf("New with claims %q = %v, want ErrPolicy", names, err)
		}
	}
}

func TestIdentityClaimAccessors(t *testing.T) {
	id := &session.Identity{Claims: map[string]json.RawMessage{"role": raw(`"admin"`), "tenant": raw(`{"id":7}`), "n": raw(`3`)}}
	if v, ok := id.StringClaim("role"); !ok || v != "admin" {
		t.Fatalf("StringClaim(role) = %q, %v", v, ok)
	}
	if _, ok := id.StringClaim("n"); ok {
		t.Fatal("StringClaim of a number reported a string")
	}
	if _, ok := id.StringClaim("missing"); ok {
		t.Fatal("StringClaim of a missing claim reported one")
	}
	type tenant struct{ ID int }
	if v, ok, err := session.ClaimAs[tenant](id, "tenant"); !ok || err != nil || v.ID != 7 {
		t.Fatalf("ClaimAs[tenant] = %v, %v, %v", v, ok, err)
	}
	if _, ok, err := session.ClaimAs[tenant](id, "role"); !ok || err == nil {
		t.Fatalf("ClaimAs of a string into a struct = %v, %v", ok, err)
	}
	if r, ok := id.Claim("n"); !ok || string(r) != "3" {
		t.Fatalf("Claim(n) = %s, %v", r, ok)
	}
}

// TestUserIDsNoStoreKeepsAreRefused: listing or revoking the sessions of a
// user id no store can keep is ErrInvalidUserID, and the store is not asked.
func TestUserIDsNoStoreKeepsAreRefused(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	tk := login(t, m, "alice")
	for _, id := range []string{"", "a\x00b", "\xff", strings.Repeat("u", session.MaxUserIDLen+1)} {
		if _, _, err := m.ListPage(ctx, id, "", 0); !errors.Is(err, session.ErrInvalidUserID) {
			t.Errorf("ListPage(%q) = %v, want ErrInvalidUserID", id, err)
		}
		if _, err := m.RevokeUser(ctx, id, ""); !errors.Is(err, session.ErrInvalidUserID) {
			t.Errorf("RevokeUser(%q) = %v, want ErrInvalidUserID", id, err)
		}
	}
	if _, err := m.Verify(ctx, tk.AccessToken); err != nil {
		t.Fatalf("alice after the refused calls: %v", err)
	}
}
