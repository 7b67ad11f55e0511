package server_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/ratelimit"
)

// pausable is a store server a test can stall (SIGSTOP) and resume.
type pausable interface {
	Pause()
	Resume()
}

// TestStalledStoreAnswers503Promptly stalls a real Redis and a real
// PostgreSQL (SIGSTOP of private servers) for ten times the store
// timeout: a login, a refresh and a session read each answer 503
// temporarily_unavailable with Retry-After long before the stall ends,
// /readyz answers 503 within its own limit, and once the store resumes
// everything answers 200 again with no restart.
func TestStalledStoreAnswers503Promptly(t *testing.T) {
	const storeTimeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (url string, p pausable)
	}{
		{"redis", func(t *testing.T) (string, pausable) {
			rp := testenv.StartRedis(t)
			return rp.URL(), rp
		}},
		{"postgres", func(t *testing.T) (string, pausable) {
			pp := testenv.StartPostgres(t)
			return pp.URL(), pp
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, store := tc.start(t)
			e := newEnv(t, func(c *config) {
				c.Node.Backend, c.Node.Store, c.Node.AutoMigrate = nil, url, true
				c.Node.StoreTimeout = storeTimeout
				on := true
				c.Server.AllowSignup = &on
				c.Server.LoginPerIP = ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
			})
			l := e.signupLogin("stall@example.com")
			at, rt := str(l, "access_token"), str(l, "refresh_token")

			paused := true
			store.Pause()
			stalled := time.Now()
			t.Cleanup(func() {
				if paused {
					store.Resume()
				}
			})
			requests := []struct {
				name string
				do   func() resp
			}{
				{"login", func() resp {
					return e.post("/v1/login", "", map[string]string{"email": "stall@example.com", "password": "correct horse battery"})
				}},
				{"refresh", func() resp { return e.post("/v1/refresh", "", map[string]string{"refresh_token": rt}) }},
				{"session read", func() resp { return e.do("GET", "/v1/session", at, "", "") }},
			}
			for _, rq := range requests {
				start := time.Now()
				r := rq.do()
				took := time.Since(start)
				t.Logf("%s during the stall: %d in %v", rq.name, r.status, took.Round(time.Millisecond))
				if r.status != http.StatusServiceUnavailable || str(r, "error") != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
					t.Errorf("%s during the stall: %d Retry-After=%q %s; want 503 temporarily_unavailable with Retry-After",
						rq.name, r.status, r.header.Get("Retry-After"), r.raw)
				}
				if took > 3*storeTimeout {
					t.Errorf("%s answered after %v, want within 3x the store timeout (%v)", rq.name, took, 3*storeTimeout)
				}
			}
			start := time.Now()
			r := e.do("GET", "/readyz", "", "", "")
			took := time.Since(start)
			t.Logf("readyz during the stall: %d in %v %s", r.status, took.Round(time.Millisecond), r.raw)
			if r.status != http.StatusServiceUnavailable || r.body["status"] != "unavailable" || r.body["reason"] == nil {
				t.Errorf("readyz during the stall: %d %s", r.status, r.raw)
			}
			if took > time.Second {
				t.Errorf("readyz answered after %v, beyond its own limit of 1s", took)
			}
			if since := time.Since(stalled); since >= 10*storeTimeout {
				t.Fatalf("the requests took %v, longer than the stall: the test proves nothing", since)
			}
			time.Sleep(10*storeTimeout - time.Since(stalled))
			store.Resume()
			paused = false

			// Back with no restart: a login, the refresh that failed, a
			// session read and readiness all succeed.
			waitFor(t, "login after the stall", func() bool {
				return e.post("/v1/login", "", map[string]string{"email": "stall@example.com", "password": "correct horse battery"}).status == http.StatusOK
			})
			if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt}); r.status != http.StatusOK {
				t.Errorf("refresh after the stall: %d %s", r.status, r.raw)
			}
			if r := e.do("GET", "/v1/session", at, "", ""); r.status != http.StatusOK {
				t.Errorf("session read after the stall: %d %s", r.status, r.raw)
			}
			waitFor(t, "readyz after the stall", func() bool { return e.do("GET", "/readyz", "", "", "").status == http.StatusOK })
		})
	}
}

// TestFullDiskIsInsufficientStorage runs the embedded store on a small
// tmpfs and fills it: /readyz answers 507 with a JSON error saying the
// disk is full, and 200 again once space is freed.
func TestFullDiskIsInsufficientStorage(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a 4 MiB tmpfs on %s (needs root): %v %s", dir, err, out)
	}
	// Registered before the node, so it runs after the node is closed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	data := filepath.Join(dir, "data")
	e := newEnv(t, func(c *config) { c.Node.Backend, c.Node.Store = nil, "bolt://"+data })
	if r := e.do("GET", "/readyz", "", "", ""); r.status != http.StatusOK {
		t.Fatalf("readyz with room on the disk: %d %s", r.status, r.raw)
	}

	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	if !errorsIsENOSPC(err) {
		t.Fatalf("filling the disk ended with %v, want ENOSPC", err)
	}
	r := e.do("GET", "/readyz", "", "", "")
	if r.status != http.StatusInsufficientStorage || r.body["error"] != "insufficient_storage" || r.body["reason"] != "the store's disk is full" {
		t.Fatalf("readyz on a full disk: %d %s; want 507 insufficient_storage", r.status, r.raw)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/readyz", "", "", ""); r.status != http.StatusOK {
		t.Fatalf("readyz once space is freed: %d %s", r.status, r.raw)
	}
}

func errorsIsENOSPC(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.ENOSPC
}
