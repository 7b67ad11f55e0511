package server

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// loginPage is the embedded login page, which honours return_to.
const loginPage = "/ui/login"

// handleRefreshRedirect is GET (and POST) /v1/refresh/redirect?return_to=R,
// the in-band refresh of a browser navigation, where forward-auth sends a
// navigation that has no valid access cookie. The refresh cookie is at
// Path=/ (a "__Host-" cookie), so the browser sends it here; the legacy one
// of earlier versions (Path=/v1/refresh) is under it too, and is chosen
// among exactly as POST /v1/refresh does (see pickRefresh).
//
// With a valid refresh cookie the session is refreshed (rotated, exactly as
// POST /v1/refresh in cookie mode), both cookies are set anew, and the
// browser is sent back to R (302; 307 for a POST, which the browser
// repeats, body and all, at R). Without one, or with one that is refused
// (its cookies are then deleted), the browser goes to the login page with
// return_to=R (302; 303 for a POST, which the login page takes as a GET).
// R is checked like every return_to (a refused one is a 400 that changes
// nothing); absent, the browser goes back to "/".
//
// A navigation that another site started (Sec-Fetch-Site: cross-site: a
// link in a mail) comes without the refresh cookie, which is SameSite=Strict
// and withheld from the whole redirect chain; it gets a page that loads the
// same URL again as a navigation of this origin, which carries the cookie
// (see bounce). That makes the refresh cookie, for this one GET, as
// available to a top-level navigation from another site as the Lax access
// cookie already is, and the site that started it gains as little: a
// rotation of the browser's own token, and a redirect to an allowed page.
//
// Why a refresh on a GET is safe: the refresh cookie is SameSite=Strict, so
// a navigation started by another site does not carry it, and another
// site's POST is refused by the cross-origin protection before it gets
// here. What a request that does carry it gets is a rotation of the
// browser's own refresh token: the new cookies go to that browser, are
// HttpOnly, and the answer is a redirect that shows nothing. Nothing is
// handed to whoever caused the navigation, and rotating is what the browser
// would have done anyway. It is never done for a request that is no
// navigation (Sec-Fetch-Mode other than navigate: a script's fetch, an
// image), which gets a 400 and changes nothing; a client without Fetch
// Metadata holds the cookie itself.
func (s *Server) handleRefreshRedirect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	target := ""
	if v, ok := q["return_to"]; ok {
		if len(v) > 1 {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "return_to given more than once")
			return
		}
		rt, err := s.returnTo.check(v[0])
		if err != nil {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, err.Error())
			return
		}
		target = rt
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && mode != "navigate" {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "only a browser navigation is refreshed here (POST /v1/refresh refreshes a script's session)")
		return
	}
	post := r.Method == http.MethodPost
	pick, _ := s.pickRefresh(r)
	if s.refusedAmbiguousRefresh(w, r, pick) {
		return
	}
	// A legacy refresh cookie goes, used or not (see handleRefresh).
	clearLegacy := func() {
		if pick.HasLegacy {
			httpauth.SessionCookies{}.ClearLegacy(w)
		}
	}
	rt := pick.Token
	if rt == "" && !post && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		// Followed from another site (a link in a mail, a search result):
		// the browser withholds the SameSite=Strict refresh cookie from
		// the whole redirect chain. A page of ours that loads this URL
		// again starts a same-origin navigation, which carries it.
		s.bounce(w, r)
		return
	}
	if rt == "" {
		clearLegacy()
		s.toLogin(w, target, post)
		return
	}
	t, err := s.mgr.Refresh(r.Context(), rt, s.meta(r, ""))
	if errors.Is(err, session.ErrInvalidToken) {
		// Only our two cookies: no Clear-Site-Data here, which behind a
		// proxy would wipe the application's own cookies of this origin.
		httpauth.ClearSessionCookies(w)
		s.toLogin(w, target, post)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	clearLegacy()
	httpauth.SetSessionCookies(w, t, s.now())
	if target == "" {
		target = "/"
	}
	// Location set by hand: http.Redirect would clean the path, query and
	// all, into another URL than the one checked.
	w.Header().Set("Location", target)
	if post {
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	w.WriteHeader(http.StatusFound)
}

// toLogin sends the browser to the login page, with return_to when there
// is one; a POST goes there as a GET (303).
func (s *Server) toLogin(w http.ResponseWriter, target string, post bool) {
	loc := loginPage
	if target != "" {
		loc += "?return_to=" + url.QueryEscape(target)
	}
	w.Header().Set("Location", loc)
	if post {
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusFound)
}

// bounce answers a cross-site navigation with a page that loads the same
// URL again at once (a meta refresh: no script, which the CSP forbids),
// now as a navigation of this origin, which carries the refresh cookie.
// Its Sec-Fetch-Site is then same-origin, so it is never bounced twice.
// The link is there for a browser that ignores the meta refresh.
func (s *Server) bounce(w http.ResponseWriter, r *http.Request) {
	u := html.EscapeString(r.URL.RequestURI())
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=%s"><title>Signing you in</title></head><body><p><a href="%s">Continue</a></p></body></html>
`, u, u)
}
