package server

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/sessiond/sessiond/ui"
)

// routeUI serves the embedded pages under /ui/, what they need to know of
// this server's settings at /ui/config.json, and sends a browser that opens
// the root to its devices page, which decides whether there is a session
// (its access cookie may merely have expired: it refreshes first): it
// sends a visitor without a session on to the login page, quietly.
//
// The login and signup pages honour return_to, the page to go back to once
// logged in: the server checks it before it serves either page (a refused
// one is a 400 that says why, so a doctored link fails where it is
// opened), and the page, once logged in, goes to /ui/continue, which checks
// it again and sends the browser there. The check lives here alone (see
// returnOrigins), never in the page's script.
func (s *Server) routeUI(mux *routeMux) {
	pages := ui.Handler()
	mux.Handle("GET /ui/", pages)
	mux.Handle("GET /ui/login", s.returnToChecked(pages))
	mux.Handle("GET /ui/signup", s.returnToChecked(pages))
	mux.HandleFunc("GET /ui/continue", s.handleContinue)
	mux.HandleFunc("GET /ui/config.json", s.handleUIConfig)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/devices", http.StatusFound))
}

// uiConfig is what the pages read of the server's settings. Nothing in it
// is secret: any visitor may read it.
type uiConfig struct {
	// Signup: POST /v1/signup is accepted (the pages offer signing up).
	Signup bool `json:"signup"`
	// PasswordReset: POST /v1/password/forgot mails reset links (the
	// login page offers "Forgot your password?").
	PasswordReset bool `json:"password_reset"`
}

func (s *Server) handleUIConfig(w http.ResponseWriter, r *http.Request) {
	// writeJSON sends Cache-Control: no-store, so a restart with another
	// --allow-signup is seen at the next page load.
	writeJSON(w, http.StatusOK, uiConfig{Signup: s.signup, PasswordReset: s.node.Outbox() != nil})
}

// returnTo is the request's return_to: "" when there is none, else the
// checked value, or an error a page can show.
func (s *Server) returnToOf(u *url.URL) (string, error) {
	v, ok := u.Query()["return_to"]
	switch {
	case !ok:
		return "", nil
	case len(v) > 1:
		return "", fmt.Errorf("%w: given more than once", errReturnTo)
	}
	return s.returnTo.check(v[0])
}

// returnToChecked serves next only when the request's return_to, if any,
// may be followed; otherwise a 400 page says why.
func (s *Server) returnToChecked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.returnToOf(r.URL); err != nil {
			refusedPage(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handleContinue is GET /ui/continue?return_to=R, where the login and
// signup pages go once the user is logged in: 302 to R when it may be
// followed, 400 when not, and the devices page when there is no R.
func (s *Server) handleContinue(w http.ResponseWriter, r *http.Request) {
	target, err := s.returnToOf(r.URL)
	if err != nil {
		refusedPage(w, err)
		return
	}
	if target == "" {
		target = "/ui/devices"
	}
	w.Header().Set("Cache-Control", "no-store")
	// By hand: http.Redirect would clean the path into another URL.
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// refusedPage is the 400 a person sees for a link with a refused return_to.
func refusedPage(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Security-Policy", ui.CSP)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "400 Bad Request\n\nThis link would send you on to a page this server does not send anyone to (%v).\nOpen the site you meant to visit directly.\n", err)
}
