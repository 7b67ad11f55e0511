package httpauth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/redislimit"
)

// throttleBackends are the limiters the login throttle runs on: memory, and
// a real Redis judging by the test's clock.
var throttleBackends = []struct {
	name string
	new  func(t *testing.T, now func() time.Time) ratelimit.Limiter
}{
	{"memory", func(t *testing.T, now func() time.Time) ratelimit.Limiter { return ratelimit.NewMemory(now) }},
	{"redis", func(t *testing.T, now func() time.Time) ratelimit.Limiter {
		o, err := redis.ParseURL(testenv.RedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(o)
		t.Cleanup(func() { c.Close() })
		b := make([]byte, 6)
		rand.Read(b)
		return redislimit.New(c, "throttletest-"+hex.EncodeToString(b), redislimit.WithClock(now))
	}},
}

var testDeviceKey = []byte("device-key-0123456789abcdef-0123")

// throttleEnv is a LoginThrottle with the default rules on one backend,
// and its clock.
type throttleEnv struct {
	t  *testing.T
	c  *clock
	th *httpauth.LoginThrottle
}

func newThrottleEnv(t *testing.T, newLimiter func(*testing.T, func() time.Time) ratelimit.Limiter) *throttleEnv {
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	// A generous per-address limit, so that the back-offs are what the
	// tests see; the test of that limit sets the default.
	return &throttleEnv{t: t, c: c, th: &httpauth.LoginThrottle{Limiter: newLimiter(t, c.Now),
		PerIP:   ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000},
		Devices: &httpauth.DeviceCookies{Key: testDeviceKey, Now: c.Now}}}
}

