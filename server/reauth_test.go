package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// freshEnv is a server whose sensitive routes want an authentication at
// most a minute old, on the test's clock.
func freshEnv(t *testing.T, mod func(*config)) *env {
	t.Helper()
	return newEnv(t, func(c *config) {
		c.Server.ReauthMaxAge = time.Minute
		if mod != nil {
			mod(c)
		}
	})
}

// wantReauthRequired checks a refusal for an old authentication: 403
// insufficient_user_authentication, the RFC 9470 challenge with max_age
// 60, and a description that says what to do.
func wantReauthRequired(t *testing.T, what string, r resp) {
	t.Helper()
	if r.status != http.StatusForbidden || str(r, "error") != httpauth.CodeInsufficientUserAuthentication ||
		!strings.Contains(str(r, "error_description"), "POST /v1/reauth") {
		t.Fatalf("%s: %d %s, want 403 insufficient_user_authentication", what, r.status, r.raw)
	}
	ch := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, `Bearer realm="sessiond", error="insufficient_user_authentication", error_description="`) ||
		!strings.HasSuffix(ch, `, max_age="60"`) {
		t.Fatalf("%s: WWW-Authenticate %q", what, ch)
	}
}

// TestReauthFreshness is the check of issue 11: with a freshness limit of
// one minute, ending other sessions after it is refused with the distinct
// error, and so is every other sensitive route; a refresh does not help
// (it keeps the auth_time), a wrong password does not either; after
// POST /v1/reauth it works, with the new access token only, and the
// refresh token the client already has carries the new auth_time on.
func TestReauthFreshness(t *testing.T) {
	e := freshEnv(t, nil)
	a := e.signupLogin("ann@example.com")
	b := e.login("ann@example.com")
	at := str(a, "access_token")
	e.clock.Advance(61 * time.Second)

	sensitive := []struct{ method, path string }{
		{"POST", "/v1/logout?scope=others"},
		{"POST", "/v1/logout?scope=global"},
		{"DELETE", "/v1/sessions/" + str(b, "session_id")},
		{"DELETE", "/v1/sessions/not-even-a-session"},
	}
	for _, s := range sensitive {
		wantReauthRequired(t, s.method+" "+s.path, e.do(s.method, s.path, at, "", ""))
	}
	wantReauthRequired(t, "POST /v1/password", e.post("/v1/password", at,
		map[string]string{"current_password": "correct horse battery", "new_password": "tr0ub4dor and then some"}))
	for _, sid := range []string{str(a, "session_id"), str(b, "session_id")} {
		if _, err := e.srv.Node().Manager().Get(context.Background(), sid); err != nil {
			t.Fatalf("a refused request ended a session: %v", err)
		}
	}
	if _, err := e.srv.Node().Accounts().Authenticate(context.Background(), "ann@example.com", "correct horse battery"); err != nil {
		t.Fatalf("a refused password change changed the password: %v", err)
	}

	// A refresh keeps the auth_time: still too old.
	r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(a, "refresh_token")})
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	wantReauthRequired(t, "after a refresh", e.do("POST", "/v1/logout?scope=others", str(r, "access_token"), "", ""))

	// A wrong password: 401 invalid_grant, audited, and nothing changes.
	w := e.post("/v1/reauth", str(r, "access_token"), map[string]string{"password": "wrong horse battery"})
	if w.status != http.StatusUnauthorized || str(w, "error") != httpauth.CodeInvalidGrant {
		t.Fatalf("reauth with a wrong password: %d %s", w.status, w.raw)
	}
	if !strings.Contains(e.logs.String(), `"event":"reauth.failed"`) {
		t.Fatal("a wrong password at reauth is not audited")
	}
	wantReauthRequired(t, "after a wrong password", e.do("POST", "/v1/logout?scope=others", str(r, "access_token"), "", ""))

	// The right password: a new access token for the same session, no
	// refresh token.
	ok := e.post("/v1/reauth", str(r, "access_token"), map[string]string{"password": "correct horse battery"})
	if ok.status != 200 || str(ok, "token_type") != "Bearer" || str(ok, "session_id") != str(a, "session_id") ||
		ok.body["expires_in"] != float64(600) || str(ok, "access_token") == "" || strings.Contains(ok.raw, "refresh_token") {
		t.Fatalf("reauth: %d %s", ok.status, ok.raw)
	}
	if ok.header.Get("Cache-Control") != "no-store" {
		t.Fatal("a token answer may be cached")
	}
	id, err := e.srv.Node().Manager().Verify(context.Background(), str(ok, "access_token"))
	if err != nil || !id.AuthTime.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Fatalf("the new token: %v, auth_time %v, want %v", err, id.AuthTime, e.clock.Now())
	}
	// The token from before the re-authentication is still too old.
	wantReauthRequired(t, "the token from before", e.do("POST", "/v1/logout?scope=others", str(r, "access_token"), "", ""))
	out := e.do("POST", "/v1/logout?scope=others", str(ok, "access_token"), "", "")
	if out.status != 200 || out.body["revoked"] != float64(1) {
		t.Fatalf("logout others after reauth: %d %s", out.status, out.raw)
	}
	if g := e.do("GET", "/v1/session", str(b, "access_token"), "", ""); g.status != http.StatusUnauthorized {
		t.Fatalf("the other session after logout others: %d", g.status)
	}

	// The refresh token the client holds carries the new auth_time on.
	e.clock.Advance(30 * time.Second)
	r2 := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(r, "refresh_token")})
	if r2.status != 200 {
		t.Fatalf("refresh after reauth: %d %s", r2.status, r2.raw)
	}
	c := e.login("ann@example.com")
	e.clock.Advance(20 * time.Second) // 50 s after the re-authentication
	if d := e.do("DELETE", "/v1/sessions/"+str(c, "session_id"), str(r2, "access_token"), "", ""); d.status != http.StatusNoContent {
		t.Fatalf("end another session 50 s after reauth: %d %s", d.status, d.raw)
	}
	// And a minute later it is old again.
	e.clock.Advance(11 * time.Second)
	wantReauthRequired(t, "61 s after the re-authentication", e.do("POST", "/v1/logout?scope=global", str(r2, "access_token"), "", ""))
}

