package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sessiond/sessiond/httpauth"
)

// The example against a real sessiond: the binary built from this tree,
// run as `serve --store memory:// --addr 127.0.0.1:0` with two service
// clients and the claims role and tenant, and the application served by
// httptest, driven over HTTP as a browser would (a cookie jar per
// browser).

var sessiondBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gobackend-sessiond")
	if err != nil {
		panic(err)
	}
	sessiondBin = filepath.Join(dir, "sessiond")
	if out, err := exec.Command("go", "build", "-o", sessiondBin, "github.com/sessiond/sessiond/cmd/sessiond").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testIssuer   = "https://sessiond.test"
	testAudience = "shop-api"
	password     = "correct horse battery staple"
)

type testClient struct{ id, secret string }

var (
	shop  = testClient{"shop", "shop-secret-for-the-go-backend-example-01"}
	other = testClient{"other-app", "other-secret-for-the-go-backend-example-0"}
)

// sessiondProc is a running `sessiond serve`.
type sessiondProc struct {
	url  string
	cmd  *exec.Cmd
	errs *bytes.Buffer
}

// startSessiond runs serve with the access-token lifetime given; it is
// killed when the test ends.
func startSessiond(t *testing.T, accessTTL string) *sessiondProc {
	t.Helper()
	clients, _ := json.Marshal([]map[string]any{
		{"id": shop.id, "secret": shop.secret, "permissions": []string{"sessions"}},
		{"id": other.id, "secret": other.secret, "permissions": []string{"sessions"}},
	})
	file := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(file, clients, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sessiondBin, "serve", "--store", "memory://", "--addr", "127.0.0.1:0", "--clients", file,
		"--claims", "role,tenant", "--access-ttl", accessTTL, "--issuer", testIssuer, "--audience", testAudience)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &sessiondProc{cmd: cmd, errs: &bytes.Buffer{}}
	cmd.Stderr = p.errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		s, _ := r.ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case s := <-line:
		// With --addr :0, serve prints the address it got.
		m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("sessiond printed %q", s)
		}
		p.url = m[1]
	case <-time.After(30 * time.Second):
		t.Fatal("sessiond did not start in 30 s")
	}
	return p
}

