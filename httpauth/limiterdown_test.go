package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/redislimit"
	"github.com/sessiond/sessiond/session"
)

// TestSessionLimiterDownFailsClosed: the per-session limit lives in Redis,
// and Redis is unreachable (nothing listens on the address). A flood must
// not get through because the limiter cannot count it: every request of an
// authenticated session is answered 503 and the application's handler
// never runs, whatever the method.
func TestSessionLimiterDownFailsClosed(t *testing.T) {
	c := &clock{t: time.Now()}
	m := manager(t, c)
	tk, err := m.Login(context.Background(), "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback: connection refused at once, as when Redis is down.
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rc.Close() })
	ran := 0
	auth := &httpauth.Auth{Manager: m, Limiter: redislimit.New(rc, "test:"), SessionLimit: ratelimit.Limit{Rate: 100, Period: time.Second, Burst: 100}}
	h := auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++ }))
	for _, method := range []string{"GET", "POST", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			before := ran
			req := httptest.NewRequest(method, "/v1/things", nil)
			req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("status %d with the limiter down, want 503: %s", rec.Code, rec.Body)
			}
			if ran != before {
				t.Error("the handler ran although the limiter could not count the request")
			}
		})
	}
}
