package e2e_test

// Re-authentication and password change on the devices page: a sensitive
// action refused because the sign-in is too old asks for the password and
// then goes through; a password change in one browser ends the sessions of
// another, while this one goes on.

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
)

// offsetClock is the server's clock: the real one (the browser's cookie
// expiry runs on it) moved ahead by what the test says, so that a sign-in
// grows old without waiting.
type offsetClock struct{ ahead atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

// Advance moves the server's clock d ahead.
func (c *offsetClock) Advance(d time.Duration) { c.ahead.Add(int64(d)) }

// startSessiondFresh is a sessiond whose sensitive routes want a sign-in at
// most a minute old, on an offset clock the test moves.
func startSessiondFresh(t *testing.T) (*sessiond, *offsetClock) {
	t.Helper()
	c := &offsetClock{}
	return startSessiondNode(t, node.Config{Now: c.Now}, server.Config{ReauthMaxAge: time.Minute}), c
}

const reauthOpen = "document.querySelector('#reauth').open"

// TestBrowserReauth: two minutes after signing in, "Log out everywhere
// else" asks for the password in a dialog before anything ends; a wrong
// password is said there and ends nothing; the right one re-authenticates
// and the action goes through. Cancel ends nothing. Logging out one other
// device asks the same way.
func TestBrowserReauth(t *testing.T) {
	sd, clock := startSessiondFresh(t)
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "kim@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	here := eval[string](t, tab, "sessiond.fetch('/v1/session').then(r => r.json()).then(s => s.id)")
	other := sd.apiLogin(t, "kim@example.com", "curl/8.5.0")
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "two sessions", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 2")
	clock.Advance(2 * time.Minute)

	click(t, tab, "#logout-others")
	waitFor(t, tab, "the password dialog", reauthOpen+" && "+visible("#reauth-password"))
	if !sd.alive(here) || !sd.alive(other) {
		t.Fatal("a session ended before the password was given")
	}
	if f := eval[string](t, tab, "document.activeElement.id"); f != "reauth-password" {
		t.Errorf("focus on %q when the dialog opens, want the password field", f)
	}
	if u := eval[string](t, tab, "document.querySelector('#reauth-form input.username').value"); u != "kim@example.com" {
		t.Errorf("the dialog's username field holds %q, want the account (for password managers)", u)
	}
	shoot(t, tab, screenshots(t), "devices-reauth")

	// A wrong password: said in the dialog, which stays open; nothing ends.
	typeInto(t, tab, "#reauth-password", "not my password\r")
	waitFor(t, tab, "the wrong password said", visible("#reauth-error"))
	if text := eval[string](t, tab, "document.querySelector('#reauth-error').textContent"); !strings.Contains(text, "not your password") {
		t.Errorf("the dialog says %q after a wrong password", text)
	}
	if !eval[bool](t, tab, reauthOpen) || !sd.alive(other) {
		t.Fatal("a wrong password closed the dialog or ended a session")
	}
	if n := sd.count("reauth.failed"); n != 1 {
		t.Errorf("%d reauth.failed audit lines, want 1 (a wrong password is not retried)", n)
	}

	// The right one: the dialog closes and the other device is logged out.
	do(t, tab, chromedp.Evaluate[chromedp.Void]("document.querySelector('#reauth-password').value = ''"),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), password+"\r"))
	waitFor(t, tab, "the other device logged out", "!"+reauthOpen+" && !document.querySelector('#status').hidden && document.querySelectorAll('#sessions li').length === 1")
	if text := eval[string](t, tab, "document.querySelector('#status').textContent"); !strings.Contains(text, "One other session was logged out") {
		t.Errorf("status %q", text)
	}
	if sd.alive(other) || !sd.alive(here) {
		t.Fatalf("after the password: other alive %v, this one alive %v", sd.alive(other), sd.alive(here))
	}
	if !eval[bool](t, tab, "document.querySelector('#error').hidden") {
		t.Errorf("error on the page: %s", eval[string](t, tab, "document.querySelector('#error').textContent"))
	}

	// Two minutes later again: Cancel keeps everything.
	other = sd.apiLogin(t, "kim@example.com", "curl/8.5.0")
	click(t, tab, "#reload")
	waitFor(t, tab, "two sessions again", "document.querySelectorAll('#sessions li').length === 2")
	clock.Advance(2 * time.Minute)
	click(t, tab, "#logout-others")
	waitFor(t, tab, "the password dialog again", reauthOpen)
	click(t, tab, "#reauth-cancel")
	waitFor(t, tab, "the dialog closed by Cancel", "!"+reauthOpen+" && document.querySelector('#status').textContent === 'Nothing was changed.'")
	if !sd.alive(other) {
		t.Fatal("Cancel ended the other session")
	}

	// Logging out that one device asks as well, and then does it.
	click(t, tab, "#sessions li:not(.current) button.revoke")
	waitFor(t, tab, "the password dialog for one device", reauthOpen)
	typeInto(t, tab, "#reauth-password", password+"\r")
	waitFor(t, tab, "the device logged out", "!"+reauthOpen+" && document.querySelector('#status').textContent === 'That device was logged out.'")
	if sd.alive(other) || !sd.alive(here) {
		t.Fatalf("after the password: other alive %v, this one alive %v", sd.alive(other), sd.alive(here))
	}
}

