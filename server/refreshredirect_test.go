package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// TestRefreshRedirect: the in-band refresh of a navigation. With a valid
// refresh cookie the session is refreshed, both cookies set anew, and the
// browser sent back to return_to (307 for a POST); without one, or with a
// refused one, it goes to the login page carrying return_to (303 for a
// POST); a request that is no navigation, or comes from another site's
// form, changes nothing.
func TestRefreshRedirect(t *testing.T) {
	e := newFwdEnv(t)
	rt := url.QueryEscape("/orders?page=2")
	login := "/ui/login?return_to=" + rt
	revoked := e.start("rob", nil)
	if err := e.srv.Node().Manager().Revoke(context.Background(), revoked.Session.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		method   string
		query    string
		headers  map[string]string
		refresh  func() string // the refresh cookie; nil: none
		status   int
		location string
		rotated  bool // new cookies set, and the old refresh token retired
		cleared  bool // both cookies deleted
	}{
		{"a navigation", "GET", "?return_to=" + rt, navigate(""), e.fresh, 302, "/orders?page=2", true, false},
		{"a form posted", "POST", "?return_to=" + rt, with(navigate(""), "Sec-Fetch-Site", "same-origin"), e.fresh, 307, "/orders?page=2", true, false},
		{"no return_to", "GET", "", navigate(""), e.fresh, 302, "/", true, false},
		{"an allowed origin", "GET", "?return_to=" + url.QueryEscape("https://app.example.com/x"), navigate(""), e.fresh, 302, "https://app.example.com/x", true, false},
		{"a browser without Fetch Metadata", "GET", "?return_to=" + rt, map[string]string{"Accept": "text/html"}, e.fresh, 302, "/orders?page=2", true, false},
		{"no refresh cookie", "GET", "?return_to=" + rt, navigate(""), nil, 302, login, false, false},
		{"no refresh cookie, a form posted", "POST", "?return_to=" + rt, navigate(""), nil, 303, login, false, false},
		{"no refresh cookie, no return_to", "GET", "", navigate(""), nil, 302, "/ui/login", false, false},
		{"a revoked session", "GET", "?return_to=" + rt, navigate(""), func() string { return revoked.RefreshToken }, 302, login, false, true},
		{"a forged refresh token", "GET", "?return_to=" + rt, navigate(""), func() string { return "sdrt_forged" }, 302, login, false, true},
		{"a script's fetch", "GET", "?return_to=" + rt, map[string]string{"Sec-Fetch-Mode": "cors"}, e.fresh, 400, "", false, false},
		{"an image", "GET", "?return_to=" + rt, map[string]string{"Sec-Fetch-Mode": "no-cors"}, e.fresh, 400, "", false, false},
		{"a refused return_to", "GET", "?return_to=" + url.QueryEscape("//evil.com"), navigate(""), e.fresh, 400, "", false, false},
		{"a link on another site, the cookie withheld: bounced", "GET", "?return_to=" + rt, with(navigate(""), "Sec-Fetch-Site", "cross-site"), nil, 200, "", false, false},
		{"a link on another site, the cookie sent", "GET", "?return_to=" + rt, with(navigate(""), "Sec-Fetch-Site", "cross-site"), e.fresh, 302, "/orders?page=2", true, false},
		{"another site's form", "POST", "?return_to=" + rt, with(navigate(""), "Sec-Fetch-Site", "cross-site"), e.fresh, 403, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cookies := map[string]string{}
			var tok string
			if tc.refresh != nil {
				tok = tc.refresh()
				cookies[httpauth.RefreshCookie] = tok
			}
			r := e.fwd(tc.method, server.RefreshRedirectPath+tc.query, tc.headers, cookies)
			if r.status != tc.status || r.header.Get("Location") != tc.location {
				t.Fatalf("%d %q, want %d %q: %s", r.status, r.header.Get("Location"), tc.status, tc.location, r.raw)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Error("may be cached")
			}
			if tc.status == 200 {
				// The bounce: the same URL again, as a navigation of this
				// origin, by meta refresh (the CSP allows no script).
				want := `<meta http-equiv="refresh" content="0; url=` + server.RefreshRedirectPath + `?return_to=` + rt + `">`
				if !strings.Contains(r.raw, want) || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
					t.Fatalf("the bounce page lacks %s: %s", want, r.raw)
				}
			}
			set := setCookies(t, r.header)
			at, rc := set[httpauth.AccessCookie], set[httpauth.RefreshCookie]
			switch {
			case tc.rotated:
				if at == nil || rc == nil || at.MaxAge <= 0 || rc.Value == tok || rc.Path != httpauth.DefaultRefreshPath || !rc.Secure || !at.HttpOnly {
					t.Fatalf("cookies after a refresh: %v", r.header.Values("Set-Cookie"))
				}
				// The new access cookie passes forward-auth.
				f := e.fwd("GET", "/v1/forward-auth", nil, map[string]string{httpauth.AccessCookie: at.Value})
				if f.status != 200 || f.header.Get(server.HeaderUserID) != "fresh" {
					t.Fatalf("forward-auth with the new access cookie: %d", f.status)
				}
			case tc.cleared:
				if at == nil || rc == nil || at.MaxAge != -1 || rc.MaxAge != -1 {
					t.Fatalf("cookies of a refused refresh: %v", r.header.Values("Set-Cookie"))
				}
				if r.header.Get("Clear-Site-Data") != "" {
					t.Fatal("Clear-Site-Data would wipe the application's cookies of this origin too")
				}
			default:
				if len(set) != 0 {
					t.Fatalf("cookies set: %v", r.header.Values("Set-Cookie"))
				}
			}
			if tc.refresh != nil && !tc.rotated && !tc.cleared {
				// Nothing changed: the refresh token still works, once,
				// as a clean rotation (not a replay).
				if _, err := e.srv.Node().Manager().Refresh(context.Background(), tok, session.Meta{}); err != nil {
					t.Fatalf("the refresh token was spent: %v", err)
				}
			}
		})
	}
}

