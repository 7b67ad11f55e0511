package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/server"
)

// Service clients of the tests: one for each permission set that matters.
const (
	backendSecret  = "backend-secret-0123456789abcdef-0123"
	readerSecret   = "reader-secret-0123456789abcdef-01234"
	weirdSecret    = "w%2Bird+secret/0123456789abcdef-01234" // a secret with form-encoding characters
	clientsFileFmt = `[
  {"id": "backend", "secret": %q, "permissions": ["sessions", "claims", "introspect", "revoke"]},
  {"id": "reader", "secret": %q, "permissions": ["introspect"]},
  {"id": "weird", "secret": %q, "permissions": ["sessions"]}
]`
)

func withServiceClients(t *testing.T) func(*config) {
	return func(c *config) {
		path := filepath.Join(t.TempDir(), "clients.json")
		// %q of these ASCII secrets is also their JSON spelling.
		text := fmt.Sprintf(clientsFileFmt, backendSecret, readerSecret, weirdSecret)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cl, others, err := server.LoadClients(path)
		if err != nil || others {
			t.Fatalf("LoadClients: %v (others can read: %v)", err, others)
		}
		c.Server.Clients = cl
		c.Server.AdminToken = "admin-token-0123456789abcdef0123456789"
		c.Node.Claims = []string{"role", "tenant", "scope"}
	}
}

// asClient sends a JSON request with HTTP Basic client credentials.
func (e *env) asClient(method, path, id, secret string, body any) resp {
	e.t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, e.http.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	return e.send(req)
}

var user42 = map[string]any{
	"user_id": "user-42", "claims": map[string]any{"role": "admin", "tenant": "acme"},
	"auth_method": "sso", "amr": []string{"pwd", "mfa"}, "ip": "198.51.100.7", "user_agent": "Firefox/140",
}

func TestMintedSessionLivesLikeALogin(t *testing.T) {
	e := newEnv(t, withServiceClients(t))
	m := e.asClient("POST", "/v1/sessions", "backend", backendSecret, user42)
	if m.status != http.StatusCreated || str(m, "token_type") != "Bearer" || str(m, "session_id") == "" ||
		str(m, "access_token") == "" || !strings.HasPrefix(str(m, "refresh_token"), "sdrt_") || m.body["expires_in"] == nil {
		t.Fatalf("mint: %d %s", m.status, m.raw)
	}
	if m.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("mint answer Cache-Control = %q", m.header.Get("Cache-Control"))
	}
	at, rt, sid := str(m, "access_token"), str(m, "refresh_token"), str(m, "session_id")

	// The access token carries the RFC 9068 profile and the claims.
	c := accessClaims(t, at)
	if c["sub"] != "user-42" || c["client_id"] != "backend" || c["role"] != "admin" || c["tenant"] != "acme" || c["auth_time"] == nil || c["sid"] != sid {
		t.Fatalf("access token claims: %v", c)
	}
	// The access token works on the user's own API.
	if r := e.do("GET", "/v1/session", at, "", ""); r.status != 200 || str(r, "user_id") != "user-42" {
		t.Fatalf("GET /v1/session with a minted token: %d %s", r.status, r.raw)
	}
	// Introspection says who minted it and carries the claims.
	in := e.form("/v1/introspect", "backend", backendSecret, url.Values{"token": {rt}})
	if in.body["active"] != true || str(in, "client_id") != "backend" || str(in, "role") != "admin" || str(in, "tenant") != "acme" || in.body["auth_time"] == nil {
		t.Fatalf("introspection of the minted refresh token: %s", in.raw)
	}
	if amr, _ := in.body["amr"].([]any); len(amr) != 2 || amr[0] != "pwd" || amr[1] != "mfa" {
		t.Fatalf("introspected amr = %v", in.body["amr"])
	}
	// The session is in the user's devices list, as the backend sees it
	// and as the user does.
	l := e.asClient("GET", "/v1/users/user-42/sessions", "backend", backendSecret, nil)
	list, _ := l.body["sessions"].([]any)
	if l.status != 200 || len(list) != 1 {
		t.Fatalf("backend listing: %d %s", l.status, l.raw)
	}
	if s := list[0].(map[string]any); s["id"] != sid || s["client_id"] != "backend" || s["ip"] != "198.51.100.7" || s["user_agent"] != "Firefox/140" || s["auth_method"] != "sso" {
		t.Fatalf("listed session: %v", s)
	}
	if r := e.do("GET", "/v1/sessions", at, "", ""); r.status != 200 || len(r.body["sessions"].([]any)) != 1 {
		t.Fatalf("user's own listing: %d %s", r.status, r.raw)
	}

	// Refresh keeps the claims.
	e.clock.Advance(time.Minute)
	n := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt})
	if n.status != 200 {
		t.Fatalf("refresh of a minted session: %d %s", n.status, n.raw)
	}
	in = e.form("/v1/introspect", "backend", backendSecret, url.Values{"token": {str(n, "refresh_token")}})
	if str(in, "role") != "admin" || str(in, "client_id") != "backend" {
		t.Fatalf("claims after refresh: %s", in.raw)
	}
	if c := accessClaims(t, str(n, "access_token")); c["role"] != "admin" || c["client_id"] != "backend" || c["auth_time"] != accessClaims(t, at)["auth_time"] {
		t.Fatalf("access token after refresh: %v", c)
	}
	in = e.form("/v1/introspect", "backend", backendSecret, url.Values{"token": {str(n, "access_token")}})
	if in.body["active"] != true || str(in, "role") != "admin" || str(in, "tenant") != "acme" || str(in, "client_id") != "backend" {
		t.Fatalf("introspection of the access token: %s", in.raw)
	}

	// Logout ends it.
	if r := e.post("/v1/logout", str(n, "access_token"), nil); r.status != 204 && r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(n, "refresh_token")}); r.status != 401 {
		t.Fatalf("refresh after logout: %d %s", r.status, r.raw)
	}
	if !strings.Contains(e.logs.String(), `"event":"session.minted"`) {
		t.Fatal("no session.minted audit line")
	}
}

