package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	netmail "net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/mail"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
)

const resetPublicURL = "https://auth.example.test"

// openBackend opens b's store, or nil (the default memory store) when b
// has no open func.
func openBackend(t *testing.T, open func(t *testing.T) node.Backend) node.Backend {
	if open == nil {
		return nil
	}
	return open(t)
}

// mailEnv is a server with a mailer: a real SMTP server of the test's own
// (STARTTLS), and generous throttles unless mod says otherwise.
func mailEnv(t *testing.T, backend node.Backend, mod func(*config)) (*env, *testenv.SMTPServer) {
	t.Helper()
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{STARTTLS: true})
	on := true
	generous := ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
	e := newEnv(t, func(c *config) {
		if backend != nil {
			c.Node.Backend = backend
		}
		c.Node.Mailer = &mail.SMTP{Host: smtp.Host, Port: smtp.Port, TLSConfig: &tls.Config{RootCAs: smtp.RootCAs}}
		c.Server.MailFrom = "sessiond <no-reply@example.test>"
		c.Server.PublicURL = resetPublicURL
		c.Server.AllowSignup = &on
		c.Server.LoginPerIP = generous
		c.Server.ResetRequestsPerIP, c.Server.ResetRequestsPerEmail, c.Server.ResetUsesPerIP = generous, generous, generous
		if mod != nil {
			mod(c)
		}
	})
	return e, smtp
}

var resetLinkRE = regexp.MustCompile(`https://\S+/ui/reset#\S+`)