// TestBrowserPasswordChange is the check of issue 11: the password changed
// in one browser, every other session of the user (another browser) is
// refused on its next request and lands on the login page, while this one
// goes on; the old password no longer logs in, the new one does. The sign-
// in is older than the limit when the form is sent: the page proves the
// current password it was given (POST /v1/reauth) and retries, without
// asking again.
func TestBrowserPasswordChange(t *testing.T) {
	const next = "tr0ub4dor and then some"
	sd, clock := startSessiondFresh(t)
	a, b := startBrowser(t), startBrowser(t) // two browsers: no shared cookie
	do(t, a, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, a, "lou@example.com", password)
	waitFor(t, a, "the devices page in A", devicesLoaded)
	do(t, b, chromedp.Navigate(sd.base+"/ui/login"))
	fillAndSubmit(t, b, "lou@example.com", password)
	waitFor(t, b, "the devices page in B", devicesLoaded)
	click(t, a, "#reload")
	waitFor(t, a, "two sessions in A", "document.querySelectorAll('#sessions li').length === 2")
	inB := eval[string](t, b, "sessiond.fetch('/v1/session').then(r => r.json()).then(s => s.id)")
	inA := eval[string](t, a, "sessiond.fetch('/v1/session').then(r => r.json()).then(s => s.id)")

	fill := func(current, next, repeat string) {
		t.Helper()
		do(t, a, chromedp.Evaluate[chromedp.Void]("for (const i of document.querySelectorAll('#password-form input[type=password]')) i.value = ''"),
			chromedp.SendKeys(chromedp.CSS("#current-password"), current),
			chromedp.SendKeys(chromedp.CSS("#new-password"), next),
			chromedp.SendKeys(chromedp.CSS("#repeat-password"), repeat+"\r"))
	}
	// Two new passwords that differ: said in the form, nothing sent.
	fill(password, next, next+"!")
	waitFor(t, a, "the mismatch said", visible("#password-error"))
	if text := eval[string](t, a, "document.querySelector('#password-error').textContent"); text != "The new passwords do not match." {
		t.Errorf("the form says %q", text)
	}
	if sd.count("password.changed")+sd.count("reauth.failed") != 0 {
		t.Fatal("a mismatch reached the server")
	}
	// A new password too short: said in the form.
	fill(password, "short", "short")
	waitFor(t, a, "the short password said", "document.querySelector('#password-error').textContent.includes('at least 8 characters')")
	if sd.count("password.changed") != 0 || !sd.alive(inB) {
		t.Fatal("a refused password changed something")
	}

	clock.Advance(2 * time.Minute) // the sign-in is now older than the limit
	fill(password, next, next)
	waitFor(t, a, "the password changed", "!document.querySelector('#status').hidden && document.querySelector('#status').textContent.startsWith('Your password was changed')")
	if text := eval[string](t, a, "document.querySelector('#status').textContent"); !strings.Contains(text, "One other device was logged out") {
		t.Errorf("status %q", text)
	}
	if reauthed := eval[bool](t, a, reauthOpen); reauthed || sd.count("reauth.ok") != 1 {
		t.Errorf("dialog open %v, reauth.ok %d: want the typed password proved once, without asking", reauthed, sd.count("reauth.ok"))
	}
	waitFor(t, a, "one session in A", "document.querySelectorAll('#sessions li').length === 1")
	if sd.alive(inB) || !sd.alive(inA) {
		t.Fatalf("after the change: B alive %v, A alive %v", sd.alive(inB), sd.alive(inA))
	}
	if v := eval[string](t, a, "[...document.querySelectorAll('#password-form input[type=password]')].map(i => i.value).join('')"); v != "" {
		t.Error("the form keeps the passwords after the change")
	}

	// B's next request is refused: it lands on the login page, saying why.
	click(t, b, "#reload")
	waitFor(t, b, "B on the login page", "location.pathname === '/ui/login' && !document.querySelector('#notice').hidden")
	if text := eval[string](t, b, "document.querySelector('#notice').textContent"); !strings.Contains(text, "session ended") {
		t.Errorf("B's login page says %q", text)
	}
	// A goes on.
	click(t, a, "#reload")
	waitFor(t, a, "A's list reloaded", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 1")
	if !eval[bool](t, a, "document.querySelector('#error').hidden") {
		t.Fatalf("A shows an error: %s", eval[string](t, a, "document.querySelector('#error').textContent"))
	}

	// The old password no longer logs in; the new one does.
	fillAndSubmit(t, b, "lou@example.com", password)
	waitFor(t, b, "the old password refused", visible("#error"))
	fillAndSubmit(t, b, "lou@example.com", next)
	waitFor(t, b, "B in with the new password", devicesLoaded)
	shoot(t, a, screenshots(t), "devices-password")
}
