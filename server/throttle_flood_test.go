package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/server"
)

// BenchmarkLoginUnderFlood measures what a legitimate login costs while
// 40 attackers from 20 addresses hammer POST /v1/login with wrong
// passwords as fast as the server answers (429s included), with the real
// argon2id parameters (account.DefaultParams) and the default throttle,
// beside the bare argon2id time on the same machine. Run it with
//
//	go test ./server/ -run '^$' -bench LoginUnderFlood -benchtime 60x -timeout 30m
//
// Each b.N is one legitimate login, sequential, from one of ten addresses
// of its own (203.0.113.1-10, behind the trusted proxy 127.0.0.1):
//
//   - quiet: nobody else; the floor.
//   - spray: the attackers try a new unknown account each time, so only
//     the per-address limit (20 a minute, 10 at once) slows them, and
//     their hashing outruns the machine; the legitimate user has the
//     device cookie of its last login.
//   - spray-bearer: the same, the legitimate user without a device cookie
//     (an API client): it shares the hashing fairly with the 20 attacking
//     addresses.
//   - victim: the attackers guess the legitimate user's own password; the
//     back-offs soon refuse their attempts before any hashing, and the
//     user logs in with its device cookie.
//
// It reports the legitimate login's p50, p99 and max (ms), the bare
// argon2id time (ms, the median of nine checks run alone just before the
// scenario), and what the attackers got: hashed attempts (401) and
// refused ones (429) per second. The attackers run in the same process, on
// the same cores, so the cost of their own requests and of the 429s is in
// the legitimate login's time too. It asserts nothing about time.
func BenchmarkLoginUnderFlood(b *testing.B) {
	for _, sc := range []struct {
		name      string
		attackers int
		victim    bool
		device    bool
	}{
		{"quiet", 0, false, true},
		{"spray", 40, false, true},
		{"spray-bearer", 40, false, false},
		{"victim", 40, true, true},
	} {
		b.Run(sc.name, func(b *testing.B) {
			e := newEnv(b, func(c *config) {
				c.Node.PasswordParams = account.DefaultParams
				c.Node.Now = time.Now // the limits refill in real time
				c.Server.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			const victim = "legit@example.com"
			if r := e.post("/v1/signup", "", map[string]string{"email": victim, "password": rightPassword}); r.status != http.StatusCreated {
				b.Fatalf("signup: %d %s", r.status, r.raw)
			}
			post := func(ip, email, password string, cookieMode bool, device string) (int, string) {
				body, _ := json.Marshal(map[string]string{"email": email, "password": password})
				req, _ := http.NewRequest("POST", e.http.URL+"/v1/login", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", ip)
				if cookieMode {
					req.Header.Set(server.SessionModeHeader, "cookie")
				}
				if device != "" {
					req.AddCookie(&http.Cookie{Name: httpauth.DeviceCookie, Value: device})
				}
				res, err := client.Do(req)
				if err != nil {
					return 0, ""
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				for _, c := range res.Cookies() {
					if c.Name == httpauth.DeviceCookie {
						return res.StatusCode, c.Value
					}
				}
				return res.StatusCode, device
			}
			bare := bareArgon2(b) // now, on the machine as it is for this scenario
			device := ""
			if sc.device {
				st, dev := post("203.0.113.1", victim, rightPassword, true, "")
				if st != http.StatusOK || dev == "" {
					b.Fatalf("first login: %d, device cookie %q", st, dev)
				}
				device = dev
			}

			var (
				stop             = make(chan struct{})
				wg               sync.WaitGroup
				hashed, refused  atomic.Int64
				n                atomic.Int64
				floodStart       = time.Now()
				attackerStatuses sync.Map
			)
			for i := range sc.attackers {
				wg.Go(func() {
					ip := fmt.Sprintf("198.18.0.%d", i%20+1)
					for {
						select {
						case <-stop:
							return
						default:
						}
						email := victim
						if !sc.victim {
							email = fmt.Sprintf("nobody%d@example.com", n.Add(1))
						}
						st, _ := post(ip, email, "wrong wrong wrong", false, "")
						switch st {
						case http.StatusUnauthorized:
							hashed.Add(1)
						case http.StatusTooManyRequests:
							refused.Add(1)
						default:
							attackerStatuses.Store(st, true)
						}
					}
				})
			}
			if sc.attackers > 0 {
				time.Sleep(5 * time.Second) // the flood is under way: its first bursts were served
			}
			lat := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				ip := fmt.Sprintf("203.0.113.%d", i%10+1)
				start := time.Now()
				st, dev := post(ip, victim, rightPassword, sc.device, device)
				lat = append(lat, time.Since(start))
				if st != http.StatusOK {
					b.Fatalf("legitimate login %d: %d", i, st)
				}
				device = dev
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			secs := time.Since(floodStart).Seconds()
			attackerStatuses.Range(func(k, _ any) bool { b.Errorf("an attacker got %v", k); return true })
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
			b.ReportMetric(float64(bare)/float64(time.Millisecond), "argon2-ms")
			b.ReportMetric(float64(hashed.Load())/secs, "attack-401/s")
			b.ReportMetric(float64(refused.Load())/secs, "attack-429/s")
		})
	}
}

// bareArgon2 is the median time of one argon2id check under DefaultParams
// on this machine, nothing else running in the test.
func bareArgon2(b *testing.B) time.Duration {
	b.Helper()
	phc, err := account.HashPassword(rightPassword, account.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for range 9 {
		start := time.Now()
		if ok, err := account.CheckPassword(phc, rightPassword); err != nil || !ok {
			b.Fatal(ok, err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}
