package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// withAccountClaims: the admin API, an introspection client and the claim
// names role and tenant; the store from open (nil: memory).
func withAccountClaims(t *testing.T, open func(*testing.T) node.Backend) func(*config) {
	return func(c *config) {
		if open != nil {
			c.Node.Backend = open(t)
		}
		cl, err := server.ParseClients("api:" + clientSecret)
		if err != nil {
			t.Fatal(err)
		}
		c.Server.Clients = cl
		c.Server.AdminToken = adminToken
		c.Node.Claims = []string{"role", "tenant"}
	}
}

// putClaims is PUT /admin/v1/users/{id}/claims with body; id is put in
// the path as it is (escape it first if need be).
func (e *env) putClaims(id, body string) resp {
	e.t.Helper()
	return e.do("PUT", "/admin/v1/users/"+id+"/claims", adminToken, "application/json", body)
}

// introspectRefresh introspects a refresh token: its session's record as
// it is now, claims as top-level members.
func (e *env) introspectRefresh(rt string) resp {
	e.t.Helper()
	r := e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {rt}})
	if r.status != 200 {
		e.t.Fatalf("introspect: %d %s", r.status, r.raw)
	}
	return r
}

// claimsJSON is claims as one compact JSON object, keys sorted ("{}" for
// none), whatever spelling the store gave back.
func claimsJSON(t testing.TB, claims map[string]json.RawMessage) string {
	t.Helper()
	if len(claims) == 0 {
		return "{}"
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) accountClaims(id string) string {
	e.t.Helper()
	a, err := e.backend.AccountByID(context.Background(), id)
	if err != nil {
		e.t.Fatalf("AccountByID(%s): %v", id, err)
	}
	return claimsJSON(e.t, a.Claims)
}

func (e *env) recordClaims(sid string) string {
	e.t.Helper()
	r, err := e.backend.Get(context.Background(), sid)
	if err != nil {
		e.t.Fatalf("session %s: %v", sid, err)
	}
	return claimsJSON(e.t, r.Claims)
}

// TestAccountClaims: the operator sets a built-in account's claims; the
// account keeps them, so its next login's session carries them from the
// start, and its existing session gets them at its next refresh; with
// revoke_sessions its sessions end instead; {} removes them. A refused
// change is 400 and changes neither the account nor its sessions. A user
// id that names no account changes only sessions and creates no account.
// On every store, since each keeps an account's claims its own way.
func TestAccountClaims(t *testing.T) {
	for _, b := range accountBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, withAccountClaims(t, b.open))
			old := e.signupLogin("ann@example.com")
			acct, err := e.backend.AccountByEmail(ctx, "ann@example.com")
			if err != nil {
				t.Fatal(err)
			}
			id, oldSID := acct.ID, str(old, "session_id")

			for _, tc := range []struct{ name, id, body string }{
				{"a claim not configured", id, `{"claims":{"plan":"gold"}}`},
				{"one claim of two not configured", id, `{"claims":{"role":"admin","plan":"gold"}}`},
				{"a reserved claim", id, `{"claims":{"sub":"someone-else"}}`},
				{"claims over the cap", id, `{"claims":{"role":"` + strings.Repeat("x", session.DefaultMaxClaimsBytes) + `"}}`},
				{"a value no store keeps", id, `{"claims":{"role":"a\u0000b"}}`},
				{"no claims member", id, `{"revoke_sessions":true}`},
				{"a user id no store keeps", "a%00b", `{"claims":{"role":"admin"}}`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := e.putClaims(tc.id, tc.body)
					if r.status != http.StatusBadRequest || r.body["error"] != "invalid_request" {
						t.Fatalf("PUT claims: %d %s, want 400 invalid_request", r.status, r.raw)
					}
					if got := e.accountClaims(id); got != "{}" {
						t.Fatalf("a refused change set the account's claims to %s", got)
					}
					if got := e.recordClaims(oldSID); got != "{}" {
						t.Fatalf("a refused change set the session's claims to %s", got)
					}
				})
			}

			r := e.putClaims(id, `{"claims":{"role":"admin"}}`)
			if r.status != 200 || r.body["updated"] != float64(1) {
				t.Fatalf("PUT claims: %d %s, want 200 {\"updated\":1}", r.status, r.raw)
			}
			if got := e.accountClaims(id); got != `{"role":"admin"}` {
				t.Fatalf("account claims %s, want role admin", got)
			}
			// The existing session: its record has them, its next refresh
			// carries them.
			if got := e.recordClaims(oldSID); got != `{"role":"admin"}` {
				t.Fatalf("the existing session's claims %s, want role admin", got)
			}
			ref := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(old, "refresh_token")})
			if ref.status != 200 {
				t.Fatalf("refresh: %d %s", ref.status, ref.raw)
			}
			if in := e.introspectRefresh(str(ref, "refresh_token")); in.body["active"] != true || in.body["role"] != "admin" {
				t.Fatalf("the existing session after its refresh: %s", in.raw)
			}
			// The next login carries them from the start, with amr pwd.
			l := e.login("ann@example.com")
			in := e.introspectRefresh(str(l, "refresh_token"))
			if in.body["active"] != true || in.body["role"] != "admin" || in.body["sub"] != id {
				t.Fatalf("the next login's session: %s", in.raw)
			}
			if amr, _ := in.body["amr"].([]any); !slices.Equal(amr, []any{"pwd"}) {
				t.Fatalf("the login's amr %v, want [pwd]", in.body["amr"])
			}
			if got := e.recordClaims(str(l, "session_id")); got != `{"role":"admin"}` {
				t.Fatalf("the next login's record claims %s", got)
			}

			// revoke_sessions: the account changes, both sessions end.
			r = e.putClaims(id, `{"claims":{"role":"viewer","tenant":{"id":7}},"revoke_sessions":true}`)
			if r.status != 200 || r.body["revoked"] != float64(2) {
				t.Fatalf("PUT claims with revoke_sessions: %d %s, want {\"revoked\":2}", r.status, r.raw)
			}
			for name, rt := range map[string]string{"refreshed": str(ref, "refresh_token"), "new": str(l, "refresh_token")} {
				if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt}); r.status != 401 {
					t.Errorf("the %s session refreshes after revoke_sessions: %d %s", name, r.status, r.raw)
				}
				if in := e.introspectRefresh(rt); in.body["active"] != false {
					t.Errorf("the %s session is active after revoke_sessions: %s", name, in.raw)
				}
			}
			if got := e.accountClaims(id); got != `{"role":"viewer","tenant":{"id":7}}` {
				t.Fatalf("account claims after revoke_sessions %s", got)
			}
			l = e.login("ann@example.com")
			if in := e.introspectRefresh(str(l, "refresh_token")); in.body["role"] != "viewer" || !strings.Contains(in.raw, `"tenant":{"id":7}`) {
				t.Fatalf("the login after revoke_sessions: %s", in.raw)
			}

			// {} removes them, from the account and the session.
			if r := e.putClaims(id, `{"claims":{}}`); r.status != 200 || r.body["updated"] != float64(1) {
				t.Fatalf("PUT {}: %d %s", r.status, r.raw)
			}
			if got := e.accountClaims(id); got != "{}" {
				t.Fatalf("account claims after {}: %s", got)
			}
			l = e.login("ann@example.com")
			if in := e.introspectRefresh(str(l, "refresh_token")); in.body["role"] != nil || in.body["tenant"] != nil {
				t.Fatalf("a login after {} still carries claims: %s", in.raw)
			}

			// Not a built-in account: only sessions, no account made.
			if r := e.putClaims("user-77", `{"claims":{"role":"admin"}}`); r.status != 200 || r.body["updated"] != float64(0) {
				t.Fatalf("PUT claims of a user without an account: %d %s", r.status, r.raw)
			}
			if _, err := e.backend.AccountByID(ctx, "user-77"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("setting claims made an account: %v", err)
			}
		})
	}
}

