package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/redislimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/store/redisstore"
)

// lookups is a real store that counts the account lookups of logins, so a
// test can tell that an attempt the throttle refused read nothing (and so
// hashed nothing: the password is checked after the lookup).
type lookups struct {
	node.Backend
	n atomic.Int64
}

func (l *lookups) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	l.n.Add(1)
	return l.Backend.AccountByEmail(ctx, email)
}

// throttleStores are the backends the login throttle is tried on: memory
// (its limiter in this process) and Redis (the shared limiter, judging by
// the test's clock).
var throttleStores = []struct {
	name string
	set  func(t *testing.T, c *config)
}{
	{"memory", func(t *testing.T, c *config) {}},
	{"redis", func(t *testing.T, c *config) {
		st, err := redisstore.Open(context.Background(), testenv.RedisURL(t), redisstore.WithPrefix(randomName("sdthr")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		on := true
		c.Node.Backend, c.Node.Shared, c.Server.AllowSignup = st, true, &on
		c.Node.Limiter = redislimit.New(st.Client(), st.Prefix(), redislimit.WithClock(c.Node.Now))
	}},
}

// newThrottleEnv is a server behind a trusted proxy (127.0.0.1), so each
// request names its client address in X-Forwarded-For. The per-address
// limit of all attempts is generous, so that what the tests see are the
// back-offs of failures (httpauth's tests try that limit).
func newThrottleEnv(t *testing.T, set func(*testing.T, *config)) (*env, *lookups) {
	var l *lookups
	e := newEnv(t, func(c *config) {
		c.Server.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.Server.LoginPerIP = ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
		set(t, c)
		l = &lookups{Backend: c.Node.Backend}
		c.Node.Backend = l
	})
	return e, l
}

// attempt is one login from a client address, in bearer mode unless
// cookie, with the given cookies.
func (e *env) attempt(ip, email, password string, cookie bool, cookies map[string]string) resp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return e.cdo(creq{method: "POST", path: "/v1/login", body: string(b), cookieMode: cookie, cookies: cookies,
		headers: map[string]string{"X-Forwarded-For": ip}})
}

// guessUntilThrottled fails n logins of email from ip that the server lets
// through, waiting out each 429 as a patient attacker does. Every refusal
// must be a proper 429.
func (e *env) guess(ip, email string, n int) {
	e.t.Helper()
	for done := 0; done < n; {
		r := e.attempt(ip, email, "wrong wrong wrong", false, nil)
		switch r.status {
		case http.StatusUnauthorized:
			done++
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 || str(r, "error") != httpauth.CodeRateLimited {
				e.t.Fatalf("429 without a proper Retry-After: %v %s", r.header, r.raw)
			}
			e.clock.Advance(time.Duration(secs) * time.Second)
		default:
			e.t.Fatalf("guess: %d %s", r.status, r.raw)
		}
	}
}

const rightPassword = "correct horse battery"

// noLoginBackoff lets a test fail as many logins as it likes: a free
// allowance larger than any test makes.
var noLoginBackoff = server.LoginFailures{
	PerClient:  ratelimit.Backoff{Free: ratelimit.MaxBackoffFree, Base: time.Millisecond, Max: time.Millisecond, Decay: time.Millisecond},
	PerAccount: ratelimit.Backoff{Free: ratelimit.MaxBackoffFree, Base: time.Millisecond, Max: time.Millisecond, Decay: time.Millisecond},
	PerDevice:  ratelimit.Backoff{Free: ratelimit.MaxBackoffFree, Base: time.Millisecond, Max: time.Millisecond, Decay: time.Millisecond},
}

// TestLoginOwnerAfterGuessing is the check: twenty failed logins
// of an account from one address, and the owner, from another address,
// logs in at once; the guesser's address waits, right password included,
// with no password checked.
func TestLoginOwnerAfterGuessing(t *testing.T) {
	for _, st := range throttleStores {
		t.Run(st.name, func(t *testing.T) {
			e, l := newThrottleEnv(t, st.set)
			e.signupLogin("erin@example.com")
			e.guess("198.51.100.7", "erin@example.com", 20)

			before := l.n.Load()
			r := e.attempt("198.51.100.7", "erin@example.com", rightPassword, false, nil)
			if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
				t.Fatalf("the guesser's address with the right password: %d %s", r.status, r.raw)
			}
			if l.n.Load() != before {
				t.Fatal("a refused attempt looked the account up (and so hashed)")
			}
			if !strings.Contains(e.logs.String(), `"reason":"/v1/login: client"`) {
				t.Error("no ratelimit.throttled line naming the rule")
			}
			for _, ip := range []string{"203.0.113.9", "2001:db8::1"} {
				if r := e.attempt(ip, "erin@example.com", rightPassword, false, nil); r.status != http.StatusOK {
					t.Fatalf("the owner from %s: %d %s", ip, r.status, r.raw)
				}
			}
		})
	}
}

