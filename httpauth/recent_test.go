package httpauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// TestRequireRecentAuth: behind Auth.RequireRecentAuth(time.Minute), on the
// Manager's injected clock, a token whose auth_time is at most a minute old
// reaches the handler; an older one (or one without auth_time) gets 403
// insufficient_user_authentication with the RFC 9470 challenge, and the
// handler never runs; after Reauthenticate the new token passes and the old
// one still does not.
func TestRequireRecentAuth(t *testing.T) {
	c := &clock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	m := manager(t, c)
	a := httpauth.New(m)
	ran := 0
	h := a.Require(a.RequireRecentAuth(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran++
		w.WriteHeader(http.StatusNoContent)
	})))
	tk, err := m.Login(t.Context(), "alice", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	loggedIn := c.Now()

	tests := []struct {
		name   string
		at     time.Duration // since the login
		token  func() string
		status int
	}{
		{"at login", 0, func() string { return tk.AccessToken }, http.StatusNoContent},
		{"59 s later", 59 * time.Second, func() string { return tk.AccessToken }, http.StatusNoContent},
		{"a minute later", time.Minute, func() string { return tk.AccessToken }, http.StatusNoContent},
		{"61 s later", 61 * time.Second, func() string { return tk.AccessToken }, http.StatusForbidden},
		{"9 minutes later", 9 * time.Minute, func() string { return tk.AccessToken }, http.StatusForbidden},
		{"after a re-authentication", 9 * time.Minute, func() string {
			r, err := m.Reauthenticate(t.Context(), tk.Session.ID, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			return r.AccessToken
		}, http.StatusNoContent},
		{"the old token after a re-authentication", 9 * time.Minute, func() string { return tk.AccessToken }, http.StatusForbidden},
		{"no token", 9 * time.Minute, func() string { return "" }, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.Add(loggedIn.Add(tc.at).Sub(c.Now()))
			tok := tc.token()
			authz := ""
			if tok != "" {
				authz = "Bearer " + tok
			}
			before := ran
			rec := serve(h, authz)
			if rec.Code != tc.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if (ran > before) != (tc.status == http.StatusNoContent) {
				t.Fatalf("the handler ran %d times for a %d", ran-before, rec.Code)
			}
			if tc.status == http.StatusForbidden {
				wantStepUp(t, rec, "60", "at most 1 minute old")
			}
		})
	}
}

// wantStepUp checks a refusal for an old authentication: the JSON error
// and the WWW-Authenticate challenge of RFC 9470 with max_age.
func wantStepUp(t *testing.T, rec *httptest.ResponseRecorder, maxAge, says string) {
	t.Helper()
	var body httpauth.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error != httpauth.CodeInsufficientUserAuthentication || !strings.Contains(body.Description, says) {
		t.Errorf("body %s, want %s saying %q", rec.Body, httpauth.CodeInsufficientUserAuthentication, says)
	}
	want := `Bearer realm="sessiond", error="insufficient_user_authentication", error_description="` + body.Description + `", max_age="` + maxAge + `"`
	if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
		t.Errorf("WWW-Authenticate %q, want %q", got, want)
	}
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", rec.Header())
	}
}

// TestRecentAuthIdentities: RecentAuth judges the identity in the context,
// whoever put it there: no auth_time is too old, an auth_time a little in
// the future (another node's clock) is recent, and the zero RecentAuth
// (no MaxAge) lets nothing through.
func TestRecentAuthIdentities(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name   string
		ra     httpauth.RecentAuth
		id     *session.Identity
		status int
		says   string
	}{
		{"recent", httpauth.RecentAuth{MaxAge: 15 * time.Minute, Now: clock}, &session.Identity{AuthTime: now.Add(-14 * time.Minute)}, 204, ""},
		{"too old", httpauth.RecentAuth{MaxAge: 15 * time.Minute, Now: clock}, &session.Identity{AuthTime: now.Add(-16 * time.Minute)}, 403, "at most 15 minutes old"},
		{"no auth_time", httpauth.RecentAuth{MaxAge: 15 * time.Minute, Now: clock}, &session.Identity{}, 403, "does not say when"},
		{"auth_time ahead of this clock", httpauth.RecentAuth{MaxAge: 15 * time.Minute, Now: clock}, &session.Identity{AuthTime: now.Add(20 * time.Second)}, 204, ""},
		{"seconds", httpauth.RecentAuth{MaxAge: 90 * time.Second, Now: clock}, &session.Identity{AuthTime: now.Add(-91 * time.Second)}, 403, "at most 90 seconds old"},
		{"the zero RecentAuth", httpauth.RecentAuth{}, &session.Identity{AuthTime: now}, 403, "no valid maximum age"},
		{"no identity", httpauth.RecentAuth{MaxAge: time.Hour, Now: clock}, nil, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", nil)
			if tc.id != nil {
				req = req.WithContext(httpauth.WithIdentity(req.Context(), tc.id))
			}
			rec := httptest.NewRecorder()
			tc.ra.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.status == 403 {
				secs := map[string]string{"too old": "900", "no auth_time": "900", "seconds": "90", "the zero RecentAuth": "1"}[tc.name]
				wantStepUp(t, rec, secs, tc.says)
			}
		})
	}
}

// TestRequireRecentAuthRefusesATinyMaxAge: a max age under a second, which
// no whole-second auth_time could meet, is a programming error.
func TestRequireRecentAuthRefusesATinyMaxAge(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Minute, 999 * time.Millisecond} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RequireRecentAuth(%v) did not panic", d)
				}
			}()
			httpauth.RequireRecentAuth(d)
		}()
	}
	httpauth.RequireRecentAuth(time.Second) // the least it takes
}
