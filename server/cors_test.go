package server_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
)

// corsOrigins are the listed origins of the CORS tests, one of them
// written in a non-canonical form the server must canonicalise.
var corsOrigins = []string{"HTTPS://App.Example.com:443", "http://localhost:5173", "http://[0:0::1]:8081"}

func corsEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, func(c *config) {
		c.Server.CORSOrigins = corsOrigins
		c.Server.TrustedOrigins = []string{"https://forms.example.com"}
		c.Server.AdminToken = adminToken
	})
}

// corsHeaders are the Access-Control-* headers of h.
func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// varies reports whether h's Vary names each of names.
func varies(h http.Header, names ...string) bool {
	var got []string
	for _, v := range h.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			got = append(got, http.CanonicalHeaderKey(strings.TrimSpace(n)))
		}
	}
	for _, n := range names {
		if !slices.Contains(got, n) {
			return false
		}
	}
	return true
}

// TestCORSOriginMatching: an Origin gets CORS headers only when it is, in
// canonical form, one of the listed origins, and then the listed origin
// itself, never the request's spelling; any other origin gets no CORS
// header at all, and every answer says it varies with Origin.
func TestCORSOriginMatching(t *testing.T) {
	e := corsEnv(t)
	tests := []struct {
		origin, acao string
	}{
		{"https://app.example.com", "https://app.example.com"},
		{"https://APP.example.COM", "https://app.example.com"},
		{"HTTPS://app.example.com", "https://app.example.com"},
		{"https://app.example.com:443", "https://app.example.com"},
		{"http://localhost:5173", "http://localhost:5173"},
		{"http://localhost:05173", "http://localhost:5173"},
		{"http://[::1]:8081", "http://[::1]:8081"},
		// Unlisted: another port, scheme, host, or not an origin at all.
		{"https://app.example.com:8443", ""},
		{"http://app.example.com", ""},
		{"http://localhost:5174", ""},
		{"http://localhost", ""},
		{"https://localhost:5173", ""},
		{"http://127.0.0.1:5173", ""},
		{"http://[::1]:8082", ""},
		{"https://sub.app.example.com", ""},
		{"https://app.example.com.evil.example", ""},
		{"https://evilapp.example.com", ""},
		{"https://app.example.co", ""},
		{"https://app.example.com/", ""},
		{"https://app.example.com/x", ""},
		{"https://user@app.example.com", ""},
		{"https://app.example.com, https://evil.example", ""},
		{"null", ""},
		{"*", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.http.URL+"/v1/session", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			r := e.send(req)
			if r.status != 401 || !varies(r.header, "Origin") {
				t.Fatalf("status %d, Vary %q", r.status, r.header.Values("Vary"))
			}
			got := corsHeaders(r.header)
			if tc.acao == "" {
				if len(got) != 0 {
					t.Fatalf("an unlisted origin got CORS headers: %v", got)
				}
				return
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":      tc.acao,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers":    "Retry-After, WWW-Authenticate",
			}
			if !maps(got, want) {
				t.Fatalf("CORS headers %v, want %v", got, want)
			}
		})
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCORSRoutes: which answers a listed origin may read. Every answer on
// /v1/ and the JWKS varies with Origin, whatever its status; the browser
// routes and the JWKS carry CORS headers, and so do errors of paths that
// do not exist; service clients' routes, the admin API, the pages,
// /metrics and the probes never do.
func TestCORSRoutes(t *testing.T) {
	e := corsEnv(t)
	tok := str(e.signupLogin("cora@example.com"), "access_token")
	const origin = "http://localhost:5173"
	tests := []struct {
		name, method, path, bearer string
		status                     int
		cors, vary                 bool
	}{
		{"session 200", "GET", "/v1/session", tok, 200, true, true},
		{"sessions 200", "GET", "/v1/sessions", tok, 200, true, true},
		{"session 401", "GET", "/v1/session", "", 401, true, true},
		{"csrf token (bearer)", "GET", "/v1/csrf", tok, 200, true, true},
		{"JWKS", "GET", "/.well-known/jwks.json", "", 200, true, true},
		{"unknown /v1 path 404", "GET", "/v1/nope", "", 404, true, true},
		{"wrong method 405", "GET", "/v1/login", "", 405, true, true},
		{"introspection", "POST", "/v1/introspect", "", 401, false, true},
		{"minting", "POST", "/v1/sessions", "", 415, false, true},
		{"a user's sessions", "GET", "/v1/users/u1/sessions", "", 401, false, true},
		{"admin", "GET", "/admin/v1/users", adminToken, 200, false, false},
		{"admin 401", "GET", "/admin/v1/users", "", 401, false, false},
		{"metrics", "GET", "/metrics", "", 200, false, false},
		{"healthz", "GET", "/healthz", "", 200, false, false},
		{"login page", "GET", "/ui/login", "", 200, false, false},
		{"sessiond.js", "GET", "/ui/sessiond.js", "", 200, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.method == "POST" {
				body = strings.NewReader("token=x")
			} else {
				body = strings.NewReader("")
			}
			req, _ := http.NewRequest(tc.method, e.http.URL+tc.path, body)
			req.Header.Set("Origin", origin)
			if tc.method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			r := e.send(req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); (got == origin) != tc.cors || (got != "" && got != origin) {
				t.Fatalf("Access-Control-Allow-Origin %q, want CORS %v", got, tc.cors)
			}
			if !tc.cors && len(corsHeaders(r.header)) != 0 {
				t.Fatalf("CORS headers on a closed route: %v", corsHeaders(r.header))
			}
			if varies(r.header, "Origin") != tc.vary {
				t.Fatalf("Vary %q, want Origin: %v", r.header.Values("Vary"), tc.vary)
			}
		})
	}
}