func (e *throttleEnv) check(a httpauth.Attempt) httpauth.Verdict {
	e.t.Helper()
	v, err := e.th.Check(context.Background(), a)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// fail makes one attempt with a wrong password: judged, then counted as
// failed if it was let through. It returns the verdict.
func (e *throttleEnv) fail(a httpauth.Attempt) httpauth.Verdict {
	e.t.Helper()
	v := e.check(a)
	if v.OK {
		if _, err := e.th.Failed(context.Background(), a); err != nil {
			e.t.Fatal(err)
		}
	}
	return v
}

// failN makes n failed attempts that the throttle lets through, waiting out
// each wait it imposes, as a patient attacker does.
func (e *throttleEnv) failN(a httpauth.Attempt, n int) {
	e.t.Helper()
	for done := 0; done < n; {
		v := e.fail(a)
		if v.OK {
			done++
			continue
		}
		e.c.Add(v.RetryAfter)
	}
}

// device returns the device of a fresh device cookie for account.
func (e *throttleEnv) device(account string) string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	if err := e.th.Devices.Set(rec, account); err != nil {
		e.t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/v1/login", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	a := e.th.AttemptOf(r, "203.0.113.9", account)
	if a.Device == "" {
		e.t.Fatal("a fresh device cookie is not valid")
	}
	return a.Device
}

const owner = "owner@example.com"

func TestLoginThrottleBackoff(t *testing.T) {
	for _, b := range throttleBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("the wait grows then decays", func(t *testing.T) {
				e := newThrottleEnv(t, b.new)
				a := httpauth.Attempt{IP: "198.51.100.7", Account: owner}
				for i := range 5 {
					if v := e.fail(a); !v.OK {
						t.Fatalf("free failure %d refused: %+v", i+1, v)
					}
				}
				if v := e.fail(a); !v.OK { // the sixth is checked, and costs a second
					t.Fatalf("sixth attempt refused: %+v", v)
				}
				for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
					v := e.check(a)
					if v.OK || v.RetryAfter != want || v.Rule != httpauth.RuleClient {
						t.Fatalf("after a failure: %+v, want a wait of %v (client)", v, want)
					}
					e.c.Add(want - time.Millisecond)
					if v := e.check(a); v.OK {
						t.Fatal("let through before the wait ended")
					}
					e.c.Add(time.Millisecond)
					if v := e.fail(a); !v.OK {
						t.Fatalf("refused once the wait ended: %+v", v)
					}
				}
				// The waits are capped at 15 minutes, however long it goes on.
				for range 20 {
					e.c.Add(e.check(a).RetryAfter)
					e.fail(a)
				}
				if v := e.check(a); v.RetryAfter != 15*time.Minute {
					t.Fatalf("after 30 failures: wait %v, want the 15m cap", v.RetryAfter)
				}
				// A failure is forgotten every 15 minutes: after long enough,
				// five are free again.
				e.c.Add(24 * time.Hour)
				for i := range 5 {
					if v := e.fail(a); !v.OK {
						t.Fatalf("a day later, failure %d refused: %+v", i+1, v)
					}
				}
			})

			t.Run("the owner logs in from another address after 20 failures", func(t *testing.T) {
				e := newThrottleEnv(t, b.new)
				attacker := httpauth.Attempt{IP: "198.51.100.7", Account: owner}
				e.failN(attacker, 20)
				if v := e.check(attacker); v.OK || v.Rule != httpauth.RuleClient {
					t.Fatalf("the attacker's address after 20 failures: %+v, want it waiting", v)
				}
				if v := e.check(httpauth.Attempt{IP: "203.0.113.9", Account: owner}); !v.OK {
					t.Fatalf("the owner from another address: %+v, want let through at once", v)
				}
				// The same /64 of IPv6 is one address; another /64 is not.
				v6 := httpauth.Attempt{IP: "2001:db8:1:2::1", Account: owner}
				e.failN(v6, 20)
				if v := e.check(httpauth.Attempt{IP: "2001:db8:1:2::beef", Account: owner}); v.OK {
					t.Fatal("another address of the attacker's /64 was let through")
				}
				if v := e.check(httpauth.Attempt{IP: "2001:db8:1:3::1", Account: owner}); !v.OK {
					t.Fatalf("another /64: %+v", v)
				}
			})

			t.Run("guessing from many addresses slows the account, not its device", func(t *testing.T) {
				e := newThrottleEnv(t, b.new)
				dev := e.device(owner)
				for i := range 21 { // one failure each: every one counts for the account
					e.failN(httpauth.Attempt{IP: fmt.Sprintf("198.51.100.%d", i+1), Account: owner}, 1)
				}
				v := e.check(httpauth.Attempt{IP: "203.0.113.9", Account: owner})
				if v.OK || v.Rule != httpauth.RuleAccount || v.RetryAfter != time.Second {
					t.Fatalf("a 22nd address without a device cookie: %+v, want the account's 1s wait", v)
				}
				// The owner's browser, even from an attacker's address.
				if v := e.check(httpauth.Attempt{IP: "198.51.100.1", Account: owner, Device: dev}); !v.OK {
					t.Fatalf("the owner's device: %+v, want let through", v)
				}
				// Another account is not slowed down.
				if v := e.check(httpauth.Attempt{IP: "203.0.113.9", Account: "other@example.com"}); !v.OK {
					t.Fatalf("another account: %+v", v)
				}
			})

			t.Run("a device is judged by its own failures", func(t *testing.T) {
				e := newThrottleEnv(t, b.new)
				dev, other := e.device(owner), e.device(owner)
				a := httpauth.Attempt{IP: "203.0.113.9", Account: owner, Device: dev}
				e.failN(a, 6)
				if v := e.check(a); v.OK || v.Rule != httpauth.RuleDevice || v.RetryAfter != time.Second {
					t.Fatalf("a device after 6 failures: %+v, want its own 1s wait", v)
				}
				// Its failures are its own: not the address's, not the account's.
				if v := e.check(httpauth.Attempt{IP: "203.0.113.9", Account: owner, Device: other}); !v.OK {
					t.Fatalf("another device: %+v", v)
				}
				if v := e.check(httpauth.Attempt{IP: "203.0.113.9", Account: owner}); !v.OK {
					t.Fatalf("the same address without a device cookie: %+v", v)
				}
				// A success forgets them.
				e.c.Add(time.Second)
				if err := e.th.Succeeded(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				for i := range 5 {
					if v := e.fail(a); !v.OK {
						t.Fatalf("after a success, failure %d refused: %+v", i+1, v)
					}
				}
			})

			t.Run("a device has a per-address limit of its own", func(t *testing.T) {
				e := newThrottleEnv(t, b.new)
				e.th.PerIP = httpauth.DefaultLoginPerIP
				dev := e.device(owner)
				for i := range 50 { // spraying accounts from the owner's network
					e.fail(httpauth.Attempt{IP: "198.51.100.7", Account: fmt.Sprintf("u%d@example.com", i)})
				}
				if v := e.check(httpauth.Attempt{IP: "198.51.100.7", Account: "new@example.com"}); v.OK || v.Rule != httpauth.RuleAddress {
					t.Fatalf("spraying from one address: %+v, want the address limited", v)
				}
				if v := e.check(httpauth.Attempt{IP: "198.51.100.7"}); v.OK {
					t.Fatal("a signup (no account) from the limited address was let through")
				}
				devAttempt := httpauth.Attempt{IP: "198.51.100.7", Account: owner, Device: dev}
				for i := range 11 { // the default burst
					if v := e.check(devAttempt); !v.OK {
						t.Fatalf("the owner's device on that address, attempt %d: %+v", i+1, v)
					}
				}
				if v := e.check(devAttempt); v.OK || v.Rule != httpauth.RuleAddress {
					t.Fatalf("a 12th attempt with a device from one address at once: %+v, want the address limited", v)
				}
			})

			t.Run("a success forgets the address's failures, not the account's", func(t *testing.T) {
				e := newThrottleEnv(t, b.new)
				for i := range 4 {
					e.failN(httpauth.Attempt{IP: fmt.Sprintf("198.51.100.%d", i+1), Account: owner}, 5)
				}
				a := httpauth.Attempt{IP: "198.51.100.1", Account: owner}
				if err := e.th.Succeeded(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				// 20 account failures: the next one from anywhere is the 21st.
				e.fail(a)
				if v := e.check(httpauth.Attempt{IP: "203.0.113.9", Account: owner}); v.OK || v.Rule != httpauth.RuleAccount {
					t.Fatalf("the 21st failure of the account: %+v, want the account waiting", v)
				}
			})
		})
	}
}

