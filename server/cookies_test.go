package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/ui"
)

// creq is one request of a cookie-mode client, written out by hand so every
// header is under the test's control (Go's cookie jar would not send Secure
// cookies over the plain-HTTP test server).
type creq struct {
	method, path, body string
	cookies            map[string]string
	csrf               string
	headers            map[string]string
	cookieMode         bool
	noRedirect         bool // answer a redirect as it is, not followed
}

func (e *env) cdo(r creq) resp {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, e.http.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.cookieMode {
		req.Header.Set("X-Session-Mode", "cookie")
	}
	for k, v := range r.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	if r.csrf != "" {
		req.Header.Set("X-CSRF-Token", r.csrf)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	client := e.http.Client()
	if r.noRedirect {
		c := *client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &c
	}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("not JSON: %s", raw)
		}
	}
	return out
}

func setCookies(t testing.TB, h http.Header) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

// cookieLogin signs up and logs in in cookie mode; it returns the cookies
// and the login answer.
func (e *env) cookieLogin(email string) (map[string]string, resp) {
	e.t.Helper()
	if r := e.post("/v1/signup", "", map[string]string{"email": email, "password": "correct horse battery"}); r.status != http.StatusCreated {
		e.t.Fatalf("signup: %d %s", r.status, r.raw)
	}
	r := e.cdo(creq{method: "POST", path: "/v1/login", cookieMode: true, body: `{"email":"` + email + `","password":"correct horse battery"}`})
	if r.status != 200 {
		e.t.Fatalf("login: %d %s", r.status, r.raw)
	}
	jar := map[string]string{}
	for name, c := range setCookies(e.t, r.header) {
		jar[name] = c.Value
	}
	return jar, r
}

func TestCookieModeLoginAndRefresh(t *testing.T) {
	e := newEnv(t, nil)
	jar, l := e.cookieLogin("ann@example.com")
	if _, ok := l.body["access_token"]; ok || strings.Contains(l.raw, "refresh_token") || strings.Contains(l.raw, jar[httpauth.AccessCookie]) {
		t.Fatalf("cookie-mode login body carries a token: %s", l.raw)
	}
	if str(l, "session_id") == "" || str(l, "csrf_token") == "" || l.body["expires_in"].(float64) != 600 {
		t.Fatalf("cookie-mode login body %s", l.raw)
	}
	got := setCookies(t, l.header)
	at, rt := got[httpauth.AccessCookie], got[httpauth.RefreshCookie]
	if at == nil || rt == nil {
		t.Fatalf("cookies %v", l.header.Values("Set-Cookie"))
	}
	checks := []struct {
		what     string
		got, wnt any
	}{
		{"at Path", at.Path, "/"}, {"at HttpOnly", at.HttpOnly, true}, {"at Secure", at.Secure, true},
		{"at SameSite", at.SameSite, http.SameSiteLaxMode}, {"at Max-Age", at.MaxAge, 600},
		{"rt Path", rt.Path, "/"}, {"rt HttpOnly", rt.HttpOnly, true}, {"rt Secure", rt.Secure, true},
		{"rt SameSite", rt.SameSite, http.SameSiteStrictMode}, {"rt Max-Age", rt.MaxAge, 7 * 24 * 3600},
	}
	for _, c := range checks {
		if c.got != c.wnt {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.wnt)
		}
	}

	// The access cookie authenticates; GET needs no CSRF token.
	s := e.cdo(creq{method: "GET", path: "/v1/session", cookies: map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]}})
	if s.status != 200 || str(s, "id") != str(l, "session_id") {
		t.Fatalf("cookie GET /v1/session: %d %s", s.status, s.raw)
	}
	c := e.cdo(creq{method: "GET", path: "/v1/csrf", cookies: map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]}})
	if c.status != 200 || str(c, "csrf_token") != str(l, "csrf_token") {
		t.Fatalf("GET /v1/csrf: %d %s", c.status, c.raw)
	}

	// Refresh from the cookie, with no body, an empty object, or the token
	// in the body.
	e.clock.Advance(time.Minute)
	rtok := jar[httpauth.RefreshCookie]
	for _, tc := range []struct{ name, body string }{{"no body", ""}, {"empty object", "{}"}} {
		t.Run("refresh "+tc.name, func(t *testing.T) {
			r := e.cdo(creq{method: "POST", path: "/v1/refresh", cookieMode: true, body: tc.body, cookies: map[string]string{httpauth.RefreshCookie: rtok}})
			if r.status != 200 || strings.Contains(r.raw, "refresh_token") || str(r, "csrf_token") != str(l, "csrf_token") {
				t.Fatalf("refresh: %d %s", r.status, r.raw)
			}
			nc := setCookies(t, r.header)
			if nc[httpauth.AccessCookie] == nil || nc[httpauth.RefreshCookie] == nil || nc[httpauth.RefreshCookie].Value == rtok {
				t.Fatalf("refresh did not rotate the cookies: %v", r.header.Values("Set-Cookie"))
			}
			rtok = nc[httpauth.RefreshCookie].Value
		})
	}
	r := e.cdo(creq{method: "POST", path: "/v1/refresh", cookieMode: true, body: `{"refresh_token":"` + rtok + `"}`})
	if r.status != 200 || setCookies(t, r.header)[httpauth.RefreshCookie] == nil {
		t.Fatalf("refresh with body token in cookie mode: %d %s", r.status, r.raw)
	}
	// Without cookie mode the same endpoint still wants the body (bearer unchanged).
	if r := e.cdo(creq{method: "POST", path: "/v1/refresh", cookies: map[string]string{httpauth.RefreshCookie: rtok}}); r.status != 415 {
		t.Fatalf("bearer refresh without body: %d %s", r.status, r.raw)
	}
	// A garbage refresh cookie is refused and the cookies are cleared.
	bad := e.cdo(creq{method: "POST", path: "/v1/refresh", cookieMode: true, cookies: map[string]string{httpauth.RefreshCookie: "sdrt_garbage"}})
	if bad.status != 401 || setCookies(t, bad.header)[httpauth.RefreshCookie] == nil || setCookies(t, bad.header)[httpauth.RefreshCookie].MaxAge != -1 {
		t.Fatalf("bad refresh cookie: %d %v", bad.status, bad.header.Values("Set-Cookie"))
	}
}

