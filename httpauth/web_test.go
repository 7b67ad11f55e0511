package httpauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// pastAccessTTL is long enough for an access token to be refused: its
// lifetime and the verifier's leeway (30 s) are over.
const pastAccessTTL = session.DefaultAccessTTL + time.Minute

var testCSRFKey = []byte("Zp3Xq8Lw1Vt6Ns0Ry4Ku9Jm2Hb7Gf5Dc")

// webFixture is a Web over a memory store, an injected clock and a
// recorder of what the handler saw.
type webFixture struct {
	clock *clock
	m     *session.Manager
	web   *httpauth.Web
}

func newWebFixture(t *testing.T, mod func(*httpauth.WebConfig)) *webFixture {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	m := manager(t, c)
	cfg := httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, CookieName: "shop"}
	if mod != nil {
		mod(&cfg)
	}
	web, err := httpauth.NewWeb(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &webFixture{clock: c, m: m, web: web}
}

// login starts a session through Web.Login and returns the cookies it set.
func (f *webFixture) login(t *testing.T, user string, remember bool) map[string]*http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := f.web.Login(w, r, user, remember); err != nil {
			t.Fatal(err)
		}
	})).ServeHTTP(rec, r)
	return cookiesByName(t, rec.Header())
}

// request is one request of a test: method, cookies and a form body.
type request struct {
	method  string
	cookies map[string]*http.Cookie
	form    url.Values
	header  http.Header
}

// seen is what a handler under Load saw.
type seen struct {
	user       string // "" anonymous
	setCookies []string
	csrf       string
}

func (f *webFixture) serve(t *testing.T, h func(http.Handler) http.Handler, rq request) (*httptest.ResponseRecorder, *seen) {
	t.Helper()
	var got *seen
	handler := h(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = &seen{setCookies: slices.Clone(w.Header().Values("Set-Cookie")), csrf: httpauth.CSRFToken(r)}
		if id, ok := httpauth.FromContext(r.Context()); ok {
			got.user = id.UserID
		}
		w.Write([]byte("ok"))
	}))
	var body *strings.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(cmpOr(rq.method, "GET"), "/page", body)
	if rq.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range rq.header {
		r.Header[k] = v
	}
	for _, c := range rq.cookies {
		if c.MaxAge >= 0 && c.Value != "" {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, r)
	return rec, got
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// merge is the browser's cookie jar after a response: cookies set replace
// those of the same name, deleted ones go.
func merge(t *testing.T, jar map[string]*http.Cookie, h http.Header) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for k, v := range jar {
		out[k] = v
	}
	for name, c := range cookiesByName(t, h) {
		if c.MaxAge < 0 {
			delete(out, name)
			continue
		}
		out[name] = c
	}
	return out
}

func TestWebCookieNames(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", true)
	at, rt := jar["__Host-shop_at"], jar["__Host-shop_rt"]
	if at == nil || rt == nil || len(jar) != 2 {
		t.Fatalf("cookies %v", jar)
	}
	checks := []struct {
		what     string
		got, wnt any
	}{
		{"access Path", at.Path, "/"},
		{"access SameSite", at.SameSite, http.SameSiteLaxMode},
		{"access Secure/HttpOnly", at.Secure && at.HttpOnly, true},
		{"refresh Path", rt.Path, "/"},
		{"refresh SameSite", rt.SameSite, http.SameSiteLaxMode},
		{"refresh Secure/HttpOnly", rt.Secure && rt.HttpOnly, true},
		{"names from the Web", f.web.Cookies().AccessName() + " " + f.web.Cookies().RefreshName(), "__Host-shop_at __Host-shop_rt"},
	}
	for _, ch := range checks {
		if ch.got != ch.wnt {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.wnt)
		}
	}
}

