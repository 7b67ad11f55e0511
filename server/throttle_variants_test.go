package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

// TestLoginThrottleCountsEmailVariants tries to get around the per-account
// back-off of failed logins: the attacker guesses one account's password
// from a fresh address each time (behind a trusted proxy, so neither the
// per-IP limit nor the per-address back-off bites) and spells the email
// differently each time. Every spelling logs in to the same account, so
// every failure must count against it.
func TestLoginThrottleCountsEmailVariants(t *testing.T) {
	e := newEnv(t, func(c *config) {
		c.Server.LoginFailures.PerAccount = ratelimit.Backoff{Free: 3, Base: time.Minute, Max: time.Hour, Decay: time.Hour}
		c.Server.LoginPerIP = ratelimit.Limit{Rate: 100, Period: time.Minute, Burst: 50}
		c.Server.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	e.signupLogin("erin@example.com")
	e.clock.Advance(time.Minute) // the signup's own login is forgotten
	variants := []string{
		"Erin@example.com", "ERIN@EXAMPLE.COM", " erin@example.com", "erin@example.com ",
		"eRin@Example.com", "erIn@exAmple.com", "eriN@examplE.com", "ERin@example.COM",
		"\terin@example.com", "erin@EXAMPLE.com",
	}
	guess := func(i int, email, password string) resp {
		b, _ := json.Marshal(map[string]string{"email": email, "password": password})
		req, _ := http.NewRequest("POST", e.http.URL+"/v1/login", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		return e.send(req)
	}
	throttled := -1
	for i, v := range variants {
		r := guess(i, v, "guess guess guess")
		if r.status == http.StatusTooManyRequests {
			throttled = i
			break
		}
		if r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d (%q): %d %s", i, v, r.status, r.raw)
		}
	}
	if throttled < 0 {
		t.Fatalf("%d guesses at one account under different spellings, none throttled", len(variants))
	}
	// The account waits for every spelling, the canonical one included,
	// even with the right password (from an address without a device
	// cookie).
	if r := guess(len(variants), "erin@example.com", "correct horse battery"); r.status != http.StatusTooManyRequests {
		t.Fatalf("throttled account logged in: %d %s", r.status, r.raw)
	}
}
