package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// clock is the shop's injected clock: the test moves it past the access
// token's lifetime instead of waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// pastAccessTTL is long enough for an access token to be refused (its
// lifetime and the verifier's leeway are over), and well within the idle
// timeout.
const pastAccessTTL = session.DefaultAccessTTL + time.Minute

type shopServer struct {
	base  string
	clock *clock
	web   *httpauth.Web
	logs  *testenv.LogBuffer
}

// startShop serves the shop as main does, on 127.0.0.1 (which Chromium
// treats as secure, so the __Host- cookies are kept over plain HTTP),
// with an injected clock.
func startShop(t *testing.T) *shopServer {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	logs := &testenv.LogBuffer{}
	web, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{MasterKey: []byte("Hq3Nw8Zk1Xv5Bm7Tc2Lr9Py4Gd6Js0Fa"),
		Store: memstore.New(), CookieName: "shop", LoginURL: "/", Now: c.Now, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newShop(web))
	t.Cleanup(func() {
		srv.Close()
		web.Close()
		if t.Failed() {
			t.Logf("shop log:\n%s", logs.String())
		}
	})
	return &shopServer{base: srv.URL, clock: c, web: web, logs: logs}
}

// count is how many audit events of kind the shop logged.
func (s *shopServer) count(kind string) int { return strings.Count(s.logs.String(), "event="+kind+" ") }

// startBrowser starts headless Chromium with a fresh profile and page
// scripts disabled: the shop must work without JavaScript.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
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
	if _, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	}); err != nil {
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

// text is the page's visible text, read over the DevTools protocol (the
// page itself runs no script).
func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (%s); page: %s", what, expr, text(t, ctx))
}

// login fills the login form and submits it.
func login(t *testing.T, ctx context.Context, base string, remember bool) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "ann"), chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"))
	if remember {
		do(t, ctx, chromedp.Click(chromedp.CSS("#remember")))
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#login")))
	waitFor(t, ctx, "the shop after login", "document.querySelector('#user')")
}

// addToCart picks an item and posts the form.
func addToCart(t *testing.T, ctx context.Context, item string) {
	t.Helper()
	do(t, ctx, chromedp.SetValue(chromedp.CSS("select[name=item]"), item), chromedp.Click(chromedp.CSS("#add")))
	waitFor(t, ctx, "the shop after adding "+item, "document.querySelector('.flash') && document.querySelector('.flash').textContent.includes('"+item+"')")
}