// TestWebLoad: what Load makes of each state of the cookies. An expired
// or missing access cookie with a valid refresh cookie is refreshed
// in-band, the new cookies in the header before the handler runs; a
// session that cannot be used goes on anonymous with its cookies cleared.
func TestWebLoad(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the cookies to send, given a fresh session's.
		prepare   func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie
		user      string   // who the handler sees
		refreshed bool     // new cookies set before the handler ran
		cleared   []string // suffixes of the cookies deleted
	}{
		{"valid access cookie", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie { return jar }, "u1", false, nil},
		{"no cookies", func(*webFixture, map[string]*http.Cookie) map[string]*http.Cookie { return nil }, "", false, nil},
		{"access expired, refresh valid", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			f.clock.Add(pastAccessTTL)
			return jar
		}, "u1", true, nil},
		{"access gone, refresh valid", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			f.clock.Add(pastAccessTTL)
			return only(jar, "_rt")
		}, "u1", true, nil},
		{"access garbage, refresh valid", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			out := only(jar, "_rt")
			out["__Host-shop_at"] = &http.Cookie{Name: "__Host-shop_at", Value: "garbage"}
			return out
		}, "u1", true, nil},
		{"access garbage, no refresh", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			return map[string]*http.Cookie{"__Host-shop_at": {Name: "__Host-shop_at", Value: "garbage"}}
		}, "", false, []string{"_at"}},
		{"access expired, refresh forged", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			f.clock.Add(pastAccessTTL)
			forged, _ := token.NewRefreshToken([]byte("an attacker's key, not the server"), make([]byte, 16))
			jar["__Host-shop_rt"] = &http.Cookie{Name: "__Host-shop_rt", Value: forged}
			return jar
		}, "", false, []string{"_at", "_rt"}},
		{"session revoked", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			revokeAll(t, f.m, "u1")
			return jar
		}, "", false, []string{"_at", "_rt"}},
		{"access expired, session revoked", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			revokeAll(t, f.m, "u1")
			f.clock.Add(pastAccessTTL)
			return jar
		}, "", false, []string{"_at", "_rt"}},
		{"access expired, session past its absolute end", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			f.clock.Add(session.DefaultAbsoluteTimeout + time.Second)
			return jar
		}, "", false, []string{"_at", "_rt"}},
		{"cookies of sessiond's default names are not the Web's", func(f *webFixture, jar map[string]*http.Cookie) map[string]*http.Cookie {
			return map[string]*http.Cookie{
				httpauth.AccessCookie:  {Name: httpauth.AccessCookie, Value: jar["__Host-shop_at"].Value},
				httpauth.RefreshCookie: {Name: httpauth.RefreshCookie, Value: jar["__Host-shop_rt"].Value},
			}
		}, "", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newWebFixture(t, nil)
			jar := f.login(t, "u1", true)
			send := tc.prepare(f, jar)
			rec, got := f.serve(t, f.web.Load, request{cookies: send})
			if rec.Code != 200 || got == nil {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got.user != tc.user {
				t.Fatalf("handler saw user %q, want %q", got.user, tc.user)
			}
			set := cookiesByName(t, rec.Header())
			if tc.refreshed {
				if len(got.setCookies) != 2 {
					t.Fatalf("the handler ran with Set-Cookie %q, want the two new cookies", got.setCookies)
				}
				if set["__Host-shop_rt"] == nil || set["__Host-shop_rt"].Value == jar["__Host-shop_rt"].Value || set["__Host-shop_at"] == nil {
					t.Fatal("no new cookies after an in-band refresh")
				}
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Error("an answer that sets session cookies may be cached")
				}
				// The new cookies work without another refresh.
				next := merge(t, send, rec.Header())
				rec2, got2 := f.serve(t, f.web.Load, request{cookies: next})
				if got2.user != "u1" || len(rec2.Header().Values("Set-Cookie")) != 0 {
					t.Fatalf("after the refresh: user %q, Set-Cookie %q", got2.user, rec2.Header().Values("Set-Cookie"))
				}
				return
			}
			var cleared []string
			for name, c := range set {
				if c.MaxAge >= 0 {
					t.Errorf("%s set, not cleared", name)
				}
				cleared = append(cleared, name[len(name)-3:])
			}
			slices.Sort(cleared)
			if !slices.Equal(cleared, tc.cleared) {
				t.Fatalf("cleared %v, want %v", cleared, tc.cleared)
			}
		})
	}
}

