package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	vconfig "github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/content"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/mail"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/redisstore"
)

// The contract test. Every operation of openapi.json, the document the
// server serves at /openapi.json, is sent to real running servers, and
// every request and every answer is validated against the document with
// libopenapi-validator (OpenAPI 3.1, JSON Schema 2020-12, formats
// asserted). TestOpenAPIContract fails when
//
//   - a route the server registers (server.RoutePatterns, from the
//     server's own mux) has no operation in the document, or an operation
//     no route;
//   - a status the document gives an operation is never answered by a case;
//   - an answer's status is not one the document gives its operation (the
//     catch-all "default" does not count), or its headers or body do not
//     validate;
//   - a request a case means to be valid does not validate, or one it means
//     to be outside the document (contractCase.outside) validates.
//
// Adding a route: describe its operation in openapi.json (reusing the
// components: the Error responses, the security schemes, the headers),
// then add to contractCases one case per status the document gives it.
// The test names what is missing.

// The servers the cases run against, each started on first use.
const (
	// ctMain has everything on: signup, the admin API, service clients
	// (ctClients), application claims (ctClaims), a CORS origin
	// (ctCORSOrigin), a return_to origin (ctReturnOrigin), an https issuer,
	// generous login throttles.
	ctMain = "main"
	// ctBare has nothing optional: signup off, no admin token, no clients,
	// the default issuer "sessiond" (so no RFC 8414 metadata).
	ctBare = "bare"
	// ctLimited allows one login attempt per client IP and one request per
	// session; it trusts X-Forwarded-For from 127.0.0.1, so each case is
	// its own client.
	ctLimited = "limited"
	// ctDown runs on a private Redis the test killed, after making a
	// session (ctServer.tokens) while it was up.
	ctDown = "down"
	// ctFull runs the embedded store on a small tmpfs the test filled.
	ctFull = "full"
)

// ctPassword is the password of every account the cases create.
const ctPassword = "correct horse battery"

// ctCORSOrigin is the one CORS origin of ctMain (--cors-origins).
const ctCORSOrigin = "https://app.example.com"

// ctReturnOrigin is the one origin other than its own that ctMain sends
// browsers to (--return-to-origins).
const ctReturnOrigin = "https://shop.example.com"

// ctClaims are the application claims ctMain issues (--claims).
var ctClaims = []string{"role", "tenant"}

// The service clients of ctMain and ctDown besides "api" (introspect and
// revoke, secret clientSecret).
const (
	// ctBackend may start, list and end sessions and set claims.
	ctBackend, ctBackendSecret = "backend", "backend-secret-0123456789abcdef-0123456789"
	// ctReader may only introspect.
	ctReader, ctReaderSecret = "reader", "reader-secret-0123456789abcdef-0123456789"
)

// ctClients configures the service clients, parsed from a clients file,
// and contractAdminToken.
func ctClients(t *testing.T) func(*config) {
	file := fmt.Sprintf(`[
		{"id": "api", "secret": %q, "permissions": ["introspect", "revoke"]},
		{"id": %q, "secret": %q, "permissions": ["sessions", "claims"]},
		{"id": %q, "secret": %q, "permissions": ["introspect"]}
	]`, clientSecret, ctBackend, ctBackendSecret, ctReader, ctReaderSecret)
	return func(c *config) {
		cl, err := server.ParseClientsJSON([]byte(file))
		if err != nil {
			t.Fatal(err)
		}
		c.Server.Clients, c.Server.AdminToken = cl, contractAdminToken
	}
}

// contractCase is one request and the status it must be answered with.
type contractCase struct {
	name   string
	server string
	// outside: the request is deliberately outside the document, which
	// must refuse it as the server does. Every other request must validate.
	outside bool
	req     func(f *contractFixture) ctRequest
	status  int
	// check, if set, asserts more of the answer than the document can.
	check func(f *contractFixture, a ctAnswer) error
}

