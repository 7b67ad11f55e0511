package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
)

// TestFailedCredentialsThrottled: 300 wrong admin tokens, or wrong client
// secrets, from one address get 401 for the first ten (one audit line
// each), then 429 with Retry-After (one ratelimit.throttled line, none for
// the rest), the right credentials included from that address; from
// another address the right ones work at once, and from the first once the
// Retry-After has passed.
func TestFailedCredentialsThrottled(t *testing.T) {
	const adminToken = "admin-token-0123456789abcdef0123456789"
	tests := []struct {
		name  string
		event string
		send  func(e *env, ip string, right bool) resp
	}{
		{"admin token", "admin.auth_failed", func(e *env, ip string, right bool) resp {
			req, _ := http.NewRequest("GET", e.http.URL+"/admin/v1/keys", nil)
			tok := "wrong-token-0123456789abcdef0123456789"
			if right {
				tok = adminToken
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("X-Forwarded-For", ip)
			return e.send(req)
		}},
		{"client secret", "client.auth_failed", func(e *env, ip string, right bool) resp {
			req, _ := http.NewRequest("POST", e.http.URL+"/v1/introspect", strings.NewReader(url.Values{"token": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			secret := "wrong-secret-0123456789abcdef0123456789"
			if right {
				secret = clientSecret
			}
			req.SetBasicAuth("api", secret)
			req.Header.Set("X-Forwarded-For", ip)
			return e.send(req)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config) {
				withClients(t)(c)
				p, err := httpauth.ParseTrusted("127.0.0.0/8,::1/128")
				if err != nil {
					t.Fatal(err)
				}
				c.Server.TrustedProxies = p
			})
			const attacker, owner = "198.51.100.7", "203.0.113.9"
			var codes [2]int // 401s, 429s
			retry := 0
			for i := range 300 {
				r := tc.send(e, attacker, false)
				switch r.status {
				case http.StatusUnauthorized:
					if codes[1] > 0 {
						t.Fatalf("attempt %d: 401 after a 429", i+1)
					}
					codes[0]++
				case http.StatusTooManyRequests:
					codes[1]++
					if retry, _ = strconv.Atoi(r.header.Get("Retry-After")); retry < 1 {
						t.Fatalf("429 without Retry-After: %v", r.header)
					}
				default:
					t.Fatalf("attempt %d: %d %s", i+1, r.status, r.raw)
				}
			}
			if codes[0] != 10 || codes[1] != 290 {
				t.Fatalf("300 wrong attempts: %d answered 401, %d 429; want 10 and 290", codes[0], codes[1])
			}
			logs := e.logs.String()
			if n := strings.Count(logs, `"event":"`+tc.event+`"`); n != 10 {
				t.Errorf("%d %s lines, want one per failure answered 401 (10)", n, tc.event)
			}
			if n := strings.Count(logs, `"event":"ratelimit.throttled"`); n != 1 {
				t.Errorf("%d ratelimit.throttled lines, want 1 for the whole block", n)
			}
			if !strings.Contains(logs, `"ip":"`+attacker+`"`) {
				t.Error("the audit lines do not name the address")
			}
			if r := tc.send(e, attacker, true); r.status != http.StatusTooManyRequests {
				t.Fatalf("right credentials from the blocked address: %d, want 429", r.status)
			}
			if r := tc.send(e, owner, true); r.status != http.StatusOK {
				t.Fatalf("right credentials from another address: %d %s", r.status, r.raw)
			}
			e.clock.Advance(time.Duration(retry) * time.Second)
			if r := tc.send(e, attacker, true); r.status != http.StatusOK {
				t.Fatalf("right credentials after Retry-After: %d %s", r.status, r.raw)
			}
		})
	}
}