// TestReauthNeverGatesTheCurrentSession: ending one's own session needs no
// recent authentication, whatever the route.
func TestReauthNeverGatesTheCurrentSession(t *testing.T) {
	tests := []struct {
		name   string
		req    func(e *env, l resp) resp
		status int
	}{
		{"POST /v1/logout", func(e *env, l resp) resp { return e.do("POST", "/v1/logout", str(l, "access_token"), "", "") }, 200},
		{"POST /v1/logout?scope=local", func(e *env, l resp) resp {
			return e.do("POST", "/v1/logout?scope=local", str(l, "access_token"), "", "")
		}, 200},
		{"DELETE /v1/sessions/{current}", func(e *env, l resp) resp {
			return e.do("DELETE", "/v1/sessions/"+str(l, "session_id"), str(l, "access_token"), "", "")
		}, 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := freshEnv(t, nil)
			l := e.signupLogin("ann@example.com")
			e.clock.Advance(5 * time.Minute) // past the limit, within the access token's life
			if r := tc.req(e, l); r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.raw, tc.status)
			}
			if g := e.do("GET", "/v1/session", str(l, "access_token"), "", ""); g.status != http.StatusUnauthorized {
				t.Fatalf("the session lives on: %d", g.status)
			}
		})
	}
}

// TestReauthCookieMode: a browser's session, past the limit, is refused
// "log out other devices"; POST /v1/reauth (with the CSRF token, as every
// unsafe cookie request) sets the access cookie alone and answers no
// token in the body; with the new cookie the action goes through.
func TestReauthCookieMode(t *testing.T) {
	e := freshEnv(t, nil)
	jar, l := e.cookieLogin("ann@example.com")
	other := e.login("ann@example.com")
	csrf := str(l, "csrf_token")
	e.clock.Advance(2 * time.Minute)
	wantReauthRequired(t, "cookie logout others", e.cdo(creq{method: "POST", path: "/v1/logout?scope=others", cookies: jar, csrf: csrf, cookieMode: true}))

	body := `{"password":"correct horse battery"}`
	if r := e.cdo(creq{method: "POST", path: "/v1/reauth", cookies: jar, body: body, cookieMode: true}); r.status != http.StatusForbidden || str(r, "error") != "csrf_failed" {
		t.Fatalf("cookie reauth without the CSRF token: %d %s", r.status, r.raw)
	}
	r := e.cdo(creq{method: "POST", path: "/v1/reauth", cookies: jar, csrf: csrf, body: body, cookieMode: true})
	if r.status != 200 || str(r, "session_id") != str(l, "session_id") || r.body["expires_in"] != float64(600) || len(r.body) != 2 {
		t.Fatalf("cookie reauth: %d %s", r.status, r.raw)
	}
	set := setCookies(t, r.header)
	at := set[httpauth.AccessCookie]
	if len(set) != 1 || at == nil || at.Value == "" || at.Value == jar[httpauth.AccessCookie] || !at.HttpOnly || !at.Secure || at.MaxAge != 600 {
		t.Fatalf("cookie reauth set %q, want a new access cookie alone", r.header.Values("Set-Cookie"))
	}
	if strings.Contains(r.raw, at.Value) {
		t.Fatal("the access token is in the body")
	}
	jar[httpauth.AccessCookie] = at.Value
	out := e.cdo(creq{method: "POST", path: "/v1/logout?scope=others", cookies: jar, csrf: csrf, cookieMode: true})
	if out.status != 200 || out.body["revoked"] != float64(1) {
		t.Fatalf("cookie logout others after reauth: %d %s", out.status, out.raw)
	}
	if g := e.do("GET", "/v1/session", str(other, "access_token"), "", ""); g.status != http.StatusUnauthorized {
		t.Fatalf("the other session: %d", g.status)
	}
	// The refresh cookie, untouched, refreshes into the new auth_time.
	rf := e.cdo(creq{method: "POST", path: "/v1/refresh", cookies: map[string]string{httpauth.RefreshCookie: jar[httpauth.RefreshCookie]}, cookieMode: true})
	if rf.status != 200 {
		t.Fatalf("refresh after reauth: %d %s", rf.status, rf.raw)
	}
	id, err := e.srv.Node().Manager().Verify(context.Background(), setCookies(t, rf.header)[httpauth.AccessCookie].Value)
	if err != nil || !id.AuthTime.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Fatalf("the refreshed token: %v, auth_time %v", err, id.AuthTime)
	}
}