func only(jar map[string]*http.Cookie, suffix string) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for k, v := range jar {
		if strings.HasSuffix(k, suffix) {
			out[k] = v
		}
	}
	return out
}

func revokeAll(t *testing.T, m *session.Manager, user string) {
	t.Helper()
	if _, err := m.RevokeUser(context.Background(), user, ""); err != nil {
		t.Fatal(err)
	}
}

// TestWebCSRF: an unsafe request of a session needs the session's token,
// in the header or the form field; OnError answers the refusal.
func TestWebCSRF(t *testing.T) {
	var hooked []string
	f := newWebFixture(t, func(c *httpauth.WebConfig) {
		c.OnError = func(w http.ResponseWriter, r *http.Request, status int, code string) {
			hooked = append(hooked, fmt.Sprint(status, " ", code))
			http.Error(w, "<p>refused</p>", status)
		}
	})
	jar := f.login(t, "u1", true)
	_, got := f.serve(t, f.web.Load, request{cookies: jar})
	tok := got.csrf
	other := f.login(t, "u2", true)
	_, gotOther := f.serve(t, f.web.Load, request{cookies: other})
	tests := []struct {
		name    string
		rq      request
		status  int
		reached bool
	}{
		{"form field", request{method: "POST", cookies: jar, form: url.Values{"csrf_token": {tok}, "item": {"tea"}}}, 200, true},
		{"header", request{method: "POST", cookies: jar, header: http.Header{"X-Csrf-Token": {tok}}}, 200, true},
		{"header wins over a bad field", request{method: "POST", cookies: jar, form: url.Values{"csrf_token": {"x"}}, header: http.Header{"X-Csrf-Token": {tok}}}, 200, true},
		{"none", request{method: "POST", cookies: jar, form: url.Values{"item": {"tea"}}}, 403, false},
		{"empty", request{method: "POST", cookies: jar, form: url.Values{"csrf_token": {""}}}, 403, false},
		{"another session's", request{method: "POST", cookies: jar, form: url.Values{"csrf_token": {gotOther.csrf}}}, 403, false},
		{"twice", request{method: "POST", cookies: jar, form: url.Values{"csrf_token": {tok, tok}}}, 403, false},
		{"wrong field name", request{method: "POST", cookies: jar, form: url.Values{"csrf": {tok}}}, 403, false},
		{"DELETE without", request{method: "DELETE", cookies: jar}, 403, false},
		{"GET needs none", request{method: "GET", cookies: jar}, 200, true},
		{"anonymous POST needs none", request{method: "POST", form: url.Values{"user": {"ann"}}}, 200, true},
		{"after the access cookie expired, form field", request{method: "POST", cookies: only(jar, "_rt"), form: url.Values{"csrf_token": {tok}}}, 200, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hooked = nil
			rec, got := f.serve(t, f.web.Load, tc.rq)
			if rec.Code != tc.status || (got != nil) != tc.reached {
				t.Fatalf("status %d, reached %v; want %d, %v", rec.Code, got != nil, tc.status, tc.reached)
			}
			if tc.status == 403 && (len(hooked) != 1 || hooked[0] != "403 csrf_failed" || !strings.Contains(rec.Body.String(), "<p>refused</p>")) {
				t.Fatalf("OnError not called as expected: %v %q", hooked, rec.Body)
			}
		})
	}
	t.Run("multipart form", func(t *testing.T) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("csrf_token", tok)
		mw.Close()
		r := httptest.NewRequest("POST", "/", &b)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		for _, c := range jar {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		rec := httptest.NewRecorder()
		f.web.Load(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	})
	t.Run("default answer names the form field", func(t *testing.T) {
		g := newWebFixture(t, nil)
		rec, _ := g.serve(t, g.web.Load, request{method: "POST", cookies: g.login(t, "u1", true)})
		if rec.Code != 403 || !strings.Contains(rec.Body.String(), "csrf_token form field") || strings.Contains(rec.Body.String(), "/v1/csrf") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}

// TestWebRequire: without a session, OnError answers 401 (here: a redirect
// to the login page), and the handler never runs.
func TestWebRequire(t *testing.T) {
	f := newWebFixture(t, func(c *httpauth.WebConfig) {
		c.OnError = func(w http.ResponseWriter, r *http.Request, status int, code string) {
			if status == http.StatusUnauthorized {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			http.Error(w, code, status)
		}
	})
	jar := f.login(t, "u1", true)
	tests := []struct {
		name     string
		cookies  map[string]*http.Cookie
		status   int
		location string
	}{
		{"session", jar, 200, ""},
		{"none", nil, 303, "/login?next=%2Fpage"},
		{"refresh only, after expiry", only(jar, "_rt"), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, got := f.serve(t, f.web.Require, request{cookies: tc.cookies})
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location || (got != nil) != (tc.status == 200) {
				t.Fatalf("%d %q reached %v", rec.Code, rec.Header().Get("Location"), got != nil)
			}
		})
	}
	t.Run("LoginURL", func(t *testing.T) {
		g := newWebFixture(t, func(c *httpauth.WebConfig) { c.LoginURL = "/login?from=shop" })
		for method, want := range map[string]string{"GET": "/login?from=shop&next=%2Fpage", "POST": "/login?from=shop"} {
			rec, got := g.serve(t, g.web.Require, request{method: method})
			if rec.Code != 303 || rec.Header().Get("Location") != want || got != nil {
				t.Fatalf("%s: %d %q", method, rec.Code, rec.Header().Get("Location"))
			}
		}
	})
	t.Run("default answer", func(t *testing.T) {
		g := newWebFixture(t, nil)
		rec, _ := g.serve(t, g.web.Require, request{})
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error":"unauthorized"`) {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}

// TestWebBurstAfterExpiry: a page left open past the access token's
// lifetime is reloaded with its assets, every request carrying the same
// expired access cookie and the same refresh cookie. Each refreshes in-band,
// all succeed and get the same refresh token (the grace window), theft
// detection is not tripped, and the session lives on.
func TestWebBurstAfterExpiry(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", true)
	f.clock.Add(pastAccessTTL)
	const n = 30
	var wg sync.WaitGroup
	users := make([]string, n)
	refresh := make([]string, n)
	for i := range n {
		wg.Go(func() {
			rec, got := f.serve(t, f.web.Load, request{cookies: jar})
			if got != nil {
				users[i] = got.user
			}
			if c := cookiesByName(t, rec.Header())["__Host-shop_rt"]; c != nil {
				refresh[i] = c.Value
			}
		})
	}
	wg.Wait()
	for i := range n {
		if users[i] != "u1" || refresh[i] == "" || refresh[i] != refresh[0] {
			t.Fatalf("request %d: user %q, refresh token same as the first: %v", i, users[i], refresh[i] == refresh[0])
		}
	}
	// The browser keeps the last answer's cookies; they work, and refresh
	// again when they expire in turn.
	next := map[string]*http.Cookie{}
	for k, v := range jar {
		next[k] = v
	}
	next["__Host-shop_rt"] = &http.Cookie{Name: "__Host-shop_rt", Value: refresh[0]}
	delete(next, "__Host-shop_at")
	f.clock.Add(pastAccessTTL)
	if _, got := f.serve(t, f.web.Load, request{cookies: next}); got == nil || got.user != "u1" {
		t.Fatalf("the next refresh after the burst failed: %+v", got)
	}
	if f.m.Revoked(sessionOf(t, f, next)) {
		t.Fatal("the burst was taken for theft")
	}
}

func sessionOf(t *testing.T, f *webFixture, jar map[string]*http.Cookie) string {
	t.Helper()
	raw, err := token.ParseRefreshToken(jar["__Host-shop_rt"].Value)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// TestWebRememberMe: a remembered login gets persistent cookies and the
// policy's lifetime; one not remembered gets browser-session cookies (no
// Max-Age, no Expires), a session of the shorter lifetime, and keeps both
// through in-band refreshes.
func TestWebRememberMe(t *testing.T) {
	tests := []struct {
		name       string
		remember   bool
		persistent bool
		lifetime   time.Duration
	}{
		{"remembered", true, true, session.DefaultAbsoluteTimeout},
		{"not remembered", false, false, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newWebFixture(t, func(c *httpauth.WebConfig) { c.BrowserSessionLifetime = 2 * time.Hour })
			start := f.clock.Now()
			rec := httptest.NewRecorder()
			var s *session.Session
			f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var err error
				if s, err = f.web.Login(w, r, "u1", tc.remember); err != nil {
					t.Fatal(err)
				}
			})).ServeHTTP(rec, httptest.NewRequest("POST", "/login", nil))
			if got := s.AbsExpiresAt.Sub(start); got != tc.lifetime {
				t.Fatalf("session lifetime %v, want %v", got, tc.lifetime)
			}
			checkPersistence(t, rec.Header(), tc.persistent)
			jar := cookiesByName(t, rec.Header())
			f.clock.Add(pastAccessTTL)
			rec2, got := f.serve(t, f.web.Load, request{cookies: jar})
			if got.user != "u1" {
				t.Fatal("no in-band refresh")
			}
			checkPersistence(t, rec2.Header(), tc.persistent)
			if !tc.persistent {
				f.clock.Add(tc.lifetime)
				if _, got := f.serve(t, f.web.Load, request{cookies: merge(t, jar, rec2.Header())}); got.user != "" {
					t.Fatal("a session not remembered outlived its lifetime")
				}
			}
		})
	}
}

func checkPersistence(t *testing.T, h http.Header, persistent bool) {
	t.Helper()
	lines := h.Values("Set-Cookie")
	if len(lines) != 2 {
		t.Fatalf("Set-Cookie %q", lines)
	}
	for _, l := range lines {
		has := strings.Contains(l, "Max-Age=") || strings.Contains(l, "Expires=")
		if has != persistent {
			t.Errorf("persistent %v, want %v: %s", has, persistent, l)
		}
	}
}

// TestWebLoginReplacesSession: logging in over a session ends it.
func TestWebLoginReplacesSession(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", true)
	old := sessionOf(t, f, jar)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", strings.NewReader("csrf_token="+csrfOf(t, f, jar)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range jar {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := f.web.Login(w, r, "u2", true); err != nil {
			t.Fatal(err)
		}
	})).ServeHTTP(rec, r)
	if rec.Code != 200 || !f.m.Revoked(old) {
		t.Fatalf("status %d; old session revoked: %v", rec.Code, f.m.Revoked(old))
	}
}

