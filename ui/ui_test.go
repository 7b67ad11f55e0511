package ui_test

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/ui"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		ctype        string
		body         string
	}{
		{"GET", "/ui/login", 200, "text/html", `data-page="login"`},
		{"GET", "/ui/signup", 200, "text/html", `data-page="signup"`},
		{"GET", "/ui/devices", 200, "text/html", `data-page="devices"`},
		{"GET", "/ui/forgot", 200, "text/html", `data-page="forgot"`},
		{"GET", "/ui/reset", 200, "text/html", `data-page="reset"`},
		{"GET", "/ui/reset.js", 200, "text/javascript", "/v1/password/reset"},
		{"GET", "/ui/sessiond.js", 200, "text/javascript", "navigator.locks"},
		{"GET", "/ui/style.css", 200, "text/css", ":root"},
		{"GET", "/ui/icon.svg", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/ui/login", 200, "text/html", ""},
		{"GET", "/ui/", 302, "", ""},
		{"GET", "/ui/login.html", 404, "", ""},
		{"GET", "/ui/static/login.html", 404, "", ""},
		{"GET", "/ui/missing.js", 404, "", ""},
		{"GET", "/other", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ui.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != ui.CSP {
				t.Errorf("CSP %q", got)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q, want %s", rec.Header().Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body lacks %q", tc.body)
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Error("HEAD has a body")
			}
		})
	}
}

// TestNoInlineCode: the CSP forbids inline script and style, so the pages
// must have none (it would silently not run).
func TestNoInlineCode(t *testing.T) {
	pages, _ := fs.Glob(ui.FS, "*.html")
	if len(pages) != 5 {
		t.Fatalf("pages %v", pages)
	}
	for _, p := range pages {
		b, _ := fs.ReadFile(ui.FS, p)
		s := string(b)
		for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(ui.CSP, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
	if strings.Contains(ui.CSP, "unsafe") {
		t.Error("CSP allows unsafe-*")
	}
}

// TestPagesWaitForTheServer: what depends on the server's settings or on a
// session is hidden in the HTML and shown by pages.js once it knows: the
// signup link and the signup form (only when /ui/config.json says signup
// is on), the devices page's controls (only with a session), "Delete my
// account" (only for a built-in account). "Log out everywhere" and
// "Delete my account" ask in a <dialog>, never with window.confirm.
func TestPagesWaitForTheServer(t *testing.T) {
	read := func(name string) string {
		b, err := fs.ReadFile(ui.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for file, wants := range map[string][]string{
		"login.html":   {`id="signup-link" class="aside" hidden`},
		"signup.html":  {`<form id="signup-form" method="post" novalidate hidden>`, `id="signup-off" class="notice" hidden`},
		"devices.html": {`<div id="devices" hidden>`, `id="logout" class="link" hidden`, `<dialog id="confirm-global"`, `<section id="delete-section" class="delete-account" aria-labelledby="delete-title" hidden>`, `<dialog id="confirm-delete"`},
		"pages.js":     {"/ui/config.json", "showModal()"},
	} {
		s := read(file)
		for _, want := range wants {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %s", file, want)
			}
		}
	}
	prompt := regexp.MustCompile(`\b(confirm|alert|prompt)\(`)
	for _, file := range []string{"pages.js", "sessiond.js"} {
		if m := prompt.FindString(read(file)); m != "" {
			t.Errorf("%s uses a blocking browser prompt: %s", file, m)
		}
	}
}