// TestLoginThrottleLimiterDown: with the limiter unreachable no attempt is
// let through and no failure is lost silently: each call is an error.
func TestLoginThrottleLimiterDown(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rc.Close() })
	th := &httpauth.LoginThrottle{Limiter: redislimit.New(rc, "test")}
	ctx := context.Background()
	for _, a := range []httpauth.Attempt{
		{IP: "198.51.100.7"},
		{IP: "198.51.100.7", Account: owner},
		{IP: "198.51.100.7", Account: owner, Device: "d"},
	} {
		if v, err := th.Check(ctx, a); !errors.Is(err, redislimit.ErrBackend) || v.OK {
			t.Errorf("Check(%+v) = %+v, %v; want a refusal wrapping ErrBackend", a, v, err)
		}
	}
	for _, a := range []httpauth.Attempt{{IP: "198.51.100.7", Account: owner}, {IP: "198.51.100.7", Account: owner, Device: "d"}} {
		if _, err := th.Failed(ctx, a); !errors.Is(err, redislimit.ErrBackend) {
			t.Errorf("Failed(%+v) = %v, want ErrBackend", a, err)
		}
		if err := th.Succeeded(ctx, a); !errors.Is(err, redislimit.ErrBackend) {
			t.Errorf("Succeeded(%+v) = %v, want ErrBackend", a, err)
		}
	}
	// Failures kept apart from a limiter that is up fail the same way.
	th = &httpauth.LoginThrottle{Limiter: ratelimit.NewMemory(nil), Failures: redislimit.New(rc, "test")}
	if v, err := th.Check(ctx, httpauth.Attempt{IP: "198.51.100.7", Account: owner}); err == nil || v.OK {
		t.Fatalf("Check with the failures down: %+v, %v", v, err)
	}
}