func csrfOf(t *testing.T, f *webFixture, jar map[string]*http.Cookie) string {
	t.Helper()
	_, got := f.serve(t, f.web.Load, request{cookies: jar})
	return got.csrf
}

// TestWebFlash: messages added are popped once, in order; popping when
// there are none writes nothing; two requests popping at once get them
// once between them.
func TestWebFlash(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", true)
	run := func(fn func(w http.ResponseWriter, r *http.Request)) {
		r := httptest.NewRequest("GET", "/", nil)
		for _, c := range jar {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		f.web.Load(http.HandlerFunc(fn)).ServeHTTP(httptest.NewRecorder(), r)
	}
	var pops [][]string
	pop := func(w http.ResponseWriter, r *http.Request) {
		msgs, err := f.web.PopFlash(r)
		if err != nil {
			t.Error(err)
		}
		pops = append(pops, msgs)
	}
	run(func(w http.ResponseWriter, r *http.Request) {
		if err := f.web.AddFlash(r, "added tea"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.web.Update(r, func(s *session.Session) error {
			if err := s.Set("cart", []string{"tea", "cake"}); err != nil {
				return err
			}
			return httpauth.AppendFlash(s, "added cake")
		}); err != nil {
			t.Fatal(err)
		}
	})
	run(pop)
	run(pop)
	if len(pops) != 2 || !slices.Equal(pops[0], []string{"added tea", "added cake"}) || pops[1] != nil {
		t.Fatalf("pops %q", pops)
	}
	s, err := f.m.Get(context.Background(), sessionOf(t, f, jar))
	if err != nil {
		t.Fatal(err)
	}
	if cart, _, _ := session.Get[[]string](s, "cart"); !slices.Equal(cart, []string{"tea", "cake"}) {
		t.Fatalf("cart %q: popping the flash changed other data", cart)
	}
	// Concurrent pops: the message is shown once.
	run(func(w http.ResponseWriter, r *http.Request) { f.web.AddFlash(r, "once") })
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			run(func(w http.ResponseWriter, r *http.Request) {
				msgs, err := f.web.PopFlash(r)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, msgs...)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	if !slices.Equal(got, []string{"once"}) {
		t.Fatalf("concurrent pops got %q, want it once", got)
	}
	// Without a session there is nothing to pop and no error.
	r := httptest.NewRequest("GET", "/", nil)
	f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msgs, err := f.web.PopFlash(r); msgs != nil || err != nil {
			t.Errorf("anonymous pop: %q %v", msgs, err)
		}
		if err := f.web.AddFlash(r, "x"); !errors.Is(err, httpauth.ErrNoSession) {
			t.Errorf("anonymous AddFlash: %v", err)
		}
	})).ServeHTTP(httptest.NewRecorder(), r)
}

