// Package ui holds sessiond's browser pages — sign up, log in and "your
// devices" — and sessiond.js, the browser client they use, embedded in the
// binary: plain HTML, CSS and JavaScript, no framework and no build step.
//
// The pages talk to the API in cookie mode (X-Session-Mode: cookie), so no
// token is ever readable by script. They carry no inline script or style and
// are served with the strict Content-Security-Policy CSP.
package ui

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var embedded embed.FS

// FS holds the assets at its root: login.html, signup.html, devices.html,
// forgot.html and reset.html (password reset, with reset.js), style.css,
// pages.js, sessiond.js, icon.svg.
var FS fs.FS = mustSub(embedded, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded above; cannot happen
	}
	return s
}

// CSP is the Content-Security-Policy of every answer Handler writes: scripts,
// styles, images and fetches from the same origin only, no inline code, no
// framing, no form posted elsewhere, no <base>.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pages maps the clean URLs to their files.
var pages = map[string]string{
	"login":   "login.html",
	"signup":  "signup.html",
	"devices": "devices.html",
	"forgot":  "forgot.html",
	"reset":   "reset.html",
}

// Handler serves the pages under /ui/ (mount it as "GET /ui/"): /ui/login,
// /ui/signup and /ui/devices, the assets by file name (/ui/sessiond.js),
// and /ui/ redirects to /ui/devices. Anything else is 404. It is safe for
// concurrent use.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/ui/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name == "" {
			http.Redirect(w, r, "/ui/devices", http.StatusFound)
			return
		}
		file, isPage := pages[name]
		if !isPage {
			file = name
			if strings.HasSuffix(name, ".html") || strings.Contains(name, "/") || !fs.ValidPath(name) {
				notFound(w)
				return
			}
		}
		b, err := fs.ReadFile(FS, file)
		if err != nil {
			notFound(w)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		ct := mime.TypeByExtension(path.Ext(file))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		// Revalidate every time: a new binary must never run old scripts.
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b)
	})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Security-Policy", CSP)
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("404 page not found\n"))
}
