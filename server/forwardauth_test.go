package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// countingStore is a real memory store that counts the calls a request can
// make of the session and account stores: instrumentation, not a mock.
// (The background work's own calls, the revocation poll, the sweep and the
// key ring reload, are not counted: they do not come from requests.)
type countingStore struct {
	*memstore.Store
	calls atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id string) (*session.Record, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, id)
}

func (c *countingStore) Create(ctx context.Context, r *session.Record) error {
	c.calls.Add(1)
	return c.Store.Create(ctx, r)
}

func (c *countingStore) Update(ctx context.Context, r *session.Record) error {
	c.calls.Add(1)
	return c.Store.Update(ctx, r)
}

func (c *countingStore) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	c.calls.Add(1)
	return c.Store.Rotate(ctx, id, req)
}

func (c *countingStore) ListUser(ctx context.Context, userID string) ([]*session.Record, error) {
	c.calls.Add(1)
	return c.Store.ListUser(ctx, userID)
}

func (c *countingStore) ListUserPage(ctx context.Context, userID string, after session.PageCursor, limit int) ([]*session.Record, error) {
	c.calls.Add(1)
	return c.Store.ListUserPage(ctx, userID, after, limit)
}

// fwdEnv is a server with forward-auth's settings: claims, an allowed
// return-to origin, and a per-session rate limit of 3 requests (a burst
// of 2 beyond the first, and one an hour), which
// forward-auth must not use up.
type fwdEnv struct {
	*env
	store *countingStore
}

func newFwdEnv(t testing.TB) *fwdEnv {
	t.Helper()
	st := &countingStore{Store: memstore.New()}
	e := newEnv(t, func(c *config) {
		c.Node.Backend = st
		c.Node.Claims = []string{"role", "tenant_id", "groups", "note", "https://example.com/level"}
		c.Server.ReturnToOrigins = []string{"https://app.example.com", "http://127.0.0.1:8443"}
		c.Server.SessionLimit = ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 2}
	})
	return &fwdEnv{env: e, store: st}
}

// start begins a session for user with claims, and returns its tokens.
func (e *fwdEnv) start(user string, claims map[string]string) *session.Tokens {
	e.t.Helper()
	g := session.Grant{UserID: user, ClientID: "shop", Claims: map[string]json.RawMessage{}}
	for k, v := range claims {
		g.Claims[k] = json.RawMessage(v)
	}
	tk, err := e.srv.Node().Manager().Start(context.Background(), g)
	if err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// fwd sends a request and never follows a redirect.
func (e *fwdEnv) fwd(method, path string, headers map[string]string, cookies map[string]string, edit ...func(http.Header)) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for _, f := range edit {
		f(req.Header)
	}
	for k, v := range cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("not JSON: %s", raw)
		}
	}
	return out
}

