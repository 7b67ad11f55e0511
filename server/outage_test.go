package server_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/store/redisstore"
)

// TestRedisOutageUnderLoad stops a real Redis (with AOF, fsync always)
// under load: requests that need it get 503, readiness turns false, nothing
// panics; when Redis is back, traffic recovers with no restart and no
// session that was acknowledged is lost.
func TestRedisOutageUnderLoad(t *testing.T) {
	rp := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	st, err := redisstore.Open(context.Background(), rp.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, func(c *config) {
		c.Node.Backend, c.Node.Shared = st, true
		on := true
		c.Server.AllowSignup = &on
		c.Server.LoginPerIP = ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
	})

	// Acknowledged sessions: each client keeps the last refresh token the
	// server answered 200 for.
	const clients = 6
	tokens := make([]string, clients)
	for i := range clients {
		l := e.signupLogin(testEmail(i))
		tokens[i] = str(l, "refresh_token")
	}

	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		ok, down atomic.Int64
		bad      atomic.Value
	)
	for i := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := e.post("/v1/refresh", "", map[string]string{"refresh_token": tokens[i]})
				switch r.status {
				case http.StatusOK:
					ok.Add(1)
					tokens[i] = str(r, "refresh_token")
				case http.StatusServiceUnavailable:
					down.Add(1)
					if str(r, "error") != "temporarily_unavailable" {
						bad.Store(r.raw)
					}
				default:
					bad.Store(r.raw)
				}
			}
		})
	}
	waitFor(t, "traffic flows", func() bool { return ok.Load() > 20 })
	rp.Kill() // a crash, not a clean shutdown
	waitFor(t, "503s while Redis is down", func() bool { return down.Load() > 5 })
	if r := e.do("GET", "/readyz", "", "", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Redis down: %d", r.status)
	}
	before := ok.Load()
	rp.Start()
	waitFor(t, "traffic recovers with no restart", func() bool { return ok.Load() > before+20 })
	close(stop)
	wg.Wait()
	// The client library may keep refusing new connections for a moment
	// after a burst of failed dials; readiness follows by itself.
	waitFor(t, "readyz turns ready again with no restart", func() bool {
		return e.do("GET", "/readyz", "", "", "").status == http.StatusOK
	})
	if v := bad.Load(); v != nil {
		t.Fatalf("an answer other than 200 or 503 during the outage: %v", v)
	}
	// Every session is still there: the last acknowledged token of each
	// client still refreshes.
	for i := range clients {
		if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": tokens[i]}); r.status != http.StatusOK {
			t.Fatalf("client %d lost its session: %d %s", i, r.status, r.raw)
		}
	}
	t.Logf("refreshes: %d ok, %d refused with 503 during the outage", ok.Load(), down.Load())
}

func testEmail(i int) string { return "load" + string(rune('a'+i)) + "@example.com" }

// waitFor polls cond until it holds or a generous bound passes; it waits
// for an event and asserts nothing about how long it took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