// resetLinkOf reads a reset mail as a mail client would and returns its
// link and the token in the link's fragment.
func resetLinkOf(t *testing.T, m testenv.SMTPMail) (link, token string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("the mail does not parse: %v\n%s", err, m.Data)
	}
	body, _ := io.ReadAll(msg.Body)
	link = resetLinkRE.FindString(string(body))
	if link == "" {
		t.Fatalf("no reset link in the mail:\n%s", body)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.RawQuery != "" || u.Path != "/ui/reset" || !strings.HasPrefix(link, resetPublicURL+"/") {
		t.Errorf("link %q: want %s/ui/reset with the token in the fragment only", link, resetPublicURL)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	return link, frag.Get("token")
}

// TestPasswordResetByMail, on every backend: a reset mail arrives at a real
// SMTP server with the headers a mail client needs; its link (the token
// from the fragment) sets a new password once; every session the user had
// (two devices) is refused at once, access token and refresh token; a
// refused new password leaves the link usable; a second use fails; an
// unknown email gets the same answer and no mail; the token is in no log.
func TestPasswordResetByMail(t *testing.T) {
	for _, b := range accountBackends {
		t.Run(b.name, func(t *testing.T) {
			e, smtp := mailEnv(t, openBackend(t, b.open), nil)
			laptop := e.signupLogin("alice@example.com")
			phone := e.login("alice@example.com")

			r := e.post("/v1/password/forgot", "", map[string]string{"email": " Alice@Example.com "})
			if r.status != http.StatusAccepted || strings.TrimSpace(r.raw) != "{}" || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("forgot: %d %q %v", r.status, r.raw, r.header)
			}
			m := smtp.WaitMails(t, 1, 10*time.Second)[0]
			if m.From != "no-reply@example.test" || !slices.Equal(m.To, []string{"alice@example.com"}) || !m.TLS {
				t.Errorf("envelope from %q to %q (TLS %v)", m.From, m.To, m.TLS)
			}
			msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"From", "To", "Subject", "Date", "Message-ID"} {
				if msg.Header.Get(h) == "" {
					t.Errorf("the mail has no %s header", h)
				}
			}
			if d, err := msg.Header.Date(); err != nil || d.Sub(e.clock.Now()).Abs() > time.Minute {
				t.Errorf("Date %v (%v), want the server's clock %v", d, err, e.clock.Now())
			}
			if got := msg.Header.Get("To"); got != "<alice@example.com>" {
				t.Errorf("To %q", got)
			}
			_, token := resetLinkOf(t, m)
			if !strings.HasPrefix(token, "sdpr_") {
				t.Fatalf("token %q", token)
			}

			// A refused password changes nothing and keeps the link.
			weak := e.post("/v1/password/reset", "", map[string]string{"token": token, "new_password": "short"})
			if weak.status != http.StatusBadRequest || str(weak, "error") != "invalid_request" || !strings.Contains(str(weak, "error_description"), "at least 8") {
				t.Fatalf("a short new password: %d %s", weak.status, weak.raw)
			}
			if g := e.do("GET", "/v1/session", str(laptop, "access_token"), "", ""); g.status != http.StatusOK {
				t.Fatalf("a refused reset ended a session: %d", g.status)
			}

			ok := e.post("/v1/password/reset", "", map[string]string{"token": token, "new_password": "a brand new passphrase"})
			if ok.status != http.StatusOK || ok.body["revoked"] != float64(2) {
				t.Fatalf("reset: %d %s, want 200 and 2 sessions ended", ok.status, ok.raw)
			}
			for name, device := range map[string]resp{"laptop": laptop, "phone": phone} {
				if g := e.do("GET", "/v1/session", str(device, "access_token"), "", ""); g.status != http.StatusUnauthorized {
					t.Errorf("the %s's access token after the reset: %d, want 401", name, g.status)
				}
				if g := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(device, "refresh_token")}); g.status != http.StatusUnauthorized {
					t.Errorf("the %s's refresh token after the reset: %d, want 401", name, g.status)
				}
			}
			if l := e.post("/v1/login", "", map[string]string{"email": "alice@example.com", "password": "correct horse battery"}); l.status != http.StatusUnauthorized {
				t.Errorf("the old password after the reset: %d", l.status)
			}
			if l := e.post("/v1/login", "", map[string]string{"email": "alice@example.com", "password": "a brand new passphrase"}); l.status != http.StatusOK {
				t.Errorf("the new password: %d %s", l.status, l.raw)
			}
			again := e.post("/v1/password/reset", "", map[string]string{"token": token, "new_password": "yet another passphrase"})
			if again.status != http.StatusBadRequest || str(again, "error") != "invalid_grant" || !strings.Contains(str(again, "error_description"), "already used") {
				t.Errorf("second use: %d %s", again.status, again.raw)
			}

			// An unknown email: the same answer, and no mail. The outbox
			// sends in order, so once bob's mail (asked for after) is in,
			// a mail for nobody would have been too.
			if _, err := e.srv.Node().Accounts().Signup(context.Background(), "bob@example.com", "correct horse battery"); err != nil {
				t.Fatal(err)
			}
			nobody := e.post("/v1/password/forgot", "", map[string]string{"email": "nobody@example.com"})
			if nobody.status != r.status || nobody.raw != r.raw || nobody.header.Get("Content-Type") != r.header.Get("Content-Type") {
				t.Errorf("unknown email: %d %q, want the answer of a known one: %d %q", nobody.status, nobody.raw, r.status, r.raw)
			}
			e.post("/v1/password/forgot", "", map[string]string{"email": "bob@example.com"})
			mails := smtp.WaitMails(t, 2, 10*time.Second)
			if len(mails) != 2 || !slices.Equal(mails[1].To, []string{"bob@example.com"}) {
				t.Errorf("mails after an unknown email and bob: %d, last to %v", len(mails), mails[len(mails)-1].To)
			}

			logs := e.logs.String()
			_, bobToken := resetLinkOf(t, mails[1])
			for _, secret := range []string{token, bobToken, "alice@example.com", "nobody@example.com"} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds %q", secret)
				}
			}
			if c := strings.Count(logs, `"event":"password.reset_requested"`); c != 3 {
				t.Errorf("%d password.reset_requested lines, want 3", c)
			}
			if !strings.Contains(logs, `"event":"password.reset"`) || !strings.Contains(logs, `"reason":"no_account"`) {
				t.Errorf("audit lines missing:\n%s", logs)
			}
		})
	}
}