func (p *sessiondProc) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// start runs sessiond and the application in front of it.
func start(t *testing.T, accessTTL string) (*sessiondProc, string) {
	t.Helper()
	sd := startSessiond(t, accessTTL)
	u, err := newUsers([]user{
		{ID: "user-1", Username: "ann", Role: "admin", Tenant: "acme"},
		{ID: "user-2", Username: "bob", Role: "user", Tenant: "acme"},
		{ID: "user-3", Username: "carol", Role: "admin"},
		{ID: "user-4", Username: "dave", Role: "user"},
	}, func(user) string { return password }, bcrypt.MinCost) // fast: the tests log in often
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := newApp(ctx, config{Users: u, SessiondURL: sd.url, ClientID: shop.id, ClientSecret: shop.secret,
		Issuer: testIssuer, Audience: testAudience, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return sd, srv.URL
}

// browser is a cookie jar for one site. Unlike net/http/cookiejar it
// sends Secure cookies over http://127.0.0.1, as browsers do for loopback.
// keepExpired makes it send an access cookie past its Max-Age: a client
// that presents an expired token.
type browser struct {
	t           *testing.T
	base        string
	cookies     map[string]*jarCookie
	keepExpired bool
}

type jarCookie struct {
	value   string
	expires time.Time
}

func newBrowser(t *testing.T, base string) *browser {
	return &browser{t: t, base: base, cookies: map[string]*jarCookie{}}
}

// answer is one response.
type answer struct {
	status  int
	body    map[string]any
	cookies []*http.Cookie
}

func (b *browser) do(method, path string, body any, headers map[string]string) answer {
	b.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for name, c := range b.cookies {
		if !b.keepExpired && !time.Now().Before(c.expires) {
			delete(b.cookies, name)
			continue
		}
		req.AddCookie(&http.Cookie{Name: name, Value: c.value})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, cookies: res.Cookies()}
	_ = json.NewDecoder(res.Body).Decode(&a.body)
	for _, c := range a.cookies {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = &jarCookie{value: c.Value, expires: time.Now().Add(time.Duration(c.MaxAge) * time.Second)}
	}
	return a
}

func (b *browser) get(name string) string {
	if c := b.cookies[name]; c != nil {
		return c.value
	}
	return ""
}

func (b *browser) clone() *browser {
	c := newBrowser(b.t, b.base)
	c.keepExpired = b.keepExpired
	for k, v := range b.cookies {
		c.cookies[k] = &jarCookie{value: v.value, expires: v.expires}
	}
	return c
}

func (b *browser) login(username string) *browser {
	b.t.Helper()
	if a := b.do("POST", "/login", map[string]string{"username": username, "password": password}, nil); a.status != http.StatusOK {
		b.t.Fatalf("login %s: %d %v", username, a.status, a.body)
	}
	return b
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// asShop calls sessiond with the shop's client credentials.
func asShop(t *testing.T, sd *sessiondProc, method, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, sd.url+path, nil)
	req.SetBasicAuth(shop.id, shop.secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

func userSessions(t *testing.T, sd *sessiondProc, userID string) []any {
	t.Helper()
	code, v := asShop(t, sd, "GET", "/v1/users/"+userID+"/sessions")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/users/%s/sessions: %d %v", userID, code, v)
	}
	list, _ := v["sessions"].([]any)
	return list
}

func TestGoBackend(t *testing.T) {
	sd, app := start(t, "2s")

	t.Run("a failed login gets an error, sets no cookie and starts no session", func(t *testing.T) {
		tests := []struct {
			name    string
			body    any
			headers map[string]string
			status  int
			code    string
		}{
			{"wrong password", map[string]string{"username": "dave", "password": "not it"}, nil, 401, "invalid_credentials"},
			{"unknown user", map[string]string{"username": "nobody", "password": password}, nil, 401, "invalid_credentials"},
			{"no password", map[string]string{"username": "dave"}, nil, 401, "invalid_credentials"},
			{"password not a string", map[string]any{"username": "dave", "password": []string{password}}, nil, 400, "invalid_request"},
			{"unknown member", map[string]string{"username": "dave", "password": password, "role": "admin"}, nil, 400, "invalid_request"},
			{"malformed JSON", `{"username":`, nil, 400, "invalid_request"},
			{"not JSON", "username=dave", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
			{"from another site", map[string]string{"username": "dave", "password": password}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, ""},
			{"from another origin", map[string]string{"username": "dave", "password": password}, map[string]string{"Origin": "https://evil.example"}, 403, ""},
		}
		for _, tt := range tests {
			a := newBrowser(t, app).do("POST", "/login", tt.body, tt.headers)
			if a.status != tt.status || (tt.code != "" && a.body["error"] != tt.code) {
				t.Errorf("%s: %d %v; want %d %s", tt.name, a.status, a.body, tt.status, tt.code)
			}
			if len(a.cookies) != 0 {
				t.Errorf("%s: set cookies %v", tt.name, a.cookies)
			}
		}
		if s := userSessions(t, sd, "user-4"); len(s) != 0 {
			t.Errorf("a failed login started a session: %v", s)
		}
	})

	t.Run("login keeps sessiond's tokens in httpauth's cookies", func(t *testing.T) {
		b := newBrowser(t, app)
		a := b.do("POST", "/login", map[string]string{"username": "ann", "password": password}, map[string]string{"User-Agent": "gobackend-test/1"})
		if a.status != http.StatusOK || a.body["user_id"] != "user-1" || a.body["role"] != "admin" {
			t.Fatalf("login: %d %v", a.status, a.body)
		}
		byName := map[string]*http.Cookie{}
		for _, c := range a.cookies {
			byName[c.Name] = c
		}
		at, rt := byName[httpauth.AccessCookie], byName[refreshCookie]
		if len(byName) != 2 || at == nil || rt == nil {
			t.Fatalf("cookies %v; want %s and %s", a.cookies, httpauth.AccessCookie, refreshCookie)
		}
		for _, c := range []*http.Cookie{at, rt} {
			if !c.HttpOnly || !c.Secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("%s: HttpOnly %v Secure %v Path %q Domain %q; want HttpOnly, Secure, Path=/, host-only", c.Name, c.HttpOnly, c.Secure, c.Path, c.Domain)
			}
		}
		if at.SameSite != http.SameSiteLaxMode || rt.SameSite != http.SameSiteStrictMode {
			t.Errorf("SameSite: access %v, refresh %v; want Lax and Strict", at.SameSite, rt.SameSite)
		}
		if at.MaxAge < 1 || at.MaxAge > 2 || rt.MaxAge < 7*24*3600-5 {
			t.Errorf("Max-Age: access %d (want the token's 2 s at most), refresh %d (want the session's 7 days)", at.MaxAge, rt.MaxAge)
		}
		c := claimsOf(t, at.Value)
		if c["sub"] != "user-1" || c["role"] != "admin" || c["tenant"] != "acme" || c["client_id"] != "shop" || c["sid"] != a.body["session_id"] {
			t.Errorf("access token claims %v", c)
		}
		me := b.do("GET", "/me", nil, nil)
		if me.status != http.StatusOK || me.body["user_id"] != "user-1" || me.body["role"] != "admin" || me.body["tenant"] != "acme" || me.body["session_id"] != a.body["session_id"] {
			t.Errorf("/me: %d %v", me.status, me.body)
		}
		devices := b.do("GET", "/sessions", nil, nil)
		list, _ := devices.body["sessions"].([]any)
		found := false
		for _, s := range list {
			s := s.(map[string]any)
			if s["id"] == a.body["session_id"] {
				found = s["current"] == true && s["client_id"] == "shop" && s["auth_method"] == "password" && s["user_agent"] == "gobackend-test/1"
			}
		}
		if devices.status != http.StatusOK || !found {
			t.Errorf("/sessions: %d %v; want the session, current, minted by shop", devices.status, devices.body)
		}
	})

	t.Run("the role claim decides /admin", func(t *testing.T) {
		ann, bob := newBrowser(t, app).login("ann"), newBrowser(t, app).login("bob")
		tests := []struct {
			name   string
			b      *browser
			status int
			code   string
		}{
			{"admin", ann, 200, ""},
			{"plain user", bob, 403, "forbidden"},
			{"no session", newBrowser(t, app), 401, "login_required"},
		}
		for _, tt := range tests {
			a := tt.b.do("GET", "/admin", nil, nil)
			if a.status != tt.status || (tt.code != "" && a.body["error"] != tt.code) {
				t.Errorf("%s: %d %v; want %d %s", tt.name, a.status, a.body, tt.status, tt.code)
			}
		}
		if a := bob.do("GET", "/me", nil, nil); a.status != http.StatusOK {
			t.Errorf("bob after his 403: %d; a 403 is not a logout", a.status)
		}
	})

	t.Run("a token of another client, or a forged one, is no session here", func(t *testing.T) {
		req, _ := http.NewRequest("POST", sd.url+"/v1/sessions", strings.NewReader(`{"user_id":"user-1","claims":{"role":"admin"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(other.id, other.secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var minted tokenResponse
		_ = json.NewDecoder(res.Body).Decode(&minted)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated || claimsOf(t, minted.AccessToken)["client_id"] != other.id {
			t.Fatalf("mint as %s: %d %+v", other.id, res.StatusCode, minted)
		}
		good := newBrowser(t, app).login("bob").get(httpauth.AccessCookie)
		parts := strings.Split(good, ".")
		payload := claimsOf(t, good)
		payload["role"] = "admin"
		elevated, _ := json.Marshal(payload)
		tests := []struct{ name, token string }{
			{"another client", minted.AccessToken},
			{"role changed", parts[0] + "." + base64.RawURLEncoding.EncodeToString(elevated) + "." + parts[2]},
			{"signature stripped", parts[0] + "." + parts[1] + "."},
			{"garbage", "not-a-jwt"},
		}
		for _, tt := range tests {
			b := newBrowser(t, app)
			b.cookies[httpauth.AccessCookie] = &jarCookie{value: tt.token, expires: time.Now().Add(time.Hour)}
			a := b.do("GET", "/admin", nil, nil)
			if a.status != http.StatusUnauthorized {
				t.Errorf("%s: %d %v; want 401", tt.name, a.status, a.body)
			}
			if b.get(httpauth.AccessCookie) != "" {
				t.Errorf("%s: the bad access cookie was kept", tt.name)
			}
		}
	})

	t.Run("an expired access token is refreshed in the middleware, the session and its role kept", func(t *testing.T) {
		// Two browsers of ann: one drops the access cookie when it expires,
		// as browsers do; one still sends the expired token.
		dropping := newBrowser(t, app).login("ann")
		stale := newBrowser(t, app)
		stale.keepExpired = true
		stale.login("ann")
		type was struct{ at, rt, sid string }
		before := map[*browser]was{}
		var latest float64
		for _, b := range []*browser{dropping, stale} {
			c := claimsOf(t, b.get(httpauth.AccessCookie))
			before[b] = was{b.get(httpauth.AccessCookie), b.get(refreshCookie), c["sid"].(string)}
			latest = max(latest, c["exp"].(float64))
		}
		wait := time.Until(time.Unix(int64(latest), 0).Add(100 * time.Millisecond))
		if wait > 3*time.Second {
			t.Fatalf("the access tokens live %v more; want the 2 s of --access-ttl", wait)
		}
		time.Sleep(wait) // a real wait: sessiond's clock decides expiry

		for name, b := range map[string]*browser{"dropping": dropping, "stale": stale} {
			a := b.do("GET", "/admin", nil, nil)
			if a.status != http.StatusOK {
				t.Fatalf("%s: %d %v", name, a.status, a.body)
			}
			at, rt := b.get(httpauth.AccessCookie), b.get(refreshCookie)
			if at == "" || at == before[b].at || rt == "" || rt == before[b].rt {
				t.Errorf("%s: the tokens did not change (%d cookies set)", name, len(a.cookies))
			}
			c := claimsOf(t, at)
			if c["role"] != "admin" || c["sid"] != before[b].sid || int64(c["exp"].(float64)) <= time.Now().Unix() {
				t.Errorf("%s: refreshed claims %v; want role admin, sid %s, exp in the future", name, c, before[b].sid)
			}
			if again := b.do("GET", "/me", nil, nil); again.status != http.StatusOK || len(again.cookies) != 0 {
				t.Errorf("%s: the next request: %d, %d cookies set; want 200 and no refresh", name, again.status, len(again.cookies))
			}
		}
	})

	t.Run("logout ends the session: cookies cleared, the refresh token refused", func(t *testing.T) {
		b := newBrowser(t, app).login("bob")
		kept := b.clone() // another tab's copy, or a thief's
		rt := b.get(refreshCookie)
		a := b.do("POST", "/logout", nil, nil)
		if a.status != http.StatusOK || a.body["revoked"] != float64(1) {
			t.Fatalf("logout: %d %v", a.status, a.body)
		}
		if b.get(httpauth.AccessCookie) != "" || b.get(refreshCookie) != "" {
			t.Errorf("logout left cookies: %v", b.cookies)
		}
		if a := b.do("GET", "/me", nil, nil); a.status != http.StatusUnauthorized {
			t.Errorf("/me after logout: %d", a.status)
		}
		res, err := http.Post(sd.url+"/v1/refresh", "application/json", strings.NewReader(`{"refresh_token":"`+rt+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("sessiond refreshed a logged-out session: %d", res.StatusCode)
		}
		delete(kept.cookies, httpauth.AccessCookie)
		if a := kept.do("GET", "/me", nil, nil); a.status != http.StatusUnauthorized || kept.get(refreshCookie) != "" {
			t.Errorf("the kept copy: %d, refresh cookie %q; want 401 and the cookie cleared", a.status, kept.get(refreshCookie))
		}
		if a := newBrowser(t, app).do("POST", "/logout", nil, nil); a.status != http.StatusOK || a.body["revoked"] != float64(0) {
			t.Errorf("logout without a session: %d %v", a.status, a.body)
		}
	})

	t.Run("log out everywhere ends every session of the user and no one else's", func(t *testing.T) {
		laptop, phone := newBrowser(t, app).login("carol"), newBrowser(t, app).login("carol")
		bob := newBrowser(t, app).login("bob")
		bobs := len(userSessions(t, sd, "user-2"))
		if a := laptop.do("POST", "/logout/everywhere", nil, map[string]string{"Sec-Fetch-Site": "same-site"}); a.status != http.StatusForbidden {
			t.Errorf("from a sibling site: %d; want 403", a.status)
		}
		if n := len(userSessions(t, sd, "user-3")); n != 2 {
			t.Fatalf("carol has %d sessions; want 2", n)
		}
		a := laptop.do("POST", "/logout/everywhere", nil, nil)
		if a.status != http.StatusOK || a.body["revoked"] != float64(2) {
			t.Fatalf("log out everywhere: %d %v", a.status, a.body)
		}
		if s := userSessions(t, sd, "user-3"); len(s) != 0 {
			t.Errorf("carol's sessions after log out everywhere: %v", s)
		}
		delete(phone.cookies, httpauth.AccessCookie)
		if a := phone.do("GET", "/me", nil, nil); a.status != http.StatusUnauthorized {
			t.Errorf("the phone: %d; want 401", a.status)
		}
		if n := len(userSessions(t, sd, "user-2")); n != bobs {
			t.Errorf("bob has %d sessions; want %d", n, bobs)
		}
		if a := bob.do("GET", "/me", nil, nil); a.status != http.StatusOK {
			t.Errorf("bob: %d", a.status)
		}
		if a := newBrowser(t, app).do("POST", "/logout/everywhere", nil, nil); a.status != http.StatusUnauthorized {
			t.Errorf("log out everywhere without a session: %d", a.status)
		}
	})
}

// With sessiond gone, access tokens keep verifying from the cached JWKS;
// what needs sessiond is 503, never a login and never a change of cookies.
func TestGoBackendWithoutSessiond(t *testing.T) {
	sd, app := start(t, "10m")
	b := newBrowser(t, app).login("ann")
	sd.stop()
	if a := b.do("GET", "/admin", nil, nil); a.status != http.StatusOK {
		t.Fatalf("/admin with sessiond down: %d %v; local verification must not need it", a.status, a.body)
	}
	for _, r := range []struct{ method, path string }{{"GET", "/sessions"}, {"POST", "/logout"}, {"POST", "/logout/everywhere"}} {
		a := b.do(r.method, r.path, nil, nil)
		if a.status != http.StatusServiceUnavailable || a.body["error"] != httpauth.CodeUnavailable || len(a.cookies) != 0 {
			t.Errorf("%s %s: %d %v, %d cookies; want 503 and none", r.method, r.path, a.status, a.body, len(a.cookies))
		}
	}
	if a := newBrowser(t, app).do("POST", "/login", map[string]string{"username": "bob", "password": password}, nil); a.status != http.StatusServiceUnavailable || len(a.cookies) != 0 {
		t.Errorf("login with sessiond down: %d %v", a.status, a.body)
	}
}

// refreshCookie is the name of the app's refresh cookie: scoped to every
// path, it is a __Host- cookie.
var refreshCookie = httpauth.SessionCookies{RefreshPath: "/"}.RefreshName()
