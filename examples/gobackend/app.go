package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// config is what the application needs to know.
type config struct {
	Users        *users
	SessiondURL  string // sessiond's base URL
	ClientID     string // this backend's id in sessiond's --clients file
	ClientSecret string
	Issuer       string // sessiond's --issuer
	Audience     string // sessiond's --audience
	// SessionLifetime is how long the refresh cookie lives: sessiond's
	// --absolute-timeout. Default 7 days.
	SessionLifetime time.Duration
	// JWKSRefresh is how often the JWKS is fetched again: sessiond's
	// --jwks-max-age. Default 5 minutes.
	JWKSRefresh time.Duration
	// HTTPClient calls sessiond; nil uses one with a 10 s timeout.
	HTTPClient *http.Client
	// Log receives errors; nil uses slog.Default.
	Log *slog.Logger
}

// app is the application: an http.Handler.
type app struct {
	cfg      config
	sessiond *sessiondClient
	verify   *verifier
	cookies  httpauth.SessionCookies
	log      *slog.Logger
	handler  http.Handler
}

// newApp builds the application; ctx ends the JWKS's background refresh.
func newApp(ctx context.Context, cfg config) (*app, error) {
	if cfg.Users == nil || cfg.SessiondURL == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("config: Users, SessiondURL, ClientID, ClientSecret, Issuer and Audience are required")
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 7 * 24 * time.Hour
	}
	if cfg.JWKSRefresh == 0 {
		cfg.JWKSRefresh = 5 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	a := &app{
		cfg:      cfg,
		sessiond: &sessiondClient{base: cfg.SessiondURL, clientID: cfg.ClientID, clientSecret: cfg.ClientSecret, http: cfg.HTTPClient},
		// The refresh cookie goes to every path: any request may refresh.
		cookies: httpauth.SessionCookies{RefreshPath: "/"},
		log:     cfg.Log,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	var err error
	a.verify, err = newVerifier(ctx, a.sessiond.jwksURL(), cfg.HTTPClient, cfg.JWKSRefresh, cfg.Issuer, cfg.Audience, cfg.ClientID, []string{"role", "tenant"})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("GET /me", requireUser(http.HandlerFunc(a.me)))
	mux.Handle("GET /admin", requireUser(requireRole("admin", http.HandlerFunc(a.admin))))
	mux.Handle("GET /sessions", requireUser(http.HandlerFunc(a.devices)))
	mux.HandleFunc("POST /logout", a.logout)
	mux.Handle("POST /logout/everywhere", requireUser(http.HandlerFunc(a.logoutEverywhere)))
	// Cross-origin unsafe requests are refused (Sec-Fetch-Site, Origin):
	// no other site can log a visitor in, out or out everywhere.
	a.handler = http.NewCrossOriginProtection().Handler(a.session(mux))
	return a, nil
}

// ServeHTTP serves the application.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	a.handler.ServeHTTP(w, r)
}

// accessTokenKey is the context key of the request's access token.
type accessTokenKey struct{}

// accessToken is the request's access token as session verified it (after
// a refresh, the new one), or "".
func accessToken(ctx context.Context) string {
	s, _ := ctx.Value(accessTokenKey{}).(string)
	return s
}

// session verifies the access cookie locally and puts the identity in the
// context (httpauth.WithIdentity). When the token is missing, expired or
// bad and a refresh cookie is there, it refreshes the session first and
// sets the new cookies. Two requests refreshing the same token at once
// get the same new tokens: sessiond answers a replay within its grace
// window with the same child.
func (a *app) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		access := a.cookies.AccessToken(r)
		if access != "" {
			if id, err := a.verify.verify(access); err == nil {
				next.ServeHTTP(w, a.with(r, id, access))
				return
			}
		}
		refresh := a.cookies.RefreshToken(r)
		if refresh == "" {
			if access != "" {
				a.cookies.ClearAccess(w)
			}
			next.ServeHTTP(w, r)
			return
		}
		t, err := a.sessiond.refresh(r.Context(), refresh)
		switch {
		case refused(err, http.StatusUnauthorized):
			// The session ended (logout, log out everywhere, a timeout, or
			// a reused refresh token): the user must log in again.
			a.cookies.Clear(w)
			next.ServeHTTP(w, r)
			return
		case err != nil:
			a.fail(w, r, err)
			return
		}
		id, err := a.verify.verify(t.AccessToken)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.setCookies(w, t)
		next.ServeHTTP(w, a.with(r, id, t.AccessToken))
	})
}

