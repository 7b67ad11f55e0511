package server_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
)

// returnToCases: what a return_to may be (a path on this origin, or a URL
// of an allowed origin: https://app.example.com and http://127.0.0.1:8443
// in newFwdEnv) and everything else, each refused.
var returnToCases = []struct {
	name, rt string
	ok       bool
}{
	{"a path", "/orders", true},
	{"a path with a query", "/orders?page=2&sort=-date", true},
	{"a path with a fragment", "/doc#part-2", true},
	{"the root", "/", true},
	{"percent-encoded", "/search?q=caf%C3%A9%20cr%C3%A8me", true},
	{"an encoded slash is still a path", "/%2F/evil.com", true},
	{"an allowed origin", "https://app.example.com/orders?page=2", true},
	{"an allowed origin, no path", "https://app.example.com", true},
	{"an allowed origin, its default port", "https://app.example.com:443/x", true},
	{"an allowed origin, host in capitals", "https://APP.Example.com/x", true},
	{"an allowed origin with a port", "http://127.0.0.1:8443/x", true},

	{"empty", "", false},
	{"protocol-relative", "//evil.com", false},
	{"protocol-relative with a path", "//evil.com/orders", false},
	{"backslash", `/\evil.com`, false},
	{"backslash later", `/a\b`, false},
	{"three slashes", "///evil.com", false},
	{"another origin", "https://evil.com/", false},
	{"an allowed host as a prefix", "https://app.example.com.evil.com/", false},
	{"an allowed host as a suffix", "https://evilapp.example.com/", false},
	{"a subdomain of an allowed host", "https://x.app.example.com/", false},
	{"userinfo", "https://app.example.com@evil.com/", false},
	{"userinfo of the allowed host", "https://user:pw@app.example.com/", false},
	{"another scheme", "http://app.example.com/", false},
	{"another port", "https://app.example.com:8443/", false},
	{"the allowed port, another scheme", "https://127.0.0.1:8443/x", false},
	{"javascript:", "javascript:alert(1)", false},
	{"javascript: in capitals", "JavaScript:alert(1)", false},
	{"javascript with slashes", "javascript://app.example.com/%0aalert(1)", false},
	{"data:", "data:text/html,<script>alert(1)</script>", false},
	{"a bare host", "evil.com", false},
	{"a relative path", "orders", false},
	{"a query only", "?x=1", false},
	{"single-slash scheme", "https:/app.example.com/", false},
	{"no slashes", "https:app.example.com", false},
	{"a tab", "/\t/evil.com", false},
	{"a newline", "/\n/evil.com", false},
	{"a space", "/a b", false},
	{"non-ASCII", "/café", false},
	{"a percent-encoded host", "https://app%2eexample.com/", false},
	{"a trailing dot", "https://app.example.com./", false},
	{"too long", "/" + strings.Repeat("a", 2048), false},
}

// TestReturnTo: /ui/continue (where the login page goes once logged in)
// sends the browser to an allowed return_to and refuses any other with
// 400; the login and signup pages refuse to open with one; the in-band
// refresh refuses it before it touches the session.
func TestReturnTo(t *testing.T) {
	e := newFwdEnv(t)
	for _, tc := range returnToCases {
		t.Run(tc.name, func(t *testing.T) {
			q := "?return_to=" + url.QueryEscape(tc.rt)
			r := e.fwd("GET", "/ui/continue"+q, nil, nil)
			if tc.ok {
				if r.status != 302 || r.header.Get("Location") != tc.rt {
					t.Fatalf("continue: %d %q, want 302 to %q: %s", r.status, r.header.Get("Location"), tc.rt, r.raw)
				}
			} else if r.status != 400 || r.header.Get("Location") != "" || !strings.Contains(r.raw, "return_to refused") {
				t.Fatalf("continue: %d %q, want 400: %s", r.status, r.header.Get("Location"), r.raw)
			}
			for _, page := range []string{"/ui/login", "/ui/signup"} {
				r := e.fwd("GET", page+q, nil, nil)
				if want := map[bool]int{true: 200, false: 400}[tc.ok]; r.status != want {
					t.Errorf("%s: %d, want %d", page, r.status, want)
				}
			}
			// No refresh cookie: an allowed return_to goes on to the login
			// page; a refused one stops here.
			r = e.fwd("GET", server.RefreshRedirectPath+q, navigate(""), nil)
			if tc.ok {
				if want := "/ui/login" + q; r.status != 302 || r.header.Get("Location") != want {
					t.Fatalf("refresh redirect: %d %q, want 302 to %q", r.status, r.header.Get("Location"), want)
				}
			} else if r.status != 400 || r.header.Get("Location") != "" {
				t.Fatalf("refresh redirect: %d %q, want 400", r.status, r.header.Get("Location"))
			}
		})
	}
	// Without return_to the login page opens and continue goes to the
	// devices page; return_to twice is refused.
	if r := e.fwd("GET", "/ui/continue", nil, nil); r.status != 302 || r.header.Get("Location") != "/ui/devices" {
		t.Fatalf("continue without return_to: %d %q", r.status, r.header.Get("Location"))
	}
	if r := e.fwd("GET", "/ui/login", nil, nil); r.status != 200 {
		t.Fatalf("login page without return_to: %d", r.status)
	}
	for _, p := range []string{"/ui/continue", "/ui/login", server.RefreshRedirectPath} {
		if r := e.fwd("GET", p+"?return_to=%2Fa&return_to=%2Fb", navigate(""), nil); r.status != 400 {
			t.Errorf("%s with return_to twice: %d", p, r.status)
		}
	}
}

// TestReturnToOriginsConfig: a return-to origin is scheme://host[:port],
// http or https, and nothing else; anything else is a configuration error.
func TestReturnToOriginsConfig(t *testing.T) {
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"https://app.example.com/", true},
		{"http://127.0.0.1:5173", true},
		{"http://[::1]:8080", true},
		{"https://app.example.com/app", false},
		{"https://app.example.com?x", false},
		{"https://app.example.com#x", false},
		{"https://user@app.example.com", false},
		{"ftp://app.example.com", false},
		{"javascript://app.example.com", false},
		{"app.example.com", false},
		{"https://", false},
		{"https://app%2eexample.com", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			err := server.Config{ReturnToOrigins: []string{tc.origin}}.Validate()
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "return-to origin")) {
				t.Fatalf("accepted, or a vague error: %v", err)
			}
			if err != nil && !errors.Is(err, node.ErrConfig) {
				t.Fatalf("%v does not wrap node.ErrConfig", err)
			}
		})
	}
}
