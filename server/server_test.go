package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fastParams keep argon2id cheap in tests; production uses DefaultParams.
var fastParams = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type env struct {
	t       testing.TB
	srv     *server.Server
	http    *httptest.Server
	clock   *clock
	backend node.Backend
	logs    *syncBuffer
}

// config is what a test sets: the node's configuration and the server's.
type config struct {
	Node   node.Config
	Server server.Config
}

// startNode opens a node on nc, runs its background work until the test
// ends, and builds the server on it.
func startNode(t testing.TB, nc node.Config, sc server.Config) *server.Server {
	t.Helper()
	n, err := node.Open(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("node.Run: %v", err)
		}
		n.Close()
	})
	select {
	case <-n.Running():
	case err := <-ran:
		t.Fatalf("node.Run: %v", err)
	}
	srv, err := server.New(n, sc)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, mod func(*config)) *env {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	e := &env{t: t, clock: c, logs: &syncBuffer{}}
	cfg := config{Node: node.Config{
		Backend:        memstore.New(),
		MasterKey:      []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"),
		Issuer:         "https://sessiond.test",
		Audience:       "api",
		Now:            c.Now,
		PasswordParams: fastParams,
		Logger:         slog.New(slog.NewJSONHandler(e.logs, nil)),
	}}
	if mod != nil {
		mod(&cfg)
	}
	e.backend = cfg.Node.Backend
	e.srv = startNode(t, cfg.Node, cfg.Server)
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path, bearer, contentType, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.send(req)
}

// send sends req to the server under test and reads the answer; a JSON
// answer must be a JSON object.
func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %s", req.Method, req.URL.Path, raw)
		}
	}
	return r
}

func (e *env) post(path, bearer string, body any) resp {
	e.t.Helper()
	b, _ := json.Marshal(body)
	return e.do("POST", path, bearer, "application/json", string(b))
}

func (e *env) signupLogin(email string) resp {
	e.t.Helper()
	if r := e.post("/v1/signup", "", map[string]string{"email": email, "password": "correct horse battery"}); r.status != http.StatusCreated {
		e.t.Fatalf("signup: %d %s", r.status, r.raw)
	}
	return e.login(email)
}

func (e *env) login(email string) resp {
	e.t.Helper()
	r := e.post("/v1/login", "", map[string]string{"email": email, "password": "correct horse battery"})
	if r.status != http.StatusOK {
		e.t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return r
}

func str(r resp, k string) string { s, _ := r.body[k].(string); return s }

func TestTour(t *testing.T) {
	e := newEnv(t, nil)
	l := e.signupLogin("Alice@Example.com")
	at, rt := str(l, "access_token"), str(l, "refresh_token")
	if str(l, "token_type") != "Bearer" || l.body["expires_in"].(float64) != 600 || at == "" || rt == "" || str(l, "session_id") == "" {
		t.Fatalf("login answer %s", l.raw)
	}
	if l.header.Get("Cache-Control") != "no-store" {
		t.Fatal("token answer may be cached")
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cross-Origin-Opener-Policy": "same-origin", "X-Frame-Options": "DENY"} {
		if got := l.header.Get(h); got != want {
			t.Fatalf("%s = %q, want %q", h, got, want)
		}
	}
	s := e.do("GET", "/v1/session", at, "", "")
	if s.status != 200 || str(s, "id") != str(l, "session_id") || s.body["current"] != true || str(s, "auth_method") != "password" {
		t.Fatalf("GET /v1/session: %d %s", s.status, s.raw)
	}
	r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt})
	if r.status != 200 || str(r, "refresh_token") == rt || str(r, "session_id") != str(l, "session_id") {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	out := e.do("POST", "/v1/logout", str(r, "access_token"), "", "")
	if out.status != 200 {
		t.Fatalf("logout: %d %s", out.status, out.raw)
	}
	for _, tok := range []string{at, str(r, "access_token")} {
		g := e.do("GET", "/v1/session", tok, "", "")
		if g.status != http.StatusUnauthorized || str(g, "error") != "invalid_token" || !strings.HasPrefix(g.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("access token after logout: %d %s %q", g.status, g.raw, g.header.Get("WWW-Authenticate"))
		}
	}
	if g := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(r, "refresh_token")}); g.status != http.StatusUnauthorized {
		t.Fatalf("refresh after logout: %d", g.status)
	}
}

