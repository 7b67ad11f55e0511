package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// BenchmarkMiddleware compares a bare net/http handler (the floor) with the
// same handler behind Require, for a token already verified once (the
// common case: a client sends one token many times within its lifetime).
func BenchmarkMiddleware(b *testing.B) {
	c := &clock{t: time.Now()}
	t := &testing.T{}
	m := manager(t, c)
	tk, _ := m.Login(context.Background(), "u1", session.Meta{})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"require", httpauth.New(m).Require(bare)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, req)
				if w.Code != 204 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
