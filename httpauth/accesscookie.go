package httpauth

import (
	"net/http"
	"time"
)

// SetAccess adds the Set-Cookie header of the access cookie alone, for an
// access token that expires at expiresAt, leaving the refresh cookie as
// it is: the answer to a re-authentication, which hands out a new access
// token for the same session and refresh token. now is the clock the
// lifetime is counted from.
func (c SessionCookies) SetAccess(w http.ResponseWriter, accessToken string, expiresAt, now time.Time) {
	http.SetCookie(w, c.access(accessToken, maxAge(expiresAt.Sub(now))))
	w.Header().Set("Cache-Control", "no-store")
}

// SetAccessCookie is SetAccess in sessiond's layout (see SessionCookies).
func SetAccessCookie(w http.ResponseWriter, accessToken string, expiresAt, now time.Time) {
	SessionCookies{}.SetAccess(w, accessToken, expiresAt, now)
}
