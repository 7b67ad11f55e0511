package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// fastParams keep argon2id cheap in tests.
var fastParams = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// sessiond is a real sessiond (node and HTTP API) on loopback.
type sessiond struct {
	base string
	logs *syncBuffer
}

// startSessiond runs a node on cfg with its background work and serves
// its API over real HTTP until the test ends.
func startSessiond(t *testing.T, cfg node.Config) *sessiond {
	t.Helper()
	return startSessiondWith(t, cfg, server.Config{})
}

// startSessiondWith is startSessiond with a server configuration; signup
// is on.
func startSessiondWith(t *testing.T, cfg node.Config, sc server.Config) *sessiond {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	cfg.PasswordParams = fastParams
	if cfg.MasterKey == nil {
		cfg.MasterKey = []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")
	}
	n, err := node.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	<-n.Running()
	on := true
	sc.AllowSignup = &on
	srv, err := server.New(n, sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		stop()
		<-ran
		n.Close()
		if t.Failed() {
			t.Logf("sessiond log:\n%s", logs.String())
		}
	})
	return &sessiond{base: ts.URL, logs: logs}
}

// post sends a JSON body to base+path and decodes the JSON answer.
func post(c *http.Client, base, path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	res, err := c.Post(base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v, nil
}

func str(v map[string]any, k string) string { s, _ := v[k].(string); return s }

// dropAnswers is a TCP proxy to target that forwards every request and,
// as soon as the answer starts to come back, closes the client's
// connection without passing a byte of it on: the request reached
// sessiond and was acted on, the client never hears.
func dropAnswers(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				var one [1]byte
				_, _ = s.Read(one[:]) // the answer has begun: drop it
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// TestRefreshWhoseAnswerWasLost: a refresh is committed but its answer is
// dropped on the way (a mobile app killed, a connection cut). The client's
// retry with the same token, long after the grace window, gets the same
// child and the session lives; only once that child has been used is the
// parent theft.
func TestRefreshWhoseAnswerWasLost(t *testing.T) {
	for _, store := range []string{"memory://", "bolt://"} {
		t.Run(strings.TrimSuffix(store, "://"), func(t *testing.T) {
			url := store
			if store == "bolt://" {
				url += t.TempDir()
			}
			c := &clock{t: time.Now().Truncate(time.Second)}
			sd := startSessiond(t, node.Config{Store: url, Now: c.Now})
			direct := &http.Client{Timeout: 10 * time.Second}
			cred := map[string]string{"email": "lea@example.com", "password": "correct horse battery"}
			if code, v, err := post(direct, sd.base, "/v1/signup", cred); err != nil || code != 201 {
				t.Fatalf("signup: %d %v %v", code, v, err)
			}
			_, login, _ := post(direct, sd.base, "/v1/login", cred)
			parent := str(login, "refresh_token")

			lossy := dropAnswers(t, strings.TrimPrefix(sd.base, "http://"))
			if _, _, err := post(direct, lossy, "/v1/refresh", map[string]string{"refresh_token": parent}); err == nil {
				t.Fatal("the proxy passed the answer on")
			}
			if !strings.Contains(sd.logs.String(), `"event":"refresh"`) {
				t.Fatal("the dropped refresh never reached sessiond")
			}

			c.Advance(session.DefaultRefreshGrace + time.Hour) // the app comes back much later
			code, retry, err := post(direct, sd.base, "/v1/refresh", map[string]string{"refresh_token": parent})
			if err != nil || code != 200 {
				t.Fatalf("retry with the parent whose answer was lost: %d %v %v", code, retry, err)
			}
			child := str(retry, "refresh_token")
			code, next, _ := post(direct, sd.base, "/v1/refresh", map[string]string{"refresh_token": child})
			if code != 200 {
				t.Fatalf("the child of the retry: %d %v", code, next)
			}
			if strings.Contains(sd.logs.String(), "reuse_detected") {
				t.Fatal("an honest retry was taken for theft")
			}

			// The child has been used: the parent is now theft.
			c.Advance(session.DefaultRefreshGrace + time.Second)
			if code, v, _ := post(direct, sd.base, "/v1/refresh", map[string]string{"refresh_token": parent}); code != 401 {
				t.Fatalf("the parent after its child was used: %d %v", code, v)
			}
			if !strings.Contains(sd.logs.String(), "reuse_detected") {
				t.Fatal("reuse of a superseded token was not detected")
			}
		})
	}
}
