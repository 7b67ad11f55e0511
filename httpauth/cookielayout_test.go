package httpauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

func TestSessionCookiesLayout(t *testing.T) {
	tests := []struct {
		c                   httpauth.SessionCookies
		access, refresh, ok string
	}{
		{httpauth.SessionCookies{}, "__Host-sessiond_at", "__Host-sessiond_rt", ""},
		{httpauth.SessionCookies{Name: "shop"}, "__Host-shop_at", "__Host-shop_rt", ""},
		{httpauth.SessionCookies{Name: "shop", RefreshPath: "/"}, "__Host-shop_at", "__Host-shop_rt", ""},
		{httpauth.SessionCookies{Name: "shop", RefreshPath: "/v1/refresh"}, "__Host-shop_at", "__Secure-shop_rt", ""},
		{httpauth.SessionCookies{Name: "my-app_2"}, "__Host-my-app_2_at", "__Host-my-app_2_rt", ""},
		{httpauth.SessionCookies{Name: "_x"}, "", "", "name"},
		{httpauth.SessionCookies{Name: "x", RefreshPath: "refresh"}, "", "", "refresh path"},
		{httpauth.SessionCookies{Name: "x", RefreshPath: "/a;b"}, "", "", "refresh path"},
		{httpauth.SessionCookies{Name: "x", RefreshSameSite: http.SameSiteNoneMode}, "", "", "SameSite"},
	}
	for _, tc := range tests {
		t.Run(tc.c.Name+tc.c.RefreshPath, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.ok != "" {
				if !errors.Is(err, httpauth.ErrCookieName) || !strings.Contains(err.Error(), tc.ok) {
					t.Fatalf("Validate = %v, want an error about the %s", err, tc.ok)
				}
				return
			}
			if err != nil || tc.c.AccessName() != tc.access || tc.c.RefreshName() != tc.refresh {
				t.Fatalf("%v: %s %s", err, tc.c.AccessName(), tc.c.RefreshName())
			}
		})
	}
}

// TestAuthReadsItsCookieName: Auth reads the access cookie of its own
// layout.
func TestAuthReadsItsCookieName(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	tk, _ := m.Login(context.Background(), "u1", session.Meta{})
	auth := &httpauth.Auth{Manager: m, Cookies: httpauth.SessionCookies{Name: "app"}}
	var user string
	h := auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		user = id.UserID
	}))
	for name, want := range map[string]int{"__Host-app_at": 200, httpauth.AccessCookie: 401} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: tk.AccessToken})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want || (want == 200 && user != "u1") {
			t.Fatalf("%s: %d", name, rec.Code)
		}
	}
}
