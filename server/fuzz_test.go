package server_test

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBody sends arbitrary bodies and content types to the endpoints
// that decode JSON. Whatever arrives, the answer is a client error or a
// login refusal, in JSON, never a server error and never a token.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []struct{ ctype, body string }{
		{"application/json", `{"email":"a@b.c","password":"long enough pw"}`},
		{"application/json; charset=utf-8", `{"refresh_token":"x"}`},
		{"application/json", "\ufeff{}"},
		{"application/json", `{"email":` + strings.Repeat("[", 200) + `}`},
		{"application/json", `{"email":1e999999,"password":null}`},
		{"application/json", "{\"email\":\"\xff\"}"},
		{"text/plain", `{}`},
		{"application/json; charset=utf-16", `{}`},
		{"application/json", `{"email":"a@b.c","email":"d@e.f"}`},
	} {
		for _, path := range []string{"/v1/login", "/v1/signup", "/v1/refresh"} {
			f.Add(path, seed.ctype, seed.body)
		}
	}
	f.Fuzz(func(t *testing.T, path, ctype, body string) {
		switch path {
		case "/v1/login", "/v1/signup", "/v1/refresh":
		default:
			return
		}
		h := newEnv(t, nil).srv.Handler() // a fresh server: no throttle carried over
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201:
			// Only a well-formed body can get here; it is a real success.
		case 400, 401, 409, 413, 415:
		default:
			t.Fatalf("%s %q %q: status %d %s", path, ctype, body, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: answer headers %v", path, rec.Header())
		}
	})
}
