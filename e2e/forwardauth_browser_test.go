package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// atPage is a JavaScript expression: the browser shows the echo
// upstream's page at url, for a signed-in user.
func atPage(url string) string {
	return "location.href === " + quoteJS(url) + " && document.querySelector('#user') && document.querySelector('#user').textContent !== ''"
}

func quoteJS(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// onLogin is a JavaScript expression: the login page, asked to go back to
// returnTo once logged in.
func onLogin(returnTo string) string {
	return "location.pathname === '/ui/login' && new URLSearchParams(location.search).get('return_to') === " + quoteJS(returnTo) +
		" && document.querySelector('#email')"
}

// TestBrowserForwardAuth: Chromium, not logged in, asks nginx (and Caddy)
// for a protected page; it lands on sessiond's login page, and after
// logging in on the page it asked for, which the upstream served to its
// user. A page of 200 images then loads every one of them; after the
// session is revoked the next page load is sent to the login page.
func TestBrowserForwardAuth(t *testing.T) {
	for _, fd := range frontDoors {
		t.Run(fd.name, func(t *testing.T) {
			sd := forwardAuthSessiond(t, session.Policy{})
			up := startEcho(t)
			px := fd.start(t, hostOf(t, sd.base), hostOf(t, up.URL))
			defer func() {
				if t.Failed() {
					t.Logf("%s log:\n%s", fd.name, px.Log())
				}
			}()
			sd.apiSignup(t, "fay@example.com")
			tab := startBrowser(t)

			// A login link that would send the user on to another origin
			// does not even open the form.
			for _, bad := range []string{"https://evil.example/", "//evil.example/", `/\evil.example/`} {
				do(t, tab, chromedp.Navigate(px.URL+"/ui/login?return_to="+url.QueryEscape(bad)))
				if txt := eval[string](t, tab, "document.body.innerText"); !strings.Contains(txt, "400 Bad Request") || eval[bool](t, tab, "!!document.querySelector('#login-form')") {
					t.Fatalf("the login page with return_to %q: %q", bad, txt)
				}
			}

			page := px.URL + "/app/orders?page=2"
			do(t, tab, chromedp.Navigate(page))
			waitFor(t, tab, "the login page", onLogin("/app/orders?page=2"))
			fillAndSubmit(t, tab, "fay@example.com", password)
			waitFor(t, tab, "the page asked for, after logging in", atPage(page))
			user := eval[string](t, tab, "document.querySelector('#user').textContent")
			acct, err := sd.srv.Node().Accounts().Authenticate(context.Background(), "fay@example.com", password)
			if err != nil || user != acct.ID {
				t.Fatalf("the upstream served the page to %q, want the account %v (%v)", user, acct, err)
			}

			before := len(up.requests())
			do(t, tab, chromedp.Navigate(px.URL+"/app/assets?n=200"))
			waitFor(t, tab, "the page's 200 images", "window.assets && assets.loaded + assets.failed === 200")
			if loaded, failed := eval[int](t, tab, "assets.loaded"), eval[int](t, tab, "assets.failed"); loaded != 200 || failed != 0 {
				t.Fatalf("of 200 images, %d loaded and %d failed", loaded, failed)
			}
			reqs := up.requests()[before:]
			imgs := 0
			for _, s := range reqs {
				if s.Header.Get("X-Sessiond-User-Id") != user {
					t.Fatalf("%s reached the upstream as %q", s.URI, s.Header.Get("X-Sessiond-User-Id"))
				}
				if strings.HasPrefix(s.URI, "/app/img/") {
					imgs++
				}
			}
			if imgs != 200 {
				t.Fatalf("the upstream served %d images", imgs)
			}
			if n := sd.count("throttled"); n != 0 {
				t.Fatalf("%d throttling events", n)
			}

			if _, err := sd.srv.Node().Manager().RevokeUser(context.Background(), user, ""); err != nil {
				t.Fatal(err)
			}
			do(t, tab, chromedp.Navigate(px.URL+"/app/orders"))
			waitFor(t, tab, "the login page after the session was revoked", onLogin("/app/orders"))
			if c := cookies(t, tab, px.URL); c[httpauth.RefreshCookie] != nil {
				t.Fatal("the revoked session's refresh cookie was left in the browser")
			}
		})
	}
}

// TestBrowserForwardAuthRefreshInBand: with a 2 s access lifetime and no
// script on the site, a user stays logged in across the access cookie's
// expiry: the next page load, a form posted (its data kept) and a link
// followed from another site all land where they were going, without the
// login page, each through one in-band refresh.
func TestBrowserForwardAuthRefreshInBand(t *testing.T) {
	for _, fd := range frontDoors {
		t.Run(fd.name, func(t *testing.T) {
			sd := forwardAuthSessiond(t, session.Policy{AccessTTL: 2 * time.Second})
			up := startEcho(t)
			px := fd.start(t, hostOf(t, sd.base), hostOf(t, up.URL))
			defer func() {
				if t.Failed() {
					t.Logf("%s log:\n%s", fd.name, px.Log())
				}
			}()
			sd.apiSignup(t, "gus@example.com")
			tab := startBrowser(t)
			page := px.URL + "/app/page"
			do(t, tab, chromedp.Navigate(page))
			waitFor(t, tab, "the login page", onLogin("/app/page"))
			fillAndSubmit(t, tab, "gus@example.com", password)
			waitFor(t, tab, "the page after logging in", atPage(page))

			expire := func() {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for cookies(t, tab, px.URL)[httpauth.AccessCookie] != nil {
					if time.Now().After(deadline) {
						t.Fatal("the access cookie never expired")
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			step := func(what string, act func(), want string) {
				t.Helper()
				expire()
				refreshes := sd.count("refresh")
				act()
				waitFor(t, tab, what, want)
				if n := sd.count("refresh") - refreshes; n < 1 {
					t.Fatalf("%s: no in-band refresh", what)
				}
				if strings.Contains(eval[string](t, tab, "performance.getEntriesByType('navigation')[0].name"), "/ui/login") {
					t.Fatalf("%s: the login page was shown", what)
				}
			}

			step("the next page load", func() { do(t, tab, chromedp.Navigate(page+"?again=1")) }, atPage(page+"?again=1"))
			step("a form posted after the access cookie expired",
				func() { do(t, tab, chromedp.Evaluate[chromedp.Void]("document.querySelector('#f').submit()")) },
				"location.pathname === '/app/form' && document.querySelector('#method') && document.querySelector('#method').textContent === 'POST' && "+
					"document.querySelector('#note').textContent === 'written before the access cookie expired' && document.querySelector('#user').textContent !== ''")

			// A link on another site (localhost is another site than
			// 127.0.0.1): the navigation is cross-site, and the refresh
			// cookie is SameSite=Strict.
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><a id="go" href="%s">the shop</a>`, page+"?from=elsewhere")
			}))
			defer other.Close()
			elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
			do(t, tab, chromedp.Navigate(elsewhere+"/"))
			step("a link followed from another site", func() { click(t, tab, "#go") }, atPage(page+"?from=elsewhere"))

			if n := sd.count("refresh.reuse_detected"); n != 0 {
				t.Fatalf("theft detection tripped %d times", n)
			}
		})
	}
}