// fresh starts a session for "fresh" and returns its refresh token.
func (e *fwdEnv) fresh() string {
	e.t.Helper()
	return e.start("fresh", nil).RefreshToken
}

// TestRefreshRedirectKeepsASessionAlive: a navigation past the access
// token's lifetime goes forward-auth → refresh → back, and is let in, as
// long as the session lives; its end sends the browser to the login page.
func TestRefreshRedirectKeepsASessionAlive(t *testing.T) {
	e := newFwdEnv(t)
	tk := e.start("ann", map[string]string{"role": `"admin"`})
	at, rtok := tk.AccessToken, tk.RefreshToken
	for round := range 5 {
		e.clock.Advance(session.DefaultAccessTTL + time.Minute)
		cookies := map[string]string{httpauth.AccessCookie: at}
		r := e.fwd("GET", "/v1/forward-auth", navigate("/page"), cookies)
		if r.status != http.StatusFound {
			t.Fatalf("round %d: forward-auth with an expired access cookie: %d", round, r.status)
		}
		r = e.fwd("GET", r.header.Get("Location"), navigate(""), map[string]string{httpauth.RefreshCookie: rtok})
		if r.status != http.StatusFound || r.header.Get("Location") != "/page" {
			t.Fatalf("round %d: refresh redirect: %d %q %s", round, r.status, r.header.Get("Location"), r.raw)
		}
		set := setCookies(t, r.header)
		at, rtok = set[httpauth.AccessCookie].Value, set[httpauth.RefreshCookie].Value
		r = e.fwd("GET", "/v1/forward-auth", navigate("/page"), map[string]string{httpauth.AccessCookie: at})
		if r.status != 200 || r.header.Get(server.HeaderUserID) != "ann" || r.header.Get("X-Sessiond-Claim-Role") != "admin" {
			t.Fatalf("round %d: back at the page: %d %v", round, r.status, r.header)
		}
	}
	if err := e.srv.Node().Manager().Logout(context.Background(), tk.Session.ID); err != nil {
		t.Fatal(err)
	}
	r := e.fwd("GET", "/v1/forward-auth", navigate("/page"), map[string]string{httpauth.AccessCookie: at})
	if r.status != http.StatusFound {
		t.Fatalf("after logout: %d", r.status)
	}
	r = e.fwd("GET", r.header.Get("Location"), navigate(""), map[string]string{httpauth.RefreshCookie: rtok})
	if r.status != http.StatusFound || r.header.Get("Location") != "/ui/login?return_to=%2Fpage" {
		t.Fatalf("refresh after logout: %d %q", r.status, r.header.Get("Location"))
	}
}
