package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestSignupRefusesCommonPasswords: signup answers 400 with the reason for
// a password on the common-password list (in any case) or containing the
// email, creates no account, and then takes a good password for the same
// email.
func TestSignupRefusesCommonPasswords(t *testing.T) {
	e := newEnv(t, func(c *config) {
		// Refused signups count as attempts; this test makes a dozen.
		c.Server.LoginPerIP = unlimited
	})
	const (
		common = "invalid password: is on a list of commonly used passwords"
		email  = "invalid password: contains your email address"
		local  = "invalid password: contains the part of your email address before the @"
	)
	for _, tc := range []struct{ email, pw, want string }{
		{"pat@example.com", "password", common},
		{"pat@example.com", "Password", common},
		{"pat@example.com", "PASSWORD", common},
		{"pat@example.com", "12345678", common},
		{"pat@example.com", "qwertyuiop", common},
		{"pat@example.com", "QwertyUIOP", common},
		{"quinn@example.com", "quinn@example.com is me", email},
		{"quinn@example.com", "Quinn rules 2024", local},
		{"Quinn@Example.com", "quinn rules 2024", local},
	} {
		// The description is compared whole: fixed text that echoes neither
		// the password nor the email.
		r := e.post("/v1/signup", "", map[string]string{"email": tc.email, "password": tc.pw})
		if r.status != http.StatusBadRequest || str(r, "error") != "invalid_request" || str(r, "error_description") != tc.want {
			t.Errorf("signup %s with %q: %d %s, want 400 invalid_request %q", tc.email, tc.pw, r.status, r.raw, tc.want)
		}
		// Nothing was created: the password does not log in.
		if r := e.post("/v1/login", "", map[string]string{"email": tc.email, "password": tc.pw}); r.status != http.StatusUnauthorized {
			t.Errorf("login after a refused signup: %d %s", r.status, r.raw)
		}
	}
	for _, em := range []string{"pat@example.com", "quinn@example.com"} {
		if r := e.post("/v1/signup", "", map[string]string{"email": em, "password": "vivid otter marbles quince 71"}); r.status != http.StatusCreated {
			t.Errorf("signup %s with a good password: %d %s", em, r.status, r.raw)
		}
	}
}

// TestNewPasswordRulesEverywhere: the three common passwords of issue 11
// are refused with the same reason at signup, at a password change and at
// a reset, and each refusal changes nothing: the old password still logs
// in, and the reset link stays usable.
func TestNewPasswordRulesEverywhere(t *testing.T) {
	e, _ := mailEnv(t, nil, nil)
	const (
		email  = "rhea@example.com"
		good   = "correct horse battery"
		reason = "is on a list of commonly used passwords"
	)
	a := e.signupLogin(email)
	ri, err := e.srv.Node().Accounts().IssueReset(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"password", "12345678", "qwertyuiop"} {
		routes := []struct {
			name string
			r    resp
		}{
			{"signup", e.post("/v1/signup", "", map[string]string{"email": "other-" + pw + "@example.com", "password": pw})},
			{"change", e.post("/v1/password", str(a, "access_token"), map[string]string{"current_password": good, "new_password": pw})},
			{"reset", e.post("/v1/password/reset", "", map[string]string{"token": ri.Token, "new_password": pw})},
		}
		for _, rt := range routes {
			if rt.r.status != http.StatusBadRequest || str(rt.r, "error") != "invalid_request" || !strings.Contains(str(rt.r, "error_description"), reason) {
				t.Errorf("%s with %q: %d %s, want 400 invalid_request saying it %s", rt.name, pw, rt.r.status, rt.r.raw, reason)
			}
		}
	}
	if r := e.post("/v1/login", "", map[string]string{"email": email, "password": good}); r.status != http.StatusOK {
		t.Fatalf("the old password after refused changes: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/password/reset", "", map[string]string{"token": ri.Token, "new_password": "vivid otter marbles quince 71"}); r.status != http.StatusOK {
		t.Fatalf("the reset link after refused passwords: %d %s", r.status, r.raw)
	}
}
