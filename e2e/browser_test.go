package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

const password = "correct horse battery"

// fastParams keep argon2id cheap in tests; production uses DefaultParams.
var fastParams = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sessiond is an in-process sessiond on 127.0.0.1 with a memory store and
// the real clock (the browser's cookie expiry runs on it).
type sessiond struct {
	srv  *server.Server
	base string
	logs *syncBuffer
}

func startSessiond(t *testing.T, policy session.Policy) *sessiond {
	t.Helper()
	return startSessiondWith(t, policy, server.Config{})
}

// startSessiondSignup is startSessiond with signup turned on or off.
func startSessiondSignup(t *testing.T, policy session.Policy, signup bool) *sessiond {
	t.Helper()
	return startSessiondWith(t, policy, server.Config{AllowSignup: &signup})
}

func startSessiondWith(t *testing.T, policy session.Policy, cfg server.Config) *sessiond {
	t.Helper()
	return startSessiondNode(t, node.Config{Policy: policy}, cfg)
}

// startSessiondNode is startSessiond with more of the node's settings
// (its policy, claims); the store, keys and logger are the tests'.
func startSessiondNode(t *testing.T, nc node.Config, cfg server.Config) *sessiond {
	t.Helper()
	logs := &syncBuffer{}
	nc.Backend = memstore.New()
	nc.MasterKey = []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")
	nc.PasswordParams = fastParams
	nc.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	n, err := node.Open(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	<-n.Running()
	srv, err := server.New(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		stop()
		<-ran
		n.Close()
		if t.Failed() {
			t.Logf("sessiond log:\n%s", logs.String())
		}
	})
	return &sessiond{srv: srv, base: ts.URL, logs: logs}
}

// count is how many audit events of kind the server logged.
func (s *sessiond) count(kind string) int {
	return strings.Count(s.logs.String(), `"event":"`+kind+`"`)
}