// TestRefreshAtTheVeryEnd: POST /v1/refresh with less than a second of
// the session's absolute life left answers 401 invalid_grant (it answered
// 500 after the rotation was committed) and leaves the stored session as
// it was; a second earlier it rotates.
func TestRefreshAtTheVeryEnd(t *testing.T) {
	tests := []struct {
		name   string
		left   time.Duration
		status int
	}{
		{"200 ms left", 200 * time.Millisecond, http.StatusUnauthorized},
		{"2 s left", 2 * time.Second, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config) { c.Node.Policy.AbsoluteTimeout = time.Hour })
			e.signupLogin("end@example.com")
			e.clock.Advance(700 * time.Millisecond) // sessions start at a fraction of a second
			l := e.login("end@example.com")
			sid := str(l, "session_id")
			before, err := e.backend.Get(context.Background(), sid)
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(before.AbsExpiresAt.Add(-tc.left).Sub(e.clock.Now()))
			r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")})
			if r.status != tc.status {
				t.Fatalf("refresh with %v left: %d %s, want %d", tc.left, r.status, r.raw, tc.status)
			}
			after, err := e.backend.Get(context.Background(), sid)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status != http.StatusOK {
				if str(r, "error") != "invalid_grant" {
					t.Fatalf("refused refresh: %s", r.raw)
				}
				if !after.ExpiresAt().Equal(before.ExpiresAt()) {
					t.Fatal("a refused refresh moved the session's end")
				}
				// The same token retried: 401 again, never a 500.
				if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")}); r.status != http.StatusUnauthorized {
					t.Fatalf("the same token retried: %d %s", r.status, r.raw)
				}
			} else if after.Version == before.Version {
				t.Fatal("the refresh did not rotate")
			}
		})
	}
}

