package e2e_test

import (
	"crypto/tls"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/mail"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
)

// TestBrowserPasswordReset, in Chromium: the login page offers "Forgot
// your password?"; /ui/forgot sends a link to a real SMTP server and says
// only that a link went out if an account exists; the mail's link opens
// /ui/reset, which takes the token out of the address bar, refuses a
// short password with the server's words, sets the new one, and every
// session of the user (another device) ends; the same link again says it
// is dead.
func TestBrowserPasswordReset(t *testing.T) {
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{STARTTLS: true})
	sd := startSessiondNode(t, node.Config{Mailer: &mail.SMTP{Host: smtp.Host, Port: smtp.Port, TLSConfig: &tls.Config{RootCAs: smtp.RootCAs}}},
		server.Config{MailFrom: "sessiond <no-reply@example.test>", PublicURL: "https://auth.example.test"})
	sd.apiSignup(t, "rey@example.com")
	other := sd.apiLogin(t, "rey@example.com", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")

	tab := startBrowser(t)
	dir := screenshots(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/login"))
	waitFor(t, tab, "the Forgot your password? link", visible("#forgot-link"))
	click(t, tab, "#forgot-link a")
	waitFor(t, tab, "the forgot page", "location.pathname === '/ui/forgot' && "+visible("#email"))
	typeInto(t, tab, "#email", "rey@example.com\r")
	waitFor(t, tab, "the notice that a link went out", visible("#notice")+" && !"+visible("#forgot-form"))
	if text := eval[string](t, tab, "document.querySelector('#notice').innerText"); !strings.Contains(text, "If an account has this email") {
		t.Errorf("the forgot page says %q", text)
	}
	shoot(t, tab, dir, "forgot-sent")

	m := smtp.WaitMails(t, 1, 10*time.Second)[0]
	link := regexp.MustCompile(`https://auth\.example\.test/ui/reset#token=sdpr_[A-Za-z0-9_-]+`).Find(m.Data)
	if link == nil {
		t.Fatalf("no link in the mail:\n%s", m.Data)
	}
	// The link names the public URL; the test's server is elsewhere.
	u, _ := url.Parse(string(link))
	open := sd.base + u.Path + "#" + u.Fragment

	do(t, tab, chromedp.Navigate(open))
	waitFor(t, tab, "the reset form", visible("#reset-form")+" && location.hash === ''")
	if h := eval[string](t, tab, "location.href"); strings.Contains(h, "sdpr_") {
		t.Errorf("the token stays in the address bar: %s", h)
	}
	typeInto(t, tab, "#password", "short\r")
	waitFor(t, tab, "the refusal of a short password", visible("#error")+" && "+visible("#reset-form"))
	if text := eval[string](t, tab, "document.querySelector('#error').innerText"); !strings.Contains(text, "at least 8") {
		t.Errorf("a short password: the page says %q", text)
	}
	shoot(t, tab, dir, "reset-refused")
	do(t, tab,
		chromedp.Evaluate[chromedp.Void]("document.querySelector('#password').value = ''"),
		chromedp.SendKeys(chromedp.CSS("#password"), "a brand new passphrase\r"))
	waitFor(t, tab, "the success notice", "document.body.dataset.done === 'true' && "+visible("#done"))
	shoot(t, tab, dir, "reset-done")
	if sd.alive(other) {
		t.Error("the other device's session lived on after the reset")
	}
	if n := sd.count("password.reset"); n != 1 {
		t.Errorf("%d password.reset events", n)
	}

	do(t, tab, chromedp.Navigate(open))
	waitFor(t, tab, "the reset form", visible("#reset-form"))
	typeInto(t, tab, "#password", "yet another passphrase\r")
	waitFor(t, tab, "the dead-link message", visible("#error")+" && "+visible("#no-token"))
	if text := eval[string](t, tab, "document.querySelector('#error').innerText"); !strings.Contains(text, "already used") {
		t.Errorf("a used link says %q", text)
	}
}
