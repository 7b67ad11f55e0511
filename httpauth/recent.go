package httpauth

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/session"
)

// MinRecentAuthAge is the shortest RecentAuth.MaxAge: an access token
// carries its auth_time in whole seconds.
const MinRecentAuthAge = time.Second

// RecentAuth refuses a request whose access token says its user last
// authenticated (auth_time) longer than MaxAge ago, as RFC 9470 (OAuth 2.0
// Step Up Authentication) lets a resource ask: 403 with the error
// CodeInsufficientUserAuthentication and the challenge
//
//	WWW-Authenticate: Bearer realm="sessiond", error="insufficient_user_authentication", error_description="...", max_age="900"
//
// The client has the user prove who they are again (with sessiond:
// POST /v1/reauth with the password, which makes the session's auth_time
// now and hands out an access token carrying it) and retries. RFC 9470
// answers 401; RecentAuth answers 403 because its clients (sessiond.js,
// Web) take a 401 for an access token to refresh, and a refresh keeps the
// auth_time: the token is good, the authentication behind it is old.
//
// A token that carries no auth_time is refused as too old. The age is
// judged on Now, the clock of the Manager that signed the token where one
// node does both. Put it after Auth.Authenticate or Require (it reads the
// identity from the context; a request without one gets 401), on the
// handlers of sensitive actions: changing credentials, ending other
// sessions, deleting data. The zero value refuses every request: MaxAge
// must be at least MinRecentAuthAge.
type RecentAuth struct {
	// MaxAge is how long ago the last authentication may be.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// How tells the client how to authenticate again, ending the
	// refusal's description; empty means "authenticate again and retry"
	// (sessiond says "prove the password again with POST /v1/reauth and
	// retry").
	How string
}

// RequireRecentAuth returns middleware that lets a request through only
// when its access token's auth_time is at most maxAge old on the real
// clock (see RecentAuth; Auth.RequireRecentAuth judges on the Manager's
// clock). It panics when maxAge is under MinRecentAuthAge, a programming
// error.
func RequireRecentAuth(maxAge time.Duration) func(http.Handler) http.Handler {
	return RecentAuth{MaxAge: checkMaxAge(maxAge)}.Require
}

// RequireRecentAuth is the package's RequireRecentAuth judged on the clock
// of a.Manager (Manager.Now), which tests inject.
func (a *Auth) RequireRecentAuth(maxAge time.Duration) func(http.Handler) http.Handler {
	return RecentAuth{MaxAge: checkMaxAge(maxAge), Now: a.Manager.Now}.Require
}

func checkMaxAge(d time.Duration) time.Duration {
	if d < MinRecentAuthAge {
		panic(fmt.Sprintf("httpauth: RequireRecentAuth(%v): the max age must be at least %v", d, MinRecentAuthAge))
	}
	return d
}

// Require wraps next so that it runs only for requests ra allows (Allow).
func (ra RecentAuth) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ra.Allow(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// Allow reports whether the request's identity (FromContext) authenticated
// recently enough (Recent). When not, it has written the refusal: 401 for
// a request without an identity, else 403 insufficient_user_authentication
// with the challenge (WriteInsufficientUserAuthentication).
func (ra RecentAuth) Allow(w http.ResponseWriter, r *http.Request) bool {
	id, ok := FromContext(r.Context())
	if !ok {
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized, "an access token is required")
		return false
	}
	if ra.Recent(id) {
		return true
	}
	how := ra.How
	if how == "" {
		how = "authenticate again and retry"
	}
	desc := "this needs an authentication at most " + ageText(ra.MaxAge) + " old; " + how
	switch {
	case ra.MaxAge < MinRecentAuthAge:
		// A misconfiguration: fail closed, and say so.
		desc = "this needs a recent authentication, but the server has no valid maximum age for it (RecentAuth.MaxAge " + ra.MaxAge.String() + ")"
	case id.AuthTime.IsZero():
		desc = "this needs a recent authentication and the access token does not say when its user authenticated; " + how
	}
	WriteInsufficientUserAuthentication(w, ra.MaxAge, desc)
	return false
}

// Recent reports whether id's last authentication (its auth_time) is at
// most MaxAge old by ra's clock. A zero AuthTime (the token did not say)
// and a MaxAge under MinRecentAuthAge are never recent.
func (ra RecentAuth) Recent(id *session.Identity) bool {
	if ra.MaxAge < MinRecentAuthAge || id == nil || id.AuthTime.IsZero() {
		return false
	}
	now := ra.Now
	if now == nil {
		now = time.Now
	}
	return now().Sub(id.AuthTime) <= ra.MaxAge
}

// WriteInsufficientUserAuthentication writes the refusal of a request whose
// authentication is too old (RFC 9470 §3): 403, the JSON error
// CodeInsufficientUserAuthentication with description, and
// WWW-Authenticate: Bearer with the error, the description and max_age
// (maxAge in whole seconds, at least 1).
func WriteInsufficientUserAuthentication(w http.ResponseWriter, maxAge time.Duration, description string) {
	secs := max(int64(maxAge/time.Second), 1)
	w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond", error="`+CodeInsufficientUserAuthentication+
		`", error_description="`+quoteSafe(description)+`", max_age="`+strconv.FormatInt(secs, 10)+`"`)
	WriteError(w, http.StatusForbidden, CodeInsufficientUserAuthentication, description)
}

// ageText says d in words: whole hours, minutes or seconds ("15 minutes").
func ageText(d time.Duration) string {
	n, unit := int64(d/time.Second), "second"
	switch {
	case d%time.Hour == 0:
		n, unit = int64(d/time.Hour), "hour"
	case d%time.Minute == 0:
		n, unit = int64(d/time.Minute), "minute"
	}
	if n != 1 {
		unit += "s"
	}
	return strconv.FormatInt(n, 10) + " " + unit
}
