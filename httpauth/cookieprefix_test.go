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

// TestCookiePrefixes: the cookie names are part of the contract (README,
// "Cookies"), and their prefixes are what makes a browser refuse a cookie
// of that name planted by a sibling subdomain (Domain=) or a plain-HTTP page:
// __Host- for both (Secure, Path=/, no Domain): a __Secure- refresh cookie
// could be planted by a sibling subdomain with Domain= the parent. The
// names are checked on the wire, as written in Set-Cookie.
func TestCookiePrefixes(t *testing.T) {
	c := &clock{t: time.Now().Truncate(time.Second)}
	m := manager(t, c)
	tk, err := m.Login(context.Background(), "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	httpauth.SetSessionCookies(rec, tk, c.Now())
	got := map[string]string{}
	for _, line := range rec.Header().Values("Set-Cookie") {
		name, _, _ := strings.Cut(line, "=")
		got[name] = line
	}
	for _, tc := range []struct {
		name, prefix string
		value        string
	}{
		{"__Host-sessiond_at", "__Host-", tk.AccessToken},
		{"__Host-sessiond_rt", "__Host-", tk.RefreshToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, ok := got[tc.name]
			if !ok {
				t.Fatalf("no Set-Cookie named %s in %q", tc.name, rec.Header().Values("Set-Cookie"))
			}
			ck, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Value != tc.value {
				t.Error("the cookie does not carry its token")
			}
			// What the browser requires of the prefix (RFC 6265bis §4.1.3).
			if !ck.Secure {
				t.Errorf("%s cookie without Secure: browsers drop it", tc.prefix)
			}
			if tc.prefix == "__Host-" && (ck.Path != "/" || ck.Domain != "") {
				t.Errorf("__Host- cookie with Path=%q Domain=%q: browsers drop it", ck.Path, ck.Domain)
			}
		})
	}
}

// TestPlantedUnprefixedCookieIgnored tries the attack the prefixes stop: a
// sibling subdomain or an insecure page sets a cookie under the bare name,
// a weaker prefix, the legacy "__Secure-" refresh cookie's name, or the
// prefix in other letters (which old browsers did not check), holding a
// session the attacker controls, so the victim's browser would act in the
// attacker's session. Such a cookie must never be read as the session's,
// so the request stays anonymous.
func TestPlantedUnprefixedCookieIgnored(t *testing.T) {
	c := &clock{t: time.Now().Truncate(time.Second)}
	m := manager(t, c)
	attacker, err := m.Login(context.Background(), "attacker", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	auth := httpauth.New(m)
	h := auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := httpauth.FromContext(r.Context()); ok {
			w.Write([]byte("as " + id.UserID))
			return
		}
		w.Write([]byte("anonymous"))
	}))
	for _, name := range []string{"sessiond_at", "__Secure-sessiond_at", "__HOST-sessiond_at", "sessiond_rt", "__Secure-sessiond_rt", "__host-sessiond_rt"} {
		t.Run(name, func(t *testing.T) {
			tok := attacker.AccessToken
			if strings.HasSuffix(name, "_rt") {
				tok = attacker.RefreshToken
			}
			r := httptest.NewRequest("GET", "/v1/session", nil)
			r.Header.Set("Cookie", name+"="+tok)
			if v := httpauth.AccessTokenCookie(r); v != "" {
				t.Errorf("AccessTokenCookie read the planted %s cookie", name)
			}
			if v := httpauth.RefreshTokenCookie(r); v != "" {
				t.Errorf("RefreshTokenCookie read the planted %s cookie", name)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK || rec.Body.String() != "anonymous" {
				t.Errorf("request with a planted %s cookie: %d %q, want 200 anonymous", name, rec.Code, rec.Body.String())
			}
		})
	}
}
