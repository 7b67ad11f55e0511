package e2e_test

// What the pages show a visitor: a first visit without a session, the
// signup offer following the server's setting, the confirmation before
// "log out everywhere", and the account the devices page is for.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// loginPageQuiet: the login page with its form showing and neither an
// error nor a notice, empty or visible.
const loginPageQuiet = `location.pathname === '/ui/login' && location.search === '' &&
	document.querySelector('#login-form') && document.querySelector('#email').offsetParent !== null &&
	document.querySelector('#error').hidden && document.querySelector('#error').textContent === '' &&
	document.querySelector('#notice').hidden && document.querySelector('#notice').textContent === ''`

// visible is a JavaScript expression: whether the element sel is rendered.
func visible(sel string) string {
	return "(e => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')(document.querySelector('" + sel + "'))"
}

// settled polls expr for up to 10 s and reports whether it came true; the
// caller checks what the page shows either way, so a page that never
// settles fails on what it shows.
func settled(t *testing.T, ctx context.Context, expr string) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if eval[bool](t, ctx, "!!("+expr+")") {
			return true
		}
	}
	return false
}

// TestBrowserFirstVisit: a browser that never logged in opens the root and
// lands on the login page, form showing, with no error or notice at all,
// then or a little later; Back does not lead to the devices page. A
// browser with a session opening the root gets its devices page, also
// after its access cookie expired (the refresh cookie never reaches the
// root, so the root cannot send such a browser to the login page).
func TestBrowserFirstVisit(t *testing.T) {
	sd := startSessiond(t, session.Policy{AccessTTL: 2 * time.Second})
	tab := startBrowser(t)

	do(t, tab, chromedp.Navigate(sd.base+"/"))
	waitFor(t, tab, "the login page, quiet", loginPageQuiet)
	time.Sleep(500 * time.Millisecond) // nothing arrives late either
	if !eval[bool](t, tab, loginPageQuiet) {
		t.Fatalf("the login page changed after landing: %s", eval[string](t, tab, "location.href + ' | ' + document.body.innerText"))
	}
	if text := eval[string](t, tab, "document.body.innerText"); strings.Contains(text, "refresh") || strings.Contains(text, "session ended") {
		t.Fatalf("a first visit shows %q", text)
	}
	// The devices page replaced itself: Back leaves the site instead of
	// bouncing off /ui/devices again.
	if n := eval[int](t, tab, "history.length"); n != 2 {
		t.Errorf("history has %d entries, want 2 (about:blank, the login page)", n)
	}

	// With a session, the root is the devices page.
	sd.apiSignup(t, "eve@example.com")
	fillAndSubmit(t, tab, "eve@example.com", password)
	waitFor(t, tab, "the devices page after login", devicesLoaded)
	do(t, tab, chromedp.Navigate(sd.base+"/"))
	waitFor(t, tab, "the devices page from the root", devicesLoaded)

	// And still once the access cookie has expired.
	deadline := time.Now().Add(15 * time.Second)
	for cookies(t, tab, sd.base)[httpauth.AccessCookie] != nil {
		if time.Now().After(deadline) {
			t.Fatal("the access cookie never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
	do(t, tab, chromedp.Navigate(sd.base+"/"))
	waitFor(t, tab, "the devices page from the root after the access cookie expired", devicesLoaded)
	if !eval[bool](t, tab, "document.querySelector('#error').hidden") {
		t.Fatalf("error on the devices page: %s", eval[string](t, tab, "document.querySelector('#error').textContent"))
	}
}

// TestBrowserSignupOffer: the login page links to signup only when the
// server accepts signups, and the signup page, when it does not, says so
// in a sentence and has no form. /ui/config.json tells the pages.
func TestBrowserSignupOffer(t *testing.T) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "signup off", true: "signup on"}[on]
		t.Run(name, func(t *testing.T) {
			sd := startSessiondSignup(t, session.Policy{}, on)

			res, err := http.Get(sd.base + "/ui/config.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var cfg map[string]any
			if err := json.Unmarshal(body, &cfg); err != nil || res.StatusCode != 200 {
				t.Fatalf("GET /ui/config.json: %d %s %v", res.StatusCode, body, err)
			}
			if len(cfg) != 2 || cfg["signup"] != on || cfg["password_reset"] != false {
				t.Errorf("config %s, want signup: %v and password_reset: false (no mailer)", body, on)
			}
			if ct, cc := res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
				t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
			}

			tab := startBrowser(t)
			const configRead = "document.body.dataset.signup === 'true' || document.body.dataset.signup === 'false'"
			do(t, tab, chromedp.Navigate(sd.base+"/ui/login"))
			waitFor(t, tab, "the login form", visible("#email"))
			read := settled(t, tab, configRead)
			linkShown := eval[bool](t, tab, "[...document.querySelectorAll('a')].some(a => a.textContent.includes('Sign up') && a.getClientRects().length > 0)")
			if linkShown != on {
				t.Fatalf("a visible Sign up link: %v, want %v", linkShown, on)
			}
			if !read {
				t.Fatal("the login page never read /ui/config.json")
			}

			do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
			read = settled(t, tab, configRead)
			if on {
				waitFor(t, tab, "the signup form", visible("#signup-form")+" && !"+visible("#signup-off"))
				fillAndSubmit(t, tab, "fay@example.com", password)
				waitFor(t, tab, "the devices page after signup", devicesLoaded)
				return
			}
			if eval[bool](t, tab, "!!document.querySelector('form, input, button[type=submit]')") {
				t.Fatalf("the signup page has a form with signup off: %s", eval[string](t, tab, "document.querySelector('main').innerHTML"))
			}
			if !read {
				t.Fatal("the signup page never read /ui/config.json")
			}
			if text := eval[string](t, tab, "document.querySelector('#signup-off').innerText"); !eval[bool](t, tab, visible("#signup-off")) || !strings.Contains(text, "Signup is turned off") {
				t.Fatalf("the signup page with signup off says %q", eval[string](t, tab, "document.body.innerText"))
			}
			if !eval[bool](t, tab, "document.querySelector('#error').hidden") {
				t.Fatal("the signup page shows an error with signup off")
			}
			shoot(t, tab, screenshots(t), "signup-off")
		})
	}
}

