package httpauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// testRefreshKey is a fixed key that session.New accepts (it refuses keys
// that are obviously not random).
var testRefreshKey = []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")

func manager(t *testing.T, c *clock) *session.Manager {
	t.Helper()
	keys, err := token.NewKeyRing(token.EdDSA, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(context.Background(), session.Config{Store: memstore.New(), Keys: keys, Issuer: "iss", Audience: "aud",
		RefreshKey: testRefreshKey, Now: c.Now, RevocationPoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func serve(h http.Handler, authz string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRequire(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	tk, _ := m.Login(context.Background(), "u1", session.Meta{})
	auth := httpauth.New(m)
	var seen *session.Identity
	h := auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = httpauth.FromContext(r.Context())
	}))
	tests := []struct {
		name, authz string
		status      int
	}{
		{"valid", "Bearer " + tk.AccessToken, 200},
		{"lower-case scheme", "bearer " + tk.AccessToken, 200},
		{"none", "", 401},
		{"basic", "Basic dTpw", 401},
		{"empty bearer", "Bearer ", 401},
		{"two tokens", "Bearer " + tk.AccessToken + " " + tk.AccessToken, 401},
		{"refresh token", "Bearer " + tk.RefreshToken, 401},
		{"truncated", "Bearer " + tk.AccessToken[:len(tk.AccessToken)-2], 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			rec := serve(h, tc.authz)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 && (seen == nil || seen.UserID != "u1") {
				t.Fatal("handler did not get the identity")
			}
			if tc.status == 401 && (seen != nil || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer")) {
				t.Fatal("refused request reached the handler or lacks WWW-Authenticate")
			}
		})
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Add("Authorization", "Bearer "+tk.AccessToken)
		req.Header.Add("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Fatalf("status %d", rec.Code)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		_ = m.Revoke(context.Background(), tk.Session.ID)
		if rec := serve(h, "Bearer "+tk.AccessToken); rec.Code != 401 || !strings.Contains(rec.Body.String(), "revoked") {
			t.Fatalf("revoked session: %d %s", rec.Code, rec.Body)
		}
	})
}

func TestAuthenticateIsOptional(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	auth := httpauth.New(m)
	called := false
	h := auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := httpauth.FromContext(r.Context())
		called = !ok
	}))
	if rec := serve(h, ""); rec.Code != 200 || !called {
		t.Fatal("anonymous request did not pass through")
	}
	if rec := serve(h, "Bearer junk"); rec.Code != 401 {
		t.Fatal("a bad token passed an optional check")
	}
}

func TestSessionRateLimit(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	a, _ := m.Login(context.Background(), "u1", session.Meta{})
	b, _ := m.Login(context.Background(), "u1", session.Meta{})
	auth := &httpauth.Auth{Manager: m, Limiter: ratelimit.NewMemory(c.Now), SessionLimit: ratelimit.Limit{Rate: 1, Period: time.Second, Burst: 2}}
	h := auth.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var codes []int
	for range 5 {
		codes = append(codes, serve(h, "Bearer "+a.AccessToken).Code)
	}
	if codes[0] != 200 || codes[4] != 429 {
		t.Fatalf("codes %v: no limit reached", codes)
	}
	rec := serve(h, "Bearer "+a.AccessToken)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if serve(h, "Bearer "+b.AccessToken).Code != 200 {
		t.Fatal("one session's limit throttled another session")
	}
	c.Add(2 * time.Second)
	if serve(h, "Bearer "+a.AccessToken).Code != 200 {
		t.Fatal("the limit did not lift with time")
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := httpauth.ParseTrusted("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies: header ignored", nil, "203.0.113.9:4000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer: header ignored", trusted, "203.0.113.9:4000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer", trusted, "10.1.2.3:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed left part ignored", trusted, "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", trusted, "10.1.2.3:4000", []string{"198.51.100.7, 192.0.2.1"}, "198.51.100.7"},
		{"garbage stops the walk", trusted, "10.1.2.3:4000", []string{"198.51.100.7, nonsense"}, "10.1.2.3"},
		{"ipv6 peer", nil, "[2001:db8::1]:4000", nil, "2001:db8::1"},
		{"mapped v4", nil, "[::ffff:203.0.113.9]:1", nil, "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := (httpauth.ClientIP{Trusted: tc.trusted}).Of(r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := httpauth.ParseTrusted("10.0.0.0/33"); err == nil {
		t.Fatal("bad CIDR accepted")
	}
}

// TestLoginThrottleIPv6Prefix: one IPv6 host usually holds a whole /64 and
// can send every attempt from a new address of it; the per-IP limit must
// count the /64, or spraying accounts from it is never throttled. IPv4
// addresses (and IPv4 mapped into IPv6) still count one by one.
func TestLoginThrottleIPv6Prefix(t *testing.T) {
	tests := []struct {
		name      string
		addr      func(i int) string
		throttled bool
	}{
		{"one IPv6 /64", func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) }, true},
		{"one IPv6 /64, zone given", func(i int) string { return fmt.Sprintf("fe80::%x%%eth0", i+1) }, true},
		{"IPv6 addresses of different /64s", func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i+1) }, false},
		{"IPv4 addresses of one /24", func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) }, false},
		{"IPv4-mapped addresses", func(i int) string { return fmt.Sprintf("::ffff:198.51.100.%d", i+1) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Now()}
			th := &httpauth.LoginThrottle{Limiter: ratelimit.NewMemory(c.Now),
				PerIP: ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 5}}
			refused := false
			for i := range 20 {
				ok, _, err := th.Allow(context.Background(), tc.addr(i), fmt.Sprintf("user%d@example.com", i))
				if err != nil {
					t.Fatal(err)
				}
				refused = refused || !ok
			}
			if refused != tc.throttled {
				t.Fatalf("throttled = %v, want %v", refused, tc.throttled)
			}
		})
	}
}
