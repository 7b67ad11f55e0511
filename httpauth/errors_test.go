package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond/httpauth"
)

func TestWriteErrorChallenge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		preset string
		status int
		code   string
		want   string
	}{
		{"bearer by default", "", http.StatusUnauthorized, httpauth.CodeUnauthorized, `Bearer realm="sessiond"`},
		{"invalid_token names the error", "", http.StatusUnauthorized, httpauth.CodeInvalidToken,
			`Bearer realm="sessiond", error="invalid_token", error_description="bad"`},
		{"a caller's Basic challenge is kept", `Basic realm="sessiond"`, http.StatusUnauthorized, "invalid_client", `Basic realm="sessiond"`},
		{"no challenge on 403", "", http.StatusForbidden, httpauth.CodeForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if tc.preset != "" {
				rec.Header().Set("WWW-Authenticate", tc.preset)
			}
			httpauth.WriteError(rec, tc.status, tc.code, "bad")
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
			}
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
		})
	}
}