// TestBrowserLogoutEverywhereConfirms: "Log out everywhere" opens a
// confirmation and ends nothing by itself; Escape and Cancel (by mouse or
// keyboard) keep every session; only the confirmation ends them all.
func TestBrowserLogoutEverywhereConfirms(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "gus@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	here := eval[string](t, tab, "sessiond.fetch('/v1/session').then(r => r.json()).then(s => s.id)")
	other := sd.apiLogin(t, "gus@example.com", "curl/8.5.0")
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "two sessions", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 2")

	untouched := func(when string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // a logout would have been sent by now
		if !sd.alive(here) || !sd.alive(other) {
			t.Fatalf("%s: a session ended", when)
		}
		if p := eval[string](t, tab, "location.pathname"); p != "/ui/devices" {
			t.Fatalf("%s: the page went to %s", when, p)
		}
	}
	const open = "document.querySelector('#confirm-global').open"

	// The first click only asks.
	click(t, tab, "#logout-global")
	untouched("after the first click")
	waitFor(t, tab, "the confirmation", open+" && "+visible("#confirm-global-ok"))
	if f := eval[string](t, tab, "document.activeElement.id"); f != "confirm-global-cancel" {
		t.Errorf("focus on %q when the confirmation opens, want Cancel", f)
	}
	if text := eval[string](t, tab, "document.querySelector('#confirm-global').innerText"); !strings.Contains(text, "Log out everywhere?") {
		t.Errorf("the confirmation says %q", text)
	}
	shoot(t, tab, screenshots(t), "devices-confirm")

	// Escape keeps everything and gives focus back to the button.
	do(t, tab, chromedp.KeyEvent(kb.Escape))
	waitFor(t, tab, "the confirmation closed by Escape", "!"+open)
	untouched("after Escape")
	if f := eval[string](t, tab, "document.activeElement.id"); f != "logout-global" {
		t.Errorf("focus on %q after Escape, want the button", f)
	}

	// The keyboard alone: Enter opens, Enter on Cancel (focused) closes.
	do(t, tab, chromedp.KeyEvent("\r"))
	waitFor(t, tab, "the confirmation opened by Enter", open)
	do(t, tab, chromedp.KeyEvent("\r"))
	waitFor(t, tab, "the confirmation closed by Cancel", "!"+open)
	untouched("after Cancel")

	// Confirming, by keyboard: Enter, Tab to the confirm button, Enter.
	do(t, tab, chromedp.KeyEvent("\r"))
	waitFor(t, tab, "the confirmation opened again", open)
	do(t, tab, chromedp.KeyEvent("\t"))
	if f := eval[string](t, tab, "document.activeElement.id"); f != "confirm-global-ok" {
		t.Fatalf("Tab moved focus to %q, want the confirm button", f)
	}
	do(t, tab, chromedp.KeyEvent("\r"))
	waitFor(t, tab, "the login page after confirming", "location.pathname === '/ui/login' && !document.querySelector('#notice').hidden")
	if sd.alive(here) || sd.alive(other) {
		t.Fatal("a session outlived a confirmed log out everywhere")
	}
}