// TestReauthRefusals: what POST /v1/reauth refuses, each with a clear
// error and nothing changed: the session's auth time stays as it was.
func TestReauthRefusals(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		token             func(e *env, l resp) string
		status            int
		code              string
	}{
		{"no token", "application/json", `{"password":"correct horse battery"}`, func(*env, resp) string { return "" }, 401, "unauthorized"},
		{"a forged token", "application/json", `{"password":"correct horse battery"}`, func(*env, resp) string { return "a.b.c" }, 401, "invalid_token"},
		{"text/plain", "text/plain", `{"password":"correct horse battery"}`, nil, 415, "unsupported_media_type"},
		{"an unknown member", "application/json", `{"password":"correct horse battery","email":"ann@example.com"}`, nil, 400, "invalid_request"},
		{"a case variant", "application/json", `{"Password":"correct horse battery"}`, nil, 400, "invalid_request"},
		{"a number", "application/json", `{"password":1}`, nil, 400, "invalid_request"},
		{"no password", "application/json", `{}`, nil, 400, "invalid_request"},
		{"a wrong password", "application/json", `{"password":"correct horse batter"}`, nil, 401, "invalid_grant"},
		{"a user who is no account", "application/json", `{"password":"correct horse battery"}`, func(e *env, _ resp) string {
			tk, err := e.srv.Node().Manager().Login(context.Background(), "sso-user", session.Meta{AuthMethod: "sso"})
			if err != nil {
				e.t.Fatal(err)
			}
			return tk.AccessToken
		}, 403, "forbidden"},
		{"a revoked session", "application/json", `{"password":"correct horse battery"}`, func(e *env, l resp) string {
			if err := e.srv.Node().Manager().Revoke(context.Background(), str(l, "session_id")); err != nil {
				e.t.Fatal(err)
			}
			return str(l, "access_token")
		}, 401, "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := freshEnv(t, nil)
			l := e.signupLogin("ann@example.com")
			e.clock.Advance(5 * time.Minute) // past the limit, within the access token's life
			tok := str(l, "access_token")
			if tc.token != nil {
				tok = tc.token(e, l)
			}
			r := e.do("POST", "/v1/reauth", tok, tc.ctype, tc.body)
			if r.status != tc.status || str(r, "error") != tc.code || str(r, "error_description") == "" {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			rec, err := e.backend.Get(context.Background(), str(l, "session_id"))
			if err == nil && !rec.AuthTime.Equal(e.clock.Now().Add(-5*time.Minute)) {
				t.Fatalf("a refused reauth moved the auth time to %v", rec.AuthTime)
			}
		})
	}
}

