package httpauth_test

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/httpauth"
)

// TestCSRFCheckFormField: CSRF.Check reads the form field only when
// FormField is set and there is no header.
func TestCSRFCheckFormField(t *testing.T) {
	c := &httpauth.CSRF{Key: testCSRFKey}
	tok := c.Token("sess-A")
	tests := []struct {
		name  string
		field string
		form  url.Values
		want  error
	}{
		{"field set, token in it", "csrf_token", url.Values{"csrf_token": {tok}}, nil},
		{"field set, own name", "authenticity_token", url.Values{"authenticity_token": {tok}}, nil},
		{"field not set: header only", "", url.Values{"csrf_token": {tok}}, httpauth.ErrCSRFMissing},
		{"field set, missing", "csrf_token", url.Values{"x": {"1"}}, httpauth.ErrCSRFMissing},
		{"field set, wrong", "csrf_token", url.Values{"csrf_token": {c.Token("sess-B")}}, httpauth.ErrCSRFInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			err := (&httpauth.CSRF{Key: testCSRFKey, FormField: tc.field}).Check(r, "sess-A")
			if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, httpauth.ErrCSRF)) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}
