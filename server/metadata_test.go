package server_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAuthServerMetadata: the RFC 8414 metadata is published exactly when
// the issuer is an https URL without query or fragment; its issuer is the
// tokens' iss, verbatim, and its endpoints are the issuer followed by the
// routes' paths; otherwise the route answers 404 saying why.
func TestAuthServerMetadata(t *testing.T) {
	for _, tc := range []struct {
		name, issuer string
		base         string // the endpoints' base; "" when nothing is published
	}{
		{"an origin", "https://auth.example.com", "https://auth.example.com"},
		{"an origin with a port", "https://auth.example.com:8443", "https://auth.example.com:8443"},
		{"a terminating slash", "https://auth.example.com/", "https://auth.example.com"},
		{"a path (behind a proxy)", "https://example.com/auth", "https://example.com/auth"},
		{"the default issuer", "", ""},
		{"a name, not a URL", "sessiond", ""},
		{"http", "http://auth.example.com", ""},
		{"a query", "https://auth.example.com/?tenant=1", ""},
		{"an empty query", "https://auth.example.com/?", ""},
		{"a fragment", "https://auth.example.com/#x", ""},
		{"user info", "https://user@auth.example.com", ""},
		{"no host", "https:///auth", ""},
		{"relative", "/auth", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config) { c.Node.Issuer = tc.issuer })
			r := e.do("GET", "/.well-known/oauth-authorization-server", "", "", "")
			if tc.base == "" {
				if r.status != http.StatusNotFound || str(r, "error") != "not_found" ||
					!strings.Contains(str(r, "error_description"), "not an https URL") {
					t.Fatalf("issuer %q: %d %s; want 404 not_found saying the issuer is not an https URL", tc.issuer, r.status, r.raw)
				}
				return
			}
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" ||
				r.header.Get("Cache-Control") != "public, max-age=300" {
				t.Fatalf("issuer %q: %d %v %s", tc.issuer, r.status, r.header, r.raw)
			}
			var md map[string]any
			if err := json.Unmarshal([]byte(r.raw), &md); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"issuer":                   tc.issuer,
				"jwks_uri":                 tc.base + "/.well-known/jwks.json",
				"introspection_endpoint":   tc.base + "/v1/introspect",
				"revocation_endpoint":      tc.base + "/v1/revoke",
				"response_types_supported": []any{},
				"grant_types_supported":    []any{},
				"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
				"revocation_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post"},
			}
			got, _ := json.Marshal(md)
			wantJSON, _ := json.Marshal(want)
			if string(got) != string(wantJSON) {
				t.Fatalf("metadata\n got %s\nwant %s", got, wantJSON)
			}

			// The issuer is the iss of the server's access tokens.
			l := e.signupLogin("meta@example.com")
			if iss := jwtIssuer(t, str(l, "access_token")); iss != md["issuer"] {
				t.Errorf("access tokens carry iss %q, the metadata issuer %q", iss, md["issuer"])
			}
			// Every endpoint is a route of this server, at the path after the base.
			for name, method := range map[string]string{"jwks_uri": "GET", "introspection_endpoint": "POST", "revocation_endpoint": "POST"} {
				u, err := url.Parse(md[name].(string))
				if err != nil {
					t.Fatal(err)
				}
				path := strings.TrimPrefix(u.Path, strings.TrimSuffix(mustURL(t, tc.base).Path, "/"))
				if res := e.do(method, path, "", "application/x-www-form-urlencoded", "token=x"); res.status == http.StatusNotFound ||
					res.status == http.StatusMethodNotAllowed {
					t.Errorf("%s %s: %s %s answers %d", name, md[name], method, path, res.status)
				}
			}
		})
	}
}

// TestAuthServerMetadataAuthMethods: every client authentication method
// the metadata lists for introspection and revocation is accepted by that
// endpoint, and the same request without credentials is refused.
func TestAuthServerMetadataAuthMethods(t *testing.T) {
	e := newEnv(t, withClients(t))
	var md map[string]any
	if err := json.Unmarshal([]byte(e.do("GET", "/.well-known/oauth-authorization-server", "", "", "").raw), &md); err != nil {
		t.Fatal(err)
	}
	send := map[string]func(req *http.Request, form url.Values){
		"client_secret_basic": func(req *http.Request, _ url.Values) { req.SetBasicAuth("api", clientSecret) },
		"client_secret_post": func(_ *http.Request, form url.Values) {
			form.Set("client_id", "api")
			form.Set("client_secret", clientSecret)
		},
		"none": func(*http.Request, url.Values) {},
	}
	for _, ep := range []string{"introspection", "revocation"} {
		methods, _ := md[ep+"_endpoint_auth_methods_supported"].([]any)
		if len(methods) == 0 {
			t.Fatalf("%s: no auth methods in %v", ep, md)
		}
		u := mustURL(t, md[ep+"_endpoint"].(string))
		for _, m := range append(methods, "none") {
			how, ok := send[m.(string)]
			if !ok {
				t.Fatalf("%s lists %q, which this test cannot send", ep, m)
			}
			form := url.Values{"token": {"sdrt_unknown"}}
			req, _ := http.NewRequest("POST", e.http.URL+u.Path, nil)
			how(req, form)
			req.Body = io.NopCloser(strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			want := http.StatusOK
			if m == "none" {
				want = http.StatusUnauthorized
			}
			if r := e.send(req); r.status != want {
				t.Errorf("%s with %s: %d %s, want %d", ep, m, r.status, r.raw, want)
			}
		}
	}
}

// TestAuthServerMetadataIsOnlyGET: the metadata is read-only.
func TestAuthServerMetadataIsOnlyGET(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("POST", "/.well-known/oauth-authorization-server", "", "", ""); r.status != http.StatusMethodNotAllowed ||
		r.header.Get("Allow") == "" {
		t.Fatalf("POST: %d %v %s", r.status, r.header, r.raw)
	}
}

// jwtIssuer reads the iss of a compact JWS without verifying it.
func jwtIssuer(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Iss
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