// TestCORSPreflight: a preflight from a listed origin, for a method the
// path serves to browsers and headers on the allowlist, gets 204 naming
// exactly those methods (worked out from the routes) and the requested
// headers; anything else gets a 403 without any CORS header, so the
// browser never sends the request. Paths that are not the API's fall
// through to the usual 405, without CORS headers too.
func TestCORSPreflight(t *testing.T) {
	e := corsEnv(t)
	const listed = "https://app.example.com"
	tests := []struct {
		name, origin, path, method, headers string
		status                              int
		methods, allowHeaders               string
	}{
		{"login", listed, "/v1/login", "POST", "content-type", 204, "POST", "Content-Type"},
		{"cookie-mode login", listed, "/v1/login", "POST", "content-type,x-session-mode", 204, "POST", "Content-Type, X-Session-Mode"},
		{"signup", listed, "/v1/signup", "POST", "content-type", 204, "POST", "Content-Type"},
		{"refresh", listed, "/v1/refresh", "POST", "content-type, x-session-mode", 204, "POST", "Content-Type, X-Session-Mode"},
		{"logout", listed, "/v1/logout", "POST", "authorization,content-type,x-csrf-token", 204, "POST", "Authorization, Content-Type, X-CSRF-Token"},
		{"session", listed, "/v1/session", "GET", "authorization", 204, "GET, HEAD", "Authorization"},
		{"sessions: GET only, POST is the service clients'", listed, "/v1/sessions", "GET", "authorization", 204, "GET, HEAD", "Authorization"},
		{"revoke one session", listed, "/v1/sessions/abc", "DELETE", "x-csrf-token", 204, "DELETE", "X-CSRF-Token"},
		{"csrf token", listed, "/v1/csrf", "GET", "x-session-mode", 204, "GET, HEAD", "X-Session-Mode"},
		{"JWKS without headers", listed, "/.well-known/jwks.json", "GET", "", 204, "GET, HEAD", ""},
		{"another listed origin", "http://localhost:5173", "/v1/login", "POST", "Content-Type", 204, "POST", "Content-Type"},
		{"unlisted origin", "https://evil.example", "/v1/login", "POST", "content-type", 403, "", ""},
		{"listed host, other port", "https://app.example.com:8443", "/v1/login", "POST", "content-type", 403, "", ""},
		{"null origin", "null", "/v1/login", "POST", "content-type", 403, "", ""},
		{"method the path does not serve", listed, "/v1/login", "PUT", "content-type", 403, "", ""},
		{"lower-case method", listed, "/v1/login", "post", "content-type", 403, "", ""},
		{"header not allowed", listed, "/v1/login", "POST", "content-type,x-evil", 403, "", ""},
		{"cookie header", listed, "/v1/login", "POST", "cookie", 403, "", ""},
		{"minting is for service clients", listed, "/v1/sessions", "POST", "authorization", 403, "", ""},
		{"introspection", listed, "/v1/introspect", "POST", "authorization", 403, "", ""},
		{"a user's sessions", listed, "/v1/users/u1/sessions", "DELETE", "authorization", 403, "", ""},
		{"no such path", listed, "/v1/nope", "GET", "", 403, "", ""},
		{"admin API", listed, "/admin/v1/users", "GET", "authorization", 405, "", ""},
		{"metrics", listed, "/metrics", "GET", "", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("OPTIONS", e.http.URL+tc.path, nil)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", tc.method)
			if tc.headers != "" {
				req.Header.Set("Access-Control-Request-Headers", tc.headers)
			}
			r := e.send(req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			got := corsHeaders(r.header)
			if tc.status != 204 {
				if len(got) != 0 {
					t.Fatalf("a refused preflight carries CORS headers: %v", got)
				}
				if str(r, "error") == "" || str(r, "error_description") == "" {
					t.Fatalf("a refused preflight without a JSON error: %s", r.raw)
				}
				return
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":      tc.origin,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     tc.methods,
				"Access-Control-Max-Age":           "600",
			}
			if tc.allowHeaders != "" {
				want["Access-Control-Allow-Headers"] = tc.allowHeaders
			}
			if !maps(got, want) {
				t.Fatalf("CORS headers %v, want %v", got, want)
			}
			if !varies(r.header, "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers") {
				t.Fatalf("Vary %q", r.header.Values("Vary"))
			}
		})
	}
	// An OPTIONS that is no preflight (no Access-Control-Request-Method)
	// is an ordinary request the API does not serve.
	req, _ := http.NewRequest("OPTIONS", e.http.URL+"/v1/login", nil)
	req.Header.Set("Origin", listed)
	if r := e.send(req); r.status != 405 || r.header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("plain OPTIONS: %d %v", r.status, corsHeaders(r.header))
	}
}

