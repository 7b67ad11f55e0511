package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// spaPage is a single-page app served from an origin other than
// sessiond's, calling sessiond's API (?api=) with plain fetch, as any SPA
// would: bearer mode keeps the tokens in memory, cookie mode sends the
// cookies with credentials: 'include' and the CSRF token it was given.
const spaPage = `<!doctype html><html><head><title>spa</title></head><body><script>
const API = new URLSearchParams(location.search).get('api');
async function call(method, path, o = {}) {
  const headers = {};
  if (o.body !== undefined) headers['Content-Type'] = 'application/json';
  if (o.token) headers['Authorization'] = 'Bearer ' + o.token;
  if (o.cookie) headers['X-Session-Mode'] = 'cookie';
  if (o.csrf) headers['X-CSRF-Token'] = o.csrf;
  try {
    const r = await fetch(API + path, {method, headers, credentials: o.cookie || o.creds ? 'include' : 'omit',
      body: o.body === undefined ? undefined : JSON.stringify(o.body)});
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) {}
    return {status: r.status, body, www: r.headers.get('WWW-Authenticate') || ''};
  } catch (e) {
    return {status: 0, error: e.name};
  }
}
window.spa = {
  async bearer(email, password) {
    const out = {};
    out.signup = (await call('POST', '/v1/signup', {body: {email, password}})).status;
    const login = await call('POST', '/v1/login', {body: {email, password}});
    out.login = login.status;
    let t = login.body || {};
    const me = await call('GET', '/v1/session', {token: t.access_token});
    out.session = me.status + ' ' + (me.body && me.body.id === t.session_id);
    const list = await call('GET', '/v1/sessions', {token: t.access_token});
    out.sessions = list.status + ' ' + (list.body && list.body.sessions.length);
    const ref = await call('POST', '/v1/refresh', {body: {refresh_token: t.refresh_token}});
    out.refresh = ref.status + ' ' + (ref.body && ref.body.refresh_token !== t.refresh_token && ref.body.session_id === t.session_id);
    t = ref.body || {};
    out.afterRefresh = (await call('GET', '/v1/session', {token: t.access_token})).status;
    const bad = await call('GET', '/v1/session', {token: 'not-a-token'});
    out.badToken = bad.status + ' ' + bad.www.startsWith('Bearer');
    const jwks = await call('GET', '/.well-known/jwks.json');
    out.jwks = jwks.status + ' ' + (jwks.body && jwks.body.keys.length > 0);
    out.logout = (await call('POST', '/v1/logout', {token: t.access_token})).status;
    out.afterLogout = (await call('GET', '/v1/session', {token: t.access_token})).status;
    return out;
  },
  async cookieLogin(email, password) {
    const r = await call('POST', '/v1/login', {cookie: true, body: {email, password}});
    window.csrf = r.body && r.body.csrf_token;
    return r.status + ' ' + (r.body && !r.body.access_token && !!r.body.csrf_token);
  },
  async cookieCalls(other) {
    const out = {};
    const me = await call('GET', '/v1/session', {cookie: true});
    out.session = me.status;
    const list = await call('GET', '/v1/sessions', {cookie: true});
    out.sessions = list.status + ' ' + (list.body && list.body.sessions.length);
    const tok = await call('GET', '/v1/csrf', {cookie: true});
    out.csrf = tok.status + ' ' + (tok.body && tok.body.csrf_token === window.csrf);
    const noToken = await call('DELETE', '/v1/sessions/' + other, {cookie: true});
    out.revokeWithoutToken = noToken.status + ' ' + (noToken.body && noToken.body.error);
    out.revokeWithToken = (await call('DELETE', '/v1/sessions/' + other, {cookie: true, csrf: window.csrf})).status;
    return out;
  },
  async cookieRefresh() {
    const r = await call('POST', '/v1/refresh', {cookie: true});
    return r.status + ' ' + (r.body && r.body.csrf_token === window.csrf) + ' ' + (await call('GET', '/v1/session', {cookie: true})).status;
  },
  async cookieLogout() {
    const r = await call('POST', '/v1/logout', {cookie: true, csrf: window.csrf});
    return r.status + ' ' + (await call('GET', '/v1/session', {cookie: true})).status;
  },
  // What a page of an origin not on the list tries: every answer must be
  // unreadable (fetch rejects with a TypeError).
  async unlisted(email, password) {
    const out = {};
    out.session = await call('GET', '/v1/session', {creds: true});
    out.sessions = await call('GET', '/v1/sessions', {creds: true});
    out.csrf = await call('GET', '/v1/csrf', {creds: true});
    out.jwks = await call('GET', '/.well-known/jwks.json');
    out.login = await call('POST', '/v1/login', {body: {email, password}});
    out.cookieLogin = await call('POST', '/v1/login', {cookie: true, body: {email, password}});
    out.logout = await call('POST', '/v1/logout', {cookie: true, csrf: window.csrf || 'x'});
    out.simplePost = await fetch(API + '/v1/logout', {method: 'POST', credentials: 'include'}).then(r => ({status: r.status}), e => ({status: 0, error: e.name}));
    return out;
  },
};
window.ready = true;
</script></body></html>`

