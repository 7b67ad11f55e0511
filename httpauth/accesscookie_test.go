package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
)

// TestSetAccess: the access cookie alone, with the flags and the lifetime
// of the one Set writes, in either layout; the refresh cookie is left
// alone and the answer is not cacheable.
func TestSetAccess(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	for _, c := range []httpauth.SessionCookies{{}, {Name: "shop", RefreshPath: "/"}} {
		t.Run(c.AccessName(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			c.SetAccess(rec, "tok", now.Add(10*time.Minute), now)
			res := rec.Result()
			cs := res.Cookies()
			if len(cs) != 1 {
				t.Fatalf("Set-Cookie %q, want the access cookie alone", res.Header.Values("Set-Cookie"))
			}
			k := cs[0]
			if k.Name != c.AccessName() || k.Value != "tok" || k.Path != "/" || k.Domain != "" || !k.HttpOnly || !k.Secure ||
				k.SameSite != http.SameSiteLaxMode || k.MaxAge != 600 {
				t.Fatalf("cookie %+v", k)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("a response setting a session cookie may be cached")
			}
		})
	}
}
