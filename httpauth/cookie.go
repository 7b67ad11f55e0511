package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// Cookie names of cookie mode. The prefixes are enforced by browsers
// (RFC 6265bis §4.1.3): a "__Host-" cookie must be Secure, have Path=/ and no
// Domain, so no sibling subdomain can plant or shadow it; a "__Secure-"
// cookie must be Secure, but may carry a Domain: a page on a sibling
// subdomain (evil.example.com beside auth.example.com) can set one with
// Domain=example.com, which the browser then sends to sessiond as well.
// That is why both of sessiond's cookies are "__Host-" cookies.
const (
	// AccessCookie holds the access token: Path=/, HttpOnly, Secure,
	// SameSite=Lax, living exactly as long as the token.
	AccessCookie = "__Host-sessiond_at"
	// RefreshCookie holds the refresh token: Path=/, HttpOnly, Secure,
	// SameSite=Strict, living until the session's absolute end. Only
	// sessiond's own host can set it (see PickRefresh).
	RefreshCookie = "__Host-sessiond_rt"
	// DefaultRefreshPath is the Path of the refresh cookie when
	// SessionCookies.RefreshPath is empty: "/", which the "__Host-"
	// prefix requires.
	DefaultRefreshPath = "/"
	// LegacyRefreshCookie is the refresh cookie of earlier versions,
	// "__Secure-" and scoped to LegacyRefreshPath, which a sibling
	// subdomain could plant. It is read only when it names the session of
	// the request's own valid access cookie (see PickRefresh), and deleted
	// with the session's cookies (SessionCookies.Clear).
	LegacyRefreshCookie = "__Secure-sessiond_rt"
	// LegacyRefreshPath is the Path of LegacyRefreshCookie.
	LegacyRefreshPath = "/v1/refresh"
)

// DefaultCookieName is the name SessionCookies gives its cookies when Name
// is empty: AccessCookie and RefreshCookie.
const DefaultCookieName = "sessiond"

// MaxCookieNameLen is the longest SessionCookies.Name.
const MaxCookieNameLen = 64

// ErrCookieName: a SessionCookies.Name or RefreshPath that cannot make a
// cookie (see SessionCookies.Validate).
var ErrCookieName = errors.New("httpauth: invalid cookie layout")