// with is r with the identity and the access token in its context.
func (a *app) with(r *http.Request, id *session.Identity, access string) *http.Request {
	ctx := httpauth.WithIdentity(r.Context(), id)
	return r.WithContext(context.WithValue(ctx, accessTokenKey{}, access))
}

// setCookies keeps sessiond's tokens in httpauth's cookies: the access
// cookie as long as its token, the refresh cookie until the session's
// absolute end.
func (a *app) setCookies(w http.ResponseWriter, t *tokenResponse) {
	now := time.Now()
	a.cookies.Set(w, &session.Tokens{
		AccessToken:     t.AccessToken,
		AccessExpiresAt: now.Add(time.Duration(t.ExpiresIn) * time.Second),
		RefreshToken:    t.RefreshToken,
		Session:         &session.Session{ID: t.SessionID, AbsExpiresAt: now.Add(a.cfg.SessionLifetime)},
	}, now)
}

// requireUser answers 401 to a request without a session.
func requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := httpauth.FromContext(r.Context()); !ok {
			httpauth.WriteError(w, http.StatusUnauthorized, "login_required", "log in first")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireRole answers 403 unless the session's role claim is role.
func requireRole(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		if got, _ := id.StringClaim("role"); got != role {
			httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeForbidden, "only the role "+role+" may see this")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fail answers an error: sessiond down or failing is 503, never a login.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	if unavailable(err) {
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "the session service is unavailable; try again")
		return
	}
	httpauth.WriteError(w, http.StatusInternalServerError, httpauth.CodeServerError, "internal error")
}

// writeJSON writes v as the JSON body of a 200.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// login checks the user's password itself, then has sessiond start a
// session carrying the user's role (and tenant).
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		httpauth.WriteError(w, http.StatusUnsupportedMediaType, httpauth.CodeUnsupportedMedia, "send application/json")
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "want {\"username\", \"password\"}")
		return
	}
	u, err := a.cfg.Users.authenticate(req.Username, req.Password)
	if err != nil {
		httpauth.WriteError(w, http.StatusUnauthorized, "invalid_credentials", err.Error())
		return
	}
	if old := accessToken(r.Context()); old != "" {
		// These cookies are about to be replaced: end the session they held.
		if _, err := a.sessiond.logout(r.Context(), old); err != nil && !refused(err, http.StatusUnauthorized) {
			a.log.WarnContext(r.Context(), "could not end the replaced session", "err", err)
		}
	}
	claims := map[string]string{"role": u.Role}
	if u.Tenant != "" {
		claims["tenant"] = u.Tenant
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	t, err := a.sessiond.mint(r.Context(), mintRequest{
		UserID: u.ID, Claims: claims, AuthMethod: "password", AMR: []string{"pwd"}, IP: ip, UserAgent: r.UserAgent(),
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Check the new token as every request will (an --issuer or
	// --audience that does not match sessiond's fails here, not later).
	if _, err := a.verify.verify(t.AccessToken); err != nil {
		a.fail(w, r, err)
		return
	}
	a.setCookies(w, t)
	writeJSON(w, map[string]string{"user_id": u.ID, "role": u.Role, "session_id": t.SessionID})
}

// me is who the session says the user is.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	role, _ := id.StringClaim("role")
	tenant, _ := id.StringClaim("tenant")
	writeJSON(w, map[string]any{"user_id": id.UserID, "role": role, "tenant": tenant, "session_id": id.SessionID, "expires_at": id.ExpiresAt.Unix()})
}

// admin is for the role admin only (requireRole).
func (a *app) admin(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	writeJSON(w, map[string]string{"message": "hello " + id.UserID + ", you are an admin"})
}

// devices is the user's sessions, as sessiond lists them to the user.
func (a *app) devices(w http.ResponseWriter, r *http.Request) {
	list, err := a.sessiond.sessions(r.Context(), accessToken(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, list)
}

// logout ends this session and deletes the cookies.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	n := 0
	if tok := accessToken(r.Context()); tok != "" {
		var err error
		// 401: the session had already ended; anything else is an outage.
		if n, err = a.sessiond.logout(r.Context(), tok); err != nil && !refused(err, http.StatusUnauthorized) {
			a.fail(w, r, err)
			return
		}
	}
	a.cookies.Clear(w)
	writeJSON(w, map[string]int{"revoked": n})
}

// logoutEverywhere ends every session of the user, with this backend's
// client credentials.
func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	n, err := a.sessiond.endEverywhere(r.Context(), id.UserID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.cookies.Clear(w)
	writeJSON(w, map[string]int{"revoked": n})
}