// TestPasswordResetConcurrentUse: one link used twice at once sets the
// password once; the other use is refused.
func TestPasswordResetConcurrentUse(t *testing.T) {
	e, _ := mailEnv(t, nil, nil)
	e.signupLogin("alice@example.com")
	for round := range 5 {
		ri, err := e.srv.Node().Accounts().IssueReset(context.Background(), "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		got := make([]resp, 2)
		for i := range got {
			wg.Go(func() {
				got[i] = e.post("/v1/password/reset", "", map[string]string{"token": ri.Token, "new_password": fmt.Sprintf("round %d racer %d pw", round, i)})
			})
		}
		wg.Wait()
		codes := []int{got[0].status, got[1].status}
		slices.Sort(codes)
		if !slices.Equal(codes, []int{http.StatusOK, http.StatusBadRequest}) {
			t.Fatalf("round %d: two concurrent uses of one link: %v, want one 200 and one 400", round, codes)
		}
	}
}

// TestPasswordResetWithoutMailer: without a mailer, asking for a link is
// refused with a clear 403 (and the pages do not offer it), while a link
// an operator issued still works.
func TestPasswordResetWithoutMailer(t *testing.T) {
	e := newEnv(t, nil)
	e.signupLogin("alice@example.com")
	r := e.post("/v1/password/forgot", "", map[string]string{"email": "alice@example.com"})
	if r.status != http.StatusForbidden || str(r, "error") != "forbidden" || !strings.Contains(str(r, "error_description"), "not set up") {
		t.Fatalf("forgot without a mailer: %d %s", r.status, r.raw)
	}
	if c := e.do("GET", "/ui/config.json", "", "", ""); c.body["password_reset"] != false {
		t.Errorf("config.json without a mailer: %s", c.raw)
	}
	if !strings.Contains(e.logs.String(), "password reset by mail is off") {
		t.Error("the start does not say that reset mails are off")
	}
	ri, err := e.srv.Node().Accounts().IssueReset(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok := e.post("/v1/password/reset", "", map[string]string{"token": ri.Token, "new_password": "a brand new passphrase"}); ok.status != http.StatusOK {
		t.Errorf("an operator's link without a mailer: %d %s", ok.status, ok.raw)
	}
	m, _ := mailEnv(t, nil, nil)
	if c := m.do("GET", "/ui/config.json", "", "", ""); c.body["password_reset"] != true {
		t.Errorf("config.json with a mailer: %s", c.raw)
	}
}

// TestPasswordResetRequests: bad requests get a clear error and change
// nothing; the throttles per email and per client address bite, for
// known and unknown emails alike.
func TestPasswordResetRequests(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		code   string
		desc   string
	}{
		{"forgot: not an email", "/v1/password/forgot", `{"email":"alice"}`, 400, "invalid_request", "no @"},
		{"forgot: no email", "/v1/password/forgot", `{}`, 400, "invalid_request", "empty"},
		{"forgot: unknown member", "/v1/password/forgot", `{"email":"a@example.com","x":1}`, 400, "invalid_request", "unknown member"},
		{"reset: no token", "/v1/password/reset", `{"new_password":"a brand new passphrase"}`, 400, "invalid_request", "token is required"},
		{"reset: no password", "/v1/password/reset", `{"token":"sdpr_x"}`, 400, "invalid_request", "new_password is required"},
		{"reset: garbage token", "/v1/password/reset", `{"token":"sdpr_x","new_password":"a brand new passphrase"}`, 400, "invalid_grant", "invalid, expired or already used"},
		{"reset: refresh token", "/v1/password/reset", `{"token":"sdrt_` + strings.Repeat("A", 91) + `","new_password":"a brand new passphrase"}`, 400, "invalid_grant", "invalid"},
		{"reset: wrong type", "/v1/password/reset", `{"token":5,"new_password":"a brand new passphrase"}`, 400, "invalid_request", "want a string"},
	}
	e, smtp := mailEnv(t, nil, nil)
	e.signupLogin("alice@example.com")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, "", "application/json", tc.body)
			if r.status != tc.status || str(r, "error") != tc.code || !strings.Contains(str(r, "error_description"), tc.desc) {
				t.Errorf("%d %s, want %d %s with %q", r.status, r.raw, tc.status, tc.code, tc.desc)
			}
		})
	}
	if l := e.post("/v1/login", "", map[string]string{"email": "alice@example.com", "password": "correct horse battery"}); l.status != 200 {
		t.Errorf("the password after bad requests: %d", l.status)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(smtp.Mails()); n != 0 {
		t.Errorf("bad requests sent %d mails", n)
	}

	t.Run("throttles", func(t *testing.T) {
		perEmail := ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 1} // two at once
		perIP := ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 3}    // four at once
		e, _ := mailEnv(t, nil, func(c *config) { c.Server.ResetRequestsPerEmail, c.Server.ResetRequestsPerIP = perEmail, perIP })
		e.signupLogin("alice@example.com")
		var got []int
		for _, email := range []string{"alice@example.com", "alice@example.com", "alice@example.com", "nobody@example.com", "nobody@example.com", "nobody@example.com", "third@example.com"} {
			got = append(got, e.post("/v1/password/forgot", "", map[string]string{"email": email}).status)
		}
		// Two per email, four per address (every request counts there):
		// alice 202 202 429; nobody 202 (the address's fourth), then the
		// address is spent, for any email.
		want := []int{202, 202, 429, 202, 429, 429, 429}
		if !slices.Equal(got, want) {
			t.Errorf("statuses %v, want %v", got, want)
		}
	})
}