// TestCORSKeepsCrossOriginProtection: a listed origin passes the
// cross-origin protection like a trusted origin, in bearer mode with no
// CSRF token; with the access cookie an unsafe request still needs the
// CSRF token, which a listed origin (and no other) may fetch. An origin
// that is only trusted gets past the protection but no CORS header.
func TestCORSKeepsCrossOriginProtection(t *testing.T) {
	e := corsEnv(t)
	jar, l := e.cookieLogin("cy@example.com")
	token, sid := str(l, "csrf_token"), str(l, "session_id")
	otherID := str(e.login("cy@example.com"), "session_id")
	bl := e.login("cy@example.com")
	bearer, bearerID := str(bl, "access_token"), str(bl, "session_id")
	at := map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]}
	from := func(origin, site string) map[string]string {
		return map[string]string{"Origin": origin, "Sec-Fetch-Site": site}
	}
	const listed, unlisted, trusted = "https://app.example.com", "https://evil.example", "https://forms.example.com"
	tests := []struct {
		name   string
		r      creq
		status int
		cors   bool
	}{
		{"cookie logout without the CSRF token", creq{method: "POST", path: "/v1/logout", cookies: at, headers: from(listed, "same-site")}, 403, true},
		{"cookie revoke with a wrong CSRF token", creq{method: "DELETE", path: "/v1/sessions/" + otherID, cookies: at, csrf: "A" + token[1:], headers: from(listed, "same-site")}, 403, true},
		{"CSRF token for a listed origin", creq{method: "GET", path: "/v1/csrf", cookies: at, headers: from(listed, "same-site")}, 200, true},
		{"CSRF token for an unlisted origin", creq{method: "GET", path: "/v1/csrf", cookies: at, headers: from(unlisted, "same-site")}, 403, false},
		{"CSRF token for a trusted origin", creq{method: "GET", path: "/v1/csrf", cookies: at, headers: from(trusted, "same-site")}, 403, false},
		{"cookie login from an unlisted origin (login CSRF)", creq{method: "POST", path: "/v1/login", cookieMode: true,
			body: `{"email":"cy@example.com","password":"correct horse battery"}`, headers: from(unlisted, "cross-site")}, 403, false},
		{"cookie refresh from an unlisted origin", creq{method: "POST", path: "/v1/refresh", cookieMode: true,
			cookies: map[string]string{httpauth.RefreshCookie: jar[httpauth.RefreshCookie]}, headers: from(unlisted, "same-site")}, 403, false},
		{"bearer logout from an unlisted origin", creq{method: "POST", path: "/v1/logout", headers: map[string]string{
			"Origin": unlisted, "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer " + bearer}}, 403, false},
		{"bearer request from a trusted origin", creq{method: "POST", path: "/v1/logout", headers: map[string]string{
			"Origin": trusted, "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer not-a-token"}}, 401, false},
		{"cookie revoke with the CSRF token", creq{method: "DELETE", path: "/v1/sessions/" + otherID, cookies: at, csrf: token, headers: from(listed, "same-site")}, 204, true},
		{"cookie refresh from a listed origin", creq{method: "POST", path: "/v1/refresh", cookieMode: true,
			cookies: map[string]string{httpauth.RefreshCookie: jar[httpauth.RefreshCookie]}, headers: from(listed, "same-site")}, 200, true},
		{"bearer logout from a listed origin, cross-site, no CSRF token", creq{method: "POST", path: "/v1/logout", headers: map[string]string{
			"Origin": listed, "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer " + bearer}}, 200, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.cdo(tc.r)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if r.status == 403 && str(r, "error") != httpauth.CodeCSRFFailed {
				t.Fatalf("403 body %s", r.raw)
			}
			// A listed origin's refusal comes from the CSRF token rule, not
			// from the cross-origin protection.
			if r.status == 403 && tc.cors && !strings.Contains(str(r, "error_description"), "X-CSRF-Token") {
				t.Fatalf("403 of a listed origin not by the CSRF token rule: %s", r.raw)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); (got != "") != tc.cors || (got != "" && got != listed) {
				t.Fatalf("Access-Control-Allow-Origin %q, want CORS %v", got, tc.cors)
			}
			if tc.r.path == "/v1/csrf" && r.status == 200 && str(r, "csrf_token") != token {
				t.Fatalf("CSRF token %s, want the login's", r.raw)
			}
		})
	}
	m := e.srv.Node().Manager()
	if _, err := m.Get(context.Background(), sid); err != nil {
		t.Errorf("a refused request ended the cookie session: %v", err)
	}
	for name, id := range map[string]string{"the revoke with the CSRF token": otherID, "the bearer logout": bearerID} {
		if _, err := m.Get(context.Background(), id); err == nil {
			t.Errorf("%s did not end its session", name)
		}
	}
}