// navigate are the headers a browser's page load carries, as the proxy
// passes them on with the original URI (Caddy's and Traefik's names).
func navigate(uri string) map[string]string {
	return map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html,*/*",
		"X-Forwarded-Method": "GET", "X-Forwarded-Uri": uri}
}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestForwardAuth: who gets 200 and the identity headers, and what
// everyone else gets: a redirect through the in-band refresh for a
// navigation, a 401 for anything else.
func TestForwardAuth(t *testing.T) {
	e := newFwdEnv(t)
	ann := e.start("ann", map[string]string{"role": `"admin"`, "tenant_id": `42`})
	revoked := e.start("rob", nil)
	if err := e.srv.Node().Manager().Revoke(context.Background(), revoked.Session.ID); err != nil {
		t.Fatal(err)
	}
	expiring := e.start("eve", nil)
	other := newEnv(t, nil).srv.Node().Manager() // another key ring: a well-formed token we did not sign
	foreign, err := other.Login(context.Background(), "ann", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(ann.AccessToken, ".")
	noneAlg := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	cookie := func(tok string) map[string]string { return map[string]string{httpauth.AccessCookie: tok} }
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	toRefresh := server.RefreshRedirectPath + "?return_to=" + url.QueryEscape("/orders?page=2")

	tests := []struct {
		name     string
		query    string // of /v1/forward-auth
		headers  map[string]string
		cookies  map[string]string
		status   int
		user     string // X-Sessiond-User-Id expected on 200
		location string // expected Location ("" none)
	}{
		{"bearer", "", bearer(ann.AccessToken), nil, 200, "ann", ""},
		{"access cookie", "", nil, cookie(ann.AccessToken), 200, "ann", ""},
		{"access cookie on a navigation", "", navigate("/orders"), cookie(ann.AccessToken), 200, "ann", ""},
		{"nothing", "", nil, nil, 401, "", ""},
		{"nothing, a script's fetch", "", map[string]string{"Sec-Fetch-Mode": "cors", "X-Forwarded-Uri": "/api"}, nil, 401, "", ""},
		{"nothing, an image", "", map[string]string{"Sec-Fetch-Mode": "no-cors", "Accept": "text/html,image/*", "X-Forwarded-Uri": "/a.png"}, nil, 401, "", ""},
		{"nothing, a navigation", "", navigate("/orders?page=2"), nil, 302, "", toRefresh},
		{"nothing, a navigation, nginx", "?deny=401", navigate("/orders?page=2"), nil, 401, "", toRefresh},
		{"nothing, nginx's header names", "?deny=401",
			map[string]string{"Sec-Fetch-Mode": "navigate", "X-Original-Method": "GET", "X-Original-URI": "/orders?page=2"}, nil, 401, "", toRefresh},
		{"nothing, a browser without Fetch Metadata", "", map[string]string{"Accept": "text/html", "X-Forwarded-Uri": "/orders?page=2"}, nil, 302, "", toRefresh},
		{"nothing, a form posted", "", with(navigate("/orders?page=2"), "X-Forwarded-Method", "POST"), nil, 307, "", toRefresh},
		{"nothing, a PUT", "", with(navigate("/orders?page=2"), "X-Forwarded-Method", "PUT"), nil, 401, "", ""},
		{"navigation, the URI names another host", "", navigate("//evil.com/x"), nil, 302, "", server.RefreshRedirectPath},
		{"navigation, an origin not on the list", "", navigate("https://evil.com/x"), nil, 302, "", server.RefreshRedirectPath},
		{"navigation, an allowed origin", "", navigate("https://app.example.com/x"), nil, 302, "",
			server.RefreshRedirectPath + "?return_to=" + url.QueryEscape("https://app.example.com/x")},
		{"navigation, the URI sent twice", "", map[string]string{"Sec-Fetch-Mode": "navigate"}, nil, 302, "", server.RefreshRedirectPath},
		{"revoked, bearer", "", bearer(revoked.AccessToken), nil, 401, "", ""},
		{"revoked, cookie", "", nil, cookie(revoked.AccessToken), 401, "", ""},
		{"revoked, cookie, a navigation", "", navigate("/orders?page=2"), cookie(revoked.AccessToken), 302, "", toRefresh},
		{"garbage token", "", bearer("not.a.token"), nil, 401, "", ""},
		{"another issuer's key", "", bearer(foreign.AccessToken), nil, 401, "", ""},
		{"alg none", "", bearer(noneAlg), nil, 401, "", ""},
		{"a tampered payload", "", bearer(parts[0] + "." + parts[1] + "x." + parts[2]), nil, 401, "", ""},
		{"bad bearer on a navigation: no redirect", "", with(navigate("/x"), "Authorization", "Bearer garbage"), nil, 401, "", ""},
		{"Basic on a navigation: no redirect", "", with(navigate("/x"), "Authorization", "Basic YTpi"), cookie(ann.AccessToken), 401, "", ""},
		{"two Authorization headers", "", nil, nil, 401, "", ""},
		{"deny other than 401", "?deny=302", bearer(ann.AccessToken), nil, 400, "", ""},
	}
	// Headers sent twice, which a map of headers cannot say.
	edits := map[string]func(http.Header){
		"navigation, the URI sent twice": func(h http.Header) { h.Add("X-Forwarded-Uri", "/a"); h.Add("X-Forwarded-Uri", "/b") },
		"two Authorization headers":      func(h http.Header) { h.Add("Authorization", "Bearer a"); h.Add("Authorization", "Bearer b") },
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var edit []func(http.Header)
			if f := edits[tc.name]; f != nil {
				edit = append(edit, f)
			}
			r := e.fwd("GET", "/v1/forward-auth"+tc.query, tc.headers, tc.cookies, edit...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if got := r.header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if got := r.header.Get(server.HeaderUserID); got != tc.user {
				t.Errorf("%s %q, want %q", server.HeaderUserID, got, tc.user)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Error("a forward-auth answer may be cached")
			}
			if tc.status != 200 && r.header.Get(server.HeaderSessionID) != "" {
				t.Error("a refusal carries a session id")
			}
		})
	}

	// An access cookie that expired (the browser drops it at Max-Age, or
	// sends it late): a navigation goes to the refresh, anything else 401.
	e.clock.Advance(session.DefaultAccessTTL + time.Minute) // past the verifier's leeway
	if r := e.fwd("GET", "/v1/forward-auth", navigate("/orders?page=2"), cookie(expiring.AccessToken)); r.status != 302 || r.header.Get("Location") != toRefresh {
		t.Fatalf("expired access cookie on a navigation: %d %q", r.status, r.header.Get("Location"))
	}
	if r := e.fwd("GET", "/v1/forward-auth", map[string]string{"Sec-Fetch-Mode": "no-cors"}, cookie(expiring.AccessToken)); r.status != 401 || r.header.Get("Location") != "" {
		t.Fatalf("expired access cookie on an image: %d %q", r.status, r.header.Get("Location"))
	}
}

// TestForwardAuthIdentityHeaders: the identity headers of a valid session,
// one per configured claim the session has; claim values that could inject
// a header (CR, LF), or that proxies would not pass unchanged, are never
// sent.
func TestForwardAuthIdentityHeaders(t *testing.T) {
	e := newFwdEnv(t)
	tests := []struct {
		name   string
		claims map[string]string
		want   map[string]string // header -> value; "" must be absent
	}{
		{"a string is its content", map[string]string{"role": `"admin"`}, map[string]string{"X-Sessiond-Claim-Role": "admin"}},
		{"a number", map[string]string{"tenant_id": `42`}, map[string]string{"X-Sessiond-Claim-Tenant-Id": "42"}},
		{"an array, compact", map[string]string{"groups": `[ "a", "b" ]`}, map[string]string{"X-Sessiond-Claim-Groups": `["a","b"]`}},
		{"an object, non-ASCII escaped", map[string]string{"note": `{"who": "José 😀"}`},
			map[string]string{"X-Sessiond-Claim-Note": `{"who":"Jos\u00e9 \ud83d\ude00"}`}},
		{"true", map[string]string{"role": `true`}, map[string]string{"X-Sessiond-Claim-Role": "true"}},
		{"a URI claim name", map[string]string{"https://example.com/level": `"gold"`},
			map[string]string{"X-Sessiond-Claim-Https---Example-Com-Level": "gold"}},
		{"CRLF injection", map[string]string{"role": `"admin\r\nX-Sessiond-User-Id: root"`, "tenant_id": `7`},
			map[string]string{"X-Sessiond-Claim-Role": "", "X-Sessiond-Claim-Tenant-Id": "7"}},
		{"a lone LF", map[string]string{"role": `"a\nb"`}, map[string]string{"X-Sessiond-Claim-Role": ""}},
		{"a tab", map[string]string{"role": `"a\tb"`}, map[string]string{"X-Sessiond-Claim-Role": ""}},
		{"DEL", map[string]string{"role": `"a\u007fb"`}, map[string]string{"X-Sessiond-Claim-Role": ""}},
		{"a non-ASCII string", map[string]string{"role": `"José"`}, map[string]string{"X-Sessiond-Claim-Role": ""}},
		{"an empty string", map[string]string{"role": `""`}, map[string]string{"X-Sessiond-Claim-Role": ""}},
		{"leading space", map[string]string{"role": `" admin"`}, map[string]string{"X-Sessiond-Claim-Role": ""}},
		{"inner spaces kept", map[string]string{"role": `"shop admin"`}, map[string]string{"X-Sessiond-Claim-Role": "shop admin"}},
		{"no claims", nil, map[string]string{"X-Sessiond-Claim-Role": "", "X-Sessiond-Claim-Tenant-Id": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := e.start("u-"+strings.ReplaceAll(tc.name, " ", "-"), tc.claims)
			r := e.fwd("GET", "/v1/forward-auth", map[string]string{"Authorization": "Bearer " + tk.AccessToken}, nil)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if r.header.Get(server.HeaderUserID) != tk.Session.UserID || r.header.Get(server.HeaderSessionID) != tk.Session.ID ||
				r.header.Get(server.HeaderClientID) != "shop" {
				t.Errorf("identity headers %v", r.header)
			}
			if len(r.header.Values(server.HeaderUserID)) != 1 {
				t.Errorf("%d user id headers", len(r.header.Values(server.HeaderUserID)))
			}
			for h, want := range tc.want {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			// Every configured claim's header is there, empty when the
			// session has no value for it that can be sent.
			for _, h := range []string{"X-Sessiond-Claim-Role", "X-Sessiond-Claim-Tenant-Id", "X-Sessiond-Claim-Groups",
				"X-Sessiond-Claim-Note", "X-Sessiond-Claim-Https---Example-Com-Level"} {
				if n := len(r.header.Values(h)); n != 1 {
					t.Errorf("%s sent %d times, want once", h, n)
				}
			}
			for h, vs := range r.header {
				for _, v := range vs {
					if strings.ContainsAny(v, "\r\n") {
						t.Errorf("%s carries a line break: %q", h, v)
					}
				}
			}
		})
	}
	// A user id that cannot travel in a header is refused, not mangled;
	// 403, not 401: a refresh would not mend it.
	tk := e.start("line\r\nX-Sessiond-User-Id: root", nil)
	r := e.fwd("GET", "/v1/forward-auth", map[string]string{"Authorization": "Bearer " + tk.AccessToken}, nil)
	if r.status != 403 || r.header.Get(server.HeaderUserID) != "" {
		t.Fatalf("a user id with CRLF: %d %v", r.status, r.header)
	}
	r = e.fwd("GET", "/v1/forward-auth", navigate("/x"), map[string]string{httpauth.AccessCookie: tk.AccessToken})
	if r.status != 403 || r.header.Get("Location") != "" {
		t.Fatalf("a user id with CRLF on a navigation: %d %q", r.status, r.header.Get("Location"))
	}
}

// TestForwardAuthReadsNoStoreAndIsNotThrottled: a burst of forward-auth
// calls with one session reads nothing from the store and does not use up
// the per-session rate limit (3 here) that the API's calls count against.
func TestForwardAuthReadsNoStoreAndIsNotThrottled(t *testing.T) {
	e := newFwdEnv(t)
	tk := e.start("ann", map[string]string{"role": `"admin"`})
	revoked := e.start("rob", nil)
	if err := e.srv.Node().Manager().Revoke(context.Background(), revoked.Session.ID); err != nil {
		t.Fatal(err)
	}
	before := e.store.calls.Load()
	for i := range 200 {
		h := map[string]string{"Authorization": "Bearer " + tk.AccessToken}
		if r := e.fwd("GET", "/v1/forward-auth", h, nil); r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
		if r := e.fwd("GET", "/v1/forward-auth", nil, map[string]string{httpauth.AccessCookie: tk.AccessToken}); r.status != 200 {
			t.Fatalf("cookie call %d: %d %s", i, r.status, r.raw)
		}
	}
	for _, c := range []map[string]string{nil, {httpauth.AccessCookie: revoked.AccessToken}, {httpauth.AccessCookie: "garbage"}} {
		if r := e.fwd("GET", "/v1/forward-auth", navigate("/x"), c); r.status != 302 {
			t.Fatalf("refusal: %d", r.status)
		}
	}
	if n := e.store.calls.Load() - before; n != 0 {
		t.Fatalf("forward-auth made %d store calls", n)
	}
	// The instrument works, and the API's limit is intact and in force.
	for i := range 3 {
		if r := e.do("GET", "/v1/session", tk.AccessToken, "", ""); r.status != 200 {
			t.Fatalf("API call %d after the burst: %d %s", i, r.status, r.raw)
		}
	}
	if e.store.calls.Load() == before {
		t.Fatal("GET /v1/session made no store call: the counting store counts nothing")
	}
	if r := e.do("GET", "/v1/session", tk.AccessToken, "", ""); r.status != 429 {
		t.Fatalf("a fourth API call: %d, want 429 (the limit is 3)", r.status)
	}
	if r := e.fwd("GET", "/v1/forward-auth", map[string]string{"Authorization": "Bearer " + tk.AccessToken}, nil); r.status != 200 {
		t.Fatalf("forward-auth once the API limit is used up: %d", r.status)
	}
}

// TestForwardAuthRefreshesAhead: a page load whose access cookie is in the
// last fifth of its life (at most a minute) is refreshed in-band before it
// expires, so the page's assets, which come after it and are no
// navigations, do not meet an expired cookie; the new cookie is let in at
// once (no second round). Assets, scripts and bearer clients are let in
// until the token expires.
func TestForwardAuthRefreshesAhead(t *testing.T) {
	e := newFwdEnv(t)
	tk := e.start("ann", nil)
	cookie := map[string]string{httpauth.AccessCookie: tk.AccessToken}
	e.clock.Advance(session.DefaultAccessTTL - 61*time.Second)
	if r := e.fwd("GET", "/v1/forward-auth", navigate("/page"), cookie); r.status != 200 {
		t.Fatalf("61 s before expiry: %d", r.status)
	}
	e.clock.Advance(2 * time.Second)
	r := e.fwd("GET", "/v1/forward-auth", navigate("/page"), cookie)
	if r.status != 302 || r.header.Get("Location") != server.RefreshRedirectPath+"?return_to=%2Fpage" {
		t.Fatalf("59 s before expiry, a page load: %d %q", r.status, r.header.Get("Location"))
	}
	for name, h := range map[string]map[string]string{
		"an image":  {"Sec-Fetch-Mode": "no-cors"},
		"a fetch":   {"Sec-Fetch-Mode": "cors"},
		"a POST":    with(navigate("/page"), "X-Forwarded-Method", "POST"),
		"a bearer":  with(navigate("/page"), "Authorization", "Bearer "+tk.AccessToken),
		"a no-cors": {"Sec-Fetch-Mode": "no-cors", "Accept": "text/html"},
	} {
		c := cookie
		if name == "a bearer" {
			c = nil
		}
		if r := e.fwd("GET", "/v1/forward-auth", h, c); r.status != 200 {
			t.Errorf("59 s before expiry, %s: %d", name, r.status)
		}
	}
	r = e.fwd("GET", r.header.Get("Location"), navigate(""), map[string]string{httpauth.RefreshCookie: tk.RefreshToken})
	fresh := setCookies(t, r.header)[httpauth.AccessCookie]
	if r.status != 302 || fresh == nil {
		t.Fatalf("the refresh: %d %v", r.status, r.header.Values("Set-Cookie"))
	}
	if r := e.fwd("GET", "/v1/forward-auth", navigate("/page"), map[string]string{httpauth.AccessCookie: fresh.Value}); r.status != 200 {
		t.Fatalf("back with the new cookie: %d", r.status)
	}
}
