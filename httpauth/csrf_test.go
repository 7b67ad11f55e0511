package httpauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

var csrfKey = bytes.Repeat([]byte{7}, 32)

func TestCSRFCheck(t *testing.T) {
	c := &httpauth.CSRF{Key: csrfKey}
	good := c.Token("sess-A")
	other := c.Token("sess-B")
	otherKey := (&httpauth.CSRF{Key: bytes.Repeat([]byte{8}, 32)}).Token("sess-A")
	tampered := []byte(good)
	tampered[3] ^= 1
	tests := []struct {
		name    string
		headers []string
		key     []byte
		want    error
	}{
		{"valid", []string{good}, csrfKey, nil},
		{"missing", nil, csrfKey, httpauth.ErrCSRFMissing},
		{"empty", []string{""}, csrfKey, httpauth.ErrCSRFMissing},
		{"another session's token", []string{other}, csrfKey, httpauth.ErrCSRFInvalid},
		{"another key's token", []string{otherKey}, csrfKey, httpauth.ErrCSRFInvalid},
		{"tampered", []string{string(tampered)}, csrfKey, httpauth.ErrCSRFInvalid},
		{"truncated", []string{good[:len(good)-1]}, csrfKey, httpauth.ErrCSRFInvalid},
		{"padded base64", []string{good + "="}, csrfKey, httpauth.ErrCSRFInvalid},
		{"two headers", []string{good, good}, csrfKey, httpauth.ErrCSRFInvalid},
		{"the session id itself", []string{"sess-A"}, csrfKey, httpauth.ErrCSRFInvalid},
		{"short key", []string{good}, csrfKey[:31], httpauth.ErrCSRFKey},
		{"no key", []string{good}, nil, httpauth.ErrCSRFKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			for _, h := range tc.headers {
				r.Header.Add(httpauth.CSRFHeader, h)
			}
			err := (&httpauth.CSRF{Key: tc.key}).Check(r, "sess-A")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, httpauth.ErrCSRF) {
				t.Fatalf("Check = %v, want %v and ErrCSRF", err, tc.want)
			}
		})
	}
}

func TestCSRFToken(t *testing.T) {
	c := &httpauth.CSRF{Key: csrfKey}
	if c.Token("a") == c.Token("b") {
		t.Fatal("two sessions share a token")
	}
	if first, again := c.Token("a"), c.Token("a"); first != again {
		t.Fatal("the token of a session changed")
	}
	if got := (&httpauth.CSRF{Key: csrfKey[:8]}).Token("a"); got != "" {
		t.Fatalf("short key gave token %q", got)
	}
	if strings.ContainsAny(c.Token("a"), "+/=") {
		t.Fatal("token is not unpadded base64url")
	}
}

// TestAuthCookieCSRF: a request authenticated by the access cookie needs the
// session's CSRF token on unsafe methods; a bearer request never does.
func TestAuthCookieCSRF(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	var logs bytes.Buffer
	tk, _ := m.Login(context.Background(), "u1", session.Meta{})
	tk2, _ := m.Login(context.Background(), "u1", session.Meta{})
	csrf := &httpauth.CSRF{Key: csrfKey}
	auth := &httpauth.Auth{Manager: m, CSRF: csrf, Audit: audit.New(slog.New(slog.NewJSONHandler(&logs, nil)), csrfKey)}
	var viaCookie bool
	h := auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaCookie = httpauth.ViaCookie(r.Context())
	}))
	tests := []struct {
		name, method, bearer, cookie, csrf string
		status                             int
		viaCookie                          bool
	}{
		{"cookie GET needs no token", "GET", "", tk.AccessToken, "", 200, true},
		{"cookie HEAD needs no token", "HEAD", "", tk.AccessToken, "", 200, true},
		{"cookie POST with token", "POST", "", tk.AccessToken, csrf.Token(tk.Session.ID), 200, true},
		{"cookie DELETE with token", "DELETE", "", tk.AccessToken, csrf.Token(tk.Session.ID), 200, true},
		{"cookie POST without token", "POST", "", tk.AccessToken, "", 403, false},
		{"cookie PUT without token", "PUT", "", tk.AccessToken, "", 403, false},
		{"cookie POST with another session's token", "POST", "", tk.AccessToken, csrf.Token(tk2.Session.ID), 403, false},
		{"bearer POST needs no token", "POST", tk.AccessToken, "", "", 200, false},
		{"bearer wins over cookie", "POST", tk.AccessToken, "garbage", "", 200, false},
		{"bad cookie", "GET", "", "garbage", "", 401, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			viaCookie = false
			r := httptest.NewRequest(tc.method, "/", nil)
			if tc.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: httpauth.AccessCookie, Value: tc.cookie})
			}
			if tc.csrf != "" {
				r.Header.Set(httpauth.CSRFHeader, tc.csrf)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if viaCookie != tc.viaCookie {
				t.Fatalf("ViaCookie = %v, want %v", viaCookie, tc.viaCookie)
			}
			if rec.Code == 403 && !strings.Contains(rec.Body.String(), `"error":"csrf_failed"`) {
				t.Fatalf("403 body %s", rec.Body)
			}
		})
	}
	if n := strings.Count(logs.String(), `"event":"csrf.rejected"`); n != 3 {
		t.Fatalf("%d csrf.rejected audit events, want 3:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), tk.Session.ID) {
		t.Fatal("audit log carries a raw session id")
	}
}

// TestAuthCookieWithoutCSRF: an Auth with no CSRF configured refuses every
// unsafe cookie request rather than letting it through unchecked.
func TestAuthCookieWithoutCSRF(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	tk, _ := m.Login(context.Background(), "u1", session.Meta{})
	h := httpauth.New(m).Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			r := httptest.NewRequest(method, "/", nil)
			r.AddCookie(&http.Cookie{Name: httpauth.AccessCookie, Value: tk.AccessToken})
			r.Header.Set(httpauth.CSRFHeader, "anything")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			want := map[string]int{"GET": 200, "POST": 403}[method]
			if rec.Code != want {
				t.Fatalf("status %d, want %d", rec.Code, want)
			}
		})
	}
}

func FuzzCSRFCheck(f *testing.F) {
	c := &httpauth.CSRF{Key: csrfKey}
	good := c.Token("sess")
	f.Add(good)
	f.Add("")
	f.Add(good + "=")
	f.Add("\xff\x00")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header["X-Csrf-Token"] = []string{v}
		err := c.Check(r, "sess")
		if (err == nil) != (v == good) {
			t.Fatalf("Check(%q) = %v", v, err)
		}
	})
}