// TestCORSOriginsConfig: every CORS origin is checked when the server is
// built; anything but scheme://host[:port] over http or https is refused
// with an error that names it.
func TestCORSOriginsConfig(t *testing.T) {
	good := []string{"https://app.example.com", "HTTP://LOCALHOST:5173", "http://127.0.0.1:3000", "http://[::1]:8080",
		"https://xn--bcher-kva.example", "https://app.example.com:443", "http://a-b.c9.example:1"}
	for _, o := range good {
		if err := (server.Config{CORSOrigins: []string{o}}).Validate(); err != nil {
			t.Errorf("%q refused: %v", o, err)
		}
	}
	bad := []struct{ origin, why string }{
		{"", "empty"},
		{"null", "null origin"},
		{"NULL", "null origin"},
		{"*", "no wildcard"},
		{"https://*.example.com", "no wildcard"},
		{"app.example.com", "scheme"},
		{"//app.example.com", "scheme"},
		{"ftp://app.example.com", "scheme"},
		{"file:///etc", "scheme"},
		{"https://app.example.com/", "no path"},
		{"https://app.example.com/app", "no path"},
		{"https://app.example.com?x=1", "no path"},
		{"https://app.example.com#top", "no path"},
		{"https://ann@app.example.com", "no path"},
		{"https:// app.example.com", "no path"},
		{"https://", "no host"},
		{"https://:443", "no host"},
		{"https://app.example.com:", "empty port"},
		{"https://app.example.com:0", "port"},
		{"https://app.example.com:65536", "port"},
		{"https://app.example.com:+443", "port"},
		{"https://app.example.com:https", "port"},
		{"https://[::1", "unclosed"},
		{"https://[::1]x", "after the IPv6"},
		{"https://[127.0.0.1]", "not an IPv6"},
		{"https://[fe80::1%25eth0]", "not an IPv6"},
		{"https://bücher.example", "xn--"},
		{"https://app..example.com", "not a host name"},
		{"https://app.example.com.", "not a host name"},
		{"https://-app.example.com", "not a host name"},
		{"https://app_1.example.com", "not a host name"},
		{"https://127.1", "dotted-quad"},
		{"https://127.000.0.1", "dotted-quad"},
		{"https://1.2.3.4.5", "dotted-quad"},
	}
	for _, tc := range bad {
		t.Run(tc.origin, func(t *testing.T) {
			cfg := server.Config{CORSOrigins: []string{"https://fine.example", tc.origin}}
			err := cfg.Validate()
			if !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), "CORS origin") || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("Validate: %v, want a config error saying %q", err, tc.why)
			}
		})
	}
	// New refuses what Validate refuses.
	e := newEnv(t, nil)
	if _, err := server.New(e.srv.Node(), server.Config{CORSOrigins: []string{"https://app.example.com/"}}); !errors.Is(err, node.ErrConfig) {
		t.Fatalf("New with a bad CORS origin: %v", err)
	}
}

