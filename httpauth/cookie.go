package httpauth

import (
	"context"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Cookie names of cookie mode. The prefixes are enforced by browsers
// (RFC 6265bis §4.1.3): a "__Host-" cookie must be Secure, have Path=/ and no
// Domain, so no sibling subdomain can plant or shadow it; a "__Secure-"
// cookie must be Secure.
const (
	// AccessCookie holds the access token: Path=/, HttpOnly, Secure,
	// SameSite=Lax, living exactly as long as the token.
	AccessCookie = "__Host-sessiond_at"
	// RefreshCookie holds the refresh token: Path=RefreshPath only,
	// HttpOnly, Secure, SameSite=Strict, living until the session's
	// absolute end.
	RefreshCookie = "__Secure-sessiond_rt"
	// DefaultRefreshPath is where sessiond serves refresh, the only path the
	// refresh cookie is sent to.
	DefaultRefreshPath = "/v1/refresh"
)

// SessionCookies writes and clears the cookies of cookie mode. The zero
// value is sessiond's layout (refresh cookie scoped to /v1/refresh); an
// application that serves refresh elsewhere sets RefreshPath. It holds no
// state and is safe for concurrent use.
//
// The tokens are only ever in HttpOnly cookies: never in a URL, in a body
// readable by script, in localStorage, or in a log.
type SessionCookies struct {
	// RefreshPath is the Path of the refresh cookie. Default DefaultRefreshPath.
	RefreshPath string
}

func (c SessionCookies) refreshPath() string {
	if c.RefreshPath == "" {
		return DefaultRefreshPath
	}
	return c.RefreshPath
}

// Set adds Set-Cookie headers for the access and refresh tokens of t; now
// is the clock the lifetimes are counted from.
func (c SessionCookies) Set(w http.ResponseWriter, t *session.Tokens, now time.Time) {
	http.SetCookie(w, c.access(t.AccessToken, maxAge(t.AccessExpiresAt.Sub(now))))
	end := t.AccessExpiresAt
	if t.Session != nil {
		end = t.Session.AbsExpiresAt
	}
	http.SetCookie(w, c.refresh(t.RefreshToken, maxAge(end.Sub(now))))
	// A response that sets a session cookie must never be stored by a cache.
	w.Header().Set("Cache-Control", "no-store")
}

// Clear adds Set-Cookie headers that delete both cookies (Max-Age=0, with
// the same name, path and flags, which a browser needs to match them).
func (c SessionCookies) Clear(w http.ResponseWriter) {
	http.SetCookie(w, c.access("", -1))
	http.SetCookie(w, c.refresh("", -1))
}

// ClearAccess deletes the access cookie only (its token is no longer
// good, but the refresh cookie may still get a new one).
func (c SessionCookies) ClearAccess(w http.ResponseWriter) {
	http.SetCookie(w, c.access("", -1))
}

func (c SessionCookies) access(v string, age int) *http.Cookie {
	return &http.Cookie{Name: AccessCookie, Value: v, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

func (c SessionCookies) refresh(v string, age int) *http.Cookie {
	return &http.Cookie{Name: RefreshCookie, Value: v, Path: c.refreshPath(), MaxAge: age,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

// maxAge is d in whole seconds, rounded down so a cookie never outlives its
// token, and at least 1 (net/http reads MaxAge 0 as "no Max-Age").
func maxAge(d time.Duration) int {
	s := int(d / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// SetSessionCookies writes the cookies of cookie mode for t in sessiond's
// layout (see SessionCookies).
func SetSessionCookies(w http.ResponseWriter, t *session.Tokens, now time.Time) {
	SessionCookies{}.Set(w, t, now)
}

// ClearSessionCookies deletes the cookies of cookie mode in sessiond's
// layout (see SessionCookies.Clear).
func ClearSessionCookies(w http.ResponseWriter) { SessionCookies{}.Clear(w) }

// AccessTokenCookie returns the access token of r's access cookie, or ""
// if there is none or more than one (see RefreshTokenCookie).
func AccessTokenCookie(r *http.Request) string { return cookieValue(r, AccessCookie) }

// RefreshTokenCookie returns the refresh token of r's refresh cookie, or ""
// if there is none or more than one. Our own layout never sets two; a
// second one was planted, e.g. by a sibling subdomain (a "__Secure-" cookie
// may carry a Domain), and the request cannot tell which is ours: picking
// either could log the browser into the planter's session. Callers that
// want to say why use RefreshCookieAmbiguous.
func RefreshTokenCookie(r *http.Request) string { return cookieValue(r, RefreshCookie) }

// RefreshCookieAmbiguous reports whether r carries more than one refresh
// cookie, which RefreshTokenCookie refuses to choose between.
func RefreshCookieAmbiguous(r *http.Request) bool { return len(r.CookiesNamed(RefreshCookie)) > 1 }

func cookieValue(r *http.Request, name string) string {
	cs := r.CookiesNamed(name)
	if len(cs) != 1 {
		return ""
	}
	return cs[0].Value
}

type viaCookieKey struct{}

// ViaCookie reports whether the request whose context this is was
// authenticated by the access cookie (cookie mode) rather than an
// Authorization header.
func ViaCookie(ctx context.Context) bool {
	v, _ := ctx.Value(viaCookieKey{}).(bool)
	return v
}

func withViaCookie(ctx context.Context) context.Context {
	return context.WithValue(ctx, viaCookieKey{}, true)
}