// SessionCookies writes, reads and clears the cookies of cookie mode. The
// zero value is sessiond's layout (AccessCookie and RefreshCookie, both at
// Path=/); one that wants its own names sets Name. It holds no state and is
// safe for concurrent use.
//
// The names keep their prefixes, whatever Name is: the access cookie is
// "__Host-" + Name + "_at" (Secure, Path=/, no Domain: no sibling subdomain
// can plant or shadow it); the refresh cookie is "__Host-" + Name + "_rt"
// when RefreshPath is "/" (the default) and "__Secure-" + Name + "_rt"
// otherwise (a "__Host-" cookie must have Path=/).
//
// The tokens are only ever in HttpOnly cookies: never in a URL, in a body
// readable by script, in localStorage, or in a log.
type SessionCookies struct {
	// RefreshPath is the Path of the refresh cookie. Default
	// DefaultRefreshPath ("/"), which makes it a "__Host-" cookie. Any
	// other path makes it a "__Secure-" cookie, which a page on a sibling
	// subdomain can plant with a Domain attribute: a visitor who has no
	// access cookie would then be refreshed into the planter's session
	// (see PickRefresh). Set it only when every host of the registrable
	// domain is trusted.
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

// legacyName is the name of the refresh cookie this layout had before the
// default RefreshPath became "/" ("__Secure-" + Name + "_rt" at
// LegacyRefreshPath), "" when the layout names its RefreshPath (it had no
// other).
func (c SessionCookies) legacyName() string {
	if c.RefreshPath != "" {
		return ""
	}
	return "__Secure-" + c.name() + "_rt"
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
// the same name, path and flags, which a browser needs to match them), and
// for the default layout the legacy refresh cookie too (ClearLegacy), so
// that a leftover of an earlier version goes with them.
func (c SessionCookies) Clear(w http.ResponseWriter) {
	http.SetCookie(w, c.access("", -1))
	http.SetCookie(w, c.refresh("", -1))
	c.ClearLegacy(w)
}

// ClearLegacy deletes the refresh cookie of earlier versions of the
// default layout ("__Secure-" + Name + "_rt" at LegacyRefreshPath; see
// LegacyRefreshCookie); it does nothing for a layout that names its
// RefreshPath. Only the browser's own host-only cookie is deleted: one
// planted with a Domain attribute is out of this host's reach, and is
// ignored (see PickRefresh).
func (c SessionCookies) ClearLegacy(w http.ResponseWriter) {
	if n := c.legacyName(); n != "" {
		http.SetCookie(w, &http.Cookie{Name: n, Value: "", Path: LegacyRefreshPath, MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	}
}

// ClearAccess deletes the access cookie only (its token is no longer
// good, but the refresh cookie may still get a new one).
func (c SessionCookies) ClearAccess(w http.ResponseWriter) {
	http.SetCookie(w, c.access("", -1))
}

// AccessToken returns the token of r's access cookie, or "" if there is
// none or more than one.
func (c SessionCookies) AccessToken(r *http.Request) string { return cookieValue(r, c.AccessName()) }

// RefreshToken returns the token PickRefresh picks for a request whose
// access cookie is not valid: the refresh cookie's, or "" if there is none
// or they name more than one session.
func (c SessionCookies) RefreshToken(r *http.Request) string { return c.PickRefresh(r, "").Token }

// MaxRefreshCandidates is how many cookies of each refresh cookie name
// PickRefresh looks at; the rest are ignored. A browser sends at most one
// "__Host-" cookie of a name (host-only, Path=/: one slot in its jar), and
// each further copy of a "__Secure-" one was planted.
const MaxRefreshCandidates = 4

// RefreshPick is the refresh token PickRefresh chose among a request's
// cookies, and what it saw.
type RefreshPick struct {
	// Token is the refresh token to present, "" if none was chosen.
	Token string
	// Legacy reports that Token is the legacy refresh cookie's
	// (LegacyRefreshCookie): once it is rotated, the new cookies replace it
	// and ClearLegacy deletes it.
	Legacy bool
	// HasLegacy reports that the request carries a legacy refresh cookie,
	// used or not: delete it (ClearLegacy).
	HasLegacy bool
	// Ambiguous reports that the refresh cookies name more than one
	// session and no access cookie says which is this browser's: none was
	// chosen (Token is "").
	Ambiguous bool
}

// PickRefresh chooses the one refresh token of r's cookies that a refresh
// may present to the store. sessionID is the session of r's own access
// cookie when that cookie is valid (Manager.Verify), else "". Refresh
// tokens name their session (token.ParseRefreshToken reads it without a
// key), so the choice needs no store read, and at most one token is ever
// presented.
//
// Why it is safe. A refresh cookie planted by another host is the attack:
// a page on a sibling subdomain sets one holding a valid refresh token of
// the attacker's own session, so that the browser, refreshing, is logged
// into the attacker's account (login CSRF: what the victim then types is
// the attacker's to read), or, when sessiond refused every request with two
// refresh cookies, so that a logged-in victim is locked out for as long as
// the planted cookie lives (up to 400 days). Two properties must hold:
//
//  1. A visitor with no session of their own is never logged in through a
//     planted cookie. With the default layout the refresh cookie is
//     "__Host-": the browser refuses a cookie of that name carrying a
//     Domain, so no other host can set it at all. The legacy
//     "__Secure-" cookie, which any sibling can plant, is used only when
//     it names the session of a valid access cookie, itself "__Host-" and
//     so this host's: a visitor with no session has none, and a planted
//     legacy cookie is never used for them.
//  2. A victim with a live session keeps it. Refresh cookies of any other
//     name are ignored, so a planted "__Secure-" one (or a "__HOST-" one
//     spelt in another case, which Go does not take for ours) changes
//     nothing; when the access cookie is valid, only a token naming its
//     session is chosen, so a planted token cannot take over, and nothing
//     is refused because of it. Only one token is ever presented to the
//     store: a planted token of another session is never tried against
//     the store, and neither is a second copy of the victim's own, which,
//     if stale, the store would take for a stolen token and revoke the
//     session (theft detection). A cookie of the right name that does not
//     even parse as a refresh token is skipped.
//
// Without a valid access cookie, the refresh cookies of the right name
// decide: the one of their only session (the first, if a non-browser
// client sent copies), or, when they name several sessions, none
// (Ambiguous): guessing could log the browser into the planter's session.
// A browser never sends two "__Host-" cookies of one name, so with the
// default layout that takes a client sessiond's own host does not serve;
// with a RefreshPath other than "/" the refresh cookie is "__Secure-", and
// a planted one can still reach a visitor without a session (see
// RefreshPath). When no cookie of the right name parses, the first one's
// value is returned all the same, so that the refresh refuses it and its
// cookies are deleted.
func (c SessionCookies) PickRefresh(r *http.Request, sessionID string) RefreshPick {
	var p RefreshPick
	cur := refreshCandidates(r, c.RefreshName())
	var legacy []refreshCandidate
	if n := c.legacyName(); n != "" {
		legacy = refreshCandidates(r, n)
		p.HasLegacy = len(r.CookiesNamed(n)) > 0
	}
	if sessionID != "" {
		for _, k := range cur {
			if k.sid == sessionID {
				p.Token = k.token
				return p
			}
		}
		for _, k := range legacy {
			if k.sid == sessionID {
				p.Token, p.Legacy = k.token, true
				return p
			}
		}
		return p
	}
	var sid string
	for _, k := range cur {
		switch {
		case k.sid == "":
		case sid == "":
			sid, p.Token = k.sid, k.token
		case k.sid != sid:
			p.Token, p.Ambiguous = "", true
			return p
		}
	}
	if p.Token == "" && len(cur) > 0 {
		p.Token = cur[0].token // none parses: let the refresh refuse it
	}
	return p
}

// refreshCandidate is one refresh cookie's value and the session it names
// ("" if it does not parse).
type refreshCandidate struct{ token, sid string }

// refreshCandidates are the first MaxRefreshCandidates cookies of r named
// name, with the sessions they name.
func refreshCandidates(r *http.Request, name string) []refreshCandidate {
	cs := r.CookiesNamed(name)
	if len(cs) > MaxRefreshCandidates {
		cs = cs[:MaxRefreshCandidates]
	}
	out := make([]refreshCandidate, 0, len(cs))
	for _, ck := range cs {
		k := refreshCandidate{token: ck.Value}
		if raw, err := token.ParseRefreshToken(ck.Value); err == nil {
			k.sid = base64.RawURLEncoding.EncodeToString(raw)
		}
		out = append(out, k)
	}
	return out
}

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
// if there is none or more than one.
func AccessTokenCookie(r *http.Request) string { return cookieValue(r, AccessCookie) }

// RefreshTokenCookie returns the refresh token of r's refresh cookie in
// sessiond's layout, for a request whose access cookie is not valid (see
// SessionCookies.PickRefresh, which a caller that has one uses): "" if
// there is none or they name more than one session.
func RefreshTokenCookie(r *http.Request) string { return SessionCookies{}.RefreshToken(r) }

// RefreshCookieAmbiguous reports whether r's refresh cookies in sessiond's
// layout name more than one session, which RefreshTokenCookie refuses to
// choose between.
func RefreshCookieAmbiguous(r *http.Request) bool {
	return SessionCookies{}.PickRefresh(r, "").Ambiguous
}

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
