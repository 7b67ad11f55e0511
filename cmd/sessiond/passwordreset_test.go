package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/store/boltstore"
)

// runUsers runs `sessiond users args...` with env and returns its exit
// status, stdout and stderr.
func runUsers(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"users"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errs.String()
}

// TestUsersResetLink: `users reset-link` prints a link (the token in its
// fragment, nothing mailed) whose token sets the account's password once,
// within --reset-ttl; bad usage is refused before anything is opened, and
// an unknown account is a failure.
func TestUsersResetLink(t *testing.T) {
	dir := t.TempDir()
	store := "bolt://" + dir
	key := "SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"))
	if code, _, errs := runUsers(t, []string{key}, "add", "--store", store, "lee@example.com"); code != 0 {
		t.Fatalf("users add: %d %s", code, errs)
	}
	code, out, errs := runUsers(t, []string{key, "SESSIOND_RESET_TTL=10m"}, "reset-link", "--store", store, "--public-url", "https://auth.example.com/", "Lee@Example.com")
	if code != 0 {
		t.Fatalf("users reset-link: %d %s", code, errs)
	}
	link := regexp.MustCompile(`^https://auth\.example\.com/ui/reset#token=sdpr_[A-Za-z0-9_-]{70}\n$`)
	if !link.MatchString(out) {
		t.Fatalf("users reset-link printed %q", out)
	}
	if !strings.Contains(errs, "lee@example.com") || !strings.Contains(errs, "once") {
		t.Errorf("stderr %q does not say what the link does", errs)
	}
	u, _ := url.Parse(strings.TrimSpace(out))
	frag, _ := url.ParseQuery(u.Fragment)
	token := frag.Get("token")

	// The token works once, on the store the command wrote, within 10 minutes.
	st, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	svc := &account.Service{Store: st, Params: account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, Now: clock}
	ctx := context.Background()
	now = now.Add(10 * time.Minute)
	if _, err := svc.ResetPassword(ctx, token, "operator set password"); !errors.Is(err, account.ErrInvalidResetToken) {
		t.Errorf("the link after its --reset-ttl: %v, want ErrInvalidResetToken", err)
	}
	now = now.Add(-time.Minute)
	if _, err := svc.ResetPassword(ctx, token, "operator set password"); err != nil {
		t.Fatalf("the link: %v", err)
	}
	if _, err := svc.ResetPassword(ctx, token, "another password here"); !errors.Is(err, account.ErrInvalidResetToken) {
		t.Errorf("the link used twice: %v, want ErrInvalidResetToken", err)
	}
	if _, err := svc.Authenticate(ctx, "lee@example.com", "operator set password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no public URL", []string{key}, []string{"--store", store, "lee@example.com"}, 2, "needs --public-url"},
		{"the public URL from the environment", []string{key, "SESSIOND_PUBLIC_URL=https://env.example.com"}, []string{"--store", store, "lee@example.com"}, 0, "https://env.example.com/ui/reset#token="},
		{"plain http off loopback", []string{key}, []string{"--store", store, "--public-url", "http://auth.example.com", "lee@example.com"}, 2, "must be https"},
		{"a lifetime too long", []string{key}, []string{"--store", store, "--public-url", "https://a.example", "--reset-ttl", "5h", "lee@example.com"}, 2, "between 1m0s and 4h0m0s"},
		{"no account", []string{key}, []string{"--store", store, "--public-url", "https://a.example", "nobody@example.com"}, 1, `no account "nobody@example.com"`},
		{"no argument", []string{key}, []string{"--store", store, "--public-url", "https://a.example"}, 2, "users reset-link <email-or-id>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runUsers(t, tc.env, append([]string{"reset-link"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d, out %q, err %q; want %d and %q", code, out, errs, tc.code, tc.want)
			}
		})
	}
	// Bad usage opened nothing: no store where none was.
	fresh := t.TempDir() + "/none"
	if code, _, _ := runUsers(t, []string{key}, "reset-link", "--store", "bolt://"+fresh, "lee@example.com"); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("bad usage created %s: %v", fresh, err)
	}
}

// TestServeMailsResetLinks: `sessiond serve --smtp-url ... --mail-from
// ... --public-url ...` mails a reset link to a real SMTP server, whose
// token resets the password through the API; bad mail flags are bad
// usage.
func TestServeMailsResetLinks(t *testing.T) {
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	p := startStore(t, "memory://", []string{"SESSIOND_SMTP_URL=smtp://" + smtp.Addr() + "?starttls=optional"},
		"--mail-from", "sessiond <no-reply@example.test>", "--public-url", "http://127.0.0.1:1")
	cred := map[string]string{"email": "kim@example.com", "password": "correct horse battery"}
	if code, _ := p.call("POST", "/v1/signup", "", cred); code != 201 {
		t.Fatalf("signup: %d", code)
	}
	if code, _ := p.call("POST", "/v1/login", "", cred); code != 200 {
		t.Fatalf("login: %d", code)
	}
	if code, _ := p.call("POST", "/v1/password/forgot", "", map[string]string{"email": "kim@example.com"}); code != 202 {
		t.Fatalf("forgot: %d", code)
	}
	m := smtp.WaitMails(t, 1, 20*time.Second)[0]
	tok := regexp.MustCompile(`http://127\.0\.0\.1:1/ui/reset#token=(sdpr_[A-Za-z0-9_-]{70})`).FindSubmatch(m.Data)
	if tok == nil {
		t.Fatalf("no link in the mail:\n%s", m.Data)
	}
	code, body := p.call("POST", "/v1/password/reset", "", map[string]string{"token": string(tok[1]), "new_password": "a brand new passphrase"})
	if code != 200 || body["revoked"] != float64(1) {
		t.Fatalf("reset: %d %v", code, body)
	}
	// Stop serve before reading its log (it writes there until it exits).
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	if logs := p.errs.String(); !strings.Contains(logs, "password-reset mails go through SMTP") || strings.Contains(logs, string(tok[1])) {
		t.Errorf("serve's log: %s", logs)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no sender", []string{"--smtp-url", "smtp://mail.example.com", "--public-url", "https://a.example"}, "needs --mail-from"},
		{"no public URL", []string{"--smtp-url", "smtp://mail.example.com", "--mail-from", "a@example.com"}, "needs --public-url"},
		{"a bad SMTP URL", []string{"--smtp-url", "imap://mail.example.com", "--mail-from", "a@example.com", "--public-url", "https://a.example"}, "--smtp-url"},
		{"plain SMTP off loopback", []string{"--smtp-url", "smtp://mail.example.com?starttls=optional", "--mail-from", "a@example.com", "--public-url", "https://a.example"}, "for a server on this machine only"},
		{"a bad sender", []string{"--smtp-url", "smtp://mail.example.com", "--mail-from", "nobody", "--public-url", "https://a.example"}, "mail from"},
		{"a reset TTL too long", []string{"--reset-ttl", "24h"}, "reset token lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"serve", "--store", "memory://"}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
				t.Errorf("serve %q: %v %s; want exit 2 with %q", tc.args, err, out, tc.want)
			}
		})
	}
}