// TestCORSLogoutLeavesTheSitesCookies: a cookie logout from a page of a
// CORS origin deletes sessiond's two cookies but sends no Clear-Site-Data,
// which browsers apply to every cookie of the registrable domain (the
// application's own, on its sibling host); from sessiond's own origin it
// still does.
func TestCORSLogoutLeavesTheSitesCookies(t *testing.T) {
	e := corsEnv(t)
	for _, tc := range []struct {
		name      string
		headers   map[string]string
		clearSite bool
	}{
		{"from a CORS origin", map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "same-site"}, false},
		{"from sessiond's origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jar, l := e.cookieLogin(randomName("u") + "@example.com")
			r := e.cdo(creq{method: "POST", path: "/v1/logout", cookies: map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]},
				csrf: str(l, "csrf_token"), headers: tc.headers})
			if r.status != 200 {
				t.Fatalf("logout: %d %s", r.status, r.raw)
			}
			set := setCookies(t, r.header)
			if at, rt := set[httpauth.AccessCookie], set[httpauth.RefreshCookie]; at == nil || rt == nil || at.MaxAge != -1 || rt.MaxAge != -1 {
				t.Fatalf("logout did not delete both cookies: %v", r.header.Values("Set-Cookie"))
			}
			if got := r.header.Get("Clear-Site-Data") != ""; got != tc.clearSite {
				t.Fatalf("Clear-Site-Data %q, want it: %v", r.header.Get("Clear-Site-Data"), tc.clearSite)
			}
		})
	}
}
