package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

func cookiesByName(t *testing.T, h http.Header) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

func TestSetSessionCookies(t *testing.T) {
	c := &clock{t: time.Now().Truncate(time.Second)} // exp is in whole seconds
	m := manager(t, c)
	tk, err := m.Login(context.Background(), "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                     string
		set                      func(http.ResponseWriter)
		refreshName, refreshPath string
	}{
		{"default layout", func(w http.ResponseWriter) { httpauth.SetSessionCookies(w, tk, c.Now()) }, "__Host-sessiond_rt", "/"},
		{"own refresh path", func(w http.ResponseWriter) {
			httpauth.SessionCookies{RefreshPath: "/auth/refresh"}.Set(w, tk, c.Now())
		}, "__Secure-sessiond_rt", "/auth/refresh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.set(rec)
			got := cookiesByName(t, rec.Header())
			at, rt := got[httpauth.AccessCookie], got[tc.refreshName]
			if at == nil || rt == nil {
				t.Fatalf("cookies %v", rec.Header().Values("Set-Cookie"))
			}
			if at.Value != tk.AccessToken || rt.Value != tk.RefreshToken {
				t.Fatal("cookie values are not the tokens")
			}
			checks := []struct {
				what     string
				got, wnt any
			}{
				{"access Path", at.Path, "/"},
				{"access HttpOnly", at.HttpOnly, true},
				{"access Secure", at.Secure, true},
				{"access SameSite", at.SameSite, http.SameSiteLaxMode},
				{"access Domain", at.Domain, ""},
				{"access Max-Age", at.MaxAge, int(session.DefaultAccessTTL / time.Second)},
				{"refresh Path", rt.Path, tc.refreshPath},
				{"refresh HttpOnly", rt.HttpOnly, true},
				{"refresh Secure", rt.Secure, true},
				{"refresh SameSite", rt.SameSite, http.SameSiteStrictMode},
				{"refresh Max-Age", rt.MaxAge, int(session.DefaultAbsoluteTimeout / time.Second)},
				{"Cache-Control", rec.Header().Get("Cache-Control"), "no-store"},
			}
			for _, ch := range checks {
				if ch.got != ch.wnt {
					t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.wnt)
				}
			}
		})
	}
}

func TestClearSessionCookies(t *testing.T) {
	rec := httptest.NewRecorder()
	httpauth.ClearSessionCookies(rec)
	got := cookiesByName(t, rec.Header())
	// The legacy refresh cookie goes too, so a leftover of an earlier
	// version does not outlive the logout.
	if n := len(rec.Header().Values("Set-Cookie")); n != 3 {
		t.Fatalf("%d Set-Cookie headers, want 3: %q", n, rec.Header().Values("Set-Cookie"))
	}
	for name, path := range map[string]string{httpauth.AccessCookie: "/", httpauth.RefreshCookie: "/", httpauth.LegacyRefreshCookie: "/v1/refresh"} {
		c := got[name]
		if c == nil {
			t.Fatalf("%s not cleared", name)
		}
		if c.MaxAge != -1 || c.Value != "" || c.Path != path || !c.Secure || !c.HttpOnly {
			t.Errorf("%s cleared as %q", name, c.String())
		}
		if !strings.Contains(c.String(), "Max-Age=0") {
			t.Errorf("%s: no Max-Age=0 in %q", name, c.String())
		}
	}
}

// TestRevokedCookieClears: a revoked cookie session's 401 deletes both
// cookies (and the legacy refresh cookie); an access token that is merely bad deletes the access cookie
// only, so the refresh cookie can still get a new one.
func TestRevokedCookieClears(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	tk, _ := m.Login(context.Background(), "u1", session.Meta{})
	if err := m.Revoke(context.Background(), tk.Session.ID); err != nil {
		t.Fatal(err)
	}
	h := httpauth.New(m).Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tests := []struct {
		name, cookie string
		cleared      []string
	}{
		{"revoked", tk.AccessToken, []string{httpauth.AccessCookie, httpauth.RefreshCookie, httpauth.LegacyRefreshCookie}},
		{"garbage", "nope", []string{httpauth.AccessCookie}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: httpauth.AccessCookie, Value: tc.cookie})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != 401 {
				t.Fatalf("status %d", rec.Code)
			}
			got := cookiesByName(t, rec.Header())
			if len(got) != len(tc.cleared) {
				t.Fatalf("cleared %v, want %v", rec.Header().Values("Set-Cookie"), tc.cleared)
			}
			for _, name := range tc.cleared {
				if got[name] == nil || got[name].MaxAge != -1 {
					t.Fatalf("%s not cleared: %v", name, rec.Header().Values("Set-Cookie"))
				}
			}
		})
	}
}
