package httpauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
)

type ctxKey struct{}

// FromContext returns the identity Authenticate put in the request context.
func FromContext(ctx context.Context) (*session.Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*session.Identity)
	return id, ok
}

// WithIdentity returns a context carrying id, as Authenticate does.
func WithIdentity(ctx context.Context, id *session.Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// Auth is the middleware that protects an application's handlers. Set the
// fields before serving; they must not change afterwards. Only Manager is
// required.
type Auth struct {
	// Manager verifies access tokens (no store read per request).
	Manager *session.Manager
	// Limiter, when set, limits requests per session to SessionLimit.
	Limiter ratelimit.Limiter
	// SessionLimit is the per-session request limit (used with Limiter).
	SessionLimit ratelimit.Limit
	// Audit receives throttling events; nil falls back to the Manager's.
	Audit *audit.Logger
	// Logger receives operational errors (a failing limiter); nil uses slog.Default.
	Logger *slog.Logger
	// CSRF checks the X-CSRF-Token of unsafe requests authenticated by the
	// access cookie (cookie mode). Nil refuses every such request: a
	// cookie-authenticated POST is never let through unchecked.
	CSRF *CSRF
	// Cookies is the cookie layout; the zero value is sessiond's. The
	// access cookie is read under its name (SessionCookies.AccessName). A
	// revoked session's cookies are cleared on the 401.
	Cookies SessionCookies
}

// New returns an Auth for m with no rate limit.
func New(m *session.Manager) *Auth { return &Auth{Manager: m} }

// BearerToken returns the token of an "Authorization: Bearer" header, or
// "" if there is none. A malformed header is reported as ok=false.
func BearerToken(r *http.Request) (tok string, ok bool) {
	h := r.Header.Values("Authorization")
	switch len(h) {
	case 0:
		return "", true
	case 1:
	default:
		return "", false
	}
	scheme, rest, found := strings.Cut(h[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.ContainsAny(rest, " \t,") {
		return "", false
	}
	return rest, true
}

// Authenticate verifies the request's bearer token, or else its access
// cookie (cookie mode), if there is one, and puts the identity in the
// context. An unsafe request (not GET, HEAD or OPTIONS) authenticated by
// cookie must also pass the CSRF token check, or gets 403. A request without a token passes
// through unauthenticated (combine with Require); a bad token is refused
// with 401 at once.
func (a *Auth) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := BearerToken(r)
		if !ok {
			WriteError(w, http.StatusUnauthorized, CodeInvalidToken, "malformed Authorization header")
			return
		}
		viaCookie := false
		if tok == "" {
			// Cookie mode: only when there is no Authorization header, so a
			// bearer client is never judged by a stray cookie.
			tok = a.Cookies.AccessToken(r)
			viaCookie = tok != ""
		}
		if tok == "" {
			next.ServeHTTP(w, r)
			return
		}
		id, err := a.Manager.Verify(r.Context(), tok)
		if err != nil {
			if viaCookie {
				if errors.Is(err, session.ErrRevoked) {
					a.Cookies.Clear(w)
				} else {
					a.Cookies.ClearAccess(w)
				}
			}
			WriteError(w, http.StatusUnauthorized, CodeInvalidToken, describe(err))
			return
		}
		ctx := WithIdentity(r.Context(), id)
		if viaCookie {
			if !SafeMethod(r.Method) && !a.checkCSRF(w, r, id) {
				return
			}
			ctx = withViaCookie(ctx)
		}
		if !a.allow(w, r, id) {
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Require refuses with 401 a request that Authenticate did not identify.
func (a *Auth) Require(next http.Handler) http.Handler {
	return a.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); !ok {
			WriteError(w, http.StatusUnauthorized, CodeUnauthorized, "an access token is required")
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// checkCSRF applies the session-bound token rule to an unsafe request
// authenticated by cookie; it writes the 403 and the audit event itself.
func (a *Auth) checkCSRF(w http.ResponseWriter, r *http.Request, id *session.Identity) bool {
	c := a.CSRF
	if c == nil {
		c = &CSRF{}
	}
	err := c.Check(r, id.SessionID)
	if err == nil {
		return true
	}
	a.auditLog().Log(r.Context(), audit.Event{Kind: audit.CSRFRejected, SessionID: id.SessionID, UserID: id.UserID,
		UserAgent: r.UserAgent(), Reason: csrfReason(err)})
	WriteError(w, http.StatusForbidden, CodeCSRFFailed, c.description())
	return false
}

// allow applies the per-session rate limit; it writes the refusal itself.
func (a *Auth) allow(w http.ResponseWriter, r *http.Request, id *session.Identity) bool {
	if a.Limiter == nil || a.SessionLimit.Rate == 0 {
		return true
	}
	d, err := a.Limiter.Allow(r.Context(), "session:"+id.SessionID, a.SessionLimit)
	if err != nil {
		// Fail closed: a limiter we cannot reach must not let floods through.
		a.logger().ErrorContext(r.Context(), "rate limiter failed", "err", err)
		WriteError(w, http.StatusServiceUnavailable, CodeUnavailable, "rate limiter unavailable")
		return false
	}
	if !d.Allowed {
		a.auditLog().Log(r.Context(), audit.Event{Kind: audit.Throttled, SessionID: id.SessionID, UserID: id.UserID, Reason: "session request rate"})
		WriteRetryAfter(w, d.RetryAfter, "too many requests for this session")
		return false
	}
	return true
}

func (a *Auth) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Auth) auditLog() *audit.Logger {
	if a.Audit != nil {
		return a.Audit
	}
	return a.Manager.Audit()
}

// describe turns a verification error into a short description for the
// client: enough to debug, nothing an attacker can use.
func describe(err error) string {
	switch {
	case errors.Is(err, session.ErrRevoked):
		return "the session was revoked"
	case errors.Is(err, session.ErrReused):
		return "refresh token reuse detected; the session was revoked"
	case errors.Is(err, session.ErrExpired):
		return "the session expired"
	case errors.Is(err, session.ErrNotFound):
		return "the session does not exist or has ended"
	}
	return "the token is invalid or expired"
}

// Describe is the client-facing description of a session or token error.
func Describe(err error) string { return describe(err) }
