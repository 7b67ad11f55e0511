package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestJSONErrorsSpeakJSON: a malformed body is answered 400 with what is
// wrong in the client's terms (the member as a JSON Pointer, the JSON kind
// expected) and never with Go's type names or a decoder package's prefix.
func TestJSONErrorsSpeakJSON(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ body, want string }{
		{`{"email":1,"password":"x"}`, `/email: want a string, got a number`},
		{`{"email":"a","nope":1}`, `unknown member "/nope"`},
		{`{"Email":"a"}`, `unknown member "/Email"`},
		{`{"email":"a","email":"b"}`, `duplicate member "/email"`},
		{`[1]`, `want an object, got an array`},
		{`{"email":"a"} x`, `invalid JSON at byte 14`},
		{`{`, `invalid JSON at byte 1`},
	} {
		for _, path := range []string{"/v1/login", "/v1/signup", "/v1/refresh"} {
			r := e.do("POST", path, "", "application/json", tc.body)
			desc, _ := r.body["error_description"].(string)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%s %s: %d %s", path, tc.body, r.status, r.raw)
			}
			if path == "/v1/login" && !strings.Contains(desc, tc.want) {
				t.Errorf("%s %s: %q lacks %q", path, tc.body, desc, tc.want)
			}
			for _, leak := range []string{"Go ", "server.", "credentials", "jsontext", "json:"} {
				if strings.Contains(desc, leak) {
					t.Errorf("%s %s: %q names %q", path, tc.body, desc, leak)
				}
			}
		}
	}
}