func cookies(t *testing.T, ctx context.Context, base string) map[string]*network.Cookie {
	t.Helper()
	list, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
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

func cart(t *testing.T, ctx context.Context) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string]("[...document.querySelectorAll('#cart li')].map(e => e.textContent).join(', ')"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShopInChromium: the shop in a real browser with no JavaScript. Log
// in (not remembered: browser-session cookies), add to the cart with the
// form (the CSRF token rides in a hidden field), see the flash once; leave
// the page open past the access token's lifetime, then navigate and post
// the form again: both work, refreshed in-band; log out; log in again,
// remembered: persistent cookies.
func TestShopInChromium(t *testing.T) {
	shop := startShop(t)
	tab := startBrowser(t)

	login(t, tab, shop.base, false)
	if !strings.Contains(text(t, tab), "Signed in as ann") {
		t.Fatalf("after login: %s", text(t, tab))
	}
	if n, err := chromedp.Run(tab, chromedp.Evaluate[int]("document.scripts.length")); err != nil || n != 0 {
		t.Fatalf("the shop has %d scripts (%v): it must need none", n, err)
	}
	jar := cookies(t, tab, shop.base)
	at, rt := jar["__Host-shop_at"], jar["__Host-shop_rt"]
	if at == nil || rt == nil {
		t.Fatalf("cookies after login: %v", jar)
	}
	for _, c := range []*network.Cookie{at, rt} {
		if !c.Session || !c.HTTPOnly || !c.Secure || c.Path != "/" || c.SameSite != network.CookieSameSiteLax {
			t.Errorf("%s: session %v HttpOnly %v Secure %v Path %q SameSite %v; want a browser-session cookie, HttpOnly, Secure, /, Lax",
				c.Name, c.Session, c.HTTPOnly, c.Secure, c.Path, c.SameSite)
		}
	}

	// Add to the cart; the flash shows once.
	addToCart(t, tab, "tea")
	if got := cart(t, tab); got != "tea" {
		t.Fatalf("cart %q", got)
	}
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "the shop after reload", "document.querySelector('#user')")
	if strings.Contains(text(t, tab), "Added tea") {
		t.Fatal("the flash message was shown twice")
	}

	// The page stays open past the access token's lifetime; the next
	// navigation works, refreshed in-band.
	refreshes := shop.count("refresh")
	shop.clock.Add(pastAccessTTL)
	do(t, tab, chromedp.Navigate(shop.base+"/"))
	waitFor(t, tab, "the shop after the access token expired", "document.querySelector('#user')")
	if got := cart(t, tab); got != "tea" {
		t.Fatalf("cart after expiry: %q", got)
	}
	if shop.count("refresh") != refreshes+1 || cookies(t, tab, shop.base)["__Host-shop_rt"].Value == rt.Value {
		t.Fatal("the navigation was not refreshed in-band")
	}

	// Again, and this time the open page's form is posted.
	shop.clock.Add(pastAccessTTL)
	addToCart(t, tab, "cake")
	if got := cart(t, tab); got != "tea, cake" {
		t.Fatalf("cart after a form posted past the access token's lifetime: %q", got)
	}
	if shop.count("refresh") != refreshes+2 {
		t.Fatal("the form post was not refreshed in-band")
	}
	// The refreshed cookies are still browser-session cookies.
	for name, c := range cookies(t, tab, shop.base) {
		if !c.Session {
			t.Errorf("%s became persistent after a refresh", name)
		}
	}

	// The browser dropped the access cookie (as it does when its Max-Age
	// runs out) while the page was open: the form still posts.
	if _, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, network.DeleteCookies, network.DeleteCookiesParams{Name: "__Host-shop_at", URL: shop.base + "/"})
	}); err != nil {
		t.Fatal(err)
	}
	shop.clock.Add(pastAccessTTL)
	addToCart(t, tab, "tea")
	if got := cart(t, tab); got != "tea, cake, tea" {
		t.Fatalf("cart after a post without an access cookie: %q", got)
	}
	if shop.count("refresh") != refreshes+3 {
		t.Fatal("the post without an access cookie was not refreshed in-band")
	}
	if shop.count("refresh.reuse_detected") != 0 {
		t.Fatal("theft detection tripped")
	}

	// Log out: the cookies go and the session ends.
	sid := cookies(t, tab, shop.base)["__Host-shop_rt"].Value
	do(t, tab, chromedp.Click(chromedp.CSS("#logout")))
	waitFor(t, tab, "the login form after logout", "document.querySelector('#name')")
	if c := cookies(t, tab, shop.base); len(c) != 0 {
		t.Fatalf("cookies left after logout: %v", c)
	}
	if _, err := shop.web.Manager().Refresh(context.Background(), sid, session.Meta{}); err == nil {
		t.Fatal("the session lives on after logout")
	}

	// Remembered: persistent cookies, and the cart of the old session is
	// gone with it.
	login(t, tab, shop.base, true)
	for name, c := range cookies(t, tab, shop.base) {
		if c.Session || c.Expires <= float64(time.Now().Unix()) {
			t.Errorf("%s: session %v, expires %v; want a persistent cookie", name, c.Session, c.Expires)
		}
	}
	if got := cart(t, tab); got != "" {
		t.Fatalf("a new login sees the old cart %q", got)
	}
}