// TestReauthThrottled: a thief with a stolen access token who guesses the
// password at POST /v1/reauth and POST /v1/password is held by the login
// throttle, which counts these failures with those of logins: past the
// free failures of the account from this address the right password
// gets 429 too, at reauth and at login alike.
func TestReauthThrottled(t *testing.T) {
	e := freshEnv(t, func(c *config) {
		c.Server.LoginFailures.PerClient = ratelimit.Backoff{Free: 2, Base: time.Hour, Max: time.Hour, Decay: time.Hour}
		c.Server.LoginPerIP = ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
	})
	l := e.signupLogin("ann@example.com")
	if r := e.post("/v1/reauth", str(l, "access_token"), map[string]string{"password": "guess one!"}); r.status != http.StatusUnauthorized {
		t.Fatalf("guess at reauth: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/password", str(l, "access_token"), map[string]string{"current_password": "guess two!", "new_password": "tr0ub4dor and then some"}); r.status != http.StatusUnauthorized {
		t.Fatalf("guess at the password change: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/reauth", str(l, "access_token"), map[string]string{"password": "guess three!"}); r.status != http.StatusUnauthorized {
		t.Fatalf("the guess that starts the wait: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/reauth", str(l, "access_token"), map[string]string{"password": "correct horse battery"}); r.status != http.StatusTooManyRequests {
		t.Fatalf("reauth past the free failures: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/login", "", map[string]string{"email": "ann@example.com", "password": "correct horse battery"}); r.status != http.StatusTooManyRequests {
		t.Fatalf("login after the guesses at reauth: %d %s", r.status, r.raw)
	}
	if n := strings.Count(e.logs.String(), `"event":"reauth.failed"`); n != 3 {
		t.Fatalf("%d reauth.failed lines, want 3", n)
	}
}

// TestPasswordChange: changing the password ends every other session of
// the user at once (their access tokens are refused on their next request,
// their refresh tokens too) and keeps this one; other users are
// untouched; the old password stops working and the new one works.
func TestPasswordChange(t *testing.T) {
	e := newEnv(t, nil)
	a := e.signupLogin("ann@example.com")
	b, c := e.login("ann@example.com"), e.login("ann@example.com")
	bob := e.signupLogin("bob@example.com")
	r := e.post("/v1/password", str(a, "access_token"),
		map[string]string{"current_password": "correct horse battery", "new_password": "tr0ub4dor and then some"})
	if r.status != 200 || r.body["revoked"] != float64(2) || len(r.body) != 1 {
		t.Fatalf("password change: %d %s", r.status, r.raw)
	}
	for _, o := range []resp{b, c} {
		if g := e.do("GET", "/v1/csrf", str(o, "access_token"), "", ""); g.status != http.StatusUnauthorized {
			t.Fatalf("another session's access token after the change: %d %s", g.status, g.raw)
		}
		if g := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(o, "refresh_token")}); g.status != http.StatusUnauthorized {
			t.Fatalf("another session's refresh token after the change: %d", g.status)
		}
	}
	if g := e.do("GET", "/v1/session", str(a, "access_token"), "", ""); g.status != 200 {
		t.Fatalf("this session after the change: %d %s", g.status, g.raw)
	}
	if g := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(a, "refresh_token")}); g.status != 200 {
		t.Fatalf("this session's refresh after the change: %d %s", g.status, g.raw)
	}
	if g := e.do("GET", "/v1/session", str(bob, "access_token"), "", ""); g.status != 200 {
		t.Fatalf("another user's session: %d", g.status)
	}
	if g := e.post("/v1/login", "", map[string]string{"email": "ann@example.com", "password": "correct horse battery"}); g.status != http.StatusUnauthorized {
		t.Fatalf("login with the old password: %d", g.status)
	}
	if g := e.post("/v1/login", "", map[string]string{"email": "ann@example.com", "password": "tr0ub4dor and then some"}); g.status != 200 {
		t.Fatalf("login with the new password: %d %s", g.status, g.raw)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"event":"password.changed"`) || !strings.Contains(logs, `"count":2`) ||
		strings.Contains(logs, "tr0ub4dor") || strings.Contains(logs, str(a, "session_id")) {
		t.Fatalf("audit:\n%s", logs)
	}
}

// TestPasswordChangeRefusals: each refusal says why and changes nothing:
// the password stays, and no session ends.
func TestPasswordChangeRefusals(t *testing.T) {
	const old = "correct horse battery"
	tests := []struct {
		name, body string
		stale      bool
		token      func(e *env, l resp) string
		status     int
		code, says string
	}{
		{"a wrong current password", `{"current_password":"wrong horse battery","new_password":"tr0ub4dor and then some"}`, false, nil, 401, "invalid_grant", "invalid current password"},
		{"a new password too short", `{"current_password":"` + old + `","new_password":"short"}`, false, nil, 400, "invalid_request", "new_password must be at least 8 characters"},
		{"no new password", `{"current_password":"` + old + `"}`, false, nil, 400, "invalid_request", "new_password are required"},
		{"no current password", `{"new_password":"tr0ub4dor and then some"}`, false, nil, 400, "invalid_request", "current_password and"},
		{"an unknown member", `{"current_password":"` + old + `","new_password":"tr0ub4dor and then some","email":"x@example.com"}`, false, nil, 400, "invalid_request", "unknown member"},
		{"the old names", `{"password":"` + old + `","new":"tr0ub4dor and then some"}`, false, nil, 400, "invalid_request", "unknown member"},
		{"an old authentication", `{"current_password":"` + old + `","new_password":"tr0ub4dor and then some"}`, true, nil, 403, "insufficient_user_authentication", "POST /v1/reauth"},
		{"a user who is no account", `{"current_password":"` + old + `","new_password":"tr0ub4dor and then some"}`, false, func(e *env, _ resp) string {
			tk, err := e.srv.Node().Manager().Login(context.Background(), "sso-user", session.Meta{AuthMethod: "sso"})
			if err != nil {
				e.t.Fatal(err)
			}
			return tk.AccessToken
		}, 403, "forbidden", "no password"},
		{"no token", `{"current_password":"` + old + `","new_password":"tr0ub4dor and then some"}`, false, func(*env, resp) string { return "" }, 401, "unauthorized", "access token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := freshEnv(t, nil)
			l := e.signupLogin("ann@example.com")
			other := e.login("ann@example.com")
			if tc.stale {
				e.clock.Advance(2 * time.Minute)
			}
			tok := str(l, "access_token")
			if tc.token != nil {
				tok = tc.token(e, l)
			}
			r := e.do("POST", "/v1/password", tok, "application/json", tc.body)
			if r.status != tc.status || str(r, "error") != tc.code || !strings.Contains(str(r, "error_description"), tc.says) {
				t.Fatalf("%d %s, want %d %s saying %q", r.status, r.raw, tc.status, tc.code, tc.says)
			}
			if _, err := e.srv.Node().Accounts().Authenticate(context.Background(), "ann@example.com", old); err != nil {
				t.Fatalf("the password changed: %v", err)
			}
			if _, err := e.srv.Node().Manager().Get(context.Background(), str(other, "session_id")); err != nil {
				t.Fatalf("a refused change ended another session: %v", err)
			}
			if strings.Contains(e.logs.String(), "password.changed") {
				t.Fatal("a refused change was audited as done")
			}
		})
	}
}

// TestPasswordChangeEndsSessionsOnEveryNode: on a shared store, a password
// change on one node ends the user's other sessions on the others without
// a store read: their access tokens are refused by a route that reads no
// store (the revocation comes through the store's change feed).
func TestPasswordChangeEndsSessionsOnEveryNode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes func(testing.TB, int) []peer
	}{{"redis", redisNodes}, {"postgres", pgNodes}} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes(t, 2)
			var at []*env // the two nodes over HTTP
			for _, p := range nodes {
				ts := httptest.NewServer(p.srv.Handler())
				t.Cleanup(ts.Close)
				at = append(at, &env{t: t, http: ts})
			}
			if _, err := nodes[0].srv.Node().Accounts().Signup(context.Background(), "ann@example.com", "correct horse battery"); err != nil {
				t.Fatal(err)
			}
			call := func(i int, method, path, bearer, body string) resp {
				t.Helper()
				ctype := ""
				if body != "" {
					ctype = "application/json"
				}
				return at[i].do(method, path, bearer, ctype, body)
			}
			creds := `{"email":"ann@example.com","password":"correct horse battery"}`
			here, there := call(0, "POST", "/v1/login", "", creds), call(1, "POST", "/v1/login", "", creds)
			if here.status != 200 || there.status != 200 {
				t.Fatalf("logins: %d %d", here.status, there.status)
			}
			if r := call(1, "GET", "/v1/csrf", str(there, "access_token"), ""); r.status != 200 {
				t.Fatalf("the other session on node 2 before: %d", r.status)
			}
			r := call(0, "POST", "/v1/password", str(here, "access_token"),
				`{"current_password":"correct horse battery","new_password":"tr0ub4dor and then some"}`)
			if r.status != 200 || r.body["revoked"] != float64(1) {
				t.Fatalf("password change on node 1: %d %s", r.status, r.raw)
			}
			// Wait for the feed (bounded; asserts no speed), then the token
			// of the other session is refused on node 2.
			deadline := time.Now().Add(10 * time.Second)
			for !nodes[1].srv.Node().Manager().Revoked(str(there, "session_id")) {
				if time.Now().After(deadline) {
					t.Fatal("the revocation never reached node 2")
				}
				time.Sleep(time.Millisecond)
			}
			if r := call(1, "GET", "/v1/csrf", str(there, "access_token"), ""); r.status != http.StatusUnauthorized {
				t.Fatalf("the other session on node 2 after the change: %d %s", r.status, r.raw)
			}
			if r := call(1, "GET", "/v1/csrf", str(here, "access_token"), ""); r.status != 200 {
				t.Fatalf("this session on node 2 after the change: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestReauthMaxAgeConfig: a limit under a second is refused at start; zero
// means the default, which a session 15 minutes old meets and one a
// second older does not.
func TestReauthMaxAgeConfig(t *testing.T) {
	for _, d := range []time.Duration{-time.Minute, time.Millisecond, 999 * time.Millisecond} {
		if err := (server.Config{ReauthMaxAge: d}).Validate(); !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), "re-authentication max age") {
			t.Errorf("ReauthMaxAge %v: %v, want node.ErrConfig", d, err)
		}
	}
	if err := (server.Config{ReauthMaxAge: time.Second}).Validate(); err != nil {
		t.Errorf("ReauthMaxAge 1s: %v", err)
	}
	e := newEnv(t, nil)
	l := e.signupLogin("ann@example.com")
	e.login("ann@example.com")
	e.clock.Advance(server.DefaultReauthMaxAge)
	// The access token has expired meanwhile; its refresh keeps the auth_time.
	r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")})
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if r := e.do("POST", "/v1/logout?scope=others", str(r, "access_token"), "", ""); r.status != 200 {
		t.Fatalf("at the default limit: %d %s", r.status, r.raw)
	}
	e.clock.Advance(time.Second)
	if r := e.do("POST", "/v1/logout?scope=global", str(r, "access_token"), "", ""); r.status != http.StatusForbidden ||
		!strings.HasSuffix(r.header.Get("WWW-Authenticate"), `max_age="900"`) {
		t.Fatalf("past the default limit: %d %s %q", r.status, r.raw, r.header.Get("WWW-Authenticate"))
	}
}

// TestDeleteAccountNeedsRecentAuth: deleting one's own account is a
// sensitive action: with an authentication older than the limit it is 403
// insufficient_user_authentication and the account and its sessions stay;
// after POST /v1/reauth it deletes them.
func TestDeleteAccountNeedsRecentAuth(t *testing.T) {
	e := freshEnv(t, nil)
	a := e.signupLogin("dee@example.com")
	e.clock.Advance(61 * time.Second)
	wantReauthRequired(t, "DELETE /v1/account", e.do("DELETE", "/v1/account", str(a, "access_token"), "", ""))
	ctx := context.Background()
	if _, err := e.srv.Node().Accounts().Authenticate(ctx, "dee@example.com", "correct horse battery"); err != nil {
		t.Fatalf("a refused deletion deleted the account: %v", err)
	}
	if _, err := e.srv.Node().Manager().Get(ctx, str(a, "session_id")); err != nil {
		t.Fatalf("a refused deletion ended the session: %v", err)
	}
	ok := e.post("/v1/reauth", str(a, "access_token"), map[string]string{"password": "correct horse battery"})
	if ok.status != 200 {
		t.Fatalf("reauth: %d %s", ok.status, ok.raw)
	}
	d := e.do("DELETE", "/v1/account", str(ok, "access_token"), "", "")
	if d.status != 200 || d.body["revoked"] != float64(1) {
		t.Fatalf("delete after reauth: %d %s", d.status, d.raw)
	}
	if _, err := e.srv.Node().Accounts().Authenticate(ctx, "dee@example.com", "correct horse battery"); err == nil {
		t.Fatal("the account is still there after its deletion")
	}
}
