package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// BenchmarkForwardAuth is the cost of one forward-auth call through the
// whole handler (routing, security headers, metrics), with the access
// cookie and two claims, beside GET /v1/session (which reads the store)
// and Manager.Verify of the same token alone: the verify cache answers
// forward-auth and Verify after the first call.
func BenchmarkForwardAuth(b *testing.B) {
	e := newFwdEnv(b)
	tk := e.start("ann", map[string]string{"role": `"admin"`, "tenant_id": `42`})
	h := e.srv.Handler()
	b.Run("handler", func(b *testing.B) {
		req := httptest.NewRequest("GET", "/v1/forward-auth", nil)
		req.AddCookie(&http.Cookie{Name: httpauth.AccessCookie, Value: tk.AccessToken})
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	b.Run("GET /v1/session", func(b *testing.B) {
		// For scale: an API call of the same session, which reads the
		// (memory) store. The per-session limit is lifted for it.
		e := newEnv(b, func(c *config) { c.Server.SessionLimit, c.Node.Now = unlimited, time.Now })
		tk, err := e.srv.Node().Manager().Login(context.Background(), "ann", session.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		h := e.srv.Handler()
		req := httptest.NewRequest("GET", "/v1/session", nil)
		req.AddCookie(&http.Cookie{Name: httpauth.AccessCookie, Value: tk.AccessToken})
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		m := e.srv.Node().Manager()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Verify(context.Background(), tk.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}
