package httpauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// DefaultCookieName is the name SessionCookies gives its cookies when Name
// is empty: AccessCookie and RefreshCookie.
const DefaultCookieName = "sessiond"

// MaxCookieNameLen is the longest SessionCookies.Name.
const MaxCookieNameLen = 64

// ErrCookieName: a SessionCookies.Name or RefreshPath that cannot make a
// cookie (see SessionCookies.Validate).
var ErrCookieName = errors.New("httpauth: invalid cookie layout")

// SessionCookies writes and clears the cookies of cookie mode. The zero
// value is sessiond's layout (AccessCookie, and RefreshCookie scoped to
// /v1/refresh); an application that serves refresh elsewhere sets
// RefreshPath, and one that wants its own names sets Name. It holds no
// state and is safe for concurrent use.
//
// The names keep their prefixes, whatever Name is: the access cookie is
// "__Host-" + Name + "_at" (Secure, Path=/, no Domain: no sibling subdomain
// can plant or shadow it); the refresh cookie is "__Host-" + Name + "_rt"
// when RefreshPath is "/" and "__Secure-" + Name + "_rt" otherwise (a
// "__Host-" cookie must have Path=/).
//
// The tokens are only ever in HttpOnly cookies: never in a URL, in a body
// readable by script, in localStorage, or in a log.
type SessionCookies struct {
	// RefreshPath is the Path of the refresh cookie. Default DefaultRefreshPath.
	RefreshPath string
	// Name is the name between the prefix and the suffix: 1 to
	// MaxCookieNameLen letters, digits, '-' and '_', not starting with
	// '_' or '-'. Default DefaultCookieName.
	Name string
	// RefreshSameSite is the SameSite of the refresh cookie. Default (zero)
	// Strict; Web uses Lax, so that a visitor who follows a link from
	// another site to a page whose access cookie has expired is refreshed
	// rather than logged out (a cross-site POST still carries neither
	// cookie).
	RefreshSameSite http.SameSite
}

func (c SessionCookies) refreshPath() string {
	if c.RefreshPath == "" {
		return DefaultRefreshPath
	}
	return c.RefreshPath
}

func (c SessionCookies) name() string {
	if c.Name == "" {
		return DefaultCookieName
	}
	return c.Name
}

// AccessName is the name of the access cookie: "__Host-" + Name + "_at".
func (c SessionCookies) AccessName() string { return "__Host-" + c.name() + "_at" }

// RefreshName is the name of the refresh cookie: "__Host-" + Name + "_rt"
// if RefreshPath is "/", else "__Secure-" + Name + "_rt".
func (c SessionCookies) RefreshName() string {
	if c.refreshPath() == "/" {
		return "__Host-" + c.name() + "_rt"
	}
	return "__Secure-" + c.name() + "_rt"
}

// Validate reports whether c makes cookies a browser keeps: Name as its
// doc says, RefreshPath absolute and free of ';', spaces and control
// characters, RefreshSameSite zero, Lax or Strict (None would send the
// refresh token along with cross-site requests). The error wraps
// ErrCookieName.
func (c SessionCookies) Validate() error {
	n := c.name()
	if len(n) > MaxCookieNameLen {
		return fmt.Errorf("%w: name is %d bytes, the limit is %d", ErrCookieName, len(n), MaxCookieNameLen)
	}
	for i := 0; i < len(n); i++ {
		b := n[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || (i > 0 && (b == '-' || b == '_'))
		if !ok {
			return fmt.Errorf("%w: name %q: want letters, digits, '-' and '_', starting with a letter or digit (the prefix is added)", ErrCookieName, n)
		}
	}
	p := c.refreshPath()
	if p[0] != '/' || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == ';' || r == 0x7f }) {
		return fmt.Errorf("%w: refresh path %q: want an absolute path without ';', spaces or control characters", ErrCookieName, p)
	}
	switch c.RefreshSameSite {
	case 0, http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode:
	default:
		return fmt.Errorf("%w: the refresh cookie's SameSite must be Lax or Strict", ErrCookieName)
	}
	return nil
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

// SetBrowserSession is Set with browser-session cookies: neither has
// Max-Age or Expires, so the browser forgets both when it closes (a login
// the user did not ask to be remembered). The session still ends on the
// server at its own absolute expiry, and an access token at its exp.
func (c SessionCookies) SetBrowserSession(w http.ResponseWriter, t *session.Tokens) {
	http.SetCookie(w, c.access(t.AccessToken, 0))
	http.SetCookie(w, c.refresh(t.RefreshToken, 0))
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

// AccessToken returns the token of r's access cookie, or "" if there is
// none or more than one (see RefreshTokenCookie).
func (c SessionCookies) AccessToken(r *http.Request) string { return cookieValue(r, c.AccessName()) }

// RefreshToken returns the token of r's refresh cookie, or "" if there is
// none or more than one (see RefreshTokenCookie).
func (c SessionCookies) RefreshToken(r *http.Request) string { return cookieValue(r, c.RefreshName()) }

func (c SessionCookies) access(v string, age int) *http.Cookie {
	return &http.Cookie{Name: c.AccessName(), Value: v, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

func (c SessionCookies) refresh(v string, age int) *http.Cookie {
	same := c.RefreshSameSite
	if same != http.SameSiteLaxMode {
		same = http.SameSiteStrictMode
	}
	return &http.Cookie{Name: c.RefreshName(), Value: v, Path: c.refreshPath(), MaxAge: age,
		HttpOnly: true, Secure: true, SameSite: same}
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
