package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
)

// SessionModeHeader selects cookie mode on login and refresh when its value
// is "cookie": the tokens go into HttpOnly cookies instead of the body.
const SessionModeHeader = "X-Session-Mode"

// cookieMode reports whether the client asked for cookie mode.
func cookieMode(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get(SessionModeHeader)), "cookie")
}

// cookieTokenResponse is the body of login and refresh in cookie mode: no
// token, only what the page needs.
type cookieTokenResponse struct {
	ExpiresIn int64  `json:"expires_in"`
	SessionID string `json:"session_id"`
	CSRFToken string `json:"csrf_token"`
}

// initBrowser sets up what browsers need: the session-bound CSRF token rule
// (its key derived from the master key), the cross-origin protection
// with the configured trusted origins, and the CORS origins.
func (s *Server) initBrowser(cfg Config) error {
	s.csrf = &httpauth.CSRF{Key: s.node.DeriveKey("csrf")}
	s.auth.CSRF = s.csrf
	s.cop = http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("%w: trusted origin: %w", node.ErrConfig, err)
		}
	}
	p, err := newCORSPolicy(cfg.CORSOrigins)
	if err != nil {
		return fmt.Errorf("%w: %w", node.ErrConfig, err)
	}
	s.corsPolicy = p
	return nil
}

// crossOrigin is the first CSRF layer, on every unsafe method whatever the
// mode: net/http's CrossOriginProtection (Sec-Fetch-Site, else Origin
// against Host). A refusal is answered 403 in JSON and audited with its
// reason. Requests without either header (curl, servers) pass: they are not
// browsers, and carry no ambient cookies an attacker could ride. A CORS
// origin (Config.CORSOrigins) passes like a trusted origin: its pages call
// the API on purpose; a request of theirs authenticated by the access
// cookie still needs the CSRF token (the second layer, in httpauth).
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.cop.Check(r); err != nil && !s.corsListed(r) {
			reason := "cross_origin"
			if r.Header.Get("Sec-Fetch-Site") != "" {
				reason += ": Sec-Fetch-Site " + r.Header.Get("Sec-Fetch-Site")
			} else {
				reason += ": Origin"
			}
			s.audit.Log(r.Context(), audit.Event{Kind: audit.CSRFRejected, IP: s.clientIP.Of(r), UserAgent: r.UserAgent(), Reason: reason})
			httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeCSRFFailed, "cross-origin request refused")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeCookieTokens answers a login or refresh in cookie mode.
func (s *Server) writeCookieTokens(w http.ResponseWriter, t *session.Tokens) {
	now := s.now()
	httpauth.SetSessionCookies(w, t, now)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, cookieTokenResponse{
		ExpiresIn: int64(t.AccessExpiresAt.Sub(now).Round(time.Second) / time.Second),
		SessionID: t.Session.ID,
		CSRFToken: s.csrf.Token(t.Session.ID),
	})
}

// clearCookies ends cookie mode in this browser: both cookies (and the
// refresh cookie of earlier versions, see httpauth.LegacyRefreshCookie)
// deleted, and
// Clear-Site-Data so the browser drops any copy it holds (all cookies of
// the site: sessiond is meant to have its own origin). Not for a page of a
// CORS origin: that origin is on the same site as sessiond (cookie mode
// works nowhere else), and browsers apply Clear-Site-Data to every cookie
// of the registrable domain, which would log the user out of the
// application's own cookies too.
func (s *Server) clearCookies(w http.ResponseWriter, r *http.Request) {
	httpauth.ClearSessionCookies(w)
	if !s.corsListed(r) {
		w.Header().Set("Clear-Site-Data", `"cookies"`)
	}
}

// pickRefresh chooses the refresh cookie r may refresh with
// (httpauth.SessionCookies.PickRefresh), pinned to the session of r's
// access cookie when that is valid (pinned is then true). Verify reads no
// store: the signature, its cache and the in-memory revocations.
func (s *Server) pickRefresh(r *http.Request) (pick httpauth.RefreshPick, pinned bool) {
	sid := ""
	if at := httpauth.AccessTokenCookie(r); at != "" {
		if id, err := s.mgr.Verify(r.Context(), at); err == nil {
			sid = id.SessionID
		}
	}
	return httpauth.SessionCookies{}.PickRefresh(r, sid), sid != ""
}

// corsListed reports whether r comes from a page of a CORS origin.
func (s *Server) corsListed(r *http.Request) bool {
	_, ok := s.corsPolicy.match(r.Header.Get("Origin"))
	return ok
}

// handleCSRF hands out the CSRF token of the caller's session. A browser
// request from another origin is refused even though GET is safe, unless
// it comes from a CORS origin (whose pages need the token for cookie mode):
// CORS and Cross-Origin-Resource-Policy already keep the answer from any
// other page, and this keeps it so should either ever be loosened.
func (s *Server) handleCSRF(w http.ResponseWriter, r *http.Request) {
	switch site := r.Header.Get("Sec-Fetch-Site"); {
	case site == "", site == "same-origin", site == "none", s.corsListed(r):
	default:
		s.audit.Log(r.Context(), audit.Event{Kind: audit.CSRFRejected, IP: s.clientIP.Of(r), UserAgent: r.UserAgent(),
			Reason: "cross_origin: csrf token requested from Sec-Fetch-Site " + site})
		httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeCSRFFailed, "the CSRF token is only handed to pages of this origin and of the CORS origins")
		return
	}
	id, _ := httpauth.FromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"csrf_token": s.csrf.Token(id.SessionID)})
}
