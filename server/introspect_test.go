package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/server"
)

const clientSecret = "resource-server-secret-0123456789abcdef"

func withClients(t *testing.T) func(*config) {
	return func(c *config) {
		cl, err := server.ParseClients("api:" + clientSecret)
		if err != nil {
			t.Fatal(err)
		}
		c.Server.Clients = cl
		c.Server.AdminToken = "admin-token-0123456789abcdef0123456789"
	}
}

func (e *env) form(path, user, pass string, values url.Values) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.http.URL+path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return e.send(req)
}

func TestIntrospect(t *testing.T) {
	e := newEnv(t, withClients(t))
	l := e.signupLogin("rita@example.com")
	at, rt := str(l, "access_token"), str(l, "refresh_token")
	introspect := func(tok string) resp {
		return e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {tok}})
	}
	r := introspect(at)
	if r.status != 200 || r.body["active"] != true || str(r, "sid") != str(l, "session_id") || str(r, "token_type") != "access_token" || str(r, "aud") != "api" {
		t.Fatalf("access token: %d %s", r.status, r.raw)
	}
	if r := introspect(rt); r.body["active"] != true || str(r, "token_type") != "refresh_token" {
		t.Fatalf("refresh token: %s", r.raw)
	}
	// Introspection never rotates: the refresh token still works after.
	n := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt})
	if n.status != 200 {
		t.Fatalf("refresh after introspection: %d", n.status)
	}
	for name, tok := range map[string]string{
		"rotated parent": rt, "garbage": "garbage", "tampered access token": at[:len(at)-3] + "AAA",
	} {
		if r := introspect(tok); r.status != 200 || r.body["active"] != false || len(r.body) != 1 {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	// Refused callers learn nothing.
	for name, r := range map[string]resp{
		"no credentials": e.form("/v1/introspect", "", "", url.Values{"token": {at}}),
		"wrong secret":   e.form("/v1/introspect", "api", clientSecret+"x", url.Values{"token": {at}}),
		"unknown client": e.form("/v1/introspect", "nobody", clientSecret, url.Values{"token": {at}}),
	} {
		if r.status != 401 || strings.Contains(r.raw, "active") || r.header.Get("WWW-Authenticate") != `Basic realm="sessiond"` {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	// Bad requests.
	if r := e.do("POST", "/v1/introspect", "", "application/json", `{"token":"x"}`); r.status != 401 && r.status != 415 {
		t.Errorf("JSON body: %d", r.status)
	}
	req, _ := http.NewRequest("POST", e.http.URL+"/v1/introspect?token="+url.QueryEscape(at), strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("api", clientSecret)
	if r := e.send(req); r.status != 400 {
		t.Errorf("token in the URL: %d", r.status)
	}
	if r := e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {at, at}}); r.status != 400 {
		t.Errorf("two tokens: %d", r.status)
	}
}

func TestRevokeEndpoint(t *testing.T) {
	e := newEnv(t, withClients(t))
	a := e.signupLogin("sam@example.com")
	b := e.login("sam@example.com")
	// Revoking the refresh token ends the session, access token included.
	if r := e.form("/v1/revoke", "api", clientSecret, url.Values{"token": {str(a, "refresh_token")}}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if g := e.do("GET", "/v1/session", str(a, "access_token"), "", ""); g.status != 401 {
		t.Fatalf("access token after its refresh token was revoked: %d", g.status)
	}
	// Revoking an access token ends its session too.
	if r := e.form("/v1/revoke", "api", clientSecret, url.Values{"token": {str(b, "access_token")}}); r.status != 200 {
		t.Fatalf("revoke access token: %d", r.status)
	}
	if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(b, "refresh_token")}); r.status != 401 {
		t.Fatalf("refresh after revocation: %d", r.status)
	}
	// RFC 7009 §2.2: an invalid token is answered 200.
	if r := e.form("/v1/revoke", "api", clientSecret, url.Values{"token": {"junk"}}); r.status != 200 {
		t.Fatalf("junk token: %d", r.status)
	}
	c := e.login("sam@example.com")
	if r := e.form("/v1/revoke", "api", "wrong-secret-0123456789abcdef0123456", url.Values{"token": {str(c, "refresh_token")}}); r.status != 401 {
		t.Fatalf("revoke with a wrong secret: %d", r.status)
	}
	if g := e.do("GET", "/v1/session", str(c, "access_token"), "", ""); g.status != 200 {
		t.Fatal("an unauthenticated revoke ended a session")
	}
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, withClients(t))
	const admin = "admin-token-0123456789abcdef0123456789"
	a := e.signupLogin("tom@example.com")
	e.login("tom@example.com")
	user := ""
	if s := e.do("GET", "/v1/session", str(a, "access_token"), "", ""); s.status == 200 {
		user = str(s, "user_id")
	}
	for name, tok := range map[string]string{"none": "", "wrong": admin + "x", "a user's access token": str(a, "access_token")} {
		if r := e.do("GET", "/admin/v1/users", tok, "", ""); r.status != 401 {
			t.Errorf("admin API with %s token: %d", name, r.status)
		}
	}
	if r := e.do("GET", "/admin/v1/users", admin, "", ""); r.status != 200 || !strings.Contains(r.raw, "tom@example.com") {
		t.Fatalf("users: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/admin/v1/users/"+user+"/sessions", admin, "", ""); r.status != 200 || len(r.body["sessions"].([]any)) != 2 {
		t.Fatalf("sessions: %d %s", r.status, r.raw)
	}
	if r := e.do("DELETE", "/admin/v1/sessions/"+str(a, "session_id"), admin, "", ""); r.status != 204 {
		t.Fatalf("revoke session: %d", r.status)
	}
	if g := e.do("GET", "/v1/session", str(a, "access_token"), "", ""); g.status != 401 {
		t.Fatal("admin revoke did not bite")
	}
	if r := e.do("DELETE", "/admin/v1/sessions/"+str(a, "session_id"), admin, "", ""); r.status != 404 {
		t.Fatalf("revoke a gone session: %d", r.status)
	}
	if r := e.do("DELETE", "/admin/v1/users/"+user+"/sessions", admin, "", ""); r.status != 200 || r.body["revoked"].(float64) != 1 {
		t.Fatalf("revoke user: %d %s", r.status, r.raw)
	}
	if r := e.do("POST", "/admin/v1/keys/rotate?now=maybe", admin, "", ""); r.status != 400 || r.body["error"] != "invalid_request" {
		t.Fatalf("rotate with a bad now: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/admin/v1/keys", admin, "", ""); r.status != 200 || len(r.body["keys"].([]any)) != 1 {
		t.Fatalf("a refused rotation changed the ring: %d %s", r.status, r.raw)
	}
	r := e.do("POST", "/admin/v1/keys/rotate", admin, "", "")
	if r.status != 200 || len(r.body["keys"].([]any)) != 2 {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	// Published ahead: the new key is listed first, pending, with when it signs.
	if k := r.body["keys"].([]any)[0].(map[string]any); k["active"] != false || k["activates_at"] == nil {
		t.Fatalf("the new key signs at once: %v", k)
	}
	// The old key still verifies tokens it signed; new ones use the new key.
	b := e.login("tom@example.com")
	if g := e.do("GET", "/v1/session", str(b, "access_token"), "", ""); g.status != 200 {
		t.Fatalf("token after rotation: %d", g.status)
	}
}

func TestAdminAPIOffWithoutToken(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("GET", "/admin/v1/users", "anything-at-all", "", ""); r.status != 404 {
		t.Fatalf("admin API without a configured token: %d", r.status)
	}
	if r := e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {"x"}}); r.status != 401 {
		t.Fatalf("introspect without clients: %d", r.status)
	}
	if _, err := server.ParseClients("api:short"); err == nil {
		t.Fatal("a short client secret was accepted")
	}
	if _, err := server.ParseClients("api:" + clientSecret + ",api:" + clientSecret); err == nil {
		t.Fatal("a duplicate client was accepted")
	}
}
