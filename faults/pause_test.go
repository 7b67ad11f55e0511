package faults_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// pausable is a store server the test started and can stall.
type pausable interface {
	Pause()
	Resume()
}

const (
	storeTimeout = 400 * time.Millisecond
	// The stall is ten times the store deadline and several grace windows:
	// long enough that a stale command applied on resume would be judged
	// theft if sessiond acted on it.
	stall        = 10 * storeTimeout
	refreshGrace = time.Second
)

// TestStorePausedWhileClientsRefresh pauses Redis and PostgreSQL (SIGSTOP)
// for ten times the store deadline while clients refresh in a loop, then
// resumes them: no session is taken for a thief, every answer is 200 or
// 503 (401 would be an honest client logged out), every 503 comes within
// three times the deadline, and every session refreshes normally after.
func TestStorePausedWhileClientsRefresh(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (url string, p pausable)
	}{
		{"redis", func(t *testing.T) (string, pausable) {
			r := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
			return r.URL(), r
		}},
		{"postgres", func(t *testing.T) (string, pausable) {
			p := testenv.StartPostgres(t)
			return p.URL(), p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, proc := tc.start(t)
			many := ratelimit.Limit{Rate: 100000, Period: time.Minute, Burst: 100000}
			sd := startSessiondWith(t, node.Config{
				Store: url, AutoMigrate: true, StoreTimeout: storeTimeout,
				MasterKey: []byte("0123456789abcdef0123456789abcdef"),
				Policy:    session.Policy{RefreshGrace: refreshGrace},
			}, server.Config{LoginPerIP: many, SessionLimit: many})
			runPausedRefreshes(t, sd, proc)
		})
	}
}

type tally struct {
	mu      sync.Mutex
	codes   map[int]int
	slow503 []time.Duration
	worst   time.Duration
}

func (ta *tally) add(code int, took time.Duration) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.codes[code]++
	if code == http.StatusServiceUnavailable {
		ta.worst = max(ta.worst, took)
		if took > 3*storeTimeout {
			ta.slow503 = append(ta.slow503, took)
		}
	}
}

func runPausedRefreshes(t *testing.T, sd *sessiond, proc pausable) {
	const clients = 8
	hc := &http.Client{Timeout: 20 * time.Second}
	cred := map[string]string{"email": "ria@example.com", "password": "correct horse battery"}
	if code, v, err := post(hc, sd.base, "/v1/signup", cred); err != nil || code != 201 {
		t.Fatalf("signup: %d %v %v", code, v, err)
	}
	tokens := make([]string, clients)
	access := make([]string, clients)
	for i := range tokens {
		code, v, err := post(hc, sd.base, "/v1/login", cred)
		if err != nil || code != 200 {
			t.Fatalf("login: %d %v %v", code, v, err)
		}
		tokens[i], access[i] = str(v, "refresh_token"), str(v, "access_token")
	}

	ta := &tally{codes: map[int]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				code, v, err := post(hc, sd.base, "/v1/refresh", map[string]string{"refresh_token": tokens[i]})
				if err != nil {
					ta.add(-1, time.Since(start)) // no answer at all
					continue
				}
				ta.add(code, time.Since(start))
				switch code {
				case http.StatusOK:
					tokens[i], access[i] = str(v, "refresh_token"), str(v, "access_token")
				case http.StatusServiceUnavailable:
					time.Sleep(50 * time.Millisecond) // as Retry-After asks, briefly
				default:
					return // 401 and anything else end this client: checked below
				}
			}
		})
	}
	time.Sleep(time.Second)
	proc.Pause()
	paused := time.Now()
	time.Sleep(stall)
	proc.Resume()
	t.Logf("store paused for %v", time.Since(paused).Round(time.Millisecond))
	time.Sleep(2*time.Second + refreshGrace)
	close(stop)
	wg.Wait()

	t.Logf("answers: %v; slowest 503 %v (deadline %v)", ta.codes, ta.worst.Round(time.Millisecond), storeTimeout)
	for code, n := range ta.codes {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("%d answers %d (-1: no answer): only 200 and 503 are right for honest clients", n, code)
		}
	}
	if ta.codes[http.StatusServiceUnavailable] == 0 {
		t.Error("no 503 during the stall: the fault was not injected")
	}
	if len(ta.slow503) > 0 {
		t.Errorf("%d answers 503 took over 3x the store deadline: %v", len(ta.slow503), ta.slow503)
	}
	if strings.Contains(sd.logs.String(), "reuse_detected") {
		t.Error("an honest client was taken for a thief")
	}
	// Every session lives and refreshes normally afterwards.
	for i := range clients {
		code, v, err := post(hc, sd.base, "/v1/refresh", map[string]string{"refresh_token": tokens[i]})
		if err != nil || code != 200 {
			t.Errorf("client %d after the stall: refresh %d %v %v", i, code, v, err)
			continue
		}
		req, _ := http.NewRequest("GET", sd.base+"/v1/session", nil)
		req.Header.Set("Authorization", "Bearer "+str(v, "access_token"))
		res, err := hc.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("client %d after the stall: session %v %v", i, err, res)
		} else {
			res.Body.Close()
		}
	}
}
