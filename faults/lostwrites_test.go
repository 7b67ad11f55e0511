package faults_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
)

// TestRedisThatLostItsLastWrites: Redis acknowledges refreshes and then
// loses them, as it does with appendfsync everysec after an OS crash
// (the last second), with RDB snapshots only after any crash, or after a
// failover to a replica that lagged. Here Redis keeps RDB snapshots only:
// the test takes one (SAVE), sessions refresh and log in, Redis is killed
// with SIGKILL and restarts from the snapshot, so every write after it is
// gone. Every client that holds the answer of a lost refresh resumes its
// session (never counted as theft); a session whose login was lost is
// logged out cleanly (401, no theft); the token the store still holds is
// then theft as before.
func TestRedisThatLostItsLastWrites(t *testing.T) {
	proc := testenv.StartRedis(t, "--appendonly", "no")
	c := &clock{t: time.Now().Truncate(time.Second)}
	many := ratelimit.Limit{Rate: 100000, Period: time.Minute, Burst: 100000}
	sd := startSessiondWith(t, node.Config{
		Store: proc.URL(), StoreTimeout: storeTimeout, Now: c.Now,
		MasterKey: []byte("0123456789abcdef0123456789abcdef"),
	}, server.Config{LoginPerIP: many, SessionLimit: many})
	hc := &http.Client{Timeout: 10 * time.Second}
	call := func(path string, body any) (int, map[string]any) {
		t.Helper()
		code, v, err := post(hc, sd.base, path, body)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return code, v
	}
	login := func(i int) string {
		t.Helper()
		cred := map[string]string{"email": fmt.Sprintf("u%d@example.com", i), "password": "correct horse battery"}
		if code, v := call("/v1/signup", cred); code != 201 {
			t.Fatalf("signup %d: %d %v", i, code, v)
		}
		code, v := call("/v1/login", cred)
		if code != 200 {
			t.Fatalf("login %d: %d %v", i, code, v)
		}
		return str(v, "refresh_token")
	}
	refresh := func(tok string) (int, string) {
		t.Helper()
		code, v := call("/v1/refresh", map[string]string{"refresh_token": tok})
		return code, str(v, "refresh_token")
	}

	const kept, lost = 40, 5
	kept0 := make([]string, kept) // as the snapshot holds them
	for i := range kept {
		kept0[i] = login(i)
		if i%2 == 1 { // half of them have rotated once before the snapshot
			code, next := refresh(kept0[i])
			if code != 200 {
				t.Fatalf("refresh %d: %d", i, code)
			}
			kept0[i] = next
		}
	}
	rdb := redisClient(t, proc.URL())
	if err := rdb.Save(t.Context()).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	c.Advance(time.Hour)
	kept1 := make([]string, kept) // acknowledged, then lost
	for i, tok := range kept0 {
		code, next := refresh(tok)
		if code != 200 {
			t.Fatalf("refresh %d before the crash: %d", i, code)
		}
		kept1[i] = next
	}
	lost0 := make([]string, lost) // logins acknowledged, then lost
	for i := range lost {
		lost0[i] = login(kept + i)
	}
	rdb.Close()

	proc.Kill()
	proc.Start() // from the snapshot: everything since SAVE is gone
	waitReady(t, hc, sd.base)
	c.Advance(time.Hour) // far past the grace window

	for i, tok := range kept1 {
		code, next := refresh(tok)
		if code != 200 {
			t.Fatalf("session %d: refresh with the token of a lost rotation = %d, want 200", i, code)
		}
		if code, _ := refresh(next); code != 200 {
			t.Fatalf("session %d: the refresh after it = %d, want 200", i, code)
		}
	}
	for i, tok := range lost0 {
		if code, _ := refresh(tok); code != 401 {
			t.Fatalf("session %d whose login was lost: refresh = %d, want 401", i, code)
		}
	}
	logs := sd.logs.String()
	if n := strings.Count(logs, "reuse_detected"); n != 0 {
		t.Fatalf("%d honest clients taken for thieves after the store lost writes", n)
	}
	if n := strings.Count(logs, `"reason":"resumed"`); n != kept {
		t.Fatalf("%d refreshes logged as resumed, want %d", n, kept)
	}

	// Theft detection is intact: the token the store kept (a copy a thief
	// took before the crash) is now older than the session's tokens.
	if code, _ := refresh(kept0[0]); code != 401 {
		t.Fatalf("the superseded token the store kept: %d, want 401", code)
	}
	if !strings.Contains(sd.logs.String(), "reuse_detected") {
		t.Fatal("reuse of the superseded token was not detected")
	}
}

// redisClient connects to url for the test's own commands.
func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// waitReady polls /readyz until the node is ready again after its store
// came back (the feed reconnects, the pool redials).
func waitReady(t *testing.T, hc *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := hc.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessiond not ready 20 s after its store restarted: %v %v", res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