// TestPasswordResetTiming reports, on every backend, the median answer
// time of POST /v1/password/forgot for emails with an account and emails
// without, 50 of each, in a shuffled order, each once the previous mail
// went (the mail's own work comes after the answer). It asserts no wall-clock bound (the
// machine decides those); the work is the same by construction (see
// account.Service.PrepareReset), and the numbers show it.
func TestPasswordResetTiming(t *testing.T) {
	for _, b := range accountBackends {
		t.Run(b.name, func(t *testing.T) {
			e, smtp := mailEnv(t, openBackend(t, b.open), nil)
			const n = 50
			// Each email once, on both sides: the first request for an
			// email also creates its throttle's key, whatever the email.
			for i := range n {
				if _, err := e.srv.Node().Accounts().Signup(context.Background(), fmt.Sprintf("user%d@example.com", i), "correct horse battery"); err != nil {
					t.Fatal(err)
				}
			}
			// Known and unknown in a shuffled order (fixed seed), so that
			// neither always follows the other.
			order := make([]bool, 2*n) // true: an email with an account
			for i := range n {
				order[i] = true
			}
			rng := rand.New(rand.NewPCG(11, 11))
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			var known, unknown []time.Duration
			sentWant := int64(0)
			for i, hasAccount := range order {
				email, into := fmt.Sprintf("nobody%d@example.com", i), &unknown
				if hasAccount {
					email, into = fmt.Sprintf("user%d@example.com", len(known)), &known
					sentWant++
				}
				start := time.Now()
				if r := e.post("/v1/password/forgot", "", map[string]string{"email": email}); r.status != http.StatusAccepted {
					t.Fatalf("forgot: %d %s", r.status, r.raw)
				}
				*into = append(*into, time.Since(start))
				// Let the mail go before the next request, so that its work
				// (the token's store write, SMTP), which comes after the
				// answer, does not slow the next one; then the same pause
				// after every request.
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
					if sent, _ := e.srv.Node().Outbox().Stats(); sent == sentWant {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the reset mail was not sent")
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
			median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
			t.Logf("%s: POST /v1/password/forgot, median of %d: account %v, no account %v", b.name, n, median(known), median(unknown))
			smtp.WaitMails(t, n, 30*time.Second)
		})
	}
}
