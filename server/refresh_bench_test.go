package server_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// BenchmarkRefresh is the CPU of one refresh in sessiond itself: POST
// /v1/refresh through the whole handler (routing, security headers,
// metrics, strict JSON decoding, Manager.Refresh, the audit line, the
// JSON answer) on the memory store, whose Rotate is a map update, beside
// Manager.Refresh alone. The log is a JSON handler on /dev/null through
// an audit.AsyncWriter, as `sessiond serve` writes its stderr, so an audit
// line costs its encoding and a share of a write(2); "handler-sync-log"
// writes each line on the request's goroutine instead. Besides ns/op (wall time, which a busy machine inflates), each
// reports cpu-µs/op: the process's CPU time (every thread, the GC's
// included) per refresh. "sign" is the one access token signature a
// refresh cannot do without (ES256, sessiond's default, with the same
// claims), the floor of the CPU the others add to. Profile it with
//
//	go test ./server -run '^$' -bench 'Refresh/handler' -cpuprofile cpu.out
//	go tool pprof -top -nodecount 40 server.test cpu.out
func BenchmarkRefresh(b *testing.B) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })
	// The log as `sessiond serve` writes it: JSON through an AsyncWriter.
	logOut := audit.NewAsyncWriter(devnull, 0)
	b.Cleanup(func() { logOut.Close() })
	e := newEnv(b, func(c *config) {
		c.Node.Now = time.Now
		c.Node.Logger = slog.New(slog.NewJSONHandler(logOut, nil))
	})
	m := e.srv.Node().Manager()
	refresh := func(b *testing.B, e *env) {
		tk, err := e.srv.Node().Manager().Login(context.Background(), "ann", session.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		h := e.srv.Handler()
		rt := tk.RefreshToken
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			req := httptest.NewRequest("POST", "/v1/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.RemoteAddr = "192.0.2.7:41000"
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			rt = refreshTokenOf(b, rec.Body.String())
		}
	}
	b.Run("handler", func(b *testing.B) { refresh(b, e) })
	b.Run("handler-sync-log", func(b *testing.B) {
		// The same with each log line written on the request's goroutine
		// (straight to the file, as before the AsyncWriter).
		refresh(b, newEnv(b, func(c *config) {
			c.Node.Now = time.Now
			c.Node.Logger = slog.New(slog.NewJSONHandler(devnull, nil))
		}))
	})
	b.Run("manager", func(b *testing.B) {
		tk, err := m.Login(context.Background(), "bob", session.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		rt := tk.RefreshToken
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			next, err := m.Refresh(context.Background(), rt, session.Meta{IP: "192.0.2.7"})
			if err != nil {
				b.Fatal(err)
			}
			rt = next.RefreshToken
		}
	})

	b.Run("sign", func(b *testing.B) {
		keys := e.srv.Node().Keys()
		now := time.Now()
		c := token.Claims{
			Issuer: "https://sessiond.test", Subject: "oJT6_qFmjmkfiPTMAryFJw", Audience: []string{"api"},
			ExpiresAt: now.Add(10 * time.Minute), IssuedAt: now, ID: "AOY6bZMmIhPbMDgVqUO0sw",
			SessionID: "xo44vPjdnwJmDDsM5m4UjQ", ClientID: "sessiond", AuthTime: now, AMR: []string{"pwd"},
		}
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if _, err := keys.Sign(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuPerOp starts counting the process's CPU time; the function it
// returns reports it per iteration as cpu-µs/op.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime(b)
	return func() { b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op") }
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// refreshTokenOf cuts the refresh token out of a token answer, without
// the cost of decoding it (which is the client's, not the server's).
func refreshTokenOf(b testing.TB, body string) string {
	_, rest, ok := strings.Cut(body, `"refresh_token":"`)
	tok, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		b.Fatalf("no refresh_token in %s", body)
	}
	return tok
}
