package server_test

import (
	"net/url"
	"testing"
	"time"
)

// TestIntrospectRevokedSession: a resource server asks about the tokens of a
// session that was ended, in each way a session can end, while the access
// token is still within its exp and its signature still good. RFC 7662
// says such a token is not active: introspection must consult the revoked
// set (and the store, for the refresh token), not just the signature. The
// answer of an inactive token is exactly {"active":false}.
func TestIntrospectRevokedSession(t *testing.T) {
	tests := []struct {
		name string
		// end ends victim's session; other is another session of the same user.
		end func(e *env, victim, other resp)
	}{
		{"logout", func(e *env, victim, other resp) {
			if r := e.post("/v1/logout", str(victim, "access_token"), nil); r.status != 200 && r.status != 204 {
				e.t.Fatalf("logout: %d %s", r.status, r.raw)
			}
		}},
		{"revoked from another device", func(e *env, victim, other resp) {
			if r := e.do("DELETE", "/v1/sessions/"+str(victim, "session_id"), str(other, "access_token"), "", ""); r.status != 200 && r.status != 204 {
				e.t.Fatalf("DELETE /v1/sessions/{id}: %d %s", r.status, r.raw)
			}
		}},
		{"logout of the others", func(e *env, victim, other resp) {
			if r := e.post("/v1/logout?scope=others", str(other, "access_token"), nil); r.status != 200 && r.status != 204 {
				e.t.Fatalf("logout others: %d %s", r.status, r.raw)
			}
		}},
		{"rfc7009 revocation of the refresh token", func(e *env, victim, other resp) {
			if r := e.form("/v1/revoke", "api", clientSecret, url.Values{"token": {str(victim, "refresh_token")}}); r.status != 200 {
				e.t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
		}},
		{"refresh token reuse", func(e *env, victim, other resp) {
			rt := str(victim, "refresh_token")
			r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt})
			if r.status != 200 {
				e.t.Fatalf("refresh: %d %s", r.status, r.raw)
			}
			// The child is used, so its parent is no longer valid.
			if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(r, "refresh_token")}); r.status != 200 {
				e.t.Fatalf("refresh of the child: %d %s", r.status, r.raw)
			}
			e.clock.Advance(time.Minute) // past the grace window: theft
			if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt}); r.status != 401 {
				e.t.Fatalf("reuse: %d %s", r.status, r.raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withClients(t))
			victim := e.signupLogin("ivy@example.com")
			other := e.login("ivy@example.com")
			introspect := func(tok string) resp {
				return e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {tok}})
			}
			if r := introspect(str(victim, "access_token")); r.body["active"] != true {
				t.Fatalf("live access token: %d %s", r.status, r.raw)
			}
			tc.end(e, victim, other)
			for _, kind := range []string{"access_token", "refresh_token"} {
				if r := introspect(str(victim, kind)); r.status != 200 || r.body["active"] != false || len(r.body) != 1 {
					t.Errorf("%s of the ended session: %d %s, want 200 {\"active\":false}", kind, r.status, r.raw)
				}
			}
			if tc.name != "logout of the others" {
				if r := introspect(str(other, "access_token")); r.body["active"] != true {
					t.Errorf("the other session's access token: %d %s", r.status, r.raw)
				}
			}
		})
	}
}
