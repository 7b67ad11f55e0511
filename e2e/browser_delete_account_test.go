package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// TestBrowserDeleteAccount: "Delete my account" on the devices page asks
// first (Escape keeps the account); confirmed, it deletes the account in
// cookie mode, ends every session of it (another device's too), clears
// the cookies, and the login page says the account was deleted; another
// tab on the devices page goes to the login page at once. The old
// password no longer logs in. A user a service minted a session for sees
// no such button.
func TestBrowserDeleteAccount(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "joy@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)
	here := eval[string](t, tab, "sessiond.fetch('/v1/session').then(r => r.json()).then(s => s.id)")
	other := sd.apiLogin(t, "joy@example.com", "curl/8.5.0")
	do(t, tab, chromedp.Reload())
	waitFor(t, tab, "two sessions and the delete button", devicesLoaded+" && document.querySelectorAll('#sessions li').length === 2 && "+visible("#delete-account"))
	second := newTab(t, tab)
	do(t, second, chromedp.Navigate(sd.base+"/ui/devices"))
	waitFor(t, second, "the devices page in a second tab", devicesLoaded)

	const open = "document.querySelector('#confirm-delete').open"
	click(t, tab, "#delete-account")
	waitFor(t, tab, "the confirmation", open+" && "+visible("#confirm-delete-ok"))
	if f := eval[string](t, tab, "document.activeElement.id"); f != "confirm-delete-cancel" {
		t.Errorf("focus on %q when the confirmation opens, want Cancel", f)
	}
	if text := eval[string](t, tab, "document.querySelector('#confirm-delete').innerText"); !strings.Contains(text, "Delete your account?") {
		t.Errorf("the confirmation says %q", text)
	}
	shoot(t, tab, screenshots(t), "devices-delete-confirm")
	do(t, tab, chromedp.KeyEvent(kb.Escape))
	waitFor(t, tab, "the confirmation closed by Escape", "!"+open)
	if !sd.alive(here) || !sd.alive(other) || sd.count("account.deleted") != 0 {
		t.Fatal("Escape deleted the account or ended a session")
	}

	click(t, tab, "#delete-account")
	waitFor(t, tab, "the confirmation again", open)
	click(t, tab, "#confirm-delete-ok")
	waitFor(t, tab, "the login page saying the account was deleted",
		"location.pathname === '/ui/login' && document.querySelector('#notice').textContent === 'Your account was deleted.'")
	waitFor(t, second, "the second tab on the login page", "location.pathname === '/ui/login'")
	if sd.alive(here) || sd.alive(other) {
		t.Fatal("a session outlived the account")
	}
	if n := sd.count("account.deleted"); n != 1 {
		t.Fatalf("%d account.deleted audit events, want 1", n)
	}
	jar := cookies(t, tab, sd.base)
	if jar[httpauth.AccessCookie] != nil || jar[httpauth.RefreshCookie] != nil {
		t.Fatalf("cookies left after the deletion: %v", jar)
	}
	// The old password no longer logs in.
	fillAndSubmit(t, tab, "joy@example.com", password)
	waitFor(t, tab, "the login refused", "!document.querySelector('#error').hidden")
	if msg := eval[string](t, tab, "document.querySelector('#error').textContent"); !strings.Contains(msg, "invalid email or password") {
		t.Errorf("the refused login says %q", msg)
	}
	if p := eval[string](t, tab, "location.pathname"); p != "/ui/login" {
		t.Fatalf("the old password led to %s", p)
	}
}

// TestBrowserDeleteAccountNotForMinted: the devices page of a session a
// service minted (no built-in account) has no "Delete my account".
func TestBrowserDeleteAccountNotForMinted(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	tab := startBrowser(t)
	access := sd.mint(t, "user-from-a-service")
	do(t, tab, chromedp.Navigate(sd.base+"/ui/login"))
	do(t, tab, chromedp.Evaluate[chromedp.Void]("document.cookie = '"+httpauth.AccessCookie+"="+access+"; Path=/; Secure'"))
	do(t, tab, chromedp.Navigate(sd.base+"/ui/devices"))
	waitFor(t, tab, "the devices page of the minted user", devicesLoaded+" && "+visible("#account"))
	if eval[bool](t, tab, visible("#delete-section")) {
		t.Fatal("a user with no account is offered to delete it")
	}
}
