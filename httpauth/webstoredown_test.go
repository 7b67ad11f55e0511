package httpauth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/redisstore"
	"github.com/sessiond/sessiond/token"
)

// TestWebStoreDownFailsClosed: the store (a real Redis, killed) fails
// while a request's access cookie has expired. The in-band refresh cannot
// happen: OnError answers 503, the handler never runs, and the cookies
// are kept, so the visitor is not logged out by an outage.
func TestWebStoreDownFailsClosed(t *testing.T) {
	redis := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always") // survives the kill
	st, err := redisstore.Open(context.Background(), redis.URL(), redisstore.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &clock{t: time.Now().Truncate(time.Second)}
	keys, _ := token.NewKeyRing(token.EdDSA, c.Now())
	m, err := session.New(context.Background(), session.Config{Store: st, Keys: keys, Issuer: "iss", Audience: "aud",
		RefreshKey: testRefreshKey, Now: c.Now, RevocationPoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var hooked int
	web, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{Manager: m, CSRFKey: testCSRFKey, CookieName: "shop",
		OnError: func(w http.ResponseWriter, r *http.Request, status int, code string) {
			hooked = status
			http.Error(w, "try again in a moment", status)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f := &webFixture{clock: c, m: m, web: web}
	jar := f.login(t, "u1", true)
	c.Add(pastAccessTTL)
	redis.Kill()
	rec, got := f.serve(t, web.Load, request{cookies: jar})
	if rec.Code != http.StatusServiceUnavailable || hooked != http.StatusServiceUnavailable || got != nil {
		t.Fatalf("status %d, hook %d, handler reached %v", rec.Code, hooked, got != nil)
	}
	if set := rec.Header().Values("Set-Cookie"); len(set) != 0 {
		t.Fatalf("cookies changed during an outage: %q", set)
	}
	// Back up: the same cookies refresh and work.
	redis.Start()
	if _, got := f.serve(t, web.Load, request{cookies: jar}); got == nil || got.user != "u1" {
		t.Fatal("the session did not survive the outage")
	}
}