func TestCookieModeCSRF(t *testing.T) {
	e := newEnv(t, nil)
	jar, l := e.cookieLogin("bob@example.com")
	token := str(l, "csrf_token")
	_, other := e.cookieLogin("eve@example.com")
	atCookie := map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]}
	tests := []struct {
		name   string
		r      creq
		status int
	}{
		{"no token", creq{method: "POST", path: "/v1/logout", cookies: atCookie}, 403},
		{"another session's token", creq{method: "POST", path: "/v1/logout", cookies: atCookie, csrf: str(other, "csrf_token")}, 403},
		{"tampered token", creq{method: "POST", path: "/v1/logout", cookies: atCookie, csrf: "A" + token[1:]}, 403},
		{"delete without token", creq{method: "DELETE", path: "/v1/sessions/" + str(l, "session_id"), cookies: atCookie}, 403},
		{"cross-site with token", creq{method: "POST", path: "/v1/logout", cookies: atCookie, csrf: token,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403},
		{"same-site other origin with token", creq{method: "POST", path: "/v1/logout", cookies: atCookie, csrf: token,
			headers: map[string]string{"Sec-Fetch-Site": "same-site"}}, 403},
		{"foreign Origin with token", creq{method: "POST", path: "/v1/logout", cookies: atCookie, csrf: token,
			headers: map[string]string{"Origin": "http://evil.example"}}, 403},
		{"cross-site login (login CSRF)", creq{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com","password":"correct horse battery"}`,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403},
		{"cross-site bearer logout", creq{method: "POST", path: "/v1/logout",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": "Bearer x"}}, 403},
		{"form-encoded login", creq{method: "POST", path: "/v1/login", headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415},
		{"cross-site GET of the CSRF token", creq{method: "GET", path: "/v1/csrf", cookies: atCookie, headers: map[string]string{"Sec-Fetch-Site": "same-site"}}, 403},
		{"cross-site GET is fine", creq{method: "GET", path: "/v1/session", cookies: atCookie, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.cdo(tc.r)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if r.status == 403 && str(r, "error") != "csrf_failed" {
				t.Fatalf("403 body %s", r.raw)
			}
		})
	}
	if s := e.cdo(creq{method: "GET", path: "/v1/session", cookies: atCookie}); s.status != 200 {
		t.Fatalf("a refused request changed the session: %d %s", s.status, s.raw)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `"event":"csrf.rejected"`); n != 10 {
		t.Errorf("%d csrf.rejected audit events, want 10", n)
	}
	if !strings.Contains(logs, `"reason":"cross_origin: Sec-Fetch-Site cross-site"`) || !strings.Contains(logs, `"reason":"csrf_token_missing"`) {
		t.Errorf("audit reasons missing:\n%s", logs)
	}
	// Bearer mode needs no CSRF token (and no cookie is cleared).
	bl := e.login("bob@example.com")
	if r := e.do("POST", "/v1/logout", str(bl, "access_token"), "", ""); r.status != 200 || r.header.Get("Clear-Site-Data") != "" {
		t.Fatalf("bearer logout: %d %s", r.status, r.raw)
	}
}

func TestTrustedOrigins(t *testing.T) {
	e := newEnv(t, func(c *config) { c.Server.TrustedOrigins = []string{"https://app.example.com"} })
	for _, tc := range []struct {
		origin string
		status int
	}{{"https://app.example.com", 401}, {"https://evil.example.com", 403}} {
		t.Run(tc.origin, func(t *testing.T) {
			r := e.cdo(creq{method: "POST", path: "/v1/logout", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": tc.origin}})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
		})
	}
	_, err := server.New(e.srv.Node(), server.Config{TrustedOrigins: []string{"not an origin"}})
	if !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), "trusted origin") {
		t.Fatal("a malformed trusted origin was accepted")
	}
}

func TestCookieLogoutClears(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name    string
		request func(jar map[string]string, l resp) creq
		clears  bool
	}{
		{"logout", func(jar map[string]string, l resp) creq {
			return creq{method: "POST", path: "/v1/logout"}
		}, true},
		{"logout global", func(jar map[string]string, l resp) creq {
			return creq{method: "POST", path: "/v1/logout?scope=global"}
		}, true},
		{"logout others keeps this one", func(jar map[string]string, l resp) creq {
			return creq{method: "POST", path: "/v1/logout?scope=others"}
		}, false},
		{"delete the current session", func(jar map[string]string, l resp) creq {
			return creq{method: "DELETE", path: "/v1/sessions/" + str(l, "session_id")}
		}, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jar, l := e.cookieLogin("user" + string(rune('a'+i)) + "@example.com")
			r := tc.request(jar, l)
			r.cookies = map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]}
			r.csrf = str(l, "csrf_token")
			res := e.cdo(r)
			if res.status/100 != 2 {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			got := setCookies(t, res.header)
			// Both cookies, and the refresh cookie of earlier versions, so
			// that a leftover goes too.
			cleared := got[httpauth.AccessCookie] != nil && got[httpauth.AccessCookie].MaxAge == -1 &&
				got[httpauth.RefreshCookie] != nil && got[httpauth.RefreshCookie].MaxAge == -1 &&
				got[httpauth.RefreshCookie].Path == "/" &&
				got[httpauth.LegacyRefreshCookie] != nil && got[httpauth.LegacyRefreshCookie].MaxAge == -1 &&
				got[httpauth.LegacyRefreshCookie].Path == httpauth.LegacyRefreshPath
			if cleared != tc.clears || (res.header.Get("Clear-Site-Data") == `"cookies"`) != tc.clears {
				t.Fatalf("cleared=%v Clear-Site-Data=%q, want %v: %v", cleared, res.header.Get("Clear-Site-Data"), tc.clears, res.header.Values("Set-Cookie"))
			}
			if tc.clears {
				// The revoked cookie answers 401 and clears itself again.
				s := e.cdo(creq{method: "GET", path: "/v1/session", cookies: r.cookies})
				if s.status != 401 || setCookies(t, s.header)[httpauth.RefreshCookie] == nil {
					t.Fatalf("revoked cookie: %d %v", s.status, s.header.Values("Set-Cookie"))
				}
			}
		})
	}
}

// inlineAttr finds inline event handlers and style attributes.
var inlineAttr = regexp.MustCompile(`\s(on[a-z]+|style)\s*=`)

func TestPagesAndHeaders(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		path, ctype string
		status      int
	}{
		{"/ui/login", "text/html", 200},
		{"/ui/signup", "text/html", 200},
		{"/ui/devices", "text/html", 200},
		{"/ui/sessiond.js", "text/javascript", 200},
		{"/ui/pages.js", "text/javascript", 200},
		{"/ui/style.css", "text/css", 200},
		{"/ui/login.html", "", 404},
		{"/ui/../go.mod", "", 404},
		{"/ui/nothing", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do("GET", tc.path, "", "", "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			if got := r.header.Get("Content-Security-Policy"); got != ui.CSP {
				t.Errorf("CSP %q", got)
			}
			for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
				if r.header.Get(h) == "" {
					t.Errorf("no %s", h)
				}
			}
			if r.header.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS over plain HTTP")
			}
			if strings.HasSuffix(tc.path, "login") || strings.HasSuffix(tc.path, "signup") || strings.HasSuffix(tc.path, "devices") {
				if strings.Contains(r.raw, "<script>") || strings.Contains(r.raw, "<style") || inlineAttr.MatchString(r.raw) {
					t.Error("inline script or style in a page")
				}
			}
		})
	}
	for _, p := range []string{"/ui/", "/"} {
		res, err := http.DefaultTransport.RoundTrip(httptest.NewRequest("GET", e.http.URL+p, nil).WithContext(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/ui/devices" {
			t.Fatalf("%s: %d %q", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

// TestHSTSOnlyOverTLS serves the API through server.Run with a dev
// certificate and checks HSTS is there, and absent over plain HTTP.
func TestHSTSOnlyOverTLS(t *testing.T) {
	e := newEnv(t, nil)
	cfg, fp, err := server.DevTLS(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) != 95 {
		t.Fatalf("fingerprint %q", fp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, e.srv, server.RunConfig{Addr: "127.0.0.1:0", TLSConfig: cfg, Ready: func(a net.Addr) { addr <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	a := <-addr
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the dev certificate is self-signed
	res, err := client.Get("https://" + a.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Strict-Transport-Security"); got != server.HSTS {
		t.Fatalf("HSTS over TLS = %q", got)
	}
	if res.TLS == nil || res.TLS.PeerCertificates[0].VerifyHostname("localhost") != nil || res.TLS.PeerCertificates[0].VerifyHostname("127.0.0.1") != nil {
		t.Fatal("dev certificate does not name localhost and 127.0.0.1")
	}
	plain := httptest.NewServer(e.srv.Handler())
	defer plain.Close()
	res, err = http.Get(plain.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS over plain HTTP")
	}
}

// TestTLSSuitesAndDevHSTS makes real handshakes with server.Run over the
// dev certificate: TLS 1.2 with only a CBC (or RSA key exchange) suite
// offered is refused, an AEAD suite and TLS 1.3 are served, and
// RunConfig.HSTS = DevHSTS is what the answers carry. LoadTLS shares the
// suite list (checked on its config).
func TestTLSSuitesAndDevHSTS(t *testing.T) {
	e := newEnv(t, nil)
	cfg, _, err := server.DevTLS(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, e.srv, server.RunConfig{Addr: "127.0.0.1:0", TLSConfig: cfg, HSTS: server.DevHSTS, Ready: func(a net.Addr) { addr <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	a := (<-addr).String()
	tests := []struct {
		name   string
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"TLS 1.2 ECDHE-ECDSA AES-128-CBC-SHA", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false},
		{"TLS 1.2 ECDHE-ECDSA AES-256-CBC-SHA", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, false},
		{"TLS 1.2 RSA AES-128-GCM", tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
		{"TLS 1.2 ECDHE-ECDSA AES-128-GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2 ECDHE-ECDSA ChaCha20", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"TLS 1.3", tls.VersionTLS13, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", a, &tls.Config{InsecureSkipVerify: true, MaxVersion: tc.max, CipherSuites: tc.suites}) // self-signed dev certificate
			if !tc.ok {
				if err == nil {
					c.Close()
					t.Fatal("handshake offering only a non-AEAD suite succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			c.Close()
		})
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := client.Get("https://" + a + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Strict-Transport-Security"); got != server.DevHSTS || strings.Contains(got, "includeSubDomains") {
		t.Fatalf("HSTS with RunConfig.HSTS = DevHSTS: %q", got)
	}
	for _, s := range cfg.CipherSuites {
		if tls.CipherSuiteName(s) == "" || strings.Contains(tls.CipherSuiteName(s), "CBC") {
			t.Errorf("DevTLS offers %s", tls.CipherSuiteName(s))
		}
	}
	if len(cfg.CipherSuites) == 0 {
		t.Error("DevTLS leaves the TLS 1.2 suites to the default list")
	}
}

// TestRefreshCookiePlanted tries cookie tossing: a page on a sibling
// subdomain plants a refresh cookie holding a valid refresh token of the
// attacker's own session. A "__Secure-" cookie may carry Domain= the
// parent, so the legacy name is what a browser lets it plant; the
// "__Host-" name it cannot (only a client that is no browser sends copies
// of it). Whatever the mix, on both the refresh API and the in-band
// refresh: a visitor without a session of their own is never refreshed
// into the attacker's session; a victim's own session is the one
// refreshed; nothing planted is refused for the victim either, short of
// copies of our own name with no access cookie to tell ours; and the
// attacker's token is never presented to the store for anyone.
func TestRefreshCookiePlanted(t *testing.T) {
	const host, legacy = httpauth.RefreshCookie, httpauth.LegacyRefreshCookie
	type jars struct{ victim, attacker map[string]string }
	ck := func(name, v string) string { return name + "=" + v }
	const (
		victim  = "the victim's session"
		none    = "no session"
		refused = "refused"
	)
	tests := []struct {
		name       string
		cookies    func(j jars) []string
		want       string
		legacyGone bool // the answer deletes the legacy cookie
	}{
		{"visitor, a planted legacy cookie alone", func(j jars) []string {
			return []string{ck(legacy, j.attacker[host])}
		}, none, true},
		{"visitor, planted legacy cookies at two paths", func(j jars) []string {
			return []string{ck(legacy, j.attacker[host]), ck(legacy, j.attacker[host])}
		}, none, true},
		{"victim, planted legacy cookie first", func(j jars) []string {
			return []string{ck(legacy, j.attacker[host]), ck(host, j.victim[host])}
		}, victim, true},
		{"victim, planted legacy cookie last", func(j jars) []string {
			return []string{ck(host, j.victim[host]), ck(legacy, j.attacker[host])}
		}, victim, true},
		{"victim with an access cookie, planted legacy cookie", func(j jars) []string {
			return []string{ck(httpauth.AccessCookie, j.victim[httpauth.AccessCookie]), ck(legacy, j.attacker[host]), ck(host, j.victim[host])}
		}, victim, true},
		{"victim with an access cookie, copies of our name of two sessions", func(j jars) []string {
			return []string{ck(httpauth.AccessCookie, j.victim[httpauth.AccessCookie]), ck(host, j.attacker[host]), ck(host, j.victim[host])}
		}, victim, false},
		{"migration: the legacy cookie of the access cookie's session", func(j jars) []string {
			return []string{ck(httpauth.AccessCookie, j.victim[httpauth.AccessCookie]), ck(legacy, j.attacker[host]), ck(legacy, j.victim[host])}
		}, victim, true},
		{"migration: a legacy cookie without an access cookie", func(j jars) []string {
			return []string{ck(legacy, j.victim[host])}
		}, none, true},
		{"an access cookie, and only another session's refresh cookie", func(j jars) []string {
			return []string{ck(httpauth.AccessCookie, j.victim[httpauth.AccessCookie]), ck(host, j.attacker[host])}
		}, none, false},
		{"the prefix in other letters", func(j jars) []string {
			return []string{ck("__HOST-sessiond_rt", j.attacker[host])}
		}, none, false},
		{"no access cookie, copies of our name of two sessions", func(j jars) []string {
			return []string{ck(host, j.attacker[host]), ck(host, j.victim[host])}
		}, refused, false},
	}
	for _, ep := range []string{"refresh", "in-band refresh"} {
		for i, tc := range tests {
			t.Run(ep+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, nil)
				m := e.srv.Node().Manager()
				ctx := context.Background()
				a, al := e.cookieLogin("mallory" + strconv.Itoa(i) + "@example.com")
				v, vl := e.cookieLogin("victor" + strconv.Itoa(i) + "@example.com")
				aBefore, err := m.Get(ctx, str(al, "session_id"))
				if err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(time.Minute)
				hdr := map[string]string{"Cookie": strings.Join(tc.cookies(jars{victim: v, attacker: a}), "; ")}
				var r resp
				if ep == "refresh" {
					r = e.cdo(creq{method: "POST", path: "/v1/refresh", cookieMode: true, headers: hdr})
				} else {
					hdr["Sec-Fetch-Mode"], hdr["Sec-Fetch-Site"] = "navigate", "same-origin"
					r = e.cdo(creq{method: "GET", path: server.RefreshRedirectPath + "?return_to=%2Forders", headers: hdr, noRedirect: true})
				}
				set := setCookies(t, r.header)
				got := none
				switch {
				case r.status == http.StatusBadRequest && strings.Contains(str(r, "error_description"), "more than one refresh cookie"):
					got = refused
				case r.status == 200 || (r.status == http.StatusFound && r.header.Get("Location") == "/orders"):
					at := set[httpauth.AccessCookie]
					if at == nil || set[host] == nil || set[host].Path != "/" {
						t.Fatalf("refreshed without both cookies: %q", r.header.Values("Set-Cookie"))
					}
					id, err := m.Verify(ctx, at.Value)
					if err != nil {
						t.Fatal(err)
					}
					switch id.SessionID {
					case str(vl, "session_id"):
						got = victim
					case str(al, "session_id"):
						got = "THE ATTACKER'S SESSION"
					}
				case ep == "refresh" && r.status == http.StatusBadRequest && str(r, "error") == "invalid_request",
					ep != "refresh" && r.status == http.StatusFound && strings.HasPrefix(r.header.Get("Location"), "/ui/login"):
				default:
					t.Fatalf("unexpected answer %d %s %q", r.status, r.raw, r.header.Values("Set-Cookie"))
				}
				if got != tc.want {
					t.Fatalf("the browser got %s, want %s: %d %s", got, tc.want, r.status, r.raw)
				}
				if lc := set[legacy]; (lc != nil && lc.MaxAge == -1 && lc.Path == httpauth.LegacyRefreshPath) != tc.legacyGone {
					t.Fatalf("legacy cookie deleted: %v, want %v: %q", lc != nil, tc.legacyGone, r.header.Values("Set-Cookie"))
				}
				if got == refused && (len(set) != 0 || !strings.Contains(e.logs.String(), "more than one refresh cookie")) {
					t.Fatalf("a refusal changed cookies %q or was not audited", r.header.Values("Set-Cookie"))
				}
				// The attacker's token never reached the store: the
				// session was not refreshed (its last-seen time would move).
				aAfter, err := m.Get(ctx, str(al, "session_id"))
				if err != nil || !aAfter.LastSeenAt.Equal(aBefore.LastSeenAt) {
					t.Fatalf("the attacker's session was refreshed: %v", err)
				}
				// The victim's session lives on, and was never taken for
				// stolen: its newest token refreshes.
				vt := v[host]
				if got == victim {
					vt = set[host].Value
				}
				if _, err := m.Refresh(ctx, vt, session.Meta{}); err != nil {
					t.Fatalf("the victim's own refresh afterwards: %v", err)
				}
				if strings.Contains(e.logs.String(), `"event":"refresh.reuse_detected"`) {
					t.Fatal("theft detection tripped")
				}
			})
		}
	}
}

// A second cookie-mode login in the same browser ends the session whose
// cookies it overwrites, instead of leaving it alive and unusable.
func TestCookieLoginEndsReplacedSession(t *testing.T) {
	e := newEnv(t, nil)
	jar, first := e.cookieLogin("bea@example.com")
	second := e.cdo(creq{method: "POST", path: "/v1/login", cookieMode: true, cookies: jar,
		body: `{"email":"bea@example.com","password":"correct horse battery"}`})
	if second.status != 200 || str(second, "session_id") == str(first, "session_id") {
		t.Fatalf("second login: %d %s", second.status, second.raw)
	}
	if g := e.cdo(creq{method: "GET", path: "/v1/session", cookies: jar}); g.status != 401 {
		t.Fatalf("the replaced session still answers: %d", g.status)
	}
	jar2 := map[string]string{}
	for name, c := range setCookies(t, second.header) {
		jar2[name] = c.Value
	}
	l := e.cdo(creq{method: "GET", path: "/v1/sessions", cookies: jar2})
	if l.status != 200 || len(l.body["sessions"].([]any)) != 1 {
		t.Fatalf("sessions after the second login: %d %s", l.status, l.raw)
	}
}
