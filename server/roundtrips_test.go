package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/redisstore"
)

// commandLog is a go-redis hook that records the commands a client sends
// (the command name and its first key).
type commandLog struct {
	mu   sync.Mutex
	cmds []string
}

func (h *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.cmds = append(h.cmds, describeCmd(cmd))
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		for _, c := range cmds {
			h.cmds = append(h.cmds, "pipelined "+describeCmd(c))
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// describeCmd is "name key" with the key's kind (":s:", ":rl:", ...) and
// no id: "evalsha :s:".
func describeCmd(cmd redis.Cmder) string {
	args := cmd.Args()
	name := cmd.Name()
	keyAt := 1
	if name == "evalsha" || name == "eval" {
		keyAt = 3
	}
	if len(args) <= keyAt {
		return name
	}
	k, _ := args[keyAt].(string)
	if i := strings.Index(k, ":"); i >= 0 {
		k = k[i:]
	}
	if i := strings.Index(k, "{"); i >= 0 {
		k = k[:i]
	}
	return name + " " + k
}

// take returns the commands recorded since the last take.
func (h *commandLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.cmds
	h.cmds = nil
	return out
}

// redisServer starts a node and server on a Redis store (a fresh prefix)
// whose client records its commands.
func redisServer(t *testing.T, url string, sc server.Config) (*server.Server, *commandLog) {
	t.Helper()
	st, err := redisstore.Open(t.Context(), url, redisstore.WithPrefix(randomName("sdrt")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &commandLog{}
	st.Client().AddHook(log)
	srv := startNode(t, node.Config{
		Backend: st, Shared: true, MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), Issuer: "iss", Audience: "aud",
		PasswordParams: fastParams, Logger: quietLogger(),
	}, sc)
	return srv, log
}

var redisDeployments = []struct {
	name string
	url  func(testing.TB) string
}{{"single", testenv.RedisURL}, {"cluster", testenv.RedisClusterURL}}

// TestRefreshIsOneRoundTrip: on Redis, POST /v1/refresh sends the store
// one command, the rotation script (EVALSHA), and nothing else: no rate
// limit, revocation or key ring read on the way. (The first refresh after
// a start may send EVAL too, when Redis does not hold the script yet.)
func TestRefreshIsOneRoundTrip(t *testing.T) {
	for _, d := range redisDeployments {
		t.Run(d.name, func(t *testing.T) {
			srv, log := redisServer(t, d.url(t), server.Config{})
			tk, err := srv.Node().Manager().Login(t.Context(), "ann", session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			h := srv.Handler()
			rt := tk.RefreshToken
			for i := range 6 {
				log.take()
				req := httptest.NewRequest("POST", "/v1/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Fatalf("refresh %d: %d %s", i, rec.Code, rec.Body)
				}
				rt = refreshTokenOf(t, rec.Body.String())
				cmds := log.take()
				if i == 0 {
					continue // the script may have to be loaded
				}
				if len(cmds) != 1 || cmds[0] != "evalsha :s:" {
					t.Fatalf("refresh %d sent %q, want the one rotation script", i, cmds)
				}
			}
		})
	}
}

// TestSessionFloodRefused: a flood of authenticated calls on one session
// on Redis gets 429 with Retry-After past the per-session limit, and the
// refused calls cost no rate-limit round trip each: the limiter answers
// them from its memory of the refusal (ratelimit/redislimit). Each call
// it lets through is judged by Redis.
func TestSessionFloodRefused(t *testing.T) {
	lim := ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 4}
	for _, d := range redisDeployments {
		t.Run(d.name, func(t *testing.T) {
			srv, log := redisServer(t, d.url(t), server.Config{SessionLimit: lim})
			tk, err := srv.Node().Manager().Login(t.Context(), "ann", session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			h := srv.Handler()
			log.take()
			codes := map[int]int{}
			for i := range 200 {
				req := httptest.NewRequest("GET", "/v1/session", nil)
				req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				codes[rec.Code]++
				switch {
				case i <= lim.Burst && rec.Code != http.StatusOK:
					t.Fatalf("call %d within the burst: %d %s", i, rec.Code, rec.Body)
				case i > lim.Burst && rec.Code != http.StatusTooManyRequests:
					t.Fatalf("call %d past the burst: %d %s", i, rec.Code, rec.Body)
				case i > lim.Burst && rec.Header().Get("Retry-After") == "":
					t.Fatalf("call %d: 429 without Retry-After", i)
				}
			}
			limits := 0
			for _, c := range log.take() {
				if c == "evalsha :rl:" || c == "eval :rl:" {
					limits++
				}
			}
			// The burst's calls, plus the first refusal (and an EVAL if
			// the script had to be loaded).
			if limits < lim.Burst+2 || limits > lim.Burst+3 {
				t.Fatalf("%d rate-limit scripts for 200 calls (%d allowed), want %d", limits, codes[200], lim.Burst+2)
			}
		})
	}
}