// beforeCreate runs a hook once, inside the next session Create, before
// the session is stored: there a test puts what a concurrent request
// would do between a login's read of the account and its session.
type beforeCreate struct {
	node.Backend
	mu   sync.Mutex
	hook func()
}

func (b *beforeCreate) arm(hook func()) {
	b.mu.Lock()
	b.hook = hook
	b.mu.Unlock()
}

func (b *beforeCreate) Create(ctx context.Context, r *session.Record) error {
	b.mu.Lock()
	hook := b.hook
	b.hook = nil
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	return b.Backend.Create(ctx, r)
}

// TestLoginCatchesAConcurrentClaimsChange: a claims change (or a deletion)
// that falls after a login read the account and before its session was
// created misses the session (the change finds none to update), so the
// login must catch it by reading the account again: its session carries
// the new claims, refreshed so the tokens answered were signed after (the
// record shows a rotation); a deleted account's login is refused and
// leaves no session.
func TestLoginCatchesAConcurrentClaimsChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change string // PUT body; "" deletes the account
		answer string // what the change must answer: it found no session
	}{
		{"claims changed", `{"claims":{"role":"admin"}}`, `{"updated":0}`},
		{"claims changed with revoke_sessions", `{"claims":{"role":"admin"},"revoke_sessions":true}`, `{"revoked":0}`},
		{"account deleted", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hooked := &beforeCreate{Backend: memstore.New()}
			e := newEnv(t, withAccountClaims(t, func(*testing.T) node.Backend { return hooked }))
			if r := e.post("/v1/signup", "", map[string]string{"email": "bo@example.com", "password": "correct horse battery"}); r.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.status, r.raw)
			}
			acct, err := e.backend.AccountByEmail(ctx, "bo@example.com")
			if err != nil {
				t.Fatal(err)
			}
			ran := false
			hooked.arm(func() {
				ran = true
				if tc.change == "" {
					if err := e.backend.DeleteAccount(ctx, acct.ID); err != nil {
						t.Error(err)
					}
					return
				}
				if r := e.putClaims(acct.ID, tc.change); r.status != 200 || strings.TrimSpace(r.raw) != tc.answer {
					t.Errorf("the concurrent change: %d %s, want %s", r.status, r.raw, tc.answer)
				}
			})
			l := e.post("/v1/login", "", map[string]string{"email": "bo@example.com", "password": "correct horse battery"})
			if !ran {
				t.Fatal("the login created no session")
			}
			if tc.change == "" {
				if l.status != 401 || l.body["error"] != "invalid_grant" {
					t.Fatalf("login of an account deleted meanwhile: %d %s, want 401 invalid_grant", l.status, l.raw)
				}
				recs, err := e.backend.ListUser(ctx, acct.ID)
				if err != nil || len(recs) != 0 {
					t.Fatalf("the refused login left %d sessions (%v)", len(recs), err)
				}
				return
			}
			if l.status != 200 {
				t.Fatalf("login: %d %s", l.status, l.raw)
			}
			if in := e.introspectRefresh(str(l, "refresh_token")); in.body["active"] != true || in.body["role"] != "admin" {
				t.Fatalf("the login's session missed the change: %s", in.raw)
			}
			rec, err := e.backend.Get(ctx, str(l, "session_id"))
			if err != nil {
				t.Fatal(err)
			}
			if got := claimsJSON(t, rec.Claims); got != `{"role":"admin"}` || rec.RotatedAt.IsZero() {
				t.Fatalf("record: claims %s, rotated at %v; want role admin and a rotation", got, rec.RotatedAt)
			}
		})
	}
}