// TestLoginThrottleNoFailureLimiter: a Limiter that cannot count failures
// still gets the back-off, in this process.
func TestLoginThrottleNoFailureLimiter(t *testing.T) {
	th := &httpauth.LoginThrottle{Limiter: onlyAllow{ratelimit.NewMemory(nil)}}
	ctx := context.Background()
	a := httpauth.Attempt{IP: "198.51.100.7", Account: owner}
	for range 6 {
		if _, err := th.Failed(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := th.Check(ctx, a); err != nil || v.OK {
		t.Fatalf("after 6 failures: %+v, %v", v, err)
	}
}

// onlyAllow hides every method of a Limiter but Allow.
type onlyAllow struct{ l ratelimit.Limiter }

func (o onlyAllow) Allow(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
	return o.l.Allow(ctx, key, l)
}

func TestDeviceCookies(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	d := &httpauth.DeviceCookies{Key: testDeviceKey, Now: c.Now}
	issue := func(d *httpauth.DeviceCookies, account string) *http.Cookie {
		t.Helper()
		rec := httptest.NewRecorder()
		if err := d.Set(rec, account); err != nil {
			t.Fatal(err)
		}
		cs := rec.Result().Cookies()
		if len(cs) != 1 {
			t.Fatalf("Set-Cookie %v", rec.Header().Values("Set-Cookie"))
		}
		return cs[0]
	}
	ck := issue(d, owner)
	if ck.Name != httpauth.DeviceCookie || !strings.HasPrefix(ck.Name, "__Host-") || ck.Path != "/" || ck.Domain != "" ||
		!ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != int(httpauth.DefaultDeviceTTL/time.Second) {
		t.Fatalf("device cookie %+v", ck)
	}
	deviceOf := func(account string, values ...string) string {
		r := httptest.NewRequest("POST", "/v1/login", nil)
		for _, v := range values {
			r.AddCookie(&http.Cookie{Name: httpauth.DeviceCookie, Value: v})
		}
		return d.Device(r, account)
	}
	dev := deviceOf(owner, ck.Value)
	if dev == "" || strings.Contains(ck.Value, dev) {
		t.Fatalf("device %q of a fresh cookie", dev)
	}
	if again := issue(d, owner); deviceOf(owner, again.Value) == dev {
		t.Fatal("a new cookie has the same device: each login must issue a new nonce")
	}

	altered := []byte(ck.Value)
	altered[30] ^= 1
	otherKey := issue(&httpauth.DeviceCookies{Key: []byte("another-key-0123456789abcdef-012"), Now: c.Now}, owner)
	old := issue(&httpauth.DeviceCookies{Key: testDeviceKey, Now: func() time.Time { return c.Now().Add(-httpauth.DefaultDeviceTTL) }}, owner)
	future := issue(&httpauth.DeviceCookies{Key: testDeviceKey, Now: func() time.Time { return c.Now().Add(time.Hour) }}, owner)
	short := issue(&httpauth.DeviceCookies{Key: testDeviceKey, Now: func() time.Time { return c.Now().Add(-2 * time.Hour) }, TTL: time.Hour}, owner)
	tests := []struct {
		name    string
		account string
		values  []string
		valid   bool
	}{
		{"its own", owner, []string{ck.Value}, true},
		{"among garbage", owner, []string{"x", ck.Value}, true},
		{"for another account", "other@example.com", []string{ck.Value}, false},
		{"for the same account spelled otherwise (callers normalise first)", "Owner@example.com", []string{ck.Value}, false},
		{"one bit changed", owner, []string{string(altered)}, false},
		{"signed under another key", owner, []string{otherKey.Value}, false},
		{"issued a whole TTL ago", owner, []string{old.Value}, false},
		{"issued an hour ahead of the clock", owner, []string{future.Value}, false},
		{"past a shorter TTL (read with the default)", owner, []string{short.Value}, true},
		{"truncated", owner, []string{ck.Value[:len(ck.Value)-2]}, false},
		{"padded", owner, []string{ck.Value + "=="}, false},
		{"empty", owner, []string{""}, false},
		{"none", owner, nil, false},
		{"no account", "", []string{ck.Value}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := deviceOf(tc.account, tc.values...) != ""; got != tc.valid {
				t.Fatalf("valid = %v, want %v", got, tc.valid)
			}
		})
	}
	// A cookie past the TTL its issuer gave it is refused by that issuer.
	r := httptest.NewRequest("POST", "/", nil)
	r.AddCookie(short)
	if (&httpauth.DeviceCookies{Key: testDeviceKey, Now: c.Now, TTL: time.Hour}).Device(r, owner) != "" {
		t.Fatal("a cookie past its TTL is valid")
	}
	// With the clock 179 days on, the cookie is still good; at 180, not.
	c.Add(httpauth.DefaultDeviceTTL - time.Second)
	if deviceOf(owner, ck.Value) != dev {
		t.Fatal("a cookie one second before its end is not valid")
	}
	c.Add(time.Second)
	if deviceOf(owner, ck.Value) != "" {
		t.Fatal("a cookie at its end is still valid")
	}
	// A key too short issues nothing and believes nothing.
	weak := &httpauth.DeviceCookies{Key: []byte("short")}
	if err := weak.Set(httptest.NewRecorder(), owner); !errors.Is(err, httpauth.ErrDeviceKey) {
		t.Fatalf("Set with a short key: %v", err)
	}
	if weak.Device(r, owner) != "" {
		t.Fatal("a short key believed a cookie")
	}
	var none *httpauth.DeviceCookies
	if none.Device(r, owner) != "" {
		t.Fatal("nil DeviceCookies believed a cookie")
	}
}