// TestLoginBackoffGrowsAndDecays: over HTTP, the wait after each failure
// beyond five doubles, a login that succeeds forgets the address's
// failures, and with time they are forgotten anyway.
func TestLoginBackoffGrowsAndDecays(t *testing.T) {
	for _, st := range throttleStores {
		t.Run(st.name, func(t *testing.T) {
			e, _ := newThrottleEnv(t, st.set)
			e.signupLogin("finn@example.com")
			const ip = "198.51.100.8"
			e.guess(ip, "finn@example.com", 6)
			for _, want := range []string{"1", "2", "4", "8"} {
				r := e.attempt(ip, "finn@example.com", rightPassword, false, nil)
				if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != want {
					t.Fatalf("want a wait of %ss: %d Retry-After %q", want, r.status, r.header.Get("Retry-After"))
				}
				e.guess(ip, "finn@example.com", 1)
			}
			e.clock.Advance(16 * time.Second)
			if r := e.attempt(ip, "finn@example.com", rightPassword, false, nil); r.status != http.StatusOK {
				t.Fatalf("after the wait, the right password: %d %s", r.status, r.raw)
			}
			// The login forgot this address's failures: five free again.
			e.guess(ip, "finn@example.com", 5)
			if r := e.attempt(ip, "finn@example.com", "wrong wrong wrong", false, nil); r.status != http.StatusUnauthorized {
				t.Fatalf("the sixth failure after a login: %d", r.status)
			}
			if r := e.attempt(ip, "finn@example.com", rightPassword, false, nil); r.status != http.StatusTooManyRequests {
				t.Fatalf("after it: %d, want a wait", r.status)
			}
			// Two hours later every failure is forgotten.
			e.clock.Advance(2 * time.Hour)
			e.guess(ip, "finn@example.com", 5)
			if r := e.attempt(ip, "finn@example.com", rightPassword, false, nil); r.status != http.StatusOK {
				t.Fatalf("after two quiet hours and five failures: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestLoginDeviceCookie: guessing from many addresses slows the account
// for every attempt without a device cookie, but the owner's browser, with
// the cookie its last login set, logs in at once, even from an address the
// guessing came from. A forged, expired or other account's cookie counts
// for nothing.
func TestLoginDeviceCookie(t *testing.T) {
	for _, st := range throttleStores {
		t.Run(st.name, func(t *testing.T) {
			e, _ := newThrottleEnv(t, st.set)
			e.signupLogin("gail@example.com")
			e.signupLogin("hugo@example.com")
			deviceOf := func(r resp) string {
				t.Helper()
				c := setCookies(t, r.header)[httpauth.DeviceCookie]
				if c == nil {
					t.Fatalf("no device cookie in %q", r.header.Values("Set-Cookie"))
				}
				if c.Path != "/" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 180*24*3600 {
					t.Fatalf("device cookie %+v", c)
				}
				return c.Value
			}
			login := e.attempt("203.0.113.9", "gail@example.com", rightPassword, true, nil)
			if login.status != http.StatusOK {
				t.Fatalf("cookie-mode login: %d %s", login.status, login.raw)
			}
			dev := deviceOf(login)
			hugos := deviceOf(e.attempt("203.0.113.9", "hugo@example.com", rightPassword, true, nil))
			// A bearer login sets no device cookie.
			if r := e.attempt("203.0.113.9", "gail@example.com", rightPassword, false, nil); len(r.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("a bearer login set %q", r.header.Values("Set-Cookie"))
			}

			for i := range 25 { // one failure from each of 25 addresses
				e.guess("198.51.100."+strconv.Itoa(i+1), "gail@example.com", 1)
			}
			if r := e.attempt("203.0.113.10", "gail@example.com", rightPassword, false, nil); r.status != http.StatusTooManyRequests {
				t.Fatalf("a new address without a device cookie: %d, want the account's wait", r.status)
			}

			// The key the server signs with, to forge an expired cookie.
			key := e.srv.Node().DeriveKey(httpauth.DeviceCookiePurpose)
			expired := (&httpauth.DeviceCookies{Key: key, Now: func() time.Time { return e.clock.Now().Add(-181 * 24 * time.Hour) }})
			rec := &headerRecorder{h: http.Header{}}
			if err := expired.Set(rec, "gail@example.com"); err != nil {
				t.Fatal(err)
			}
			old := setCookies(t, rec.h)[httpauth.DeviceCookie].Value
			forged := (&httpauth.DeviceCookies{Key: []byte("not-the-server-key-0123456789abc")})
			rec = &headerRecorder{h: http.Header{}}
			if err := forged.Set(rec, "gail@example.com"); err != nil {
				t.Fatal(err)
			}
			fake := setCookies(t, rec.h)[httpauth.DeviceCookie].Value

			tests := []struct {
				name   string
				ip     string
				cookie string
				mode   bool
				status int
			}{
				{"forged", "203.0.113.9", fake, true, http.StatusTooManyRequests},
				{"expired", "203.0.113.9", old, true, http.StatusTooManyRequests},
				{"another account's", "203.0.113.9", hugos, true, http.StatusTooManyRequests},
				{"altered", "203.0.113.9", dev[:len(dev)-1] + "A", true, http.StatusTooManyRequests},
				{"the owner's, from an address that guessed", "198.51.100.1", dev, true, http.StatusOK},
				{"the owner's, in bearer mode", "203.0.113.11", dev, false, http.StatusOK},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					if strings.HasSuffix(dev, "A") && tc.name == "altered" {
						tc.cookie = dev[:len(dev)-1] + "B"
					}
					r := e.attempt(tc.ip, "gail@example.com", rightPassword, tc.mode, map[string]string{httpauth.DeviceCookie: tc.cookie})
					if r.status != tc.status {
						t.Fatalf("%d %s, want %d", r.status, r.raw, tc.status)
					}
					if r.status == http.StatusOK && tc.mode && deviceOf(r) == dev {
						t.Fatal("the login did not issue a new device cookie")
					}
				})
			}
			// The device's own failures slow it down, and only it.
			for range 6 {
				if r := e.attempt("203.0.113.9", "gail@example.com", "wrong wrong wrong", true, map[string]string{httpauth.DeviceCookie: dev}); r.status != http.StatusUnauthorized {
					t.Fatalf("a failure with the device cookie: %d", r.status)
				}
			}
			if r := e.attempt("203.0.113.9", "gail@example.com", rightPassword, true, map[string]string{httpauth.DeviceCookie: dev}); r.status != http.StatusTooManyRequests {
				t.Fatalf("the device after six failures: %d, want its wait", r.status)
			}
			if !strings.Contains(e.logs.String(), `"reason":"/v1/login: device"`) {
				t.Error("no ratelimit.throttled line for the device's wait")
			}
		})
	}
}

// headerRecorder is the smallest http.ResponseWriter: it keeps the header.
type headerRecorder struct{ h http.Header }

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(int)             {}

// TestLoginThrottleLimiterDown: the shared limiter cannot be reached (its
// Redis is gone): logins and signups are refused 503 before any account is
// read or any password hashed, never let through uncounted.
func TestLoginThrottleLimiterDown(t *testing.T) {
	rp := testenv.StartRedis(t)
	o, err := redis.ParseURL(rp.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries, o.DialTimeout = -1, 300*time.Millisecond
	rc := redis.NewClient(o)
	t.Cleanup(func() { rc.Close() })
	e, l := newThrottleEnv(t, func(t *testing.T, c *config) {
		c.Node.Backend = memstore.New()
		c.Node.Limiter = redislimit.New(rc, "down", redislimit.WithClock(c.Node.Now))
	})
	e.signupLogin("ivy@example.com")
	rp.Kill()
	before := l.n.Load()
	for _, tc := range []struct{ path, body string }{
		{"/v1/login", `{"email":"ivy@example.com","password":"` + rightPassword + `"}`},
		{"/v1/login", `{"email":"ivy@example.com","password":"wrong wrong wrong"}`},
		{"/v1/signup", `{"email":"jo@example.com","password":"` + rightPassword + `"}`},
	} {
		r := e.cdo(creq{method: "POST", path: tc.path, body: tc.body, headers: map[string]string{"X-Forwarded-For": "198.51.100.9"}})
		if r.status != http.StatusServiceUnavailable || str(r, "error") != httpauth.CodeUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with the limiter down: %d %s", tc.path, r.status, r.raw)
		}
	}
	if l.n.Load() != before {
		t.Error("an attempt that could not be judged read an account")
	}
}

// TestWrongPasswordAuditedWhenItCannotBeCounted: the limiter's Redis
// goes silent (a proxy in front of it stops forwarding) while a wrong
// password is being hashed, after the attempt was admitted and before its
// failure is recorded. The login is answered 503 promptly, as a throttle
// that cannot count must answer, and the wrong password is still on
// record: a login.failed audit line naming the account.
func TestWrongPasswordAuditedWhenItCannotBeCounted(t *testing.T) {
	const timeout = 300 * time.Millisecond
	rp := testenv.StartRedis(t)
	px := testenv.NewProxy(t, rp.Addr())
	rc := redis.NewClient(&redis.Options{Addr: px.Addr(), MaxRetries: -1, DialTimeout: timeout,
		ReadTimeout: timeout, WriteTimeout: timeout, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rc.Close() })
	e, l := newThrottleEnv(t, func(t *testing.T, c *config) {
		c.Node.Backend = memstore.New()
		c.Node.Limiter = redislimit.New(rc, "silent", redislimit.WithClock(c.Node.Now))
		// A hash long enough (some 350 ms, more under -race) that the
		// link goes silent while it runs: the attempt is admitted
		// before it, its failure recorded after it.
		c.Node.PasswordParams = account.Params{Memory: 64 * 1024, Time: 8, Threads: 1, SaltLen: 16, KeyLen: 32}
	})
	e.signupLogin("kim@example.com")
	if strings.Contains(e.logs.String(), `"login.failed"`) {
		t.Fatal("a login.failed line before the wrong password")
	}

	lookedUp := l.n.Load()
	type answer struct {
		r    resp
		took time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		r := e.attempt("198.51.100.20", "kim@example.com", "wrong wrong wrong", false, nil)
		done <- answer{r, time.Since(start)}
	}()
	// The account is read once the attempt has passed the throttle's
	// first checks; its admission (checked again when its hashing slot is
	// free, a round trip to the local Redis) follows at once, then the
	// hash: 100 ms after the read, the link goes silent mid-hash.
	for deadline := time.Now().Add(10 * time.Second); l.n.Load() == lookedUp; {
		if time.Now().After(deadline) {
			t.Fatal("the wrong password's account was never read")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	px.Stall()
	stalled := time.Now()
	a := <-done
	px.Resume()
	t.Logf("wrong password with the limiter silent: %d in %v (stalled %v after it started)", a.r.status, a.took.Round(time.Millisecond),
		(a.took - time.Since(stalled)).Round(time.Millisecond))
	if a.r.status != http.StatusServiceUnavailable || str(a.r, "error") != httpauth.CodeUnavailable || a.r.header.Get("Retry-After") == "" {
		t.Fatalf("wrong password whose failure could not be recorded: %d %s; want 503 with Retry-After", a.r.status, a.r.raw)
	}
	if since := time.Since(stalled); since > 3*timeout+time.Second {
		t.Errorf("answered %v after the link went silent; want within the limiter's timeout", since)
	}
	var lines int
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == "login.failed" {
			lines++
			if m["account"] == nil || m["account"] == "" || strings.Contains(line, "kim@example.com") {
				t.Errorf("login.failed line without the account as a keyed hash: %s", line)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d login.failed lines for the wrong password that could not be counted, want 1", lines)
	}
}

// TestLoginConcurrentGuessesRecheckedBeforeHashing: 30 wrong passwords for
// one account from one address, all at once. Most of them pass the first
// check before any has failed, then wait for a hashing slot; judged again
// once their turn comes, those behind the sixth failure are refused (429)
// without hashing. At most 5 free failures, the one that starts the wait,
// and one more hashing beside it on the second slot get a 401.
func TestLoginConcurrentGuessesRecheckedBeforeHashing(t *testing.T) {
	for _, st := range throttleStores {
		t.Run(st.name, func(t *testing.T) {
			e, _ := newThrottleEnv(t, st.set)
			e.signupLogin("kim@example.com")
			const n = 30
			statuses := make(chan int, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", e.http.URL+"/v1/login",
						strings.NewReader(`{"email":"kim@example.com","password":"wrong wrong wrong"}`))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Forwarded-For", "198.51.100.30")
					res, err := e.http.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					statuses <- res.StatusCode
				})
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for s := range statuses {
				count[s]++
			}
			if count[http.StatusUnauthorized] > 7 || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
				t.Fatalf("30 guesses at once: %v; want at most 7 hashed (401), the rest 429", count)
			}
		})
	}
}