// contractCases are the requests of the contract test, by operation, one
// per documented status at least.
func contractCases() []contractCase {
	signup := func(email string) ctRequest {
		return ctReq("POST", "/v1/signup", ctJSON(`{"email":"`+email+`","password":"`+ctPassword+`"}`))
	}
	login := func(email, password string, opts ...ctOpt) ctRequest {
		return ctReq("POST", "/v1/login", append([]ctOpt{ctJSON(`{"email":"` + email + `","password":"` + password + `"}`)}, opts...)...)
	}
	refresh := func(rt string, opts ...ctOpt) ctRequest {
		return ctReq("POST", "/v1/refresh", append([]ctOpt{ctJSON(`{"refresh_token":"` + rt + `"}`)}, opts...)...)
	}
	big := strings.Repeat("x", 20<<10)
	forgot := func(email string) ctRequest {
		return ctReq("POST", "/v1/password/forgot", ctJSON(`{"email":"`+email+`"}`))
	}
	resetPW := func(token, pw string) ctRequest {
		return ctReq("POST", "/v1/password/reset", ctJSON(`{"token":"`+token+`","new_password":"`+pw+`"}`))
	}
	bearerGet := func(path string) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest { return ctReq("GET", path, ctBearer(f.session(ctMain).AccessToken)) }
	}
	// limitedSecond spends the one request a session has on ctLimited,
	// then builds the request that must be refused.
	limitedSecond := func(method, path string) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest {
			tk := f.session(ctLimited)
			f.exchange(ctLimited, "the one request of the session", false, ctReq("GET", "/v1/session", ctBearer(tk.AccessToken)), 200)
			return ctReq(method, path, ctBearer(tk.AccessToken))
		}
	}
	down := func(method, path string, opts ...ctOpt) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest {
			tk := f.server(ctDown).tokens
			return ctReq(method, path, append([]ctOpt{ctBearer(tk.AccessToken)}, opts...)...)
		}
	}
	admin := ctBearer(contractAdminToken)
	client := ctBasic("api", clientSecret)
	backend, reader := ctBasic(ctBackend, ctBackendSecret), ctBasic(ctReader, ctReaderSecret)
	mint := func(body string, opts ...ctOpt) ctRequest {
		return ctReq("POST", "/v1/sessions", append([]ctOpt{ctJSON(body)}, opts...)...)
	}
	post := `"client_id":"` + ctBackend + `","client_secret":"` + ctBackendSecret + `"`
	// userSessions is the path of the sessions of a new user of ctMain
	// with two sessions.
	userSessions := func(f *contractFixture) string {
		tk := f.session(ctMain)
		f.sessionOf(ctMain, tk.Session.UserID)
		return "/v1/users/" + tk.Session.UserID + "/sessions"
	}
	// claimsOf is the claims path of a new user of ctMain with one session
	// that has claims.
	claimsOf := func(prefix string) func(f *contractFixture) string {
		return func(f *contractFixture) string {
			f.serial++
			uid := "claims-user-" + strconv.Itoa(f.serial)
			f.grant(ctMain, session.Grant{UserID: uid, Claims: map[string]json.RawMessage{"role": json.RawMessage(`"admin"`)}})
			return prefix + uid + "/claims"
		}
	}
	clientClaims, adminClaims := claimsOf("/v1/users/"), claimsOf("/admin/v1/users/")
	put := func(path func(*contractFixture) string, body string, opts ...ctOpt) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest {
			return ctReq("PUT", path(f), append([]ctOpt{ctJSON(body)}, opts...)...)
		}
	}
	count := func(member string, want float64) func(*contractFixture, ctAnswer) error {
		return func(_ *contractFixture, a ctAnswer) error {
			if a.body[member] != want {
				return fmt.Errorf("%s %v, want %v", member, a.body[member], want)
			}
			return nil
		}
	}
	longID := strings.Repeat("u", 257)

	// Behind a reverse proxy: the proxy's headers about the request it
	// asks about, and the browser's Fetch Metadata.
	navigate, sameOrigin := ctHeader("Sec-Fetch-Mode", "navigate"), ctHeader("Sec-Fetch-Site", "same-origin")
	fwd := func(query string, opts ...ctOpt) ctRequest { return ctReq("GET", "/v1/forward-auth"+query, opts...) }
	// caddy and nginx are the original method and URI as each proxy sends them.
	caddy := func(method, uri string) ctOpt {
		return func(r *ctRequest) { r.header.Set("X-Forwarded-Method", method); r.header.Set("X-Forwarded-Uri", uri) }
	}
	nginx := func(method, uri string) ctOpt {
		return func(r *ctRequest) { r.header.Set("X-Original-Method", method); r.header.Set("X-Original-URI", uri) }
	}
	const orders = "/orders?page=2"
	refreshFor := func(rt string) string { return server.RefreshRedirectPath + "?return_to=" + url.QueryEscape(rt) }
	loginFor := func(rt string) string { return "/ui/login?return_to=" + url.QueryEscape(rt) }
	location := func(want string) func(*contractFixture, ctAnswer) error {
		return func(_ *contractFixture, a ctAnswer) error {
			if got := a.header.Values("Location"); want == "" && len(got) > 0 || want != "" && (len(got) != 1 || got[0] != want) {
				return fmt.Errorf("Location %q, want %q", got, want)
			}
			return nil
		}
	}
	// proxied is a session a service client started, with both claims of ctMain.
	proxied := func(f *contractFixture) *session.Tokens {
		return f.grant(ctMain, session.Grant{UserID: "proxied-user", ClientID: ctBackend,
			Claims: map[string]json.RawMessage{"role": json.RawMessage(`"admin"`), "tenant": json.RawMessage(`{"id":7}`)}})
	}
	// identity checks the identity headers of a 200 of forward-auth: each
	// of want exactly once with that value, a session id, no body.
	identity := func(want map[string]string) func(*contractFixture, ctAnswer) error {
		return func(_ *contractFixture, a ctAnswer) error {
			for h, v := range want {
				if got := a.header.Values(h); len(got) != 1 || got[0] != v {
					return fmt.Errorf("%s = %q, want %q once", h, got, v)
				}
			}
			if a.header.Get(server.HeaderSessionID) == "" || a.raw != "" {
				return fmt.Errorf("session id %q, body %q", a.header.Get(server.HeaderSessionID), a.raw)
			}
			return nil
		}
	}
	refreshCookie := func(f *contractFixture) ctOpt {
		return ctCookie(httpauth.RefreshCookie, f.session(ctMain).RefreshToken)
	}
	inBand := func(method, path string, opts ...ctOpt) func(f *contractFixture) ctRequest {
		return func(f *contractFixture) ctRequest {
			return ctReq(method, path, append([]ctOpt{navigate, sameOrigin, refreshCookie(f)}, opts...)...)
		}
	}
	// cookies checks where an answer of the in-band refresh sends the
	// browser and what it does to the cookies: both set anew (rotated),
	// both deleted (cleared), none touched, or only the legacy refresh
	// cookie deleted.
	const rotated, cleared, untouched, legacyGone = "rotated", "cleared", "untouched", "legacy deleted"
	cookies := func(loc, what string) func(*contractFixture, ctAnswer) error {
		return func(f *contractFixture, a ctAnswer) error {
			if err := location(loc)(f, a); err != nil {
				return err
			}
			set := map[string]*http.Cookie{}
			for _, line := range a.header.Values("Set-Cookie") {
				c, err := http.ParseSetCookie(line)
				if err != nil {
					return fmt.Errorf("Set-Cookie %q: %w", line, err)
				}
				set[c.Name] = c
			}
			at, rt := set[httpauth.AccessCookie], set[httpauth.RefreshCookie]
			switch {
			case what == rotated && (at == nil || rt == nil || at.MaxAge <= 0 || rt.MaxAge <= 0 || at.Value == "" || rt.Value == ""),
				what == cleared && (at == nil || rt == nil || at.MaxAge >= 0 || rt.MaxAge >= 0),
				what == untouched && len(set) > 0,
				what == legacyGone && (len(set) != 1 || set[httpauth.LegacyRefreshCookie] == nil || set[httpauth.LegacyRefreshCookie].MaxAge >= 0):
				return fmt.Errorf("cookies %q, want them %s", a.header.Values("Set-Cookie"), what)
			}
			if a.header.Get("Clear-Site-Data") != "" {
				return fmt.Errorf("Clear-Site-Data would clear the application's cookies of this origin too")
			}
			return nil
		}
	}
	// page checks an answer of the pages: its content type, and a marker of
	// the page in the body.
	page := func(ctype, marker string) func(*contractFixture, ctAnswer) error {
		return func(_ *contractFixture, a ctAnswer) error {
			if a.header.Get("Content-Type") != ctype || !strings.Contains(a.raw, marker) {
				return fmt.Errorf("Content-Type %q, want %q; body without %q:\n%s", a.header.Get("Content-Type"), ctype, marker, a.raw)
			}
			return nil
		}
	}
	const html, text = "text/html; charset=utf-8", "text/plain; charset=utf-8"
	refused := page(text, "This link would send you on to a page this server does not send anyone to")

	cases := []contractCase{
		// POST /v1/signup
		{name: "signup", server: ctMain, status: 201, req: fixed(signup("new@example.com"))},
		{name: "signup with an unknown member", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/signup", ctJSON(`{"email":"a@example.com","password":"`+ctPassword+`","admin":true}`)))},
		{name: "signup with a bad email", server: ctMain, status: 400, req: fixed(signup("not an email"))},
		{name: "signup when disabled", server: ctBare, status: 403, req: fixed(signup("bare@example.com"))},
		{name: "signup from another site", server: ctMain, status: 403, req: fixed(withOpts(signup("x@example.com"), ctCrossSite))},
		{name: "signup of a taken email", server: ctMain, status: 409,
			req: func(f *contractFixture) ctRequest { return signup(f.account(ctMain)) }},
		{name: "signup over 16 KiB", server: ctMain, status: 413, outside: true,
			req: fixed(ctReq("POST", "/v1/signup", ctJSON(`{"email":"a@example.com","password":"`+big+`"}`)))},
		{name: "signup as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/signup", ctBody("text/plain", `{"email":"a@example.com","password":"`+ctPassword+`"}`)))},
		{name: "signup over the throttle", server: ctLimited, status: 429, req: func(f *contractFixture) ctRequest {
			ip := ctHeader("X-Forwarded-For", "192.0.2.1")
			f.exchange(ctLimited, "the one signup of this IP", false, withOpts(signup("first@example.com"), ip), 201)
			return withOpts(signup("second@example.com"), ip)
		}},
		{name: "signup with the store down", server: ctDown, status: 503, req: fixed(signup("down@example.com"))},

		// POST /v1/login
		{name: "login", server: ctMain, status: 200, req: func(f *contractFixture) ctRequest { return login(f.account(ctMain), ctPassword) },
			check: func(_ *contractFixture, a ctAnswer) error {
				if sc := a.header.Values("Set-Cookie"); len(sc) != 0 {
					return fmt.Errorf("a bearer login sets cookies: %q", sc)
				}
				return a.wantMembers("access_token", "refresh_token")
			}},
		{name: "login in cookie mode", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return login(f.account(ctMain), ctPassword, ctHeader(server.SessionModeHeader, "cookie"))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if sc := a.header.Values("Set-Cookie"); len(sc) != 3 || !strings.HasPrefix(sc[0], httpauth.DeviceCookie+"=") {
					return fmt.Errorf("Set-Cookie %q, want the device cookie and both session cookies", sc)
				}
				return a.wantMembers("csrf_token")
			}},
		{name: "login with a number for the email", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/login", ctJSON(`{"email":5,"password":"x"}`)))},
		{name: "login with a wrong password", server: ctMain, status: 401,
			req: func(f *contractFixture) ctRequest { return login(f.account(ctMain), "wrong password") }},
		{name: "login from another site", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest { return login(f.account(ctMain), ctPassword, ctCrossSite) }},
		{name: "login over 16 KiB", server: ctMain, status: 413, req: fixed(login("a@example.com", big))},
		{name: "login as a form", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/login", ctBody("application/x-www-form-urlencoded", "email=a&password=b")))},
		{name: "login over the throttle", server: ctLimited, status: 429, req: func(f *contractFixture) ctRequest {
			ip := ctHeader("X-Forwarded-For", "192.0.2.2")
			f.exchange(ctLimited, "the one attempt of this IP", false, login("nobody@example.com", "wrong password", ip), 401)
			return login("nobody@example.com", "wrong password", ip)
		}},
		{name: "login with the store down", server: ctDown, status: 503, req: fixed(login("down@example.com", ctPassword))},

		// POST /v1/refresh
		{name: "refresh", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest { return refresh(f.session(ctMain).RefreshToken) }},
		{name: "refresh in cookie mode, from the cookie", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				c := f.cookieSession(ctMain)
				return ctReq("POST", "/v1/refresh", ctHeader(server.SessionModeHeader, "cookie"), ctCookie(httpauth.RefreshCookie, c.refresh))
			}},
		{name: "refresh without a token", server: ctMain, status: 400, req: fixed(ctReq("POST", "/v1/refresh", ctJSON(`{}`)))},
		{name: "refresh with an unknown member", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/refresh", ctJSON(`{"refresh_token":"x","extra":1}`)))},
		{name: "refresh with a forged token", server: ctMain, status: 401, req: fixed(refresh("sdrt_forged"))},
		{name: "refresh from another site", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest { return refresh(f.session(ctMain).RefreshToken, ctCrossSite) }},
		{name: "refresh over 16 KiB", server: ctMain, status: 413, req: fixed(refresh(big))},
		{name: "refresh as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/refresh", ctBody("text/plain", `{"refresh_token":"x"}`)))},
		{name: "refresh with the store down", server: ctDown, status: 503,
			req: func(f *contractFixture) ctRequest { return refresh(f.server(ctDown).tokens.RefreshToken) }},

		// POST /v1/password/forgot
		{name: "forgot, an account", server: ctMain, status: 202,
			req: func(f *contractFixture) ctRequest { return forgot(f.account(ctMain)) }},
		{name: "forgot, no account", server: ctMain, status: 202, req: fixed(forgot("nobody@example.com"))},
		{name: "forgot with a bad email", server: ctMain, status: 400, req: fixed(forgot("not an email"))},
		{name: "forgot with an unknown member", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/password/forgot", ctJSON(`{"email":"a@example.com","admin":true}`)))},
		{name: "forgot without a mailer", server: ctBare, status: 403, req: fixed(forgot("bare@example.com"))},
		{name: "forgot from another site", server: ctMain, status: 403, req: fixed(withOpts(forgot("x@example.com"), ctCrossSite))},
		{name: "forgot over 16 KiB", server: ctMain, status: 413, outside: true,
			req: fixed(ctReq("POST", "/v1/password/forgot", ctJSON(`{"email":"`+big+`"}`)))},
		{name: "forgot as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/password/forgot", ctBody("text/plain", `{"email":"a@example.com"}`)))},
		{name: "forgot over the throttle", server: ctLimited, status: 429, req: func(f *contractFixture) ctRequest {
			ip := ctHeader("X-Forwarded-For", "192.0.2.3")
			f.exchange(ctLimited, "the one reset link of this IP", false, withOpts(forgot("first@example.com"), ip), 202)
			return withOpts(forgot("second@example.com"), ip)
		}},
		{name: "forgot with the store down", server: ctDown, status: 503, req: fixed(forgot("down@example.com"))},

		// POST /v1/password/reset
		{name: "reset", server: ctMain, status: 200, check: count("revoked", 1), req: func(f *contractFixture) ctRequest {
			tok := f.resetToken(ctMain, "reset-me@example.com")
			return resetPW(tok, "a brand new passphrase")
		}},
		{name: "reset with a dead token", server: ctMain, status: 400, req: fixed(resetPW("sdpr_"+strings.Repeat("A", 70), "a brand new passphrase"))},
		{name: "reset to a short password", server: ctMain, status: 400, req: func(f *contractFixture) ctRequest {
			return resetPW(f.resetToken(ctMain, "short-pw@example.com"), "short")
		}},
		{name: "reset with an unknown member", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/password/reset", ctJSON(`{"token":"x","new_password":"y","email":"z"}`)))},
		{name: "reset from another site", server: ctMain, status: 403, req: fixed(withOpts(resetPW("x", "a brand new passphrase"), ctCrossSite))},
		{name: "reset over 16 KiB", server: ctMain, status: 413, outside: true,
			req: fixed(ctReq("POST", "/v1/password/reset", ctJSON(`{"token":"x","new_password":"`+big+`"}`)))},
		{name: "reset as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/password/reset", ctBody("text/plain", `{"token":"x","new_password":"y"}`)))},
		{name: "reset over the throttle", server: ctLimited, status: 429, req: func(f *contractFixture) ctRequest {
			ip := ctHeader("X-Forwarded-For", "192.0.2.4")
			f.exchange(ctLimited, "the one reset of this IP", false, withOpts(resetPW("sdpr_x", "a brand new passphrase"), ip), 400)
			return withOpts(resetPW("sdpr_x", "a brand new passphrase"), ip)
		}},
		{name: "reset with the store down", server: ctDown, status: 503, req: fixed(resetPW("sdpr_x", "a brand new passphrase"))},

		// POST /v1/logout
		{name: "logout", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/logout", ctBearer(f.session(ctMain).AccessToken))
			}},
		{name: "logout everywhere in cookie mode", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				c := f.cookieSession(ctMain)
				return ctReq("POST", "/v1/logout?scope=global", ctCookie(httpauth.AccessCookie, c.access), ctHeader(httpauth.CSRFHeader, c.csrf))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				// Both cookies, and the refresh cookie of earlier versions.
				if a.header.Get("Clear-Site-Data") == "" || len(a.header.Values("Set-Cookie")) != 3 {
					return fmt.Errorf("cookies not cleared: %v", a.header)
				}
				return nil
			}},
		{name: "logout with a bad scope", server: ctMain, status: 400, outside: true,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/logout?scope=everything", ctBearer(f.session(ctMain).AccessToken))
			}},
		{name: "logout without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("POST", "/v1/logout"))},
		{name: "logout with a forged token", server: ctMain, status: 401, req: fixed(ctReq("POST", "/v1/logout", ctBearer("a.b.c")))},
		{name: "logout by cookie without the CSRF token", server: ctMain, status: 403, outside: true,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/logout", ctCookie(httpauth.AccessCookie, f.cookieSession(ctMain).access))
			}},
		{name: "logout from another site", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/logout", ctBearer(f.session(ctMain).AccessToken), ctCrossSite)
			}},
		{name: "logout over the session's rate", server: ctLimited, status: 429, req: limitedSecond("POST", "/v1/logout")},
		{name: "logout with the limiter down", server: ctDown, status: 503, req: down("POST", "/v1/logout")},

		// GET /v1/session
		{name: "session", server: ctMain, status: 200, req: bearerGet("/v1/session")},
		{name: "session without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("GET", "/v1/session"))},
		{name: "session of a revoked token", server: ctMain, status: 401,
			req: func(f *contractFixture) ctRequest {
				tk := f.session(ctMain)
				if err := f.server(ctMain).e.srv.Node().Manager().Revoke(context.Background(), tk.Session.ID); err != nil {
					f.t.Fatal(err)
				}
				return ctReq("GET", "/v1/session", ctBearer(tk.AccessToken))
			}},
		{name: "session over the session's rate", server: ctLimited, status: 429, req: limitedSecond("GET", "/v1/session")},
		{name: "session with the store down", server: ctDown, status: 503, req: down("GET", "/v1/session")},

		{name: "session from a listed CORS origin", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", "/v1/session", ctBearer(f.session(ctMain).AccessToken), ctHeader("Origin", ctCORSOrigin))
			},
			check: func(_ *contractFixture, a ctAnswer) error { return ctWantCORS(a.header, true) }},

		// GET /v1/sessions
		{name: "sessions, a page of one", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				tk := f.session(ctMain)
				f.sessionOf(ctMain, tk.Session.UserID)
				return ctReq("GET", "/v1/sessions?limit=1", ctBearer(tk.AccessToken))
			},
			check: func(_ *contractFixture, a ctAnswer) error { return a.wantMembers("next_cursor") }},
		{name: "sessions with a limit of 0", server: ctMain, status: 400, outside: true,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", "/v1/sessions?limit=0", ctBearer(f.session(ctMain).AccessToken))
			}},
		{name: "sessions with a cursor not handed out", server: ctMain, status: 400,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", "/v1/sessions?cursor=garbage", ctBearer(f.session(ctMain).AccessToken))
			}},
		{name: "sessions without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("GET", "/v1/sessions"))},
		{name: "sessions over the session's rate", server: ctLimited, status: 429, req: limitedSecond("GET", "/v1/sessions")},
		{name: "sessions with the store down", server: ctDown, status: 503, req: down("GET", "/v1/sessions")},

		// DELETE /v1/sessions/{id}
		{name: "delete a session", server: ctMain, status: 204,
			req: func(f *contractFixture) ctRequest {
				tk := f.session(ctMain)
				other := f.sessionOf(ctMain, tk.Session.UserID)
				return ctReq("DELETE", "/v1/sessions/"+other.Session.ID, ctBearer(tk.AccessToken))
			}},
		{name: "delete the current session in cookie mode", server: ctMain, status: 204,
			req: func(f *contractFixture) ctRequest {
				c := f.cookieSession(ctMain)
				return ctReq("DELETE", "/v1/sessions/"+c.id, ctCookie(httpauth.AccessCookie, c.access), ctHeader(httpauth.CSRFHeader, c.csrf))
			}},
		{name: "delete without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("DELETE", "/v1/sessions/x"))},
		{name: "delete by cookie without the CSRF token", server: ctMain, status: 403, outside: true,
			req: func(f *contractFixture) ctRequest {
				c := f.cookieSession(ctMain)
				return ctReq("DELETE", "/v1/sessions/"+c.id, ctCookie(httpauth.AccessCookie, c.access))
			}},
		{name: "delete from another site", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest {
				tk := f.session(ctMain)
				return ctReq("DELETE", "/v1/sessions/"+tk.Session.ID, ctBearer(tk.AccessToken), ctCrossSite)
			}},
		{name: "delete someone else's session", server: ctMain, status: 404,
			req: func(f *contractFixture) ctRequest {
				return ctReq("DELETE", "/v1/sessions/"+f.session(ctMain).Session.ID, ctBearer(f.session(ctMain).AccessToken))
			}},
		{name: "delete over the session's rate", server: ctLimited, status: 429, req: limitedSecond("DELETE", "/v1/sessions/x")},
		{name: "delete with the store down", server: ctDown, status: 503, req: down("DELETE", "/v1/sessions/x")},

		// DELETE /v1/account
		{name: "delete my account", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				email, _ := f.freshAccount(ctMain)
				a := f.exchange(ctMain, "a login of the account to delete", false, login(email, ctPassword), 200)
				f.exchange(ctMain, "another login of it", false, login(email, ctPassword), 200)
				return ctReq("DELETE", "/v1/account", ctBearer(a.str("access_token")))
			},
			check: count("revoked", 2)},
		{name: "delete my account in cookie mode", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				email, _ := f.freshAccount(ctMain)
				c := f.cookieLogin(ctMain, email)
				return ctReq("DELETE", "/v1/account", ctCookie(httpauth.AccessCookie, c.access), ctHeader(httpauth.CSRFHeader, c.csrf))
			},
			check: func(f *contractFixture, a ctAnswer) error {
				// Both cookies, and the refresh cookie of earlier versions.
				if a.header.Get("Clear-Site-Data") == "" || len(a.header.Values("Set-Cookie")) != 3 {
					return fmt.Errorf("cookies not cleared: %v", a.header)
				}
				return count("revoked", 1)(f, a)
			}},
		{name: "delete my account without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("DELETE", "/v1/account"))},
		{name: "delete my account with a forged token", server: ctMain, status: 401, req: fixed(ctReq("DELETE", "/v1/account", ctBearer("a.b.c")))},
		{name: "delete my account by cookie without the CSRF token", server: ctMain, status: 403, outside: true,
			req: func(f *contractFixture) ctRequest {
				email, _ := f.freshAccount(ctMain)
				return ctReq("DELETE", "/v1/account", ctCookie(httpauth.AccessCookie, f.cookieLogin(ctMain, email).access))
			}},
		{name: "delete my account from another site", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest {
				email, _ := f.freshAccount(ctMain)
				a := f.exchange(ctMain, "a login of the account", false, login(email, ctPassword), 200)
				return ctReq("DELETE", "/v1/account", ctBearer(a.str("access_token")), ctCrossSite)
			}},
		{name: "delete the account of a user a service started a session for", server: ctMain, status: 404,
			req: func(f *contractFixture) ctRequest {
				return ctReq("DELETE", "/v1/account", ctBearer(f.session(ctMain).AccessToken))
			}},
		{name: "delete my account over the session's rate", server: ctLimited, status: 429, req: limitedSecond("DELETE", "/v1/account")},
		{name: "delete my account with the store down", server: ctDown, status: 503, req: down("DELETE", "/v1/account")},

		// GET /v1/csrf
		{name: "csrf token", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", "/v1/csrf", ctCookie(httpauth.AccessCookie, f.cookieSession(ctMain).access))
			}},
		{name: "csrf token without a token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("GET", "/v1/csrf"))},
		{name: "csrf token for another site", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", "/v1/csrf", ctCookie(httpauth.AccessCookie, f.cookieSession(ctMain).access), ctCrossSite)
			}},
		{name: "csrf token over the session's rate", server: ctLimited, status: 429, req: limitedSecond("GET", "/v1/csrf")},
		{name: "csrf token with the limiter down", server: ctDown, status: 503, req: down("GET", "/v1/csrf")},

		// GET /v1/forward-auth
		{name: "forward-auth with a service client's session, bearer", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return fwd("", ctBearer(proxied(f).AccessToken), caddy("GET", orders))
			},
			check: identity(map[string]string{server.HeaderUserID: "proxied-user", server.HeaderClientID: ctBackend,
				"X-Sessiond-Claim-Role": "admin", "X-Sessiond-Claim-Tenant": `{"id":7}`})},
		{name: "forward-auth with a login's access cookie, a page load", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return fwd("", ctCookie(httpauth.AccessCookie, f.cookieSession(ctMain).access), navigate, caddy("GET", orders))
			},
			check: identity(map[string]string{server.HeaderClientID: session.DefaultClientID, "X-Sessiond-Claim-Role": "", "X-Sessiond-Claim-Tenant": ""})},
		{name: "forward-auth, a page load without a session", server: ctMain, status: 302,
			req: fixed(fwd("", navigate, caddy("GET", orders))), check: location(refreshFor(orders))},
		{name: "forward-auth, a page load from a browser without Fetch Metadata, through nginx", server: ctMain, status: 302,
			req: fixed(fwd("", ctHeader("Accept", "text/html,*/*;q=0.8"), nginx("GET", orders))), check: location(refreshFor(orders))},
		{name: "forward-auth, a page load whose URI is no return_to", server: ctMain, status: 302,
			req: fixed(fwd("", navigate, caddy("GET", "//evil.example/x"))), check: location(server.RefreshRedirectPath)},
		{name: "forward-auth, a form posted without a session", server: ctMain, status: 307,
			req: fixed(fwd("", navigate, caddy("POST", orders))), check: location(refreshFor(orders))},
		{name: "forward-auth with deny=401, a page load with a forged access cookie", server: ctMain, status: 401,
			req:   fixed(fwd("?deny=401", navigate, nginx("GET", orders), ctCookie(httpauth.AccessCookie, "forged"))),
			check: location(refreshFor(orders))},
		{name: "forward-auth, an image without a session", server: ctMain, status: 401,
			req: fixed(fwd("", ctHeader("Sec-Fetch-Mode", "no-cors"), caddy("GET", "/logo.png"))), check: location("")},
		{name: "forward-auth, a navigation with a forged bearer token", server: ctMain, status: 401,
			req: fixed(fwd("", ctBearer("a.b.c"), navigate, caddy("GET", orders))), check: location("")},
		{name: "forward-auth, a navigation to be sent as PUT", server: ctMain, status: 401,
			req: fixed(fwd("", navigate, caddy("PUT", orders))), check: location("")},
		{name: "forward-auth with deny=302", server: ctMain, status: 400, outside: true,
			req: fixed(fwd("?deny=302", navigate, caddy("GET", orders)))},
		{name: "forward-auth, a user id that cannot travel in a header", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest {
				tk := f.grant(ctMain, session.Grant{UserID: "line\r\nX-Sessiond-User-Id: root"})
				return fwd("", ctCookie(httpauth.AccessCookie, tk.AccessToken), navigate, caddy("GET", orders))
			},
			check: func(f *contractFixture, a ctAnswer) error {
				if a.header.Get(server.HeaderUserID) != "" {
					return fmt.Errorf("a user id sent: %q", a.header.Values(server.HeaderUserID))
				}
				return location("")(f, a)
			}},

		// GET /v1/refresh/redirect
		{name: "in-band refresh of a page load", server: ctMain, status: 302,
			req: inBand("GET", refreshFor(orders)), check: cookies(orders, rotated)},
		{name: "in-band refresh back to a return_to origin", server: ctMain, status: 302,
			req: inBand("GET", refreshFor(ctReturnOrigin+"/cart")), check: cookies(ctReturnOrigin+"/cart", rotated)},
		{name: "in-band refresh without a return_to", server: ctMain, status: 302,
			req: inBand("GET", server.RefreshRedirectPath), check: cookies("/", rotated)},
		{name: "in-band refresh without a refresh cookie", server: ctMain, status: 302,
			req: fixed(ctReq("GET", refreshFor(orders), navigate, sameOrigin)), check: cookies(loginFor(orders), untouched)},
		{name: "in-band refresh with a forged refresh cookie", server: ctMain, status: 302,
			req:   fixed(ctReq("GET", refreshFor(orders), navigate, sameOrigin, ctCookie(httpauth.RefreshCookie, "sdrt_forged"))),
			check: cookies(loginFor(orders), cleared)},
		{name: "in-band refresh of a link on another site, the refresh cookie withheld", server: ctMain, status: 200,
			req: fixed(ctReq("GET", refreshFor(orders), navigate, ctCrossSite)),
			check: func(f *contractFixture, a ctAnswer) error {
				if err := cookies("", untouched)(f, a); err != nil {
					return err
				}
				return page(html, `<meta http-equiv="refresh" content="0; url=`+refreshFor(orders)+`">`)(f, a)
			}},
		{name: "in-band refresh with a return_to of another origin", server: ctMain, status: 400,
			req: inBand("GET", refreshFor("https://evil.example/")), check: cookies("", untouched)},
		{name: "in-band refresh with a return_to with a backslash", server: ctMain, status: 400, outside: true,
			req: inBand("GET", refreshFor("/\\evil.example/")), check: cookies("", untouched)},
		{name: "in-band refresh of a script's fetch", server: ctMain, status: 400,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", refreshFor(orders), ctHeader("Sec-Fetch-Mode", "cors"), sameOrigin, refreshCookie(f))
			},
			check: cookies("", untouched)},
		{name: "in-band refresh with two refresh cookies of different sessions", server: ctMain, status: 400,
			req: func(f *contractFixture) ctRequest {
				return inBand("GET", refreshFor(orders), ctCookie(httpauth.RefreshCookie, f.session(ctMain).RefreshToken))(f)
			},
			check: cookies("", untouched)},
		{name: "in-band refresh with a planted legacy refresh cookie beside ours", server: ctMain, status: 302,
			req: func(f *contractFixture) ctRequest {
				return inBand("GET", refreshFor(orders), ctCookie(httpauth.LegacyRefreshCookie, f.session(ctMain).RefreshToken))(f)
			},
			check: cookies(orders, rotated)},
		{name: "in-band refresh with only a legacy refresh cookie and no access cookie", server: ctMain, status: 302,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", refreshFor(orders), navigate, sameOrigin, ctCookie(httpauth.LegacyRefreshCookie, f.session(ctMain).RefreshToken))
			},
			check: cookies(loginFor(orders), legacyGone)},
		{name: "in-band refresh with the store down", server: ctDown, status: 503,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", refreshFor(orders), navigate, sameOrigin, ctCookie(httpauth.RefreshCookie, f.server(ctDown).tokens.RefreshToken))
			},
			check: cookies("", untouched)},

		// POST /v1/refresh/redirect
		{name: "in-band refresh of a form posted", server: ctMain, status: 307,
			req: inBand("POST", refreshFor(orders), ctForm(url.Values{"item": {"42"}})), check: cookies(orders, rotated)},
		{name: "in-band refresh of a form posted without a refresh cookie", server: ctMain, status: 303,
			req:   fixed(ctReq("POST", refreshFor(orders), navigate, sameOrigin, ctForm(url.Values{"item": {"42"}}))),
			check: cookies(loginFor(orders), untouched)},
		{name: "in-band refresh of a form posted with a forged refresh cookie", server: ctMain, status: 303,
			req:   fixed(ctReq("POST", refreshFor(orders), navigate, sameOrigin, ctCookie(httpauth.RefreshCookie, "sdrt_forged"))),
			check: cookies(loginFor(orders), cleared)},
		{name: "in-band refresh of a form posted with a refused return_to", server: ctMain, status: 400,
			req: inBand("POST", refreshFor("javascript:alert(1)")), check: cookies("", untouched)},
		{name: "in-band refresh of another site's form", server: ctMain, status: 403,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", refreshFor(orders), navigate, ctCrossSite, refreshCookie(f), ctForm(url.Values{"item": {"42"}}))
			},
			check: cookies("", untouched)},
		{name: "in-band refresh of a form posted with the store down", server: ctDown, status: 503,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", refreshFor(orders), navigate, sameOrigin, ctCookie(httpauth.RefreshCookie, f.server(ctDown).tokens.RefreshToken))
			},
			check: cookies("", untouched)},

		// POST /v1/introspect
		{name: "introspect an access token", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {f.session(ctMain).AccessToken}}))
			},
			check: func(_ *contractFixture, a ctAnswer) error { return a.wantMembers("aud", "iat", "jti") }},
		{name: "introspect a refresh token", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {f.session(ctMain).RefreshToken}, "token_type_hint": {"refresh_token"}}))
			}},
		{name: "introspect a minted token with claims", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				tk := f.grant(ctMain, session.Grant{UserID: "user-42", ClientID: "backend", AMR: []string{"pwd", "mfa"},
					Claims: map[string]json.RawMessage{"role": json.RawMessage(`"admin"`), "tenant": json.RawMessage(`{"id":7}`)}})
				return ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {tk.AccessToken}}))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if a.str("client_id") != "backend" || a.str("role") != "admin" || a.body["tenant"] == nil || a.body["amr"] == nil {
					return fmt.Errorf("client_id, amr or the claims missing: %s", a.raw)
				}
				return a.wantMembers("auth_time")
			}},
		{name: "introspect a forged token", server: ctMain, status: 200,
			req: fixed(ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {"forged"}})))},
		{name: "introspect without a token", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token_type_hint": {"access_token"}})))},
		{name: "introspect with the token in the URL", server: ctMain, status: 400,
			req: fixed(ctReq("POST", "/v1/introspect?token=x", client, ctForm(url.Values{"token": {"x"}})))},
		{name: "introspect with client_secret_post", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/introspect", ctForm(url.Values{"token": {f.session(ctMain).AccessToken},
					"client_id": {"api"}, "client_secret": {clientSecret}}))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if a.body["active"] != true {
					return fmt.Errorf("inactive: %s", a.raw)
				}
				return nil
			}},
		{name: "introspect with client credentials twice", server: ctMain, status: 400,
			req: fixed(ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {"x"}, "client_id": {"api"}, "client_secret": {clientSecret}})))},
		{name: "introspect without client credentials", server: ctMain, status: 401,
			req: fixed(ctReq("POST", "/v1/introspect", ctForm(url.Values{"token": {"x"}})))},
		{name: "introspect with a client_id and no client_secret", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("POST", "/v1/introspect", ctForm(url.Values{"token": {"x"}, "client_id": {"api"}})))},
		{name: "introspect with a wrong client_secret", server: ctMain, status: 401,
			req: fixed(ctReq("POST", "/v1/introspect", ctForm(url.Values{"token": {"x"}, "client_id": {"api"}, "client_secret": {"wrong"}})))},
		{name: "introspect with a wrong secret", server: ctMain, status: 401,
			req: fixed(ctReq("POST", "/v1/introspect", ctBasic("api", "wrong"), ctForm(url.Values{"token": {"x"}})))},
		{name: "introspect by a client without the permission", server: ctMain, status: 403,
			req: fixed(ctReq("POST", "/v1/introspect", ctBasic(ctBackend, ctBackendSecret), ctForm(url.Values{"token": {"x"}})))},
		{name: "introspect from another site", server: ctMain, status: 403,
			req: fixed(ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {"x"}}), ctCrossSite))},
		{name: "introspect over 16 KiB", server: ctMain, status: 413,
			req: fixed(ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {big}})))},
		{name: "introspect as JSON", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/introspect", client, ctJSON(`{"token":"x"}`)))},
		{name: "introspect a refresh token with the store down", server: ctDown, status: 503,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/introspect", client, ctForm(url.Values{"token": {f.server(ctDown).tokens.RefreshToken}}))
			}},

		// POST /v1/revoke
		{name: "revoke", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/revoke", client, ctForm(url.Values{"token": {f.session(ctMain).RefreshToken}}))
			}},
		{name: "revoke without a token", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/v1/revoke", client, ctForm(url.Values{})))},
		{name: "revoke with client_secret_post", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/revoke", ctForm(url.Values{"token": {f.session(ctMain).AccessToken},
					"client_id": {"api"}, "client_secret": {clientSecret}}))
			}},
		{name: "revoke with client credentials twice", server: ctMain, status: 400,
			req: fixed(ctReq("POST", "/v1/revoke", client, ctForm(url.Values{"token": {"x"}, "client_id": {"api"}, "client_secret": {clientSecret}})))},
		{name: "revoke without client credentials", server: ctMain, status: 401,
			req: fixed(ctReq("POST", "/v1/revoke", ctForm(url.Values{"token": {"x"}})))},
		{name: "revoke with no clients configured", server: ctBare, status: 401,
			req: fixed(ctReq("POST", "/v1/revoke", client, ctForm(url.Values{"token": {"x"}})))},
		{name: "revoke by a client without the permission", server: ctMain, status: 403,
			req: fixed(ctReq("POST", "/v1/revoke", ctBasic(ctReader, ctReaderSecret), ctForm(url.Values{"token": {"x"}})))},
		{name: "revoke from another site", server: ctMain, status: 403,
			req: fixed(ctReq("POST", "/v1/revoke", client, ctForm(url.Values{"token": {"x"}}), ctCrossSite))},
		{name: "revoke over 16 KiB", server: ctMain, status: 413,
			req: fixed(ctReq("POST", "/v1/revoke", client, ctForm(url.Values{"token": {big}})))},
		{name: "revoke as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/revoke", client, ctBody("text/plain", "token=x")))},
		{name: "revoke with the store down", server: ctDown, status: 503,
			req: func(f *contractFixture) ctRequest {
				return ctReq("POST", "/v1/revoke", client, ctForm(url.Values{"token": {f.server(ctDown).tokens.AccessToken}}))
			}},

		// POST /v1/sessions
		{name: "mint a session", server: ctMain, status: 201,
			req: fixed(mint(`{"user_id":"user-minted","claims":{"role":"admin","tenant":{"id":7}},"auth_method":"sso",`+
				`"amr":["pwd","mfa"],"ip":"198.51.100.7","user_agent":"Firefox/140"}`, backend)),
			check: func(_ *contractFixture, a ctAnswer) error { return a.wantMembers("access_token", "refresh_token") }},
		{name: "mint from a listed CORS origin", server: ctMain, status: 201,
			req:   fixed(mint(`{"user_id":"user-minted"}`, backend, ctHeader("Origin", ctCORSOrigin), ctCrossSite)),
			check: func(_ *contractFixture, a ctAnswer) error { return ctWantCORS(a.header, false) }},
		{name: "mint with client_secret_post", server: ctMain, status: 201,
			req: fixed(mint(`{"user_id":"user-minted",` + post + `}`))},
		{name: "mint with an unknown member", server: ctMain, status: 400, outside: true,
			req: fixed(mint(`{"user_id":"u","admin":true}`, backend))},
		{name: "mint without a user id", server: ctMain, status: 400, outside: true, req: fixed(mint(`{}`, backend))},
		{name: "mint with a number for the user id", server: ctMain, status: 400, outside: true,
			req: fixed(mint(`{"user_id":42}`, backend))},
		{name: "mint with a user id over 256 bytes", server: ctMain, status: 400, outside: true,
			req: fixed(mint(`{"user_id":"`+longID+`"}`, backend))},
		{name: "mint with a claim the server does not issue", server: ctMain, status: 400,
			req: fixed(mint(`{"user_id":"u","claims":{"scope":"all"}}`, backend))},
		{name: "mint with an amr value that is not a token", server: ctMain, status: 400, outside: true,
			req: fixed(mint(`{"user_id":"u","amr":["one time code"]}`, backend))},
		{name: "mint with client credentials twice", server: ctMain, status: 400,
			req: fixed(mint(`{"user_id":"u",`+post+`}`, backend))},
		{name: "mint without client credentials", server: ctMain, status: 401, req: fixed(mint(`{"user_id":"u"}`))},
		{name: "mint with a wrong secret", server: ctMain, status: 401,
			req: fixed(mint(`{"user_id":"u"}`, ctBasic(ctBackend, "wrong")))},
		{name: "mint with no clients configured", server: ctBare, status: 401, req: fixed(mint(`{"user_id":"u"}`, backend))},
		{name: "mint by a client without the permission", server: ctMain, status: 403, req: fixed(mint(`{"user_id":"u"}`, client))},
		{name: "mint from another site", server: ctMain, status: 403, req: fixed(mint(`{"user_id":"u"}`, backend, ctCrossSite))},
		{name: "mint over 16 KiB", server: ctMain, status: 413, req: fixed(mint(`{"user_id":"u","user_agent":"`+big+`"}`, backend))},
		{name: "mint as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("POST", "/v1/sessions", backend, ctBody("text/plain", `{"user_id":"u"}`)))},
		{name: "mint with the store down", server: ctDown, status: 503, req: fixed(mint(`{"user_id":"u"}`, backend))},

		// GET /v1/users/{id}/sessions
		{name: "a client lists a user's sessions, a page of one", server: ctMain, status: 200,
			req:   func(f *contractFixture) ctRequest { return ctReq("GET", userSessions(f)+"?limit=1", backend) },
			check: func(_ *contractFixture, a ctAnswer) error { return a.wantMembers("next_cursor") }},
		{name: "a client lists a user's sessions, limit 0", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("GET", "/v1/users/u/sessions?limit=0", backend))},
		{name: "a client lists a user's sessions with a cursor not handed out", server: ctMain, status: 400,
			req: fixed(ctReq("GET", "/v1/users/u/sessions?cursor=garbage", backend))},
		{name: "a client lists a user's sessions without credentials", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("GET", "/v1/users/u/sessions"))},
		{name: "a client lists a user's sessions with a wrong secret", server: ctMain, status: 401,
			req: fixed(ctReq("GET", "/v1/users/u/sessions", ctBasic(ctBackend, "wrong")))},
		{name: "a client without the permission lists a user's sessions", server: ctMain, status: 403,
			req: fixed(ctReq("GET", "/v1/users/u/sessions", reader))},
		{name: "a client lists a user's sessions with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("GET", "/v1/users/u/sessions", backend))},

		// DELETE /v1/users/{id}/sessions
		{name: "a client logs a user out", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest { return ctReq("DELETE", userSessions(f), backend) }, check: count("revoked", 2)},
		{name: "a client logs out a user id over 256 bytes", server: ctMain, status: 400,
			req: fixed(ctReq("DELETE", "/v1/users/"+longID+"/sessions", backend))},
		{name: "a client lists the sessions of a user id over 256 bytes", server: ctMain, status: 400,
			req: fixed(ctReq("GET", "/v1/users/"+longID+"/sessions", backend))},
		{name: "a client logs a user out without credentials", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("DELETE", "/v1/users/u/sessions"))},
		{name: "a client logs a user out with a wrong secret", server: ctMain, status: 401,
			req: fixed(ctReq("DELETE", "/v1/users/u/sessions", ctBasic(ctBackend, "wrong")))},
		{name: "a client without the permission logs a user out", server: ctMain, status: 403,
			req: fixed(ctReq("DELETE", "/v1/users/u/sessions", reader))},
		{name: "a client logs a user out from another site", server: ctMain, status: 403,
			req: fixed(ctReq("DELETE", "/v1/users/u/sessions", backend, ctCrossSite))},
		{name: "a client logs a user out with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("DELETE", "/v1/users/u/sessions", backend))},

		// PUT /v1/users/{id}/claims
		{name: "a client sets a user's claims", server: ctMain, status: 200,
			req: put(clientClaims, `{"claims":{"role":"viewer","tenant":"acme"}}`, backend), check: count("updated", 1)},
		{name: "a client sets a user's claims and ends the sessions", server: ctMain, status: 200,
			req: put(clientClaims, `{"claims":{},"revoke_sessions":true}`, backend), check: count("revoked", 1)},
		{name: "a client sets claims without claims", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctJSON(`{"revoke_sessions":true}`)))},
		{name: "a client sets null claims", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctJSON(`{"claims":null}`)))},
		{name: "a client sets a claim the server does not issue", server: ctMain, status: 400,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctJSON(`{"claims":{"scope":"all"}}`)))},
		{name: "a client sets the claims of a user id over 256 bytes", server: ctMain, status: 400,
			req: fixed(ctReq("PUT", "/v1/users/"+longID+"/claims", backend, ctJSON(`{"claims":{}}`)))},
		{name: "a client sets claims without credentials", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", ctJSON(`{"claims":{}}`)))},
		{name: "a client sets claims with a wrong secret", server: ctMain, status: 401,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", ctBasic(ctBackend, "wrong"), ctJSON(`{"claims":{}}`)))},
		{name: "a client without the permission sets claims", server: ctMain, status: 403,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", reader, ctJSON(`{"claims":{}}`)))},
		{name: "a client sets claims from another site", server: ctMain, status: 403,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctJSON(`{"claims":{}}`), ctCrossSite))},
		{name: "a client sets claims over 16 KiB", server: ctMain, status: 413,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctJSON(`{"claims":{"role":"`+big+`"}}`)))},
		{name: "a client sets claims as text/plain", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctBody("text/plain", `{"claims":{}}`)))},
		{name: "a client sets claims with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("PUT", "/v1/users/u/claims", backend, ctJSON(`{"claims":{}}`)))},

		// GET /admin/v1/users
		{name: "admin lists users", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest { f.account(ctMain); return ctReq("GET", "/admin/v1/users", admin) }},
		{name: "admin lists users, a page of one", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				f.account(ctMain)
				f.exchange(ctMain, "a second account", false, signup("second-page@example.com"), 201)
				return ctReq("GET", "/admin/v1/users?limit=1", admin)
			},
			check: func(_ *contractFixture, a ctAnswer) error { return a.wantMembers("next_cursor") }},
		{name: "admin lists users with a limit of 0", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("GET", "/admin/v1/users?limit=0", admin))},
		{name: "admin lists users with a cursor not handed out", server: ctMain, status: 400,
			req: fixed(ctReq("GET", "/admin/v1/users?cursor=garbage", admin))},
		{name: "admin lists users without the token", server: ctMain, status: 401, outside: true, req: fixed(ctReq("GET", "/admin/v1/users"))},
		{name: "admin lists users with a wrong token", server: ctMain, status: 401,
			req: fixed(ctReq("GET", "/admin/v1/users", ctBearer("not-the-admin-token")))},
		{name: "admin lists users, API off", server: ctBare, status: 404, req: fixed(ctReq("GET", "/admin/v1/users", admin))},
		{name: "admin lists users with the store down", server: ctDown, status: 503, req: fixed(ctReq("GET", "/admin/v1/users", admin))},

		// DELETE /admin/v1/users/{id}
		{name: "admin deletes a user", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				email, id := f.freshAccount(ctMain)
				f.exchange(ctMain, "a login of the account to delete", false, login(email, ctPassword), 200)
				return ctReq("DELETE", "/admin/v1/users/"+id, admin)
			},
			check: count("revoked", 1)},
		{name: "admin deletes a user id over 256 bytes", server: ctMain, status: 400,
			req: fixed(ctReq("DELETE", "/admin/v1/users/"+longID, admin))},
		{name: "admin deletes a user with a wrong token", server: ctMain, status: 401,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u", ctBearer("not-the-admin-token")))},
		{name: "admin deletes a user from another site", server: ctMain, status: 403,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u", admin, ctCrossSite))},
		{name: "admin deletes a user who has no account", server: ctMain, status: 404,
			req: fixed(ctReq("DELETE", "/admin/v1/users/no-such-account", admin))},
		{name: "admin deletes a user, API off", server: ctBare, status: 404,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u", admin))},
		{name: "admin deletes a user with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u", admin))},

		// GET /admin/v1/users/{id}/sessions
		{name: "admin lists a user's sessions", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("GET", "/admin/v1/users/"+f.session(ctMain).Session.UserID+"/sessions?limit=100", admin)
			}},
		{name: "admin lists a user's sessions, limit 101", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("GET", "/admin/v1/users/u/sessions?limit=101", admin))},
		{name: "admin lists a user's sessions without the token", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("GET", "/admin/v1/users/u/sessions"))},
		{name: "admin lists a user's sessions, API off", server: ctBare, status: 404,
			req: fixed(ctReq("GET", "/admin/v1/users/u/sessions", admin))},
		{name: "admin lists a user's sessions with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("GET", "/admin/v1/users/u/sessions", admin))},

		// DELETE /admin/v1/users/{id}/sessions
		{name: "admin logs a user out", server: ctMain, status: 200,
			req: func(f *contractFixture) ctRequest {
				return ctReq("DELETE", "/admin/v1/users/"+f.session(ctMain).Session.UserID+"/sessions", admin)
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if a.body["revoked"] != float64(1) {
					return fmt.Errorf("revoked %v, want 1", a.body["revoked"])
				}
				return nil
			}},
		{name: "admin logs out a user id over 256 bytes", server: ctMain, status: 400,
			req: fixed(ctReq("DELETE", "/admin/v1/users/"+longID+"/sessions", admin))},
		{name: "admin lists the sessions of a user id over 256 bytes", server: ctMain, status: 400,
			req: fixed(ctReq("GET", "/admin/v1/users/"+longID+"/sessions", admin))},
		{name: "admin logs a user out with a wrong token", server: ctMain, status: 401,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u/sessions", ctBearer("not-the-admin-token")))},
		{name: "admin logs a user out from another site", server: ctMain, status: 403,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u/sessions", admin, ctCrossSite))},
		{name: "admin logs a user out, API off", server: ctBare, status: 404,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u/sessions", admin))},
		{name: "admin logs a user out with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("DELETE", "/admin/v1/users/u/sessions", admin))},

		// PUT /admin/v1/users/{id}/claims
		{name: "admin sets a user's claims", server: ctMain, status: 200,
			req: put(adminClaims, `{"claims":{"role":"viewer"}}`, admin), check: count("updated", 1)},
		{name: "admin sets a user's claims and ends the sessions", server: ctMain, status: 200,
			req: put(adminClaims, `{"claims":{"role":"viewer"},"revoke_sessions":true}`, admin), check: count("revoked", 1)},
		{name: "admin sets a claim the server does not issue", server: ctMain, status: 400,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctJSON(`{"claims":{"scope":"all"}}`)))},
		{name: "admin sets claims with an unknown member", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctJSON(`{"claims":{},"revoke":true}`)))},
		{name: "admin sets claims without the token", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", ctJSON(`{"claims":{}}`)))},
		{name: "admin sets claims with a wrong token", server: ctMain, status: 401,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", ctBearer("not-the-admin-token"), ctJSON(`{"claims":{}}`)))},
		{name: "admin sets claims from another site", server: ctMain, status: 403,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctJSON(`{"claims":{}}`), ctCrossSite))},
		{name: "admin sets claims, API off", server: ctBare, status: 404,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctJSON(`{"claims":{}}`)))},
		{name: "admin sets claims over 16 KiB", server: ctMain, status: 413,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctJSON(`{"claims":{"role":"`+big+`"}}`)))},
		{name: "admin sets claims as a form", server: ctMain, status: 415, outside: true,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctForm(url.Values{"claims": {"{}"}})))},
		{name: "admin sets claims with the store down", server: ctDown, status: 503,
			req: fixed(ctReq("PUT", "/admin/v1/users/u/claims", admin, ctJSON(`{"claims":{}}`)))},

		// DELETE /admin/v1/sessions/{id}
		{name: "admin revokes a session", server: ctMain, status: 204,
			req: func(f *contractFixture) ctRequest {
				return ctReq("DELETE", "/admin/v1/sessions/"+f.session(ctMain).Session.ID, admin)
			}},
		{name: "admin revokes a session without the token", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("DELETE", "/admin/v1/sessions/x"))},
		{name: "admin revokes a session from another site", server: ctMain, status: 403,
			req: fixed(ctReq("DELETE", "/admin/v1/sessions/x", admin, ctCrossSite))},
		{name: "admin revokes a missing session", server: ctMain, status: 404, req: fixed(ctReq("DELETE", "/admin/v1/sessions/x", admin))},
		{name: "admin revokes a session with the store down", server: ctDown, status: 503,
			req: func(f *contractFixture) ctRequest {
				return ctReq("DELETE", "/admin/v1/sessions/"+f.server(ctDown).spare.Session.ID, admin)
			}},

		// GET /admin/v1/keys
		{name: "admin lists keys", server: ctMain, status: 200, req: fixed(ctReq("GET", "/admin/v1/keys", admin))},
		{name: "admin lists keys with a wrong token", server: ctMain, status: 401,
			req: fixed(ctReq("GET", "/admin/v1/keys", ctBearer("not-the-admin-token")))},
		{name: "admin lists keys, API off", server: ctBare, status: 404, req: fixed(ctReq("GET", "/admin/v1/keys", admin))},

		// POST /admin/v1/keys/rotate
		{name: "admin rotates keys", server: ctMain, status: 200, req: fixed(ctReq("POST", "/admin/v1/keys/rotate", admin)),
			check: func(_ *contractFixture, a ctAnswer) error {
				if keys, _ := a.body["keys"].([]any); len(keys) < 2 {
					return fmt.Errorf("%d keys after a rotation, want the old and the new", len(keys))
				}
				return nil
			}},
		{name: "admin rotates keys with now=maybe", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("POST", "/admin/v1/keys/rotate?now=maybe", admin))},
		{name: "admin rotates keys without the token", server: ctMain, status: 401, outside: true,
			req: fixed(ctReq("POST", "/admin/v1/keys/rotate"))},
		{name: "admin rotates keys from another site", server: ctMain, status: 403,
			req: fixed(ctReq("POST", "/admin/v1/keys/rotate", admin, ctCrossSite))},
		{name: "admin rotates keys, API off", server: ctBare, status: 404, req: fixed(ctReq("POST", "/admin/v1/keys/rotate", admin))},
		{name: "admin rotates keys with the store down", server: ctDown, status: 503, req: fixed(ctReq("POST", "/admin/v1/keys/rotate", admin))},

		// Discovery.
		{name: "jwks", server: ctMain, status: 200, req: fixed(ctReq("GET", "/.well-known/jwks.json"))},
		{name: "authorization-server metadata", server: ctMain, status: 200, req: fixed(ctReq("GET", "/.well-known/oauth-authorization-server"))},
		{name: "authorization-server metadata without an issuer URL", server: ctBare, status: 404,
			req: fixed(ctReq("GET", "/.well-known/oauth-authorization-server"))},
		{name: "openapi.json", server: ctMain, status: 200, req: fixed(ctReq("GET", "/openapi.json")),
			check: func(f *contractFixture, a ctAnswer) error {
				if a.raw != string(f.doc) {
					return fmt.Errorf("the served document is not openapi.json")
				}
				if a.header.Get("Content-Type") != "application/json" {
					return fmt.Errorf("Content-Type %q", a.header.Get("Content-Type"))
				}
				return nil
			}},
		{name: "openapi.json, not modified", server: ctMain, status: 304,
			req: func(f *contractFixture) ctRequest {
				a := f.exchange(ctMain, "openapi.json for its ETag", false, ctReq("GET", "/openapi.json"), 200)
				return ctReq("GET", "/openapi.json", ctHeader("If-None-Match", `W/"other", `+a.header.Get("ETag")))
			},
			check: func(_ *contractFixture, a ctAnswer) error {
				if a.raw != "" {
					return fmt.Errorf("a 304 with a body")
				}
				return nil
			}},

		// Operations.
		{name: "healthz", server: ctMain, status: 200, req: fixed(ctReq("GET", "/healthz"))},
		{name: "readyz", server: ctMain, status: 200, req: fixed(ctReq("GET", "/readyz"))},
		{name: "readyz with the store down", server: ctDown, status: 503, req: fixed(ctReq("GET", "/readyz"))},
		{name: "readyz on a full disk", server: ctFull, status: 507, req: fixed(ctReq("GET", "/readyz"))},
		{name: "metrics", server: ctMain, status: 200, req: fixed(ctReq("GET", "/metrics"))},

		// UI entry points.
		{name: "ui config", server: ctMain, status: 200, req: fixed(ctReq("GET", "/ui/config.json"))},
		{name: "login page", server: ctMain, status: 200, req: fixed(ctReq("GET", "/ui/login")), check: page(html, `id="login-form"`)},
		{name: "login page with a return_to", server: ctMain, status: 200,
			req: fixed(ctReq("GET", loginFor(orders))), check: page(html, `id="login-form"`)},
		{name: "login page with a return_to of a return_to origin", server: ctMain, status: 200,
			req: fixed(ctReq("GET", loginFor(ctReturnOrigin+"/cart"))), check: page(html, `id="login-form"`)},
		{name: "login page with a return_to naming another host", server: ctMain, status: 400,
			req: fixed(ctReq("GET", loginFor("//evil.example/"))), check: refused},
		{name: "login page with return_to given twice", server: ctMain, status: 400,
			req: fixed(ctReq("GET", loginFor(orders)+"&return_to=%2F")), check: refused},
		{name: "login page with a return_to with a space", server: ctMain, status: 400, outside: true,
			req: fixed(ctReq("GET", loginFor("/a b"))), check: refused},
		{name: "signup page", server: ctMain, status: 200, req: fixed(ctReq("GET", "/ui/signup")), check: page(html, `id="signup-form"`)},
		{name: "signup page with a return_to, signup off", server: ctBare, status: 200,
			req: fixed(ctReq("GET", "/ui/signup?return_to="+url.QueryEscape(orders))), check: page(html, `id="signup-form"`)},
		{name: "signup page with a javascript: return_to", server: ctMain, status: 400,
			req: fixed(ctReq("GET", "/ui/signup?return_to="+url.QueryEscape("javascript:alert(1)"))), check: refused},
		{name: "continue to the return_to", server: ctMain, status: 302,
			req: fixed(ctReq("GET", "/ui/continue?return_to="+url.QueryEscape(orders))), check: location(orders)},
		{name: "continue to a return_to origin", server: ctMain, status: 302,
			req:   fixed(ctReq("GET", "/ui/continue?return_to="+url.QueryEscape(ctReturnOrigin+"/cart"))),
			check: location(ctReturnOrigin + "/cart")},
		{name: "continue without a return_to", server: ctMain, status: 302,
			req: fixed(ctReq("GET", "/ui/continue")), check: location("/ui/devices")},
		{name: "continue to another origin", server: ctMain, status: 400,
			req: fixed(ctReq("GET", "/ui/continue?return_to="+url.QueryEscape("https://evil.example/"))), check: refused},
		{name: "root", server: ctMain, status: 302, req: fixed(ctReq("GET", "/"))},
	}
	cases = append(cases, reauthContractCases()...)
	return append(cases, credThrottledCases(cases)...)
}

