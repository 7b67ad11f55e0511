package server_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// reauthContractCases are the contract cases of re-authentication and
// password change (POST /v1/reauth, POST /v1/password) and of the 403
// insufficient_user_authentication of the routes they gate.
func reauthContractCases() []contractCase {
	// stale is a session of a new user whose last authentication is an
	// hour old on ctMain (whose --reauth-max-age is the default 15 minutes).
	stale := func(f *contractFixture) *session.Tokens {
		f.serial++
		now := f.server(ctMain).e.clock.Now()
		return f.grant(ctMain, session.Grant{UserID: "stale-user-" + strconv.Itoa(f.serial), AuthTime: now.Add(-time.Hour)})
	}
	// accountAccess logs the account of ctMain in over the API (bearer) and
	// returns the access token.
	accountAccess := func(f *contractFixture) string {
		a := f.exchange(ctMain, "a bearer login of the account", false, ctReq("POST", "/v1/login",
			ctJSON(`{"email":"`+f.account(ctMain)+`","password":"`+ctPassword+`"}`)), 200)
		return a.str("access_token")
	}
	// newAccountAccess signs up a new account of ctMain and logs it in: for
	// a case that changes the password.
	newAccountAccess := func(f *contractFixture) string {
		f.serial++
		email := "pw-" + strconv.Itoa(f.serial) + "@example.com"
		creds := `{"email":"` + email + `","password":"` + ctPassword + `"}`
		f.exchange(ctMain, "sign up "+email, false, ctReq("POST", "/v1/signup", ctJSON(creds)), 201)
		return f.exchange(ctMain, "log in "+email, false, ctReq("POST", "/v1/login", ctJSON(creds)), 200).str("access_token")
	}
	// limitedJSON spends the one request a session has on ctLimited, then
	// builds the request that must be refused, with a body.
	limitedJSON := func(path, body string) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest {
			tk := f.session(ctLimited)
			f.exchange(ctLimited, "the one request of the session", false, ctReq("GET", "/v1/session", ctBearer(tk.AccessToken)), 200)
			return ctReq("POST", path, ctBearer(tk.AccessToken), ctJSON(body))
		}
	}
	// downJSON is a request to ctDown with the access token of a session
	// this node never revoked (the other cases may have revoked its
	// sessions locally): signed with its keys, as a login would have.
	downJSON := func(path, body string) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest {
			n := f.server(ctDown).e.srv.Node()
			now := n.Now()
			var sid [16]byte
			rand.Read(sid[:])
			at, err := n.Keys().Sign(token.Claims{Issuer: n.Config().Issuer, Subject: "down-user", Audience: []string{n.Config().Audience},
				ExpiresAt: now.Add(5 * time.Minute), IssuedAt: now, ID: "jti-" + path, SessionID: base64.RawURLEncoding.EncodeToString(sid[:]),
				ClientID: session.DefaultClientID, AuthTime: now})
			if err != nil {
				f.t.Fatal(err)
			}
			return ctReq("POST", path, ctBearer(at), ctJSON(body))
		}
	}
	// stepUp checks a 403 for an old authentication: its code and the
	// RFC 9470 challenge with the default max_age.
	stepUp := func(_ *contractFixture, a ctAnswer) error {
		ch := a.header.Get("WWW-Authenticate")
		if a.str("error") != httpauth.CodeInsufficientUserAuthentication || !strings.HasSuffix(ch, `max_age="900"`) {
			return fmt.Errorf("error %q, WWW-Authenticate %q", a.str("error"), ch)
		}
		return nil
	}
	code := func(want string) func(*contractFixture, ctAnswer) error {
		return func(_ *contractFixture, a ctAnswer) error {
			if a.str("error") != want {
				return fmt.Errorf("error %q, want %q", a.str("error"), want)
			}
			return nil
		}
	}
	pw := `{"password":"` + ctPassword + `"}`
	change := func(current, next string) string {
		return `{"current_password":"` + current + `","new_password":"` + next + `"}`
	}
	const next = "tr0ub4dor and then some"
	big := strings.Repeat("x", 20<<10)

	return []contractCase{
		// The gate on POST /v1/logout and DELETE /v1/sessions/{id}
		{name: "logout others with an old authentication", server: ctMain, status: 403, check: stepUp,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/logout?scope=others", ctBearer(stale(f).AccessToken))
			}},
		{name: "delete another session with an old authentication", server: ctMain, status: 403, check: stepUp,
			req: func(f *contractFixture) ctRequest {
				tk := stale(f)
				other := f.sessionOf(ctMain, tk.Session.UserID)
				return ctReq("DELETE", "/v1/sessions/"+other.Session.ID, ctBearer(tk.AccessToken))
			}},

		{name: "delete my account with an old authentication", server: ctMain, status: 403, check: stepUp,
			req: func(f *contractFixture) ctRequest {
				return ctReq("DELETE", "/v1/account", ctBearer(stale(f).AccessToken))
			}},

		// POST /v1/reauth
		{name: "reauth", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctJSON(pw))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if len(a.header.Values("Set-Cookie")) != 0 {
					return fmt.Errorf("a bearer reauth set cookies: %q", a.header.Values("Set-Cookie"))
				}
				return a.wantMembers("access_token")
			}},
		{name: "reauth in cookie mode", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				c := f.cookieSession(ctMain)
				return ctReq("POST", "/v1/reauth", ctCookie(httpauth.AccessCookie, c.access), ctHeader(httpauth.CSRFHeader, c.csrf),
					ctHeader(server.SessionModeHeader, "cookie"), ctJSON(pw))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if set := a.header.Values("Set-Cookie"); len(set) != 1 || !strings.HasPrefix(set[0], httpauth.AccessCookie+"=") {
					return fmt.Errorf("Set-Cookie %q, want the access cookie alone", set)
				}
				return nil
			}},
		{name: "reauth with an empty password", server: ctMain, status: 400,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctJSON(`{"password":""}`))
			}},
		{name: "reauth with an unknown member", server: ctMain, status: 400, outside: true,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctJSON(`{"password":"x","email":"a@example.com"}`))
			}},
		{name: "reauth with a wrong password", server: ctMain, status: 401, check: code("invalid_grant"),
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctJSON(`{"password":"wrong horse battery"}`))
			}},
		{name: "reauth without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("POST", "/v1/reauth", ctJSON(pw)))},
		{name: "reauth of a user who is no account", server: ctMain, status: 403, check: code("forbidden"),
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(f.session(ctMain).AccessToken), ctJSON(pw))
			}},
		{name: "reauth from another site", server: ctMain, status: 403, check: code("csrf_failed"),
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctJSON(pw), ctCrossSite)
			}},
		{name: "reauth over 16 KiB", server: ctMain, status: 413,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctJSON(`{"password":"`+big+`"}`))
			}},
		{name: "reauth as text/plain", server: ctMain, status: 415, outside: true,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/reauth", ctBearer(accountAccess(f)), ctBody("text/plain", pw))
			}},
		{name: "reauth over the session's rate", server: ctLimited, status: 429, req: limitedJSON("/v1/reauth", pw)},
		{name: "reauth with the store down", server: ctDown, status: 503, req: downJSON("/v1/reauth", pw)},

		// POST /v1/password
		{name: "change the password", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(newAccountAccess(f)), ctJSON(change(ctPassword, next)))
			}},
		{name: "change the password to one too short", server: ctMain, status: 400,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(accountAccess(f)), ctJSON(change(ctPassword, "short")))
			}},
		{name: "change the password with a wrong current one", server: ctMain, status: 401, check: code("invalid_grant"),
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(accountAccess(f)), ctJSON(change("wrong horse battery", next)))
			}},
		{name: "change the password with an old authentication", server: ctMain, status: 403, check: stepUp,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(stale(f).AccessToken), ctJSON(change(ctPassword, next)))
			}},
		{name: "change the password of a user who is no account", server: ctMain, status: 403, check: code("forbidden"),
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(f.session(ctMain).AccessToken), ctJSON(change(ctPassword, next)))
			}},
		{name: "change the password over 16 KiB", server: ctMain, status: 413,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(f.session(ctMain).AccessToken), ctJSON(change(big, next)))
			}},
		{name: "change the password as a form", server: ctMain, status: 415, outside: true,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/password", ctBearer(f.session(ctMain).AccessToken), ctBody("application/x-www-form-urlencoded", "current_password=a"))
			}},
		{name: "change the password over the session's rate", server: ctLimited, status: 429, req: limitedJSON("/v1/password", change(ctPassword, next))},
		{name: "change the password with the store down", server: ctDown, status: 503, req: downJSON("/v1/password", change(ctPassword, next))},
	}
}