// TestMintRefusals: every refusal is an OAuth-style error and creates
// nothing.
func TestMintRefusals(t *testing.T) {
	e := newEnv(t, withServiceClients(t))
	tooBig := map[string]any{"role": strings.Repeat("x", 2000)}
	cases := []struct {
		name         string
		id, secret   string
		body         any
		status       int
		code         string
		contentType  string
		bodyOverride string
	}{
		{"no credentials", "", "", user42, 401, "invalid_client", "", ""},
		{"wrong secret", "backend", readerSecret, user42, 401, "invalid_client", "", ""},
		{"unknown client", "nobody", backendSecret, user42, 401, "invalid_client", "", ""},
		{"client without the sessions permission", "reader", readerSecret, user42, 403, "unauthorized_client", "", ""},
		{"claim not configured", "backend", backendSecret, map[string]any{"user_id": "user-42", "claims": map[string]any{"plan": "gold"}}, 400, "invalid_request", "", ""},
		{"reserved claim name", "backend", backendSecret, map[string]any{"user_id": "user-42", "claims": map[string]any{"sub": "someone-else"}}, 400, "invalid_request", "", ""},
		{"claims over the limit", "backend", backendSecret, map[string]any{"user_id": "user-42", "claims": tooBig}, 400, "invalid_request", "", ""},
		{"no user", "backend", backendSecret, map[string]any{"claims": map[string]any{"role": "admin"}}, 400, "invalid_request", "", ""},
		{"user id with NUL", "backend", backendSecret, map[string]any{"user_id": "a\x00b"}, 400, "invalid_request", "", ""},
		{"bad amr", "backend", backendSecret, map[string]any{"user_id": "user-42", "amr": []string{"has space"}}, 400, "invalid_request", "", ""},
		{"amr of the wrong type", "backend", backendSecret, nil, 400, "invalid_request", "application/json", `{"user_id":"user-42","amr":"pwd"}`},
		{"unknown member", "backend", backendSecret, nil, 400, "invalid_request", "application/json", `{"user_id":"user-42","admin":true}`},
		{"not JSON", "backend", backendSecret, nil, 415, "unsupported_media_type", "text/plain", `user_id=user-42`},
		{"both Basic and body credentials", "backend", backendSecret, map[string]any{"user_id": "user-42", "client_id": "backend", "client_secret": backendSecret}, 400, "invalid_request", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if tc.bodyOverride != "" {
				req, _ := http.NewRequest("POST", e.http.URL+"/v1/sessions", strings.NewReader(tc.bodyOverride))
				req.Header.Set("Content-Type", tc.contentType)
				req.SetBasicAuth(tc.id, tc.secret)
				r = e.send(req)
			} else {
				r = e.asClient("POST", "/v1/sessions", tc.id, tc.secret, tc.body)
			}
			if r.status != tc.status || str(r, "error") != tc.code || str(r, "error_description") == "" {
				t.Fatalf("%d %s; want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("401 without a Basic challenge: %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// Nothing was created by any of them.
	l := e.asClient("GET", "/v1/users/user-42/sessions", "backend", backendSecret, nil)
	if list, _ := l.body["sessions"].([]any); l.status != 200 || len(list) != 0 {
		t.Fatalf("sessions after refused mints: %d %s", l.status, l.raw)
	}
}

// TestClientCredentialSpellings: RFC 6749 §2.3.1 Basic with form-encoded
// id and secret, Basic with them raw, and client_secret_post all work.
func TestClientCredentialSpellings(t *testing.T) {
	e := newEnv(t, withServiceClients(t))
	body := map[string]any{"user_id": "user-7"}
	if r := e.asClient("POST", "/v1/sessions", "weird", weirdSecret, body); r.status != 201 {
		t.Fatalf("Basic with the raw secret: %d %s", r.status, r.raw)
	}
	if r := e.asClient("POST", "/v1/sessions", "weird", url.QueryEscape(weirdSecret), body); r.status != 201 {
		t.Fatalf("Basic with the form-encoded secret: %d %s", r.status, r.raw)
	}
	post := map[string]any{"user_id": "user-7", "client_id": "weird", "client_secret": weirdSecret}
	if r := e.asClient("POST", "/v1/sessions", "", "", post); r.status != 201 {
		t.Fatalf("client_secret_post: %d %s", r.status, r.raw)
	}
	post["client_secret"] = backendSecret
	if r := e.asClient("POST", "/v1/sessions", "", "", post); r.status != 401 {
		t.Fatalf("client_secret_post with a wrong secret: %d %s", r.status, r.raw)
	}
	// client_secret_post on introspection too.
	m := e.asClient("POST", "/v1/sessions", "backend", backendSecret, body)
	in := e.form("/v1/introspect", "", "", url.Values{"token": {str(m, "access_token")}, "client_id": {"reader"}, "client_secret": {readerSecret}})
	if in.status != 200 || in.body["active"] != true {
		t.Fatalf("introspection with client_secret_post: %d %s", in.status, in.raw)
	}
	// The old introspection client may not mint; a minting client without
	// revoke may not revoke.
	if r := e.form("/v1/revoke", "weird", weirdSecret, url.Values{"token": {str(m, "access_token")}}); r.status != 403 {
		t.Fatalf("revoke without the permission: %d %s", r.status, r.raw)
	}
}

// TestChangingClaims: a changed role reaches each of the user's sessions
// at its next refresh; with revoke_sessions the sessions end at once.
func TestChangingClaims(t *testing.T) {
	e := newEnv(t, withServiceClients(t))
	var rts []string
	var ats []string
	for range 3 {
		m := e.asClient("POST", "/v1/sessions", "backend", backendSecret, user42)
		rts, ats = append(rts, str(m, "refresh_token")), append(ats, str(m, "access_token"))
	}
	other := e.asClient("POST", "/v1/sessions", "backend", backendSecret, map[string]any{"user_id": "user-43", "claims": map[string]any{"role": "admin"}})

	set := map[string]any{"claims": map[string]any{"role": "viewer", "tenant": "acme"}}
	if r := e.asClient("PUT", "/v1/users/user-42/claims", "weird", weirdSecret, set); r.status != 403 {
		t.Fatalf("a client without the claims permission: %d %s", r.status, r.raw)
	}
	if r := e.asClient("PUT", "/v1/users/user-42/claims", "backend", backendSecret, map[string]any{"claims": map[string]any{"plan": "x"}}); r.status != 400 {
		t.Fatalf("an unconfigured claim: %d %s", r.status, r.raw)
	}
	r := e.asClient("PUT", "/v1/users/user-42/claims", "backend", backendSecret, set)
	if r.status != 200 || r.body["updated"] != float64(3) {
		t.Fatalf("set claims: %d %s", r.status, r.raw)
	}
	for i, rt := range rts {
		n := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt})
		if n.status != 200 {
			t.Fatalf("refresh %d: %d", i, n.status)
		}
		rts[i] = str(n, "refresh_token")
		in := e.form("/v1/introspect", "backend", backendSecret, url.Values{"token": {rts[i]}})
		if str(in, "role") != "viewer" {
			t.Fatalf("session %d after the change: %s", i, in.raw)
		}
		if c := accessClaims(t, str(n, "access_token")); c["role"] != "viewer" {
			t.Fatalf("session %d: access token after the change carries role %v", i, c["role"])
		}
	}
	// Another user's sessions are untouched.
	in := e.form("/v1/introspect", "backend", backendSecret, url.Values{"token": {str(other, "refresh_token")}})
	if str(in, "role") != "admin" {
		t.Fatalf("user-43 after user-42's change: %s", in.raw)
	}

	// With revoke_sessions the access tokens are refused at once.
	set["revoke_sessions"] = true
	if r := e.asClient("PUT", "/v1/users/user-42/claims", "backend", backendSecret, set); r.status != 200 || r.body["revoked"] != float64(3) {
		t.Fatalf("set claims with revoke: %d %s", r.status, r.raw)
	}
	for i, at := range ats {
		if r := e.do("GET", "/v1/session", at, "", ""); r.status != 401 {
			t.Fatalf("access token %d after revoke_sessions: %d", i, r.status)
		}
	}
	// The admin API does the same.
	r = e.do("PUT", "/admin/v1/users/user-43/claims", "admin-token-0123456789abcdef0123456789", "application/json", `{"claims":{"role":"viewer"}}`)
	if r.status != 200 || r.body["updated"] != float64(1) {
		t.Fatalf("admin set claims: %d %s", r.status, r.raw)
	}
}

// TestBackendEndsAUsersSessions: "log out everywhere" from the backend.
func TestBackendEndsAUsersSessions(t *testing.T) {
	e := newEnv(t, withServiceClients(t))
	var ats []string
	for range 2 {
		ats = append(ats, str(e.asClient("POST", "/v1/sessions", "backend", backendSecret, user42), "access_token"))
	}
	if r := e.asClient("DELETE", "/v1/users/user-42/sessions", "reader", readerSecret, nil); r.status != 403 {
		t.Fatalf("a client without the sessions permission: %d %s", r.status, r.raw)
	}
	if r := e.asClient("DELETE", "/v1/users/user-42/sessions", "", "", nil); r.status != 401 {
		t.Fatalf("no credentials: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1/session", ats[0], "", ""); r.status != 200 {
		t.Fatalf("a refused DELETE changed something: %d", r.status)
	}
	r := e.asClient("DELETE", "/v1/users/user-42/sessions", "backend", backendSecret, nil)
	if r.status != 200 || r.body["revoked"] != float64(2) {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	for _, at := range ats {
		if r := e.do("GET", "/v1/session", at, "", ""); r.status != 401 {
			t.Fatalf("access token after DELETE: %d", r.status)
		}
	}
}

// accessClaims decodes the payload of an access token (its signature is
// the verifier's business; here only what it says matters).
func accessClaims(t *testing.T, at string) map[string]any {
	t.Helper()
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", at)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUserRoutesRefuseIDsNoStoreKeeps: a user id no store can keep (NUL,
// not UTF-8, over 256 bytes) is 400 on every route that names a user, for
// service clients and the operator, before any store is read (PostgreSQL
// would refuse the NUL and the listing would be a 503), and nothing of a
// real user changes.
func TestUserRoutesRefuseIDsNoStoreKeeps(t *testing.T) {
	e := newEnv(t, withServiceClients(t))
	m := e.asClient("POST", "/v1/sessions", "backend", backendSecret, user42)
	const admin = "admin-token-0123456789abcdef0123456789"
	for _, id := range []string{"user-42%00", "%ff", strings.Repeat("u", 257)} {
		for _, tc := range []struct{ method, path, as string }{
			{"GET", "/v1/users/" + id + "/sessions", "client"},
			{"DELETE", "/v1/users/" + id + "/sessions", "client"},
			{"GET", "/admin/v1/users/" + id + "/sessions", "admin"},
			{"DELETE", "/admin/v1/users/" + id + "/sessions", "admin"},
		} {
			var r resp
			if tc.as == "client" {
				r = e.asClient(tc.method, tc.path, "backend", backendSecret, nil)
			} else {
				r = e.do(tc.method, tc.path, admin, "", "")
			}
			if r.status != 400 || str(r, "error") != "invalid_request" || !strings.Contains(str(r, "error_description"), "user id") {
				t.Errorf("%s %s: %d %s, want 400 invalid_request naming the user id", tc.method, tc.path[:min(len(tc.path), 40)], r.status, r.raw)
			}
		}
	}
	if r := e.do("GET", "/v1/session", str(m, "access_token"), "", ""); r.status != 200 {
		t.Fatalf("user-42's session after the refused calls: %d", r.status)
	}
}
