package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestKillDashNineUnderLoad: 64 clients log in (a service client minting
// sessions, and two password logins), refresh and log out against a real
// `sessiond serve` on bolt, so that their writes share commits, while the
// test kills the server with SIGKILL. After a restart on the same data
// directory every answer a client had received holds: each acknowledged
// login's session is there and its access token works, each client's
// last acknowledged refresh token refreshes (200, never 401: no honest
// client is taken for a thief, also when the refresh in flight at the
// kill had committed without its answer getting out), and each
// acknowledged logout stays revoked.
func TestKillDashNineUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a server with 64 clients")
	}
	const (
		clients = 64
		secret  = "0123456789abcdef0123456789abcdef"
	)
	dir := t.TempDir()
	clientsFile := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(clientsFile, []byte(`[{"id":"api","secret":"`+secret+`","permissions":["sessions"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--clients", clientsFile, "--login-rate-ip", "1000000", "--session-rate", "1000000"}
	p := start(t, dir, flags...)
	cred := map[string]string{"email": "kim@example.com", "password": "correct horse battery"}
	if code, v := p.call("POST", "/v1/signup", "", cred); code != 201 {
		t.Fatalf("signup %d %v", code, v)
	}

	// held is what one client was last answered for one session.
	type held struct {
		id, access, refresh string
		loggingOut          bool // a logout was sent
		loggedOut           bool // and answered 200
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	post := func(path, bearer string, body any) (int, map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", p.base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
			return 0, nil, err // the answer was cut off: not received
		}
		return res.StatusCode, v, nil
	}
	var (
		mu        sync.Mutex
		sessions  []*held
		refreshes atomic.Int64
		killed    atomic.Bool
		wg        sync.WaitGroup
	)
	// failed reports whether a request failed; before the kill that is a
	// test failure, after it the end of the client's run.
	failed := func(what string, code, want int, v map[string]any, err error) bool {
		if err == nil && code == want {
			return false
		}
		if !killed.Load() {
			t.Errorf("%s before the kill: %d %v %v", what, code, v, err)
		}
		return true
	}
	for w := range clients {
		wg.Go(func() {
			for n := 0; ; n++ {
				var (
					code int
					v    map[string]any
					err  error
				)
				if w < 2 {
					code, v, err = post("/v1/login", "", cred)
					if failed("login", code, 200, v, err) {
						return
					}
				} else {
					code, v, err = post("/v1/sessions", "", map[string]string{
						"client_id": "api", "client_secret": secret, "user_id": fmt.Sprintf("user-%d", w),
					})
					if failed("mint", code, 201, v, err) {
						return
					}
				}
				h := &held{id: s(v, "session_id"), access: s(v, "access_token"), refresh: s(v, "refresh_token")}
				mu.Lock()
				sessions = append(sessions, h)
				mu.Unlock()
				for range 8 {
					code, v, err := post("/v1/refresh", "", map[string]string{"refresh_token": h.refresh})
					if failed("refresh", code, 200, v, err) {
						return
					}
					h.access, h.refresh = s(v, "access_token"), s(v, "refresh_token")
					refreshes.Add(1)
				}
				if w%4 == 3 && n%2 == 1 {
					h.loggingOut = true
					code, v, err := post("/v1/logout", h.access, nil)
					if failed("logout", code, 200, v, err) {
						return
					}
					h.loggedOut = true
				}
			}
		})
	}
	for deadline := time.Now().Add(2 * time.Minute); refreshes.Load() < 2000 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	killed.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("killed after %d acknowledged refreshes of %d sessions", refreshes.Load(), len(sessions))
	if refreshes.Load() < clients {
		t.Fatalf("only %d refreshes before the kill", refreshes.Load())
	}

	q := start(t, dir, flags...)
	loggedOut := 0
	for _, h := range sessions {
		switch {
		case h.loggedOut:
			loggedOut++
			if code, _ := q.call("GET", "/v1/session", h.access, nil); code != 401 {
				t.Errorf("session %s logged out before the kill: access token %d after restart", h.id, code)
			}
			if code, _ := q.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": h.refresh}); code != 401 {
				t.Errorf("session %s logged out before the kill: refresh %d after restart", h.id, code)
			}
		case h.loggingOut: // the logout in flight may or may not have committed
			if code, _ := q.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": h.refresh}); code != 200 && code != 401 {
				t.Errorf("session %s with a logout in flight: refresh %d after restart", h.id, code)
			}
		default:
			if code, v := q.call("GET", "/v1/session", h.access, nil); code != 200 || s(v, "id") != h.id {
				t.Errorf("acknowledged session %s after restart: GET /v1/session %d %v", h.id, code, v)
			}
			if code, v := q.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": h.refresh}); code != 200 {
				t.Errorf("session %s: the last acknowledged refresh token after restart: %d %v", h.id, code, v)
			}
		}
	}
	t.Logf("checked %d sessions after restart, %d logged out", len(sessions), loggedOut)
}