// credThrottledCases are the 429 of every operation behind the admin token
// or client credentials: on ctLimited (one failure allowed per address an
// hour), an address of its own fails twice (401, then 429: the block
// begins), and the case's request, one of cases sent again from that
// address, is refused 429 whatever it carries.
func credThrottledCases(cases []contractCase) []contractCase {
	twins := []string{
		"admin lists users with a wrong token", "admin lists a user's sessions", "admin logs a user out with a wrong token",
		"admin sets claims with a wrong token", "admin revokes a session", "admin lists keys with a wrong token", "admin rotates keys",
		"introspect with a wrong secret", "revoke without client credentials", "mint with a wrong secret",
		"a client lists a user's sessions with a wrong secret", "a client logs a user out with a wrong secret",
		"a client sets claims with a wrong secret", "admin deletes a user with a wrong token",
	}
	var out []contractCase
	for i, name := range twins {
		j := slices.IndexFunc(cases, func(c contractCase) bool { return c.name == name })
		if j < 0 {
			panic("credThrottledCases: no case " + name)
		}
		orig := cases[j]
		ip := ctHeader("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		wrong := ctReq("GET", "/admin/v1/keys", ctBearer("not-the-admin-token-0123456789abcdef"), ip)
		if !strings.HasPrefix(name, "admin") {
			wrong = ctReq("POST", "/v1/introspect", ctBasic("api", "wrong"), ctForm(url.Values{"token": {"x"}}), ip)
		}
		out = append(out, contractCase{name: name + ", from an address over the failed-authentication limit", server: ctLimited, status: 429,
			req: func(f *contractFixture) ctRequest {
				f.exchange(ctLimited, "the one failure this address may have", false, wrong, 401)
				f.exchange(ctLimited, "the failure that blocks the address", false, wrong, 429)
				return withOpts(orig.req(f), ip)
			}})
	}
	return out
}

// ctExcludedRoutes are the routes the document leaves out, and why; each
// must be a route the server has.
var ctExcludedRoutes = map[string]string{
	"GET /ui/": "the embedded pages' files but their entry points (the devices page, CSS, JavaScript, the icon), left out as the document's description says",
}

const contractAdminToken = "admin-token-0123456789abcdef0123456789"

func TestOpenAPIContract(t *testing.T) {
	f := newContractFixture(t)
	for _, c := range contractCases() {
		a := f.exchange(c.server, c.name, c.outside, c.req(f), c.status)
		if c.check != nil && a.status == c.status {
			if err := c.check(f, a); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	}

	// (a) Every route of the server is documented, every operation is a route.
	patterns := server.RoutePatterns(f.server(ctMain).e.srv)
	if missing, stale := ctRoutesVersusDocument(patterns, ctExcludedRoutes, f.operations()); len(missing)+len(stale) > 0 {
		t.Errorf("routes without an operation in openapi.json: %v; operations without a route: %v", missing, stale)
	}
	for p := range ctExcludedRoutes {
		if !slices.Contains(patterns, p) {
			t.Errorf("ctExcludedRoutes names %q, which the server does not register", p)
		}
	}

	// (b) Every documented status of every operation was answered.
	if missing := ctUnexercised(f.documented(), f.seen); len(missing) > 0 {
		t.Errorf("documented answers no case produced (add cases to contractCases): %v", missing)
	}

	// The answers to paths and methods outside the operations.
	f.checkComponent("UnknownPath", ctReq("GET", "/v1/no-such-endpoint"), 404)
	f.checkComponent("MethodNotAllowed", ctReq("PUT", "/v1/session"), 405)
	f.checkComponent("MethodNotAllowed", ctReq("OPTIONS", "/v1/session"), 405)

	// CORS preflights, which the document describes in its description.
	preflight := func(path, origin, method, headers string) ctRequest {
		r := ctReq("OPTIONS", path, ctHeader("Origin", origin), ctHeader("Access-Control-Request-Method", method))
		if headers != "" {
			r.header.Set("Access-Control-Request-Headers", headers)
		}
		return r
	}
	f.checkPreflight(preflight("/v1/sessions/x", ctCORSOrigin, "DELETE", "authorization, x-csrf-token"), map[string]string{
		"Access-Control-Allow-Origin":      ctCORSOrigin,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "DELETE",
		"Access-Control-Allow-Headers":     "Authorization, " + httpauth.CSRFHeader,
		"Access-Control-Max-Age":           "600",
	})
	for _, r := range []ctRequest{
		preflight("/v1/session", "https://evil.example", "GET", ""), // an origin not listed
		preflight("/v1/sessions", ctCORSOrigin, "POST", ""),         // minting is not open to pages
		preflight("/v1/introspect", ctCORSOrigin, "POST", ""),       // nor is any service client's route
		preflight("/v1/login", ctCORSOrigin, "POST", "x-api-key"),   // a request header not allowed
	} {
		f.checkPreflight(r, nil)
	}
}

// ctWantCORS checks the CORS headers of an answer to a page of
// ctCORSOrigin: those the document's description names when open is
// true, none at all otherwise; Vary: Origin either way (a /v1 answer).
func ctWantCORS(h http.Header, open bool) error {
	want := map[string]string{
		"Access-Control-Allow-Origin":      ctCORSOrigin,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "Retry-After, WWW-Authenticate",
	}
	for k, v := range want {
		if got := h.Get(k); open && got != v || !open && got != "" {
			return fmt.Errorf("%s = %q (open to the origin: %v)", k, got, open)
		}
	}
	if !slices.Contains(h.Values("Vary"), "Origin") {
		return fmt.Errorf("Vary = %q, want Origin", h.Values("Vary"))
	}
	return nil
}

// checkPreflight sends the CORS preflight r to ctMain: with want, it must
// be answered 204 with exactly those CORS headers; without, 403 forbidden,
// an Error, and no CORS header at all.
func (f *contractFixture) checkPreflight(r ctRequest, want map[string]string) {
	t := f.t
	t.Helper()
	s := f.server(ctMain)
	req, _ := http.NewRequest(r.method, s.e.http.URL+r.path, nil)
	req.Header = r.header.Clone()
	res, err := s.e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	what := fmt.Sprintf("preflight %s from %s for %s", r.path, r.header.Get("Origin"), r.header.Get("Access-Control-Request-Method"))
	for k, vs := range res.Header {
		if strings.HasPrefix(k, "Access-Control-") && want[k] != strings.Join(vs, ", ") {
			t.Errorf("%s: %s = %q, want %q", what, k, vs, want[k])
		}
	}
	if want != nil {
		if res.StatusCode != http.StatusNoContent {
			t.Errorf("%s: %d %s, want 204", what, res.StatusCode, raw)
		}
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got, v)
			}
		}
		return
	}
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("%s: %d %s, want 403", what, res.StatusCode, raw)
	}
	schema := f.model.Components.Schemas.GetOrZero("Error").Schema()
	if ok, errs := schema_validation.NewSchemaValidator(vconfig.WithFormatAssertions()).ValidateSchemaBytes(schema, raw); !ok ||
		!strings.Contains(string(raw), `"error":"forbidden"`) {
		t.Errorf("%s: body %s is not a forbidden Error: %s", what, raw, ctErrors(errs))
	}
}