// TestWebRenew: a new session id with the same user, data and absolute
// end; the old session ends at once.
func TestWebRenew(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", false)
	old := sessionOf(t, f, jar)
	oldSess, _ := f.m.Get(context.Background(), old)
	f.clock.Add(time.Minute)
	var renewed *session.Session
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range jar {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := f.web.Update(r, func(s *session.Session) error { return s.Set("cart", []string{"tea"}) }); err != nil {
			t.Fatal(err)
		}
		var err error
		if renewed, err = f.web.Renew(w, r, func(g *session.Grant) { g.AMR = []string{"pwd", "otp"} }); err != nil {
			t.Fatal(err)
		}
	})).ServeHTTP(rec, r)
	if renewed.ID == old || !f.m.Revoked(old) {
		t.Fatal("the old session lives on")
	}
	if cart, _, _ := session.Get[[]string](renewed, "cart"); !slices.Equal(cart, []string{"tea"}) {
		t.Fatalf("cart %q not carried over", cart)
	}
	if !renewed.AbsExpiresAt.Equal(oldSess.AbsExpiresAt) || renewed.UserID != "u1" || !slices.Equal(renewed.AMR, []string{"pwd", "otp"}) {
		t.Fatalf("renewed: abs %v (was %v), user %q, amr %v", renewed.AbsExpiresAt, oldSess.AbsExpiresAt, renewed.UserID, renewed.AMR)
	}
	checkPersistence(t, rec.Header(), false) // still not remembered
	next := cookiesByName(t, rec.Header())
	if _, got := f.serve(t, f.web.Load, request{cookies: next}); got.user != "u1" {
		t.Fatal("the renewed cookies do not work")
	}
	if _, got := f.serve(t, f.web.Load, request{cookies: jar}); got.user != "" {
		t.Fatal("the old cookies still work")
	}
	t.Run("without a session", func(t *testing.T) {
		f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := f.web.Renew(w, r, nil); !errors.Is(err, httpauth.ErrNoSession) {
				t.Fatalf("Renew = %v", err)
			}
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
}

// TestWebLogout: the session ends and both cookies are deleted.
func TestWebLogout(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", true)
	tok := csrfOf(t, f, jar)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/logout", strings.NewReader("csrf_token="+tok))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range jar {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f.web.Logout(w, r); err != nil {
			t.Fatal(err)
		}
	})).ServeHTTP(rec, r)
	for name, c := range cookiesByName(t, rec.Header()) {
		if c.MaxAge >= 0 {
			t.Errorf("%s not deleted", name)
		}
	}
	if !f.m.Revoked(sessionOf(t, f, jar)) {
		t.Fatal("the session lives on")
	}
}

