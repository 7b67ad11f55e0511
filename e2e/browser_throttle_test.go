package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// TestBrowserDeviceCookie: the login page logs in in cookie mode, so the
// browser gets the device cookie (HttpOnly, Secure, SameSite=Strict,
// __Host-). Guessing the account's password from 25 addresses then slows
// every attempt on it that has no device cookie, but this browser, its
// session gone (its session cookies deleted, as when they expire), logs in
// again through the page at once; a fresh browser is told to wait.
func TestBrowserDeviceCookie(t *testing.T) {
	sd := startSessiondWith(t, session.Policy{}, server.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, // the guesses name their address
		// The default free allowance, with a first wait long enough to
		// outlast the test on the real clock.
		LoginFailures: server.LoginFailures{PerAccount: ratelimit.Backoff{Free: 20, Base: 10 * time.Minute, Max: time.Hour, Decay: time.Hour}},
	})
	sd.apiSignup(t, "dee@example.com")
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/login"))
	fillAndSubmit(t, tab, "dee@example.com", password)
	waitFor(t, tab, "the devices page after login", devicesLoaded)
	dev := cookies(t, tab, sd.base)[httpauth.DeviceCookie]
	if dev == nil || !dev.HTTPOnly || !dev.Secure || dev.SameSite != network.CookieSameSiteStrict || dev.Path != "/" {
		t.Fatalf("device cookie after a login through the page: %+v", dev)
	}
	if dc := eval[string](t, tab, "document.cookie"); strings.Contains(dc, "sessiond_dev") {
		t.Fatalf("script sees the device cookie: %q", dc)
	}

	for i := range 25 { // one guess from each of 25 addresses
		req, _ := http.NewRequest("POST", sd.base+"/v1/login", strings.NewReader(`{"email":"dee@example.com","password":"wrong wrong wrong"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := http.StatusUnauthorized
		if i >= 21 {
			want = http.StatusTooManyRequests // 21 failures: the account waits now
		}
		if res.StatusCode != want {
			t.Fatalf("guess %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}

	// The session cookies go (as when they expire); the device cookie stays.
	for _, c := range []struct{ name, url string }{{httpauth.AccessCookie, sd.base + "/"}, {httpauth.RefreshCookie, sd.base + "/v1/refresh"}} {
		if _, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
			return cdp.Call(ctx, tg, network.DeleteCookies, network.DeleteCookiesParams{Name: c.name, URL: c.url})
		}); err != nil {
			t.Fatal(err)
		}
	}
	do(t, tab, chromedp.Navigate(sd.base+"/ui/login"))
	fillAndSubmit(t, tab, "dee@example.com", password)
	waitFor(t, tab, "the devices page after a login with the device cookie", devicesLoaded)

	fresh := startBrowser(t)
	do(t, fresh, chromedp.Navigate(sd.base+"/ui/login"))
	fillAndSubmit(t, fresh, "dee@example.com", password)
	waitFor(t, fresh, "the error of a throttled login", "!document.querySelector('#error').hidden")
	if msg := eval[string](t, fresh, "document.querySelector('#error').textContent"); !strings.Contains(strings.ToLower(msg), "too many attempts") {
		t.Fatalf("a fresh browser was told %q", msg)
	}
}