// TestOpenAPIContractChecksBite shows that each check of the contract test
// fails when it should: on answers that break the document, on a route the
// document lacks, on a documented status no case answered.
func TestOpenAPIContractChecksBite(t *testing.T) {
	f := newContractFixture(t)
	good := f.exchange(ctMain, "a session to break", false, ctReq("GET", "/v1/session", ctBearer(f.session(ctMain).AccessToken)), 200)
	req := f.validationRequest(ctReq("GET", "/v1/session", ctBearer("x")))
	if errs := f.validateAnswer(req, good); len(errs) > 0 {
		t.Fatalf("the real answer does not validate: %v", errs)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(good.raw), &body); err != nil {
		t.Fatal(err)
	}
	broken := func(mod func(a *ctAnswer)) ctAnswer {
		a := ctAnswer{status: good.status, header: good.header.Clone(), raw: good.raw}
		mod(&a)
		return a
	}
	withBody := func(mod func(m map[string]any)) func(a *ctAnswer) {
		return func(a *ctAnswer) {
			m := map[string]any{}
			for k, v := range body {
				m[k] = v
			}
			mod(m)
			b, _ := json.Marshal(m)
			a.raw = string(b)
		}
	}
	for _, tc := range []struct {
		name string
		a    ctAnswer
	}{
		{"a required member missing", broken(withBody(func(m map[string]any) { delete(m, "id") }))},
		{"an undocumented member", broken(withBody(func(m map[string]any) { m["password"] = "x" }))},
		{"a member of the wrong type", broken(withBody(func(m map[string]any) { m["current"] = "yes" }))},
		{"a time that is not RFC 3339", broken(withBody(func(m map[string]any) { m["created_at"] = "yesterday" }))},
		{"not JSON", broken(func(a *ctAnswer) { a.raw = "<html>" })},
		{"another content type", broken(func(a *ctAnswer) { a.header.Set("Content-Type", "text/plain") })},
		{"Cache-Control missing", broken(func(a *ctAnswer) { a.header.Del("Cache-Control") })},
		{"a cacheable answer", broken(func(a *ctAnswer) { a.header.Set("Cache-Control", "public, max-age=60") })},
		{"an undocumented status", broken(func(a *ctAnswer) { a.status = http.StatusTeapot })},
	} {
		if errs := f.validateAnswer(req, tc.a); len(errs) == 0 {
			t.Errorf("%s: the broken answer validates", tc.name)
		}
	}
	// The document refuses a request outside it.
	if ok, _ := f.v.ValidateHttpRequestSync(f.validationRequest(ctReq("GET", "/v1/sessions?limit=1000", ctBearer("x")))); ok {
		t.Error("a limit of 1000 validates")
	}

	ops := f.operations()
	if missing, _ := ctRoutesVersusDocument([]string{"GET /v1/session", "POST /v1/ghost"}, nil, ops); !slices.Equal(missing, []string{"POST /v1/ghost"}) {
		t.Errorf("an undocumented route: missing = %v, want [POST /v1/ghost]", missing)
	}
	if _, stale := ctRoutesVersusDocument([]string{"GET /v1/session"}, nil, ops); !slices.Contains(stale, "GET /v1/sessions") {
		t.Errorf("an operation without a route is not reported: %v", stale)
	}
	seen := map[string]int{}
	for k := range f.documented() {
		seen[k] = 1
	}
	delete(seen, "GET /v1/session 429")
	if missing := ctUnexercised(f.documented(), seen); !slices.Equal(missing, []string{"GET /v1/session 429"}) {
		t.Errorf("an unexercised status: %v, want [GET /v1/session 429]", missing)
	}
}