// TestBrowserDevicesShowsAccount: the devices page says which account is
// signed in; GET /v1/session carries the email for a built-in account and
// none for a user a service minted a session for, its other fields as
// before.
func TestBrowserDevicesShowsAccount(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "Hal@Example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	waitFor(t, tab, "the account line", visible("#account"))
	if text := eval[string](t, tab, "document.querySelector('#account').innerText"); text != "Signed in as hal@example.com" {
		t.Fatalf("the account line says %q", text)
	}

	get := func(access string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("GET", sd.base+"/v1/session", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /v1/session: %d %v", res.StatusCode, err)
		}
		return v
	}
	fields := []string{"id", "user_id", "created_at", "last_seen_at", "expires_at", "current"}

	acct := get(sd.apiAccess(t, "hal@example.com"))
	if acct["email"] != "hal@example.com" {
		t.Errorf("a built-in account's session: %v", acct)
	}
	for _, f := range fields {
		if _, ok := acct[f]; !ok {
			t.Errorf("GET /v1/session lost %q: %v", f, acct)
		}
	}
	minted := get(sd.mint(t, "user-from-a-service"))
	if _, ok := minted["email"]; ok || minted["user_id"] != "user-from-a-service" {
		t.Errorf("a minted session: %v", minted)
	}
}

// TestBrowserDevicesBidiAgent: a user agent carrying bidirectional
// overrides, isolates and marks (which would show "exe.gnp" as "pnge.exe")
// is rendered on the devices page without any of them, its label isolated
// in a <bdi>.
func TestBrowserDevicesBidiAgent(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "ida@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	sd.apiLogin(t, "ida@example.com", "\u202Eexe.gnp\u202C \u2066Tool\u2069\u200F/1\u061C\u200E\u202A\u202B\u202D\u2067\u2068")
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "two sessions", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 2")
	labels := eval[string](t, tab, "JSON.stringify([...document.querySelectorAll('#sessions .device bdi')].map(e => e.textContent))")
	var got []string
	if err := json.Unmarshal([]byte(labels), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("device labels in <bdi>: %q, want 2", got)
	}
	found := false
	for _, l := range got {
		if strings.ContainsAny(l, "\u061C\u200E\u200F\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069") {
			t.Errorf("device label %q keeps bidirectional controls", l)
		}
		found = found || l == "exe.gnp Tool/1"
	}
	if !found {
		t.Errorf("device labels %q lack the agent as sent, controls removed", got)
	}
	aria := eval[string](t, tab, "document.querySelector('#sessions li:not(.current) button.revoke').getAttribute('aria-label')")
	if strings.ContainsAny(aria, "\u202E\u2066") || !strings.Contains(aria, "exe.gnp Tool/1") {
		t.Errorf("the revoke button's label %q", aria)
	}
}