// apiLogin logs a user in over the bearer API with a given user agent, to
// give the devices page other sessions.
func (s *sessiond) apiLogin(t *testing.T, email, ua string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/v1/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		SessionID string `json:"session_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("api login: %d %v", res.StatusCode, err)
	}
	return body.SessionID
}

// apiSignup creates an account over the API.
func (s *sessiond) apiSignup(t *testing.T, email string) {
	t.Helper()
	res, err := http.Post(s.base+"/v1/signup", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("api signup: %d", res.StatusCode)
	}
}

// apiAccess logs a user in over the bearer API and returns the access token.
func (s *sessiond) apiAccess(t *testing.T, email string) string {
	t.Helper()
	res, err := http.Post(s.base+"/v1/login", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("api login: %d %v", res.StatusCode, err)
	}
	return body.AccessToken
}

// mint starts a session for a user that is no built-in account, as a
// service would, and returns its access token.
func (s *sessiond) mint(t *testing.T, userID string) string {
	t.Helper()
	tok, err := s.srv.Node().Manager().Login(context.Background(), userID, session.Meta{AuthMethod: "sso"})
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// alive reports whether the session is live in the store.
func (s *sessiond) alive(id string) bool {
	_, err := s.srv.Node().Manager().Get(context.Background(), id)
	return err == nil
}

// startBrowser starts headless Chromium with a fresh profile and returns
// the context of its first tab.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// newTab opens another tab of the same browser (same cookies, storage,
// locks and BroadcastChannel).
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// click clicks the element sel matches as a user would (chromedp.Click:
// scrolled into view, a mouse press and release at its centre).
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	onFreshNode(t, ctx, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into the element sel matches, as keystrokes
// (chromedp.SendKeys).
func typeInto(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	onFreshNode(t, ctx, "type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// onFreshNode runs a, one action on one element, and runs it again if
// Chromium did not know the element. chromedp finds an element by its node
// id in the DOM it tracks; right after a link or a script replaced the
// document (a link to another page that has an #email too, say), that can
// still be the old one, and Chromium answers "Could not find node with
// given id" before any mouse or key event was sent, so trying again on the
// fresh document repeats nothing.
func onFreshNode(t *testing.T, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	var err error
	for range 10 {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = chromedp.Do(tctx, a)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true. It keeps polling
// across navigations (an evaluation that fails because the page is being
// replaced is retried).
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + ' | ' + (document.body ? document.body.innerText.slice(0, 300) : '')"))
	t.Fatalf("timed out waiting for %s (%s); last error %v; page: %s", what, expr, lastErr, href)
}

// cookies returns the browser's cookies for base, including any scoped to
// /v1/refresh (the refresh cookie of earlier versions).
func cookies(t *testing.T, ctx context.Context, base string) map[string]*network.Cookie {
	t.Helper()
	list, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/", base + "/v1/refresh"}})
		return res.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}

// screenshots is where the tests save page screenshots.
func screenshots(t *testing.T) string {
	if d := os.Getenv("SESSIOND_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// shoot saves full-page PNG screenshots of the current page at phone and
// desktop widths, and checks the page does not scroll sideways at either.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, w := range []int64{375, 1280} {
		do(t, ctx, chromedp.EmulateViewport(w, 800))
		if over := eval[bool](t, ctx, "document.documentElement.scrollWidth > window.innerWidth"); over {
			t.Errorf("%s at %dpx scrolls sideways", name, w)
		}
		// From the top, so what is fixed to the viewport (a dialog's
		// backdrop) lines up with the page.
		do(t, ctx, chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)"))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
}

// fillAndSubmit types into the form's fields and submits it with the
// keyboard (Enter in the password field), as a user would.
func fillAndSubmit(t *testing.T, ctx context.Context, email, pw string) {
	t.Helper()
	do(t, ctx,
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.Evaluate[chromedp.Void]("document.querySelector('#email').value = ''; document.querySelector('#password').value = ''"),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), pw+"\r"),
	)
}

const devicesLoaded = "location.pathname === '/ui/devices' && document.body.dataset.loaded && document.querySelectorAll('#sessions li').length > 0"

// TestBrowserSignupLoginCookies: sign up and log in through the forms; the
// cookies carry their prefixes and flags; script sees no token; a reload
// keeps the session; readable errors; screenshots of every page.
func TestBrowserSignupLoginCookies(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	dir := screenshots(t)

	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	shoot(t, tab, dir, "signup")
	fillAndSubmit(t, tab, "ann@example.com", password)
	waitFor(t, tab, "the devices page after signup", devicesLoaded)

	got := cookies(t, tab, sd.base)
	at, rt := got[httpauth.AccessCookie], got[httpauth.RefreshCookie]
	if at == nil || rt == nil {
		t.Fatalf("browser cookies after login: %v (Secure cookies refused on http://127.0.0.1?)", got)
	}
	checks := []struct {
		what     string
		got, wnt any
	}{
		{"access Path", at.Path, "/"}, {"access HttpOnly", at.HTTPOnly, true}, {"access Secure", at.Secure, true},
		{"access SameSite", at.SameSite, network.CookieSameSiteLax},
		{"refresh Path", rt.Path, "/"}, {"refresh HttpOnly", rt.HTTPOnly, true}, {"refresh Secure", rt.Secure, true},
		{"refresh SameSite", rt.SameSite, network.CookieSameSiteStrict},
	}
	for _, c := range checks {
		if c.got != c.wnt {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.wnt)
		}
	}
	if dc := eval[string](t, tab, "document.cookie"); strings.Contains(dc, "sessiond") || strings.Contains(dc, at.Value) {
		t.Fatalf("document.cookie shows a token: %q", dc)
	}
	storageDump := eval[string](t, tab, "JSON.stringify(Object.assign({}, localStorage)) + JSON.stringify(Object.assign({}, sessionStorage))")
	if strings.Contains(storageDump, at.Value) || strings.Contains(storageDump, rt.Value) || strings.Contains(storageDump, "sdrt_") {
		t.Fatalf("a token is in web storage: %s", storageDump)
	}

	// A reload keeps the session.
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "the devices page after reload", devicesLoaded)
	if n := eval[int](t, tab, "document.querySelectorAll('#sessions li.current').length"); n != 1 {
		t.Fatalf("%d sessions marked current", n)
	}

	// Other devices, for a realistic list.
	sd.apiLogin(t, "ann@example.com", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
	sd.apiLogin(t, "ann@example.com", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0")
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "three sessions", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 3")
	labels := eval[string](t, tab, "[...document.querySelectorAll('#sessions .device')].map(e => e.textContent).join(' | ')")
	for _, want := range []string{"Safari 17 on iOS", "Firefox 126 on Windows", "Chrome", "This device"} {
		if !strings.Contains(labels, want) {
			t.Errorf("device labels %q lack %q", labels, want)
		}
	}
	shoot(t, tab, dir, "devices")

	// Revoke one other device with its button.
	click(t, tab, "#sessions li:not(.current) button.revoke")
	waitFor(t, tab, "two sessions after revoking one", "document.querySelectorAll('#sessions li').length === 2")

	// Log out, then log in through the login form; a wrong password gets a
	// readable error in the live region.
	click(t, tab, "#logout")
	waitFor(t, tab, "the login page after logout", "location.pathname === '/ui/login' && document.querySelector('#notice') && !document.querySelector('#notice').hidden")
	if c := cookies(t, tab, sd.base); c[httpauth.AccessCookie] != nil || c[httpauth.RefreshCookie] != nil {
		t.Fatalf("cookies left after logout: %v", c)
	}
	fillAndSubmit(t, tab, "ann@example.com", "wrong password")
	waitFor(t, tab, "the error of a wrong password", "!document.querySelector('#error').hidden")
	if msg := eval[string](t, tab, "document.querySelector('#error').textContent"); msg != "invalid email or password" {
		t.Fatalf("error shown: %q", msg)
	}
	shoot(t, tab, dir, "login")
	fillAndSubmit(t, tab, "ann@example.com", password)
	waitFor(t, tab, "the devices page after login", devicesLoaded)
	t.Logf("screenshots in %s", dir)
}

// TestBrowserRefreshAndTabs: with a 2 s access lifetime the page keeps
// working through refreshes; two tabs refreshing at the same moment both
// stay logged in and never trip theft detection; "log out everywhere" in
// one tab sends the other to the login page at once.
func TestBrowserRefreshAndTabs(t *testing.T) {
	sd := startSessiond(t, session.Policy{AccessTTL: 2 * time.Second})
	tab1 := startBrowser(t)
	do(t, tab1, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab1, "bo@example.com", password)
	waitFor(t, tab1, "the devices page", devicesLoaded)
	tab2 := newTab(t, tab1)
	do(t, tab2, chromedp.Navigate(sd.base+"/ui/devices"))
	waitFor(t, tab2, "the devices page in tab 2", devicesLoaded)

	waitExpired := func() {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for cookies(t, tab1, sd.base)[httpauth.AccessCookie] != nil {
			if time.Now().After(deadline) {
				t.Fatal("the access cookie never expired")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// One tab, through the page's own button.
	waitExpired()
	before := eval[string](t, tab1, "document.body.dataset.loaded")
	click(t, tab1, "#reload")
	waitFor(t, tab1, "the list reloaded after expiry", "document.body.dataset.loaded !== '"+before+"'")
	if !eval[bool](t, tab1, "document.querySelector('#error').hidden && location.pathname === '/ui/devices'") {
		t.Fatal("the page did not keep working through a refresh")
	}
	if sd.count("refresh") < 1 {
		t.Fatal("no refresh happened")
	}

	// Both tabs at once, several requests each, three rounds.
	const rounds = 6
	refreshesBefore := sd.count("refresh")
	for round := range rounds {
		waitExpired()
		var wg sync.WaitGroup
		results := make([]string, 2)
		for i, tab := range []context.Context{tab1, tab2} {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(tab, 20*time.Second)
				defer cancel()
				v, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](
					"Promise.all([1, 2, 3].map(() => sessiond.fetch('/v1/sessions').then(r => r.status)))", chromedp.EvalAwaitPromise))
				results[i] = fmt.Sprint(v, err)
			})
		}
		wg.Wait()
		for i, r := range results {
			if r != "[200 200 200] <nil>" {
				t.Fatalf("round %d, tab %d: %s", round, i+1, r)
			}
		}
	}
	if n := sd.count("refresh.reuse_detected"); n != 0 {
		t.Fatalf("theft detection tripped %d times", n)
	}
	// The Web Lock serialises the tabs' refreshes, so no tab ever presents
	// a refresh token another tab already rotated: every refresh is a clean
	// rotation, none a replay the server had to answer from its grace
	// window. A tab usually sees the other's refresh and skips its own, but
	// that news crosses renderer processes asynchronously, so a second
	// (harmless, serialised) refresh in a round is allowed.
	if n := strings.Count(sd.logs.String(), `"reason":"grace-replay"`); n != 0 {
		t.Fatalf("%d refreshes presented an already rotated token: the lock did not serialise the tabs", n)
	}
	if n := sd.count("refresh") - refreshesBefore; n < 1 || n > 2*rounds {
		t.Fatalf("%d refreshes for %d rounds of two tabs", n, rounds)
	}
	for _, tab := range []context.Context{tab1, tab2} {
		do(t, tab, chromedp.Reload())
		waitFor(t, tab, "both tabs still logged in", devicesLoaded)
	}
	sess := eval[map[string]any](t, tab1, "sessiond.fetch('/v1/session').then(r => r.json())")
	userID, _ := sess["user_id"].(string)

	// Log out everywhere in tab 1 (and confirm): tab 2 goes to the login
	// page at once.
	click(t, tab1, "#logout-global")
	waitFor(t, tab1, "the confirmation", "document.querySelector('#confirm-global').open")
	click(t, tab1, "#confirm-global-ok")
	waitFor(t, tab2, "tab 2 on the login page", "location.pathname === '/ui/login'")
	waitFor(t, tab1, "tab 1 on the login page", "location.pathname === '/ui/login'")
	list, err := sd.srv.Node().Manager().List(context.Background(), userID)
	if err != nil || len(list) != 0 {
		t.Fatalf("sessions left after logging out everywhere: %d %v", len(list), err)
	}
}

// attackerPage is served from another origin. It attacks sessiond (at
// victim) with the victim's cookies: a form that posts to logout on load,
// and fetches with credentials of logout, revoke and the devices list.
const attackerPage = `<!doctype html><html><body>
<form id="f" method="POST" action="{{VICTIM}}/v1/logout?scope=global"><input name="x" value="1"></form>
<script>
const V = '{{VICTIM}}', ID = '{{ID}}';
window.results = {};
async function attempt(name, url, init) {
  try {
    const r = await fetch(url, Object.assign({credentials: 'include'}, init));
    let body = '';
    try { body = await r.text(); } catch (e) {}
    results[name] = 'status ' + r.status + ' ' + body;
  } catch (e) { results[name] = 'blocked ' + e.name; }
}
async function run() {
  await attempt('logout', V + '/v1/logout?scope=global', {method: 'POST'});
  await attempt('logout no-cors', V + '/v1/logout?scope=global', {method: 'POST', mode: 'no-cors'});
  await attempt('logout text/plain', V + '/v1/logout', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: '{}'});
  await attempt('revoke', V + '/v1/sessions/' + ID, {method: 'DELETE'});
  await attempt('list', V + '/v1/sessions', {});
  await attempt('list no-cors', V + '/v1/sessions', {mode: 'no-cors'});
  await attempt('csrf token', V + '/v1/csrf', {});
  window.done = true;
}
if (location.search === '?form') document.getElementById('f').submit(); else run();
</script></body></html>`

// TestBrowserCSRF: pages from another origin — a different site
// (localhost) and the same site on another port (127.0.0.1) — post a form
// to logout and fetch logout, revoke and the devices list with the victim's
// cookies. Every attempt is refused and nothing changes. A same-origin
// request without the CSRF token is refused too.
func TestBrowserCSRF(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "cy@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	sess := eval[map[string]any](t, tab, "sessiond.fetch('/v1/session').then(r => r.json())")
	victimID, _ := sess["id"].(string)
	otherID := sd.apiLogin(t, "cy@example.com", "curl/8.5.0")

	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := strings.NewReplacer("{{VICTIM}}", sd.base, "{{ID}}", otherID).Replace(attackerPage)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer attacker.Close()
	port := attacker.URL[strings.LastIndex(attacker.URL, ":")+1:]
	// Refusals sessiond logs for the fetches: the three POSTs (the DELETE
	// never leaves the browser: its preflight fails), and on the same site,
	// where the Lax access cookie rides along, the GET of the CSRF token.
	origins := map[string]struct {
		origin   string
		refusals int
	}{
		"cross-site (localhost)":            {"http://localhost:" + port, 3},
		"same-site, other port (127.0.0.1)": {attacker.URL, 4},
	}
	for name, o := range origins {
		origin := o.origin
		t.Run(name, func(t *testing.T) {
			rejected := sd.count("csrf.rejected")
			do(t, tab, chromedp.Navigate(origin+"/"))
			waitFor(t, tab, "the attacker's fetches", "window.done === true")
			results := eval[map[string]string](t, tab, "window.results")
			for k, v := range results {
				if strings.HasPrefix(v, "status 2") || strings.Contains(v, `"sessions"`) || strings.Contains(v, "csrf_token") {
					t.Errorf("attacker %s: %s", k, v)
				}
			}
			t.Logf("attacker results: %v", results)
			if n := sd.count("csrf.rejected") - rejected; n != o.refusals {
				t.Errorf("%d cross-origin refusals logged, want %d", n, o.refusals)
			}

			// The auto-submitting form: a top-level cross-origin POST.
			rejected = sd.count("csrf.rejected")
			do(t, tab, chromedp.Navigate(origin+"/?form"))
			waitFor(t, tab, "the form's answer", "location.href.startsWith('"+sd.base+"/v1/logout') && document.body.innerText.includes('csrf_failed')")
			if n := sd.count("csrf.rejected") - rejected; n != 1 {
				t.Errorf("%d refusals logged for the form, want 1", n)
			}
			if !sd.alive(victimID) || !sd.alive(otherID) {
				t.Fatal("an attack from another origin ended a session")
			}
		})
	}

	// A user agent is outside input: the devices page shows it as text.
	sd.apiLogin(t, "cy@example.com", `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`)

	// Same origin, but without the CSRF token, or with a wrong one: 403.
	do(t, tab, chromedp.Navigate(sd.base+"/ui/devices"))
	waitFor(t, tab, "the devices page with three sessions", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 3")
	if eval[bool](t, tab, "!!window.pwned || document.querySelectorAll('#sessions img, #sessions script').length > 0") {
		t.Fatal("a user agent's markup reached the DOM")
	}
	statuses := eval[[]int](t, tab, `Promise.all([
		fetch('/v1/logout?scope=global', {method: 'POST', headers: {'X-Session-Mode': 'cookie'}}).then(r => r.status),
		fetch('/v1/sessions/`+otherID+`', {method: 'DELETE'}).then(r => r.status),
		fetch('/v1/logout', {method: 'POST', headers: {'X-CSRF-Token': 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'}}).then(r => r.status),
	])`)
	if fmt.Sprint(statuses) != "[403 403 403]" {
		t.Fatalf("same-origin requests without a valid CSRF token: %v", statuses)
	}
	if !sd.alive(victimID) || !sd.alive(otherID) {
		t.Fatal("a request without the CSRF token ended a session")
	}
	// With sessiond.js (which sends the token) the same revoke works.
	if st := eval[int](t, tab, "sessiond.fetch('/v1/sessions/"+otherID+"', {method: 'DELETE'}).then(r => r.status)"); st != 204 || sd.alive(otherID) {
		t.Fatalf("revoke through sessiond.js: %d", st)
	}
}

// TestBrowserFormWithoutScript: a form submitted before pages.js runs (a
// slow or blocked script, an autofilled form sent with Enter at once) goes
// to the browser's default handling. The password must not end up in the
// URL (history, server and proxy logs) whatever happens.
func TestBrowserFormWithoutScript(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	for _, page := range []string{"login", "signup"} {
		t.Run(page, func(t *testing.T) {
			if _, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
				return cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			}); err != nil {
				t.Fatal(err)
			}
			do(t, tab, chromedp.Navigate(sd.base+"/ui/"+page))
			if page == "signup" {
				// The signup form waits for pages.js to learn that signup
				// is on, so without script there is none to send. Shown
				// anyway, it must still keep the password out of the URL.
				if eval[bool](t, tab, "document.querySelector('#signup-form').getClientRects().length > 0") {
					t.Fatal("the signup form shows before pages.js said signup is on")
				}
				do(t, tab, chromedp.Evaluate[chromedp.Void]("document.querySelector('#signup-form').hidden = false"))
			}
			fillAndSubmit(t, tab, "nojs@example.com", "secret-"+page+"-pw")
			waitFor(t, tab, "the form's submission", "location.search !== '' || !document.querySelector('#password')")
			if href := eval[string](t, tab, "location.href"); strings.Contains(href, "secret-") || strings.Contains(href, "nojs") {
				t.Fatalf("the form put the credentials in the URL: %s", href)
			}
		})
	}
}

// TestBrowserFetchStaysOnOrigin: sessiond.fetch adds the session's CSRF
// token and answers a 401 with a refresh. Called with another origin's URL
// (an application's third-party API, or one an attacker got into a link),
// it must not hand that origin the CSRF token, nor refresh because that
// origin said 401.
func TestBrowserFetchStaysOnOrigin(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A permissive CORS server, as a hostile one would be.
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
		w.Header().Set("Access-Control-Allow-Methods", "POST, GET")
		mu.Lock()
		seen = append(seen, r.Method+" csrf="+r.Header.Get("X-CSRF-Token")+" mode="+r.Header.Get("X-Session-Mode"))
		mu.Unlock()
		if r.Method == "OPTIONS" {
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) // another site
	// An application page on sessiond's origin (behind one front server),
	// without the strict CSP of sessiond's own pages, using sessiond.js.
	front := http.NewServeMux()
	front.Handle("/", sd.srv.Handler())
	front.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>app</title><script type="module">import s from '/ui/sessiond.js'; window.ready = true;</script>`)
	})
	app := httptest.NewServer(front)
	defer app.Close()
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(app.URL+"/ui/signup"))
	fillAndSubmit(t, tab, "dora@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	do(t, tab, chromedp.Navigate(app.URL+"/app"))
	waitFor(t, tab, "the application page", "window.ready === true")
	if st := eval[int](t, tab, "sessiond.fetch('/v1/logout?scope=others', {method: 'POST'}).then(r => r.status)"); st != 200 {
		t.Fatalf("sessiond.fetch on its own origin: %d", st)
	}
	refreshes := sd.count("refresh")
	got := eval[string](t, tab, `sessiond.fetch('`+otherURL+`/collect', {method: 'POST'}).then(r => 'status ' + r.status, e => 'refused: ' + e.message)`)
	// The same request by plain fetch does reach the other origin: the test
	// server answers.
	if st := eval[int](t, tab, `fetch('`+otherURL+`/collect', {method: 'POST', headers: {'X-Probe': '1'}}).then(r => r.status)`); st != 401 {
		t.Fatalf("the other origin is unreachable: %d", st)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("sessiond.fetch to another origin: %s; the origin saw %q", got, seen)
	for _, s := range seen {
		if !strings.HasSuffix(s, "csrf= mode=") {
			t.Errorf("another origin received session headers: %s", s)
		}
	}
	if n := sd.count("refresh") - refreshes; n != 0 {
		t.Errorf("another origin's 401 made sessiond.js refresh %d times", n)
	}
	if !strings.HasPrefix(got, "refused") {
		t.Errorf("sessiond.fetch to another origin: %s, want it refused", got)
	}
}