// TestWebResponseController: the handler gets the ResponseWriter itself,
// so http.ResponseController can flush and set deadlines, and the cookies
// of an in-band refresh reach the browser even when the handler flushes
// at once.
func TestWebResponseController(t *testing.T) {
	f := newWebFixture(t, nil)
	jar := f.login(t, "u1", true)
	f.clock.Add(pastAccessTTL)
	srv := httptest.NewServer(f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		w.Write([]byte("streamed"))
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	for _, c := range jar {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := cookiesByName(t, res.Header); got["__Host-shop_rt"] == nil || got["__Host-shop_at"] == nil {
		t.Fatalf("the refreshed cookies did not reach the client: %v", res.Header.Values("Set-Cookie"))
	}
}

func TestNewWebRefuses(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	tests := []struct {
		name string
		cfg  httpauth.WebConfig
		says string
	}{
		{"no manager", httpauth.WebConfig{CSRFKey: testCSRFKey}, "a Manager, or a MasterKey and a Store, is required"},
		{"no CSRF key", httpauth.WebConfig{Manager: m}, "0 bytes"},
		{"all-zero CSRF key", httpauth.WebConfig{Manager: m, CSRFKey: make([]byte, 32)}, "all 32 bytes are zero"},
		{"cookie name with a prefix", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, CookieName: "__Host-shop"}, "the prefix is added"},
		{"cookie name with ';'", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, CookieName: "a;b"}, "invalid cookie layout"},
		{"cookie name too long", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, CookieName: strings.Repeat("a", 65)}, "limit is 64"},
		{"field with a space", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, CSRFField: "csrf token"}, "CSRF field"},
		{"lifetime over the policy's", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, BrowserSessionLifetime: 8 * 24 * time.Hour}, "browser-session lifetime"},
		{"lifetime under a minute", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, BrowserSessionLifetime: time.Second}, "browser-session lifetime"},
		{"master key and CSRF key", httpauth.WebConfig{Manager: m, MasterKey: testRefreshKey, CSRFKey: testCSRFKey}, "not both"},
		{"master key without a store", httpauth.WebConfig{MasterKey: testRefreshKey}, "a MasterKey and a Store"},
		{"all-zero master key", httpauth.WebConfig{MasterKey: make([]byte, 32), Store: memstore.New()}, "all 32 bytes are zero"},
		{"bad policy", httpauth.WebConfig{MasterKey: testRefreshKey, Store: memstore.New(), Policy: session.Policy{AccessTTL: 2 * time.Hour}}, "access TTL"},
		{"login URL of another site", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, LoginURL: "//evil.example/login"}, "login URL"},
		{"login URL absolute", httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, LoginURL: "https://evil.example/login"}, "login URL"},
		{"nothing", httpauth.WebConfig{}, "0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := httpauth.NewWeb(context.Background(), tc.cfg)
			if err == nil || w != nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("NewWeb = %v, %v; want an error saying %q", w, err, tc.says)
			}
		})
	}
}

