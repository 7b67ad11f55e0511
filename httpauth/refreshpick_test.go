package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// TestPickRefresh: which refresh cookie a refresh presents, when a page on
// a sibling subdomain has planted one of the attacker's own session. The
// legacy "__Secure-" cookie can be planted with Domain= the parent; the
// "__Host-" one cannot be by a browser, but a client that is no browser may
// send copies. A visitor with no session is never given the attacker's
// token; a victim's own token is always the one chosen; and at most one
// token ever reaches the store.
func TestPickRefresh(t *testing.T) {
	c := &clock{t: time.Now().Truncate(time.Second)}
	m := manager(t, c)
	ctx := context.Background()
	victim, err := m.Login(ctx, "victim", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := m.Login(ctx, "attacker", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	V, A, vsid := victim.RefreshToken, attacker.RefreshToken, victim.Session.ID
	const host, legacy = httpauth.RefreshCookie, httpauth.LegacyRefreshCookie
	ck := func(name, v string) string { return name + "=" + v }
	tests := []struct {
		name      string
		cookies   []string
		sid       string // the session of a valid access cookie
		want      string
		legacy    bool // want comes from the legacy cookie
		ambiguous bool
	}{
		{"ours alone", []string{ck(host, V)}, "", V, false, false},
		{"ours, pinned", []string{ck(host, V)}, vsid, V, false, false},
		{"visitor, planted legacy alone", []string{ck(legacy, A)}, "", "", false, false},
		{"victim, planted legacy first", []string{ck(legacy, A), ck(host, V)}, "", V, false, false},
		{"victim, planted legacy last", []string{ck(host, V), ck(legacy, A)}, "", V, false, false},
		{"planted legacy, victim pinned", []string{ck(legacy, A), ck(host, V)}, vsid, V, false, false},
		{"migration: legacy of the access cookie's session", []string{ck(legacy, V)}, vsid, V, true, false},
		{"migration: planted legacy first", []string{ck(legacy, A), ck(legacy, V)}, vsid, V, true, false},
		{"migration: legacy of another session", []string{ck(legacy, A)}, vsid, "", false, false},
		{"legacy without an access cookie", []string{ck(legacy, V)}, "", "", false, false},
		{"ours preferred to legacy of the same session", []string{ck(legacy, "sdrt_stale"), ck(host, V)}, vsid, V, false, false},
		{"copies of two sessions, pinned", []string{ck(host, A), ck(host, V)}, vsid, V, false, false},
		{"copies of two sessions, pinned, ours first", []string{ck(host, V), ck(host, A)}, vsid, V, false, false},
		{"copies of two sessions, not pinned", []string{ck(host, A), ck(host, V)}, "", "", false, true},
		{"pinned, only another session's", []string{ck(host, A)}, vsid, "", false, false},
		{"garbage beside ours", []string{ck(host, "garbage"), ck(host, V)}, "", V, false, false},
		{"garbage alone is handed on to be refused", []string{ck(host, "garbage")}, "", "garbage", false, false},
		{"prefix in other letters", []string{ck("__HOST-sessiond_rt", A)}, "", "", false, false},
		{"unprefixed", []string{ck("sessiond_rt", A)}, "", "", false, false},
		{"none", []string{"other=1"}, "", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/refresh", nil)
			r.Header.Set("Cookie", strings.Join(tc.cookies, "; "))
			p := httpauth.SessionCookies{}.PickRefresh(r, tc.sid)
			if p.Token != tc.want || p.Legacy != tc.legacy || p.Ambiguous != tc.ambiguous {
				t.Fatalf("PickRefresh = token %s legacy %v ambiguous %v, want %s %v %v",
					name(p.Token, V, A), p.Legacy, p.Ambiguous, name(tc.want, V, A), tc.legacy, tc.ambiguous)
			}
			if wantLegacy := strings.Contains(strings.Join(tc.cookies, ";"), legacy+"="); p.HasLegacy != wantLegacy {
				t.Fatalf("HasLegacy = %v, want %v", p.HasLegacy, wantLegacy)
			}
			if tc.sid == "" && (httpauth.RefreshTokenCookie(r) != tc.want || httpauth.RefreshCookieAmbiguous(r) != tc.ambiguous) {
				t.Fatal("RefreshTokenCookie and RefreshCookieAmbiguous disagree with PickRefresh")
			}
		})
	}
	// Only the candidates looked at count: a flood of cookies of the name
	// costs a bounded parse.
	r := httptest.NewRequest("POST", "/v1/refresh", nil)
	r.Header.Set("Cookie", strings.Repeat(ck(host, "garbage")+"; ", httpauth.MaxRefreshCandidates)+ck(host, V))
	if p := (httpauth.SessionCookies{}).PickRefresh(r, ""); p.Token != "garbage" {
		t.Fatalf("a token past MaxRefreshCandidates was looked at: %s", name(p.Token, V, A))
	}
	// Nothing was presented to the store: both sessions refresh as new.
	for who, tok := range map[string]string{"victim": V, "attacker": A} {
		if _, err := m.Refresh(ctx, tok, session.Meta{}); err != nil {
			t.Fatalf("%s's own refresh afterwards: %v", who, err)
		}
	}
}

// name says which token tok is, for a failure message (never the token).
func name(tok, victim, attacker string) string {
	switch tok {
	case victim:
		return "victim's"
	case attacker:
		return "attacker's"
	case "":
		return "none"
	}
	return "other"
}

// TestPickRefreshLayouts: only the default layout has a legacy cookie (its
// refresh cookie moved from "__Secure-" at /v1/refresh to "__Host-" at /);
// a layout that names its RefreshPath keeps its one name, and Clear
// deletes exactly its own cookies.
func TestPickRefreshLayouts(t *testing.T) {
	c := &clock{t: time.Now().Truncate(time.Second)}
	m := manager(t, c)
	tk, err := m.Login(context.Background(), "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c            httpauth.SessionCookies
		legacy       string // the legacy name, "" for none
		clearHeaders int
	}{
		{httpauth.SessionCookies{}, "__Secure-sessiond_rt", 3},
		{httpauth.SessionCookies{Name: "app"}, "__Secure-app_rt", 3},
		{httpauth.SessionCookies{Name: "app", RefreshPath: "/"}, "", 2},
		{httpauth.SessionCookies{Name: "app", RefreshPath: "/auth/refresh"}, "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.c.Name+tc.c.RefreshPath, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.c.Clear(rec)
			if n := len(rec.Header().Values("Set-Cookie")); n != tc.clearHeaders {
				t.Fatalf("Clear wrote %d cookies, want %d: %q", n, tc.clearHeaders, rec.Header().Values("Set-Cookie"))
			}
			if tc.legacy != "" {
				lc := cookiesByName(t, rec.Header())[tc.legacy]
				if lc == nil || lc.Path != httpauth.LegacyRefreshPath || lc.MaxAge != -1 {
					t.Fatalf("legacy cookie not deleted at %s: %q", httpauth.LegacyRefreshPath, rec.Header().Values("Set-Cookie"))
				}
				r := httptest.NewRequest("POST", "/", nil)
				r.AddCookie(&http.Cookie{Name: tc.legacy, Value: tk.RefreshToken})
				if p := tc.c.PickRefresh(r, tk.Session.ID); !p.Legacy || p.Token != tk.RefreshToken {
					t.Fatalf("legacy cookie of the access cookie's session not picked: %+v", p.Legacy)
				}
			}
			r := httptest.NewRequest("POST", "/", nil)
			r.AddCookie(&http.Cookie{Name: tc.c.RefreshName(), Value: tk.RefreshToken})
			if p := tc.c.PickRefresh(r, ""); p.Token != tk.RefreshToken || p.Legacy || p.HasLegacy {
				t.Fatal("the layout's own refresh cookie not picked")
			}
		})
	}
}