func TestStrictDecoding(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, ctype, body string
		status            int
	}{
		{"no content type", "", `{"email":"a@b.c","password":"long enough pw"}`, 415},
		{"form content type", "application/x-www-form-urlencoded", `email=a@b.c`, 415},
		{"text/plain", "text/plain", `{"email":"a@b.c","password":"long enough pw"}`, 415},
		{"latin-1 charset", "application/json; charset=iso-8859-1", `{"email":"a@b.c","password":"long enough pw"}`, 415},
		{"huge body", "application/json", `{"email":"a@b.c","password":"` + strings.Repeat("x", 20<<10) + `"}`, 413},
		{"unknown field", "application/json", `{"email":"a@b.c","password":"long enough pw","admin":true}`, 400},
		{"case variant name", "application/json", `{"Email":"a@b.c","password":"long enough pw"}`, 400},
		{"duplicate name", "application/json", `{"email":"a@b.c","email":"x@y.z","password":"long enough pw"}`, 400},
		{"wrong type", "application/json", `{"email":5,"password":"long enough pw"}`, 400},
		{"trailing data", "application/json", `{"email":"a@b.c","password":"long enough pw"} {}`, 400},
		{"not an object", "application/json", `["a@b.c"]`, 400},
		{"empty", "application/json", ``, 400},
		{"invalid utf-8", "application/json", "{\"email\":\"a\xff@b.c\",\"password\":\"long enough pw\"}", 400},
		{"bad email", "application/json", `{"email":"not an email","password":"long enough pw"}`, 400},
		{"short password", "application/json", `{"email":"a@b.c","password":"short"}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/signup", "", tc.ctype, tc.body)
			if r.status != tc.status || str(r, "error") == "" || str(r, "error_description") == "" {
				t.Fatalf("got %d %s, want %d with an OAuth-style error", r.status, r.raw, tc.status)
			}
		})
	}
	// None of it created an account.
	list, _, err := e.srv.Node().Accounts().ListPage(context.Background(), "", account.MaxPageSize)
	if err != nil || len(list) != 0 {
		t.Fatalf("bad requests created accounts: %v %v", list, err)
	}
	// The same rules guard login and refresh.
	if r := e.do("POST", "/v1/refresh", "", "application/json", `{"refresh_token":"x","extra":1}`); r.status != 400 {
		t.Fatalf("refresh with an unknown field: %d", r.status)
	}
	if r := e.do("POST", "/v1/login", "", "text/plain", `{}`); r.status != 415 {
		t.Fatalf("login as text/plain: %d", r.status)
	}
}

func TestRefreshReuseOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	l := e.signupLogin("bob@example.com")
	rt := str(l, "refresh_token")

	// Two tabs refresh the same token at the same moment: both get the same child.
	var wg sync.WaitGroup
	answers := make([]resp, 2)
	for i := range answers {
		wg.Go(func() { answers[i] = e.post("/v1/refresh", "", map[string]string{"refresh_token": rt}) })
	}
	wg.Wait()
	for _, a := range answers {
		if a.status != 200 {
			t.Fatalf("concurrent refresh: %d %s", a.status, a.raw)
		}
	}
	child := str(answers[0], "refresh_token")
	if str(answers[1], "refresh_token") != child {
		t.Fatal("two concurrent refreshes got different children")
	}

	// Once the child has been used, the parent is theft.
	used := e.post("/v1/refresh", "", map[string]string{"refresh_token": child})
	if used.status != 200 {
		t.Fatalf("refresh of the child: %d %s", used.status, used.raw)
	}
	e.clock.Advance(session.DefaultRefreshGrace + time.Second)
	r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt})
	if r.status != http.StatusUnauthorized || str(r, "error") != "invalid_grant" || !strings.Contains(str(r, "error_description"), "reuse") {
		t.Fatalf("reuse: %d %s", r.status, r.raw)
	}
	if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(used, "refresh_token")}); r.status != http.StatusUnauthorized {
		t.Fatalf("grandchild after theft: %d", r.status)
	}
	for _, a := range append(answers, l) {
		if g := e.do("GET", "/v1/session", str(a, "access_token"), "", ""); g.status != http.StatusUnauthorized {
			t.Fatalf("access token after theft: %d", g.status)
		}
	}
	if !strings.Contains(e.logs.String(), `"refresh.reuse_detected"`) {
		t.Fatal("no audit event for the reuse")
	}
	if strings.Contains(e.logs.String(), str(l, "session_id")) || strings.Contains(e.logs.String(), rt) {
		t.Fatal("a session id or token was logged")
	}
}

func TestSessionsAndLogoutScopes(t *testing.T) {
	e := newEnv(t, nil)
	a1 := e.signupLogin("carol@example.com")
	a2 := e.login("carol@example.com")
	a3 := e.login("carol@example.com")
	mallory := e.signupLogin("mallory@example.com")

	l := e.do("GET", "/v1/sessions", str(a1, "access_token"), "", "")
	list, _ := l.body["sessions"].([]any)
	if l.status != 200 || len(list) != 3 {
		t.Fatalf("sessions: %d %s", l.status, l.raw)
	}
	var current int
	for _, s := range list {
		if s.(map[string]any)["current"] == true {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions flagged current", current)
	}

	// Mallory cannot revoke Carol's session, and learns nothing about it.
	d := e.do("DELETE", "/v1/sessions/"+str(a2, "session_id"), str(mallory, "access_token"), "", "")
	if d.status != http.StatusNotFound {
		t.Fatalf("revoking someone else's session: %d", d.status)
	}
	if g := e.do("GET", "/v1/session", str(a2, "access_token"), "", ""); g.status != 200 {
		t.Fatal("someone else's DELETE ended the session")
	}
	if d := e.do("DELETE", "/v1/sessions/not-a-session", str(a1, "access_token"), "", ""); d.status != 404 {
		t.Fatalf("bad id: %d", d.status)
	}
	// Carol revokes her second session from the first.
	if d := e.do("DELETE", "/v1/sessions/"+str(a2, "session_id"), str(a1, "access_token"), "", ""); d.status != 204 {
		t.Fatalf("revoke own: %d %s", d.status, d.raw)
	}
	if g := e.do("GET", "/v1/session", str(a2, "access_token"), "", ""); g.status != 401 {
		t.Fatalf("revoked session still works: %d", g.status)
	}

	if r := e.do("POST", "/v1/logout?scope=everything", str(a1, "access_token"), "", ""); r.status != 400 {
		t.Fatalf("bad scope: %d", r.status)
	}
	if r := e.do("POST", "/v1/logout?scope=local&scope=global", str(a1, "access_token"), "", ""); r.status != 400 {
		t.Fatalf("two scopes: %d", r.status)
	}
	if r := e.do("POST", "/v1/logout?scope=others", str(a1, "access_token"), "", ""); r.status != 200 || r.body["revoked"].(float64) != 1 {
		t.Fatalf("logout others: %d %s", r.status, r.raw)
	}
	if g := e.do("GET", "/v1/session", str(a3, "access_token"), "", ""); g.status != 401 {
		t.Fatal("logout of the others left one alive")
	}
	if g := e.do("GET", "/v1/session", str(a1, "access_token"), "", ""); g.status != 200 {
		t.Fatal("logout of the others ended the current one")
	}
	a4 := e.login("carol@example.com")
	if r := e.do("POST", "/v1/logout?scope=global", str(a4, "access_token"), "", ""); r.status != 200 {
		t.Fatalf("logout global: %d", r.status)
	}
	for _, a := range []resp{a1, a4} {
		if g := e.do("GET", "/v1/session", str(a, "access_token"), "", ""); g.status != 401 {
			t.Fatal("global logout left a session alive")
		}
	}
	if g := e.do("GET", "/v1/session", str(mallory, "access_token"), "", ""); g.status != 200 {
		t.Fatal("Carol's global logout ended Mallory's session")
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t, nil)
	e.signupLogin("dave@example.com")
	wrong := e.post("/v1/login", "", map[string]string{"email": "dave@example.com", "password": "wrong password!"})
	unknown := e.post("/v1/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong password!"})
	if wrong.status != 401 || wrong.raw != unknown.raw || wrong.status != unknown.status {
		t.Fatalf("wrong password %d %s vs unknown user %d %s", wrong.status, wrong.raw, unknown.status, unknown.raw)
	}
	if !strings.Contains(e.logs.String(), `"login.failed"`) {
		t.Fatal("failed logins are not audited")
	}
}

// TestLoginFailedNamesAccountHashed: a login.failed line carries the
// account as a keyed hash of the normalised email (the same for "Dave@"
// and "dave@", another for another address), never the email itself.
func TestLoginFailedNamesAccountHashed(t *testing.T) {
	e := newEnv(t, nil)
	e.signupLogin("dave@example.com")
	accountOf := func(email string) string {
		t.Helper()
		before := len(e.logs.String())
		if r := e.post("/v1/login", "", map[string]string{"email": email, "password": "wrong password!"}); r.status != 401 {
			t.Fatalf("login %q: %d", email, r.status)
		}
		for line := range strings.Lines(e.logs.String()[before:]) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["event"] == "login.failed" {
				a, _ := m["account"].(string)
				if len(a) != 16 {
					t.Fatalf("login.failed line without an account hash: %s", line)
				}
				return a
			}
		}
		t.Fatalf("no login.failed line for %q", email)
		return ""
	}
	dave := accountOf("dave@example.com")
	if got := accountOf(" Dave@Example.COM"); got != dave {
		t.Errorf("the same account, typed otherwise, hashes to %q, want %q", got, dave)
	}
	if got := accountOf("nobody@example.com"); got == dave {
		t.Error("another address hashes to the same account")
	}
	if logs := strings.ToLower(e.logs.String()); strings.Contains(logs, "nobody@example.com") {
		t.Error("an email typed at a failed login is in the log")
	}
}

func TestErrorsAreJSON(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/nothing", 404},
		{"GET", "/v1/login", 405},
		{"PUT", "/v1/sessions", 405},
		{"GET", "/v1/session", 401},
		{"GET", "/v1/sessions", 401},
	}
	for _, tc := range tests {
		r := e.do(tc.method, tc.path, "", "", "")
		if r.status != tc.status || str(r, "error") == "" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.raw)
		}
	}
	for _, auth := range []string{"Basic abc", "Bearer", "Bearer a b", "Bearer not.a.jwt"} {
		req, _ := http.NewRequest("GET", e.http.URL+"/v1/session", nil)
		req.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d", auth, res.StatusCode)
		}
	}
}

func TestJWKSVerifiesWithIndependentLibrary(t *testing.T) {
	e := newEnv(t, nil)
	l := e.signupLogin("gina@example.com")
	res, err := http.Get(e.http.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatal("JWKS serves a private key")
		}
	}
	sig, err := jose.ParseSignedCompact(str(l, "access_token"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", sig.Signatures[0].Header.KeyID)
	}
	payload, err := sig.Verify(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["iss"] != "https://sessiond.test" || claims["aud"] != "api" || claims["sid"] != str(l, "session_id") {
		t.Fatalf("claims %v", claims)
	}
	if sig.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("typ %v", sig.Signatures[0].Header.ExtraHeaders["typ"])
	}
}

// failing wraps a real store and fails every call while down is set, the
// way an unreachable backend does.
type failing struct {
	node.Backend
	mu   sync.Mutex
	down bool
}

func (f *failing) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.Join(session.ErrStore, errors.New("connection refused"))
	}
	return nil
}

func (f *failing) Get(ctx context.Context, id string) (*session.Record, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Backend.Get(ctx, id)
}

func (f *failing) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	if err := f.err(); err != nil {
		return 0, nil, err
	}
	return f.Backend.Rotate(ctx, id, req)
}

func (f *failing) Create(ctx context.Context, r *session.Record) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Backend.Create(ctx, r)
}

func (f *failing) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Backend.AccountByEmail(ctx, email)
}

func TestStoreOutageFailsClosed(t *testing.T) {
	fb := &failing{Backend: memstore.New()}
	e := newEnv(t, func(c *config) { c.Node.Backend = fb })
	l := e.signupLogin("hal@example.com")
	fb.mu.Lock()
	fb.down = true
	fb.mu.Unlock()
	for name, r := range map[string]resp{
		"login":   e.post("/v1/login", "", map[string]string{"email": "hal@example.com", "password": "correct horse battery"}),
		"refresh": e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")}),
		"session": e.do("GET", "/v1/session", str(l, "access_token"), "", ""),
		"readyz":  e.do("GET", "/readyz", "", "", ""),
	} {
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with the store down: %d %s", name, r.status, r.raw)
		}
	}
	fb.mu.Lock()
	fb.down = false
	fb.mu.Unlock()
	// Nothing was lost: the refresh token that failed still works.
	if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")}); r.status != 200 {
		t.Fatalf("after the outage: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/readyz", "", "", ""); r.status != 200 {
		t.Fatalf("readyz after the outage: %d", r.status)
	}
}

func TestSignupDisabled(t *testing.T) {
	off := false
	e := newEnv(t, func(c *config) { c.Server.AllowSignup = &off })
	r := e.post("/v1/signup", "", map[string]string{"email": "x@example.com", "password": "long enough pw"})
	if r.status != http.StatusForbidden {
		t.Fatalf("signup when disabled: %d", r.status)
	}
}

func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			if _, err := fmt.Sscan(strings.TrimPrefix(line, series+" "), &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	fb := &failing{Backend: memstore.New()}
	e := newEnv(t, func(c *config) { c.Node.Backend = fb })
	l := e.signupLogin("ivy@example.com")
	r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")})
	e.post("/v1/refresh", "", map[string]string{"refresh_token": str(r, "refresh_token")}) // the child is used
	e.clock.Advance(time.Minute)
	e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")}) // reuse
	e.post("/v1/login", "", map[string]string{"email": "ivy@example.com", "password": "not the password"})
	e.do("GET", "/v1/sessions/"+str(r, "session_id"), "", "", "")
	fb.mu.Lock()
	fb.down = true
	fb.mu.Unlock()
	e.post("/v1/login", "", map[string]string{"email": "ivy@example.com", "password": "correct horse battery"})
	fb.mu.Lock()
	fb.down = false
	fb.mu.Unlock()

	m := e.do("GET", "/metrics", "", "", "")
	if m.status != 200 {
		t.Fatalf("/metrics: %d", m.status)
	}
	for series, want := range map[string]float64{
		`sessiond_events_total{event="login.ok"}`:                           1,
		`sessiond_events_total{event="login.failed"}`:                       1,
		`sessiond_events_total{event="refresh"}`:                            2,
		`sessiond_events_total{event="refresh.reuse_detected"}`:             1,
		`sessiond_store_errors_total{op="account_by_email"}`:                1,
		`sessiond_http_requests_total{code="200",route="POST /v1/login"}`:   1,
		`sessiond_http_requests_total{code="401",route="POST /v1/refresh"}`: 1,
		`sessiond_http_requests_total{code="503",route="POST /v1/login"}`:   1,
		`sessiond_revoked_sessions_tracked`:                                 1,
	} {
		if got := metricValue(t, m.raw, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if metricValue(t, m.raw, `sessiond_store_duration_seconds_count{op="rotate"}`) < 2 {
		t.Error("store latency not recorded")
	}
	if strings.Contains(m.raw, str(r, "session_id")) {
		t.Error("a session id became a metric label")
	}
}

// TestFailureLogsNoSessionID: the log of a failed request names its route,
// never its path, which for DELETE /v1/sessions/{id} holds a session id
// (DESIGN: a session id never appears in a log).
func TestFailureLogsNoSessionID(t *testing.T) {
	fb := &failing{Backend: memstore.New()}
	e := newEnv(t, func(c *config) { c.Node.Backend = fb })
	l := e.signupLogin("ida@example.com")
	other := e.login("ida@example.com")
	fb.mu.Lock()
	fb.down = true
	fb.mu.Unlock()
	r := e.do("DELETE", "/v1/sessions/"+str(other, "session_id"), str(l, "access_token"), "", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("revoke with the store down: %d %s", r.status, r.raw)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "store unavailable") {
		t.Fatalf("the failure was not logged:\n%s", logs)
	}
	if strings.Contains(logs, str(other, "session_id")) {
		t.Fatalf("a session id in the log:\n%s", logs)
	}
}