// ctRoutesVersusDocument compares the server's route patterns (less the
// excluded ones) with the document's operations ("METHOD /path"): the
// routes the document lacks and the operations no route serves.
func ctRoutesVersusDocument(patterns []string, excluded map[string]string, ops []string) (missing, stale []string) {
	routes := map[string]bool{}
	for _, p := range patterns {
		if _, ok := excluded[p]; ok {
			continue
		}
		routes[ctOperationOf(p)] = true
	}
	for r := range routes {
		if !slices.Contains(ops, r) {
			missing = append(missing, r)
		}
	}
	for _, op := range ops {
		if !routes[op] {
			stale = append(stale, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	return missing, stale
}

// ctOperationOf is the OpenAPI operation ("METHOD /path/{param}") of a
// ServeMux pattern: "GET /{$}" is "GET /". A pattern without a method, or
// with a trailing wildcard ("{rest...}") or a subtree ("/x/"), has no
// operation of the same shape and comes back unchanged, so that it is
// reported as missing from the document.
func ctOperationOf(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return pattern
	}
	if p, ok := strings.CutSuffix(path, "{$}"); ok {
		path = p
	}
	return method + " " + path
}

// ctUnexercised lists the documented "METHOD /path status" that were never
// answered.
func ctUnexercised(documented map[string]bool, seen map[string]int) []string {
	var out []string
	for k := range documented {
		if seen[k] == 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// contractFixture holds the document, its validator, the servers and what
// the cases have exercised.
type contractFixture struct {
	t       *testing.T
	doc     []byte
	model   *v3.Document
	v       validator.Validator
	opts    *vconfig.ValidationOptions
	servers map[string]*ctServer
	seen    map[string]int // "METHOD /path status" answered
	serial  int
}

// ctServer is a running server of the contract test.
type ctServer struct {
	e *env
	// tokens and spare are of two sessions made at start (on ctDown,
	// before the store went down): a failed revocation still revokes
	// locally, so a case that needs a session this node never revoked
	// uses spare.
	tokens, spare *session.Tokens
	// email is an account of the server (ctMain), made on first use.
	email string
}

func newContractFixture(t *testing.T) *contractFixture {
	t.Helper()
	doc, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if m.Model.Version != "3.1.0" {
		t.Fatalf("openapi.json is OpenAPI %s, want 3.1.0", m.Model.Version)
	}
	opts := []vconfig.Option{
		vconfig.WithFormatAssertions(),
		vconfig.WithStandardBodyDecoders(),
		vconfig.WithBodyDecoder("application/openmetrics-text", content.TextDecoder()),
		vconfig.WithRejectUnsupportedBodyContent(),
		vconfig.WithRejectUndeclaredRequestBody(),
	}
	v, errs := validator.NewValidator(d, opts...)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("openapi.json is not a valid OpenAPI 3.1 document: %s", ctErrors(verrs))
	}
	return &contractFixture{t: t, doc: doc, model: &m.Model, v: v, opts: vconfig.NewValidationOptions(opts...),
		servers: map[string]*ctServer{}, seen: map[string]int{}}
}

// server returns the named server, starting it on first use.
func (f *contractFixture) server(name string) *ctServer {
	if s, ok := f.servers[name]; ok {
		return s
	}
	t := f.t
	on, off := true, false
	clients := ctClients(t)
	generous := ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
	s := &ctServer{}
	switch name {
	case ctMain:
		s.e = newEnv(t, func(c *config) {
			ctMailer(t)(c)
			clients(c)
			c.Node.Claims = ctClaims
			c.Server.CORSOrigins = []string{ctCORSOrigin}
			c.Server.ReturnToOrigins = []string{ctReturnOrigin}
			c.Server.AllowSignup = &on
			c.Server.LoginPerIP = generous
			c.Server.CredentialFailures = generous
		})
	case ctBare:
		s.e = newEnv(t, func(c *config) { c.Node.Issuer, c.Server.AllowSignup = "", &off })
	case ctLimited:
		once := ratelimit.Limit{Rate: 1, Period: time.Hour} // no burst: one at once
		s.e = newEnv(t, func(c *config) {
			ctMailer(t)(c)
			clients(c)
			c.Server.CredentialFailures = once
			c.Server.ResetRequestsPerIP, c.Server.ResetUsesPerIP = once, once
			c.Server.AllowSignup = &on
			c.Server.LoginPerIP, c.Server.SessionLimit = once, once
			c.Server.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		})
	case ctDown:
		rp := testenv.StartRedis(t)
		st, err := redisstore.Open(context.Background(), rp.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s.e = newEnv(t, func(c *config) {
			ctMailer(t)(c)
			clients(c)
			c.Node.Backend, c.Node.Shared, c.Node.StoreTimeout = st, true, 300*time.Millisecond
			c.Server.AllowSignup = &on
		})
		s.tokens, s.spare = f.login(s.e, "down-user"), f.login(s.e, "down-user")
		rp.Kill()
	case ctFull:
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount a 4 MiB tmpfs on %s (needs root): %v %s", dir, err, out)
		}
		t.Cleanup(func() { // registered before the node's, so it runs after the node is closed
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", dir, err, out)
			}
		})
		s.e = newEnv(t, func(c *config) { c.Node.Backend, c.Node.Store = nil, "bolt://"+filepath.Join(dir, "data") })
		fill, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = fill.Write(make([]byte, 64<<10))
		}
		fill.Close()
		if !errorsIsENOSPC(err) {
			t.Fatalf("filling the disk ended with %v, want ENOSPC", err)
		}
	default:
		t.Fatalf("no server %q", name)
	}
	f.servers[name] = s
	return s
}

// login makes a session for userID with the node's Manager (no request).
func (f *contractFixture) login(e *env, userID string) *session.Tokens {
	f.t.Helper()
	tk, err := e.srv.Node().Manager().Login(context.Background(), userID, session.Meta{AuthMethod: "password"})
	if err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// grant starts a session of g on the named server with the node's Manager
// (no request): a session as a service client mints it.
func (f *contractFixture) grant(name string, g session.Grant) *session.Tokens {
	f.t.Helper()
	tk, err := f.server(name).e.srv.Node().Manager().Start(context.Background(), g)
	if err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// resetToken signs up email on the named server (through the API), logs
// it in once (so a reset has a session to end) and issues a reset token
// for it as an operator would.
func (f *contractFixture) resetToken(name, email string) string {
	f.t.Helper()
	e := f.server(name).e
	f.exchange(name, "sign up an account to reset", false, ctReq("POST", "/v1/signup",
		ctJSON(`{"email":"`+email+`","password":"`+ctPassword+`"}`)), 201)
	f.exchange(name, "log in the account to reset", false, ctReq("POST", "/v1/login",
		ctJSON(`{"email":"`+email+`","password":"`+ctPassword+`"}`)), 200)
	ri, err := e.srv.Node().Accounts().IssueReset(context.Background(), email)
	if err != nil {
		f.t.Fatal(err)
	}
	return ri.Token
}

// session makes a session of a new user on the named server.
func (f *contractFixture) session(name string) *session.Tokens {
	f.serial++
	return f.login(f.server(name).e, "user-"+strconv.Itoa(f.serial))
}

// sessionOf makes another session of userID on the named server.
func (f *contractFixture) sessionOf(name, userID string) *session.Tokens {
	return f.login(f.server(name).e, userID)
}

// account returns the email of an account of the named server, signing
// it up (through the API) on first use.
func (f *contractFixture) account(name string) string {
	s := f.server(name)
	if s.email == "" {
		s.email = "ann@example.com"
		f.exchange(name, "sign up the account of the cases", false, ctReq("POST", "/v1/signup",
			ctJSON(`{"email":"`+s.email+`","password":"`+ctPassword+`"}`)), 201)
	}
	return s.email
}

// ctCookies is a cookie-mode session.
type ctCookies struct{ id, access, refresh, csrf string }

// cookieSession logs the account in in cookie mode (through the API).
func (f *contractFixture) cookieSession(name string) ctCookies {
	return f.cookieLogin(name, f.account(name))
}

// freshAccount signs up a new account on the named server (through the
// API), for a case that deletes it, and returns its email and id.
func (f *contractFixture) freshAccount(name string) (email, id string) {
	f.serial++
	email = "doomed-" + strconv.Itoa(f.serial) + "@example.com"
	a := f.exchange(name, "sign up an account to delete", false, ctReq("POST", "/v1/signup",
		ctJSON(`{"email":"`+email+`","password":"`+ctPassword+`"}`)), 201)
	return email, a.str("user_id")
}

// cookieLogin logs the account email in in cookie mode (through the API).
func (f *contractFixture) cookieLogin(name, email string) ctCookies {
	a := f.exchange(name, "a cookie-mode login", false, ctReq("POST", "/v1/login", ctHeader(server.SessionModeHeader, "cookie"),
		ctJSON(`{"email":"`+email+`","password":"`+ctPassword+`"}`)), 200)
	c := ctCookies{id: a.str("session_id"), csrf: a.str("csrf_token")}
	for _, line := range a.header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			f.t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		switch ck.Name {
		case httpauth.AccessCookie:
			c.access = ck.Value
		case httpauth.RefreshCookie:
			c.refresh = ck.Value
		}
	}
	if c.access == "" || c.refresh == "" || c.csrf == "" {
		f.t.Fatalf("cookie-mode login: %v %s", a.header, a.raw)
	}
	return c
}

// ctRequest is a request of a contract case, to be sent to a server.
type ctRequest struct {
	method, path string
	header       http.Header
	body         string
}

// ctOpt sets something of a ctRequest.
type ctOpt func(*ctRequest)

func ctReq(method, path string, opts ...ctOpt) ctRequest {
	r := ctRequest{method: method, path: path, header: http.Header{}}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func withOpts(r ctRequest, opts ...ctOpt) ctRequest {
	r.header = r.header.Clone()
	for _, o := range opts {
		o(&r)
	}
	return r
}

func fixed(r ctRequest) func(*contractFixture) ctRequest {
	return func(*contractFixture) ctRequest { return r }
}

func ctHeader(k, v string) ctOpt { return func(r *ctRequest) { r.header.Add(k, v) } }
func ctBearer(tok string) ctOpt  { return ctHeader("Authorization", "Bearer "+tok) }
func ctBasic(id, secret string) ctOpt {
	return func(r *ctRequest) {
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(id, secret)
		r.header.Set("Authorization", req.Header.Get("Authorization"))
	}
}
func ctCookie(name, value string) ctOpt {
	return func(r *ctRequest) { r.header.Add("Cookie", (&http.Cookie{Name: name, Value: value}).String()) }
}
func ctBody(ctype, body string) ctOpt {
	return func(r *ctRequest) { r.header.Set("Content-Type", ctype); r.body = body }
}
func ctJSON(body string) ctOpt     { return ctBody("application/json", body) }
func ctForm(v url.Values) ctOpt    { return ctBody("application/x-www-form-urlencoded", v.Encode()) }
func (r ctRequest) String() string { return r.method + " " + r.path }

// ctCrossSite makes a request one a browser sends from another site.
var ctCrossSite = ctHeader("Sec-Fetch-Site", "cross-site")

// ctAnswer is what a server answered.
type ctAnswer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any // the body, when it is a JSON object
}

func (a ctAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

func (a ctAnswer) wantMembers(names ...string) error {
	for _, n := range names {
		if _, ok := a.body[n]; !ok {
			return fmt.Errorf("no %q in %s", n, a.raw)
		}
	}
	return nil
}

// ctSecurityHeaders are on every answer (the document says so in prose),
// but where the answer's own headers in the document name one of them.
var ctSecurityHeaders = map[string]string{
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Cross-Origin-Opener-Policy":   "same-origin",
}

// validationRequest is r as the validator sees it (its own copy of the body).
func (f *contractFixture) validationRequest(r ctRequest) *http.Request {
	req, err := http.NewRequest(r.method, "http://sessiond.test"+r.path, strings.NewReader(r.body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header = r.header.Clone()
	return req
}

// exchange sends r to the named server and validates the request and the
// answer against the document; a failure is reported under name. The
// answer's operation and status are counted as exercised.
func (f *contractFixture) exchange(name, what string, outside bool, r ctRequest, want int) ctAnswer {
	f.t.Helper()
	s := f.server(name)
	what = fmt.Sprintf("%s (%s on %s)", what, r, name)

	ok, errs := f.v.ValidateHttpRequestSync(f.validationRequest(r))
	switch {
	case !outside && !ok:
		f.t.Errorf("%s: the request does not validate: %s", what, ctErrors(errs))
	case outside && ok:
		f.t.Errorf("%s: the request is meant to be outside the document, but it validates", what)
	}

	req, err := http.NewRequest(r.method, s.e.http.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header = r.header.Clone()
	client := s.e.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
	a := ctAnswer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	if a.status != want {
		f.t.Errorf("%s: answered %d %s, want %d", what, a.status, a.raw, want)
	}
	vreq := f.validationRequest(r)
	for h, v := range ctSecurityHeaders {
		if got := a.header.Get(h); got != v && !f.declaresHeader(vreq, a.status, h) {
			f.t.Errorf("%s: %s = %q, want %q", what, h, got, v)
		}
	}
	if errs := f.validateAnswer(vreq, a); len(errs) > 0 {
		f.t.Errorf("%s: the answer %d does not validate: %s\n%s", what, a.status, strings.Join(errs, "; "), a.raw)
	}
	if op, ok := f.operationOf(vreq); ok {
		f.seen[op+" "+strconv.Itoa(a.status)]++
	}
	return a
}

// declaresHeader reports whether the document's answer with status to
// req names the header h itself: its value there (the pages' own
// Content-Security-Policy) stands instead of ctSecurityHeaders', and
// validateAnswer holds the answer to it.
func (f *contractFixture) declaresHeader(req *http.Request, status int, h string) bool {
	item, _, _ := paths.FindPath(req, f.model, f.opts)
	if item == nil {
		return false
	}
	op := item.GetOperations().GetOrZero(strings.ToLower(req.Method))
	if op == nil {
		return false
	}
	res := op.Responses.Codes.GetOrZero(strconv.Itoa(status))
	if res == nil || res.Headers == nil {
		return false
	}
	for name := range res.Headers.FromOldest() {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// operationOf names the documented operation of req ("METHOD /path").
func (f *contractFixture) operationOf(req *http.Request) (string, bool) {
	item, _, path := paths.FindPath(req, f.model, f.opts)
	if item == nil || item.GetOperations().GetOrZero(strings.ToLower(req.Method)) == nil {
		return "", false
	}
	return req.Method + " " + path, true
}

// validateAnswer validates a against the document's answers to req: its
// status must be one the operation names (not only "default"), its
// headers and body must validate.
func (f *contractFixture) validateAnswer(req *http.Request, a ctAnswer) []string {
	item, _, path := paths.FindPath(req, f.model, f.opts)
	if item == nil {
		return []string{"no operation in the document"}
	}
	op := item.GetOperations().GetOrZero(strings.ToLower(req.Method))
	if op == nil {
		return []string{"no operation in the document"}
	}
	var out []string
	if op.Responses.Codes.GetOrZero(strconv.Itoa(a.status)) == nil {
		out = append(out, fmt.Sprintf("status %d is not documented for %s %s", a.status, req.Method, path))
	}
	res := &http.Response{StatusCode: a.status, Header: a.header, Body: io.NopCloser(strings.NewReader(a.raw)), Request: req}
	if ok, errs := f.v.ValidateHttpResponse(req, res); !ok {
		out = append(out, ctErrors(errs))
	}
	return out
}

// operations lists the document's operations ("METHOD /path").
func (f *contractFixture) operations() []string {
	var out []string
	for path, item := range f.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	return out
}

// documented lists every "METHOD /path status" the document gives.
func (f *contractFixture) documented() map[string]bool {
	out := map[string]bool{}
	for path, item := range f.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			for code := range op.Responses.Codes.FromOldest() {
				out[strings.ToUpper(method)+" "+path+" "+code] = true
			}
		}
	}
	return out
}

// checkComponent sends r to ctMain and validates the answer against the
// document's components.responses[name], which describes answers outside
// the operations.
func (f *contractFixture) checkComponent(name string, r ctRequest, want int) {
	t := f.t
	t.Helper()
	comp := f.model.Components.Responses.GetOrZero(name)
	if comp == nil {
		t.Fatalf("openapi.json has no components.responses.%s", name)
	}
	s := f.server(ctMain)
	req, _ := http.NewRequest(r.method, s.e.http.URL+r.path, strings.NewReader(r.body))
	req.Header = r.header.Clone()
	res, err := s.e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		t.Errorf("%s: %d %s, want %d", r, res.StatusCode, raw, want)
	}
	if ok, errs := responses.ValidateResponseHeaders(req, res, comp.Headers, r.path, strconv.Itoa(want)); !ok {
		t.Errorf("%s: headers do not validate against %s: %s", r, name, ctErrors(errs))
	}
	media := comp.Content.GetOrZero("application/json")
	if ct := res.Header.Get("Content-Type"); media == nil || ct != "application/json" {
		t.Fatalf("%s: Content-Type %q; %s has no application/json", r, ct, name)
	}
	if ok, errs := schema_validation.NewSchemaValidator(vconfig.WithFormatAssertions()).ValidateSchemaBytes(media.Schema.Schema(), raw); !ok {
		t.Errorf("%s: body %s does not validate against %s: %s", r, raw, name, ctErrors(errs))
	}
	for h, v := range ctSecurityHeaders {
		if got := res.Header.Get(h); got != v {
			t.Errorf("%s: %s = %q, want %q", r, h, got, v)
		}
	}
}

// ctErrors says what the validator found, one line per error.
func ctErrors(errs []*liberrors.ValidationError) string {
	var b bytes.Buffer
	for _, e := range errs {
		fmt.Fprintf(&b, "\n\t%s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n\t\t%s at %s", s.Reason, s.InstancePath)
		}
	}
	return b.String()
}

// ctMailer gives a server a mailer: a real SMTP server of the test's own
// (STARTTLS, its certificate trusted), a sender and a public URL.
func ctMailer(t *testing.T) func(*config) {
	return func(c *config) {
		smtp := testenv.StartSMTP(t, testenv.SMTPOptions{STARTTLS: true})
		c.Node.Mailer = &mail.SMTP{Host: smtp.Host, Port: smtp.Port, TLSConfig: &tls.Config{RootCAs: smtp.RootCAs}}
		c.Server.MailFrom = "sessiond <no-reply@sessiond.test>"
		c.Server.PublicURL = "https://sessiond.test"
	}
}
