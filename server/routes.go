package server

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiond/sessiond/httpauth"
)

// routes is the whole HTTP contract that this build serves; openapi.json
// describes every route (the contract test holds them to it).
func (s *Server) routes() http.Handler {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	auth := s.auth.Require
	// browser registers a route that pages of the CORS origins may call
	// too; every other route stays closed to them.
	s.corsPolicy.mux = mux.ServeMux
	browser := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		s.corsPolicy.routes[pattern] = true
	}

	browser("POST /v1/signup", http.HandlerFunc(s.handleSignup))
	browser("POST /v1/login", http.HandlerFunc(s.handleLogin))
	browser("POST /v1/refresh", http.HandlerFunc(s.handleRefresh))
	browser("POST /v1/password/forgot", http.HandlerFunc(s.handleForgotPassword))
	browser("POST /v1/password/reset", http.HandlerFunc(s.handleResetPassword))
	browser("POST /v1/logout", auth(http.HandlerFunc(s.handleLogout)))
	browser("GET /v1/session", auth(http.HandlerFunc(s.handleSession)))
	browser("GET /v1/sessions", auth(http.HandlerFunc(s.handleSessions)))
	browser("DELETE /v1/sessions/{id}", auth(http.HandlerFunc(s.handleDeleteSession)))
	browser("GET /v1/csrf", auth(http.HandlerFunc(s.handleCSRF)))
	browser("POST /v1/reauth", auth(http.HandlerFunc(s.handleReauth)))
	browser("POST /v1/password", auth(http.HandlerFunc(s.handlePassword)))
	browser("DELETE /v1/account", auth(http.HandlerFunc(s.handleDeleteAccount)))
	// Forward-auth is not behind auth (Require): it answers refusals its
	// own way, and the per-session rate limit must not count it.
	mux.HandleFunc("GET /v1/forward-auth", s.handleForwardAuth)
	mux.HandleFunc("GET "+RefreshRedirectPath, s.handleRefreshRedirect)
	mux.HandleFunc("POST "+RefreshRedirectPath, s.handleRefreshRedirect)
	// Service clients' routes (client credentials) and the admin API.
	mux.HandleFunc("POST /v1/introspect", s.handleIntrospect)
	mux.HandleFunc("POST /v1/revoke", s.handleRevoke)
	mux.HandleFunc("POST /v1/sessions", s.handleMint)
	mux.HandleFunc("GET /v1/users/{id}/sessions", s.handleClientUserSessions)
	mux.HandleFunc("DELETE /v1/users/{id}/sessions", s.handleClientRevokeUser)
	mux.HandleFunc("PUT /v1/users/{id}/claims", s.handleClientSetClaims)
	mux.Handle("GET /admin/v1/users", s.adminOnly(s.handleAdminUsers))
	mux.Handle("DELETE /admin/v1/users/{id}", s.adminOnly(s.handleAdminDeleteUser))
	mux.Handle("GET /admin/v1/users/{id}/sessions", s.adminOnly(s.handleAdminUserSessions))
	mux.Handle("DELETE /admin/v1/users/{id}/sessions", s.adminOnly(s.handleAdminRevokeUser))
	mux.Handle("PUT /admin/v1/users/{id}/claims", s.adminOnly(s.handleAdminSetClaims))
	mux.Handle("DELETE /admin/v1/sessions/{id}", s.adminOnly(s.handleAdminRevokeSession))
	mux.Handle("GET /admin/v1/keys", s.adminOnly(s.handleAdminKeys))
	mux.Handle("POST /admin/v1/keys/rotate", s.adminOnly(s.handleAdminRotateKeys))
	s.routeUI(mux)
	browser("GET "+jwksPath, http.HandlerFunc(s.handleJWKS))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleAuthServerMetadata)
	mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.patterns = slices.Clone(mux.patterns)
	return securityHeaders(s.countRequests(mux.ServeMux, s.cors(s.crossOrigin(jsonMethodErrors(mux.ServeMux)))))
}

// routeMux is the server's ServeMux, remembering every pattern registered
// on it: the contract test derives the list of routes from it, so a route
// missing from openapi.json fails that test.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern and remembers the pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h for pattern and remembers the pattern.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// countRequests counts requests by route pattern (never the raw path, whose
// ids would make the label set unbounded) and status code.
func (s *Server) countRequests(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.metrics.httpReqs.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// securityHeaders sets the headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		hsts(w, r)
		next.ServeHTTP(w, r)
	})
}

// jsonMethodErrors turns the mux's plain-text 404 and 405 into the JSON
// error every other answer uses, keeping the Allow header of a 405.
func jsonMethodErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "" {
			// No pattern matched: the mux answers 404, or 405 when the
			// path exists with another method.
			rec := &statusSniffer{ResponseWriter: w}
			h.ServeHTTP(rec, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// statusSniffer rewrites the mux's plain-text 404 or 405 into JSON.
type statusSniffer struct {
	http.ResponseWriter
	swallow bool
}

func (s *statusSniffer) WriteHeader(code int) {
	switch code {
	case http.StatusMethodNotAllowed:
		s.swallow = true
		httpauth.WriteError(s.ResponseWriter, code, httpauth.CodeMethodNotAllowed, "method not allowed on this path")
		return
	case http.StatusNotFound:
		s.swallow = true
		httpauth.WriteError(s.ResponseWriter, code, httpauth.CodeNotFound, "no such endpoint")
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusSniffer) Write(b []byte) (int, error) {
	if s.swallow {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}