// TestLoginWithClaimsNoLongerIssued: an account whose stored claims this
// server does not issue (a name since dropped from --claims) cannot log
// in: the login fails closed with 500, starts no session, and the log
// says what to do.
func TestLoginWithClaimsNoLongerIssued(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withAccountClaims(t, nil))
	if r := e.post("/v1/signup", "", map[string]string{"email": "cy@example.com", "password": "correct horse battery"}); r.status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.status, r.raw)
	}
	acct, err := e.backend.AccountByEmail(ctx, "cy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.backend.SetAccountClaims(ctx, acct.ID, map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`)}); err != nil {
		t.Fatal(err)
	}
	l := e.post("/v1/login", "", map[string]string{"email": "cy@example.com", "password": "correct horse battery"})
	if l.status != http.StatusInternalServerError || l.body["error"] != "server_error" {
		t.Fatalf("login: %d %s, want 500 server_error", l.status, l.raw)
	}
	if recs, err := e.backend.ListUser(ctx, acct.ID); err != nil || len(recs) != 0 {
		t.Fatalf("the refused login left %d sessions (%v)", len(recs), err)
	}
	if !strings.Contains(e.logs.String(), "holds claims this server does not issue") {
		t.Fatalf("the log does not say why:\n%s", e.logs.String())
	}
	// Setting them again lets it in.
	if r := e.putClaims(acct.ID, `{"claims":{"role":"admin"}}`); r.status != 200 {
		t.Fatalf("PUT claims: %d %s", r.status, r.raw)
	}
	if in := e.introspectRefresh(str(e.login("cy@example.com"), "refresh_token")); in.body["role"] != "admin" {
		t.Fatalf("the login after the claims were set again: %s", in.raw)
	}
}