// answer is what sessiond answered one request of a browser.
type answer struct {
	method, path, origin, acao string
	status                     int
}

// answers records sessiond's answers as they leave it.
type answers struct {
	mu   sync.Mutex
	list []answer
}

func (a *answers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusRecorder{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		a.mu.Lock()
		a.list = append(a.list, answer{r.Method, r.URL.Path, r.Header.Get("Origin"), w.Header().Get("Access-Control-Allow-Origin"), sw.status})
		a.mu.Unlock()
	})
}

func (a *answers) from(origin string) []answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []answer
	for _, x := range a.list {
		if x.origin == origin {
			out = append(out, x)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// servePage serves page at every path of a new loopback server.
func servePage(t *testing.T, page string) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func portOf(url string) string { return url[strings.LastIndex(url, ":")+1:] }

// TestBrowserSPAOnAnotherOrigin: sessiond on http://127.0.0.1:P1 with
// --cors-origins naming http://localhost:P2 (another site) and
// http://127.0.0.1:P2 (the same site, another origin). From the other
// site, an SPA in bearer mode signs up, logs in, reads its session and
// sessions, refreshes, reads WWW-Authenticate and the JWKS, and logs out.
// From the same site, an SPA in cookie mode logs in with credentials:
// 'include', the browser stores sessiond's cookies and sends them, the
// CSRF token flow works (an unsafe request without it is refused, with it
// succeeds), it refreshes from the cookie and logs out. A page from an
// origin not on the list, on the same site and on another, reads nothing:
// every fetch rejects, sessiond's answers to it carry no
// Access-Control-Allow-Origin, and nothing changes.
func TestBrowserSPAOnAnotherOrigin(t *testing.T) {
	spa := servePage(t, spaPage)
	stranger := servePage(t, spaPage)
	otherSite := "http://localhost:" + portOf(spa.URL)
	sameSite := spa.URL // http://127.0.0.1:P2
	sd := startSessiondWith(t, session.Policy{}, server.Config{CORSOrigins: []string{otherSite, sameSite}})
	rec := &answers{}
	api := httptest.NewServer(rec.wrap(sd.srv.Handler()))
	defer api.Close()
	tab := startBrowser(t)
	open := func(origin string) {
		t.Helper()
		do(t, tab, chromedp.Navigate(origin+"/?api="+api.URL))
		waitFor(t, tab, "the SPA at "+origin, "window.ready === true")
	}

	t.Run("bearer mode, another site", func(t *testing.T) {
		open(otherSite)
		got := eval[map[string]string](t, tab, `spa.bearer('ada@example.com', '`+password+`').then(o => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)])))`)
		want := map[string]string{
			"signup": "201", "login": "200", "session": "200 true", "sessions": "200 1", "refresh": "200 true",
			"afterRefresh": "200", "badToken": "401 true", "jwks": "200 true", "logout": "200", "afterLogout": "401",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
		if c := cookies(t, tab, api.URL); len(c) != 0 {
			t.Errorf("bearer mode left cookies: %v", c)
		}
		for _, a := range rec.from(otherSite) {
			if a.acao != otherSite {
				t.Errorf("%s %s answered %d without Access-Control-Allow-Origin %s", a.method, a.path, a.status, otherSite)
			}
		}
	})

	sd.apiSignup(t, "bo@example.com")
	t.Run("cookie mode, same site", func(t *testing.T) {
		open(sameSite)
		if got := eval[string](t, tab, `spa.cookieLogin('bo@example.com', '`+password+`')`); got != "200 true" {
			t.Fatalf("cookie login: %s", got)
		}
		jar := cookies(t, tab, api.URL)
		at, rt := jar[httpauth.AccessCookie], jar[httpauth.RefreshCookie]
		if at == nil || rt == nil || !at.HTTPOnly || !rt.HTTPOnly {
			t.Fatalf("cookies after a cross-origin cookie login: %v", jar)
		}
		if dc := eval[string](t, tab, "document.cookie"); strings.Contains(dc, at.Value) {
			t.Fatal("the SPA's script can read the access cookie")
		}
		other := sd.apiLogin(t, "bo@example.com", "curl/8.5.0")
		got := eval[map[string]string](t, tab, `spa.cookieCalls('`+other+`').then(o => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)])))`)
		want := map[string]string{
			"session": "200", "sessions": "200 2", "csrf": "200 true",
			"revokeWithoutToken": "403 csrf_failed", "revokeWithToken": "204",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
		if sd.alive(other) {
			t.Error("the revoke with the CSRF token left the session alive")
		}
		if got := eval[string](t, tab, `spa.cookieRefresh()`); got != "200 true 200" {
			t.Fatalf("cookie refresh: %s", got)
		}
		if nrt := cookies(t, tab, api.URL)[httpauth.RefreshCookie]; nrt == nil || nrt.Value == rt.Value {
			t.Fatal("the refresh did not rotate the refresh cookie")
		}
	})

	// The cookie session is still live: a page not on the list, whose
	// requests carry the cookies (same site) or not (another site), tries.
	for _, u := range []struct {
		name, origin string
		cookiesRide  bool // the Lax access cookie goes along (same site)
	}{
		{"unlisted, same site", stranger.URL, true},
		{"unlisted, another site", "http://localhost:" + portOf(stranger.URL), false},
	} {
		origin := u.origin
		t.Run(u.name, func(t *testing.T) {
			loginsBefore := sd.count("login.ok")
			open(origin)
			got := eval[map[string]map[string]any](t, tab, `spa.unlisted('bo@example.com', '`+password+`')`)
			for k, v := range got {
				if v["status"] != float64(0) || v["error"] != "TypeError" {
					t.Errorf("%s from an unlisted origin: %v, want a TypeError", k, v)
				}
			}
			seen := rec.from(origin)
			t.Logf("sessiond's answers to %s: %v", origin, seen)
			if len(seen) < 4 {
				t.Errorf("sessiond saw %d requests of %s, want the simple ones at least: %v", len(seen), origin, seen)
			}
			for _, a := range seen {
				if a.acao != "" {
					t.Errorf("%s %s from %s answered with Access-Control-Allow-Origin %q", a.method, a.path, origin, a.acao)
				}
				if a.method == "POST" && a.status < 400 {
					t.Errorf("POST %s from %s answered %d", a.path, origin, a.status)
				}
			}
			// Same site, sessiond did answer the cookie's owner: only CORS
			// keeps that answer from the page.
			for _, a := range seen {
				if a.method == "GET" && a.path == "/v1/session" && (a.status == 200) != u.cookiesRide {
					t.Errorf("GET /v1/session from %s answered %d; the cookie rides along: %v", origin, a.status, u.cookiesRide)
				}
			}
			if n := sd.count("login.ok") - loginsBefore; n != 0 {
				t.Errorf("an unlisted origin logged in %d times", n)
			}
			if jar := cookies(t, tab, api.URL); jar[httpauth.AccessCookie] == nil {
				t.Error("an unlisted origin's requests ended the cookie session")
			}
		})
	}

	t.Run("cookie logout, same site", func(t *testing.T) {
		open(sameSite)
		// The page was reloaded: the CSRF token comes from GET /v1/csrf.
		if got := eval[string](t, tab, `fetch(API + '/v1/csrf', {credentials: 'include'}).then(r => r.json()).then(b => { window.csrf = b.csrf_token; return !!b.csrf_token; }).then(String)`); got != "true" {
			t.Fatalf("CSRF token after a reload: %s", got)
		}
		if got := eval[string](t, tab, `spa.cookieLogout()`); got != "200 401" {
			t.Fatalf("cookie logout: %s", got)
		}
		if jar := cookies(t, tab, api.URL); jar[httpauth.AccessCookie] != nil || jar[httpauth.RefreshCookie] != nil {
			t.Fatalf("cookies left after logout: %v", jar)
		}
	})
}