func TestCSRFField(t *testing.T) {
	f := newWebFixture(t, func(c *httpauth.WebConfig) { c.CSRFField = "authenticity_token" })
	jar := f.login(t, "u1", true)
	var field, anon string
	h := f.web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := httpauth.FromContext(r.Context()); ok {
			field = string(httpauth.CSRFField(r))
		} else {
			anon = string(httpauth.CSRFField(r))
		}
	}))
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range jar {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	want := `<input type="hidden" name="authenticity_token" value="` + f.web.CSRF().Token(sessionOf(t, f, jar)) + `">`
	if field != want || anon != "" {
		t.Fatalf("field %q (want %q), anonymous %q", field, want, anon)
	}
	if got := httpauth.CSRFField(httptest.NewRequest("GET", "/", nil)); got != "" {
		t.Fatalf("outside Load: %q", got)
	}
}

// TestWebFromMasterKey: one master key and a store make the whole Web. A
// second Web on the same store and key (another node, or a restart) reads
// the first one's cookies: the key ring is kept in the store, sealed, and
// the refresh and CSRF keys are derived the same way.
func TestWebFromMasterKey(t *testing.T) {
	st := memstore.New()
	c := &clock{t: time.Now().Truncate(time.Second)}
	master := []byte("Qw8Er4Ty6Ui2Op0As5Df7Gh1Jk3Lz9Xc")
	mk := func() *httpauth.Web {
		w, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{MasterKey: master, Store: st, Now: c.Now, CookieName: "shop", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	one, two := mk(), mk()
	f1 := &webFixture{clock: c, m: one.Manager(), web: one}
	f2 := &webFixture{clock: c, m: two.Manager(), web: two}
	jar := f1.login(t, "u1", true)
	_, got := f2.serve(t, two.Load, request{cookies: jar})
	if got == nil || got.user != "u1" {
		t.Fatal("the second Web does not read the first one's access cookie")
	}
	if got.csrf != csrfOf(t, f1, jar) {
		t.Fatal("the two Webs disagree on the CSRF token")
	}
	c.Add(pastAccessTTL)
	if _, got := f2.serve(t, two.Load, request{cookies: jar}); got == nil || got.user != "u1" {
		t.Fatal("the second Web cannot refresh the first one's session")
	}
	if one.Manager().Policy().AccessTTL != session.DefaultAccessTTL {
		t.Fatal("the policy's defaults were not applied")
	}
}

// TestWebSessionEndedElsewhere: another node ended the session, and this
// node has not heard yet, so the access cookie still verifies. Reading or
// writing the session's data then says ErrNoSession (and why), not a store
// failure: the application treats the visitor as logged out.
func TestWebSessionEndedElsewhere(t *testing.T) {
	c := &clock{t: time.Now().Truncate(time.Second)}
	st := memstore.New()
	keys, _ := token.NewKeyRing(token.EdDSA, c.Now())
	newManager := func(passive bool) *session.Manager {
		m, err := session.New(context.Background(), session.Config{Store: st, Keys: keys, Issuer: "iss", Audience: "aud",
			RefreshKey: testRefreshKey, Now: c.Now, RevocationPoll: -1, Passive: passive})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	here, elsewhere := newManager(true), newManager(false) // here does not listen
	web, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{Manager: here, CSRFKey: testCSRFKey, CookieName: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	f := &webFixture{clock: c, m: here, web: web}
	jar := f.login(t, "u1", true)
	if err := elsewhere.Revoke(context.Background(), sessionOf(t, f, jar)); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	for _, ck := range jar {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	web.Load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := httpauth.FromContext(r.Context()); !ok {
			t.Fatal("the access cookie did not verify: the test needs it to")
		}
		if _, err := web.Session(r); !errors.Is(err, httpauth.ErrNoSession) || !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Session = %v, want ErrNoSession and ErrNotFound", err)
		}
		if _, err := web.Update(r, func(*session.Session) error { return nil }); !errors.Is(err, httpauth.ErrNoSession) {
			t.Errorf("Update = %v, want ErrNoSession", err)
		}
		if msgs, err := web.PopFlash(r); msgs != nil || err != nil {
			t.Errorf("PopFlash = %q, %v", msgs, err)
		}
	})).ServeHTTP(httptest.NewRecorder(), r)
}
