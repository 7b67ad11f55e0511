package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/boltstore"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/store/pgstore"
	"github.com/sessiond/sessiond/store/redisstore"
)

// deletionBackends are the stores the deletion race runs on. open returns
// the stores of the nodes: two clients of one shared store (each its own
// connections and feed), or one store of one process.
var deletionBackends = []struct {
	name string
	open func(t *testing.T) []node.Backend
}{
	{"memory", func(t *testing.T) []node.Backend { return []node.Backend{memstore.New()} }},
	{"bolt", func(t *testing.T) []node.Backend {
		st, err := boltstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return []node.Backend{st}
	}},
	{"redis", func(t *testing.T) []node.Backend { return redisPair(t, testenv.RedisURL(t)) }},
	{"redis-cluster", func(t *testing.T) []node.Backend { return redisPair(t, testenv.RedisClusterURL(t)) }},
	{"postgres", func(t *testing.T) []node.Backend {
		url, schema := testenv.PostgresURL(t), randomName("sdt_")
		t.Cleanup(func() { dropSchema(t, url, schema) }) // after both stores closed
		var out []node.Backend
		for i := range 2 {
			opts := []pgstore.Option{pgstore.WithSchema(schema)}
			if i == 0 {
				opts = append(opts, pgstore.WithAutoMigrate())
			}
			st, err := pgstore.Open(context.Background(), url, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			out = append(out, st)
		}
		return out
	}},
}

// redisPair is two clients of the Redis (or Redis Cluster) at url, under
// one fresh key prefix.
func redisPair(t *testing.T, url string) []node.Backend {
	prefix := randomName("sdt")
	var out []node.Backend
	for range 2 {
		st, err := redisstore.Open(context.Background(), url, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out = append(out, st)
	}
	return out
}

// deletionNodes starts a node (and its HTTP server) on each store: the
// admin API, an introspection client, signup on, throttles out of the way,
// the real clock (Redis judges a rotation's deadline by its own).
func deletionNodes(t *testing.T, stores []node.Backend) []*env {
	on := true
	generous := ratelimit.Limit{Rate: 100000, Period: time.Minute, Burst: 100000}
	var out []*env
	for _, st := range stores {
		out = append(out, newEnv(t, func(c *config) {
			cl, err := server.ParseClients("api:" + clientSecret)
			if err != nil {
				t.Fatal(err)
			}
			c.Node.Backend, c.Node.Shared, c.Node.Now = st, len(stores) > 1, time.Now
			c.Server.Clients, c.Server.AdminToken, c.Server.AllowSignup = cl, adminToken, &on
			c.Server.LoginPerIP, c.Server.SessionLimit = generous, generous
		}))
	}
	return out
}

// handed is a pair of tokens a node answered, and which node.
type handed struct {
	node            int
	sid             string
	access, refresh string
	how             string // "login", "cookie login", "refresh"
}

// call is one request from a goroutine other than the test's: it returns
// what went wrong instead of failing the test.
func call(e *env, method, path string, header http.Header, body string) (int, http.Header, map[string]any, error) {
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	var m map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %d, not JSON: %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, res.Header, m, nil
}

func jsonHeader(extra ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// loginOnce logs email in on e, in cookie mode if cookie, and returns the
// tokens answered (nil with the status when refused).
func loginOnce(e *env, node int, email string, cookie bool) (*handed, int, error) {
	h := jsonHeader()
	if cookie {
		h.Set(server.SessionModeHeader, "cookie")
	}
	status, header, body, err := call(e, "POST", "/v1/login", h, `{"email":"`+email+`","password":"correct horse battery"}`)
	if err != nil || status != http.StatusOK {
		return nil, status, err
	}
	out := &handed{node: node, how: "login"}
	out.sid, _ = body["session_id"].(string)
	if !cookie {
		out.access, _ = body["access_token"].(string)
		out.refresh, _ = body["refresh_token"].(string)
	} else {
		out.how = "cookie login"
		for _, line := range header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				return nil, status, err
			}
			switch c.Name {
			case httpauth.AccessCookie:
				out.access = c.Value
			case httpauth.RefreshCookie:
				out.refresh = c.Value
			}
		}
	}
	if out.sid == "" || out.access == "" || out.refresh == "" {
		return nil, status, fmt.Errorf("login answered 200 without its tokens: %v %v", header, body)
	}
	return out, status, nil
}

// refreshOnce rotates rt on e and returns the new tokens (nil with the
// status when refused).
func refreshOnce(e *env, node int, rt string) (*handed, int, error) {
	status, _, body, err := call(e, "POST", "/v1/refresh", jsonHeader(), `{"refresh_token":"`+rt+`"}`)
	if err != nil || status != http.StatusOK {
		return nil, status, err
	}
	out := &handed{node: node, how: "refresh"}
	out.sid, _ = body["session_id"].(string)
	out.access, _ = body["access_token"].(string)
	out.refresh, _ = body["refresh_token"].(string)
	return out, status, nil
}

// TestAccountDeletionRacesLogins: on every store, many logins (bearer and
// cookie mode, on both nodes of a shared store), each followed by a
// refresh, race the deletion of their account, round after round, the
// deletion made each of the three ways (the admin API, the user's own
// DELETE /v1/account, and node.Node.DeleteAccount as `sessiond users
// delete` calls it). Afterwards the account has no live session in the
// store nor on any node; every refresh token ever answered is refused;
// every access token ever answered is refused at once by the node that
// deleted, and by the other node as soon as the store's feed tells it;
// introspection calls every token inactive; and every login or refresh
// begun after the deletion returned was refused.
func TestAccountDeletionRacesLogins(t *testing.T) {
	const (
		rounds  = 6
		workers = 8
		// Each worker logs in (and refreshes) until the deletion has
		// returned and it has tried twice since, at most this many times.
		maxTries = 12
	)
	for _, b := range deletionBackends {
		t.Run(b.name, func(t *testing.T) {
			envs := deletionNodes(t, b.open(t))
			var abandoned, refused, answered int
			for round := range rounds {
				r, n := deletionRound(t, envs, round, workers, maxTries)
				refused, answered = refused+r, answered+n
			}
			for _, e := range envs {
				abandoned += strings.Count(e.logs.String(), `"reason":"login abandoned"`)
			}
			t.Logf("%s: %d rounds: %d token pairs answered, %d logins or refreshes refused, %d logins ended their own session because the account was gone",
				b.name, rounds, answered, refused, abandoned)
		})
	}
}

// deletionRound is one round of TestAccountDeletionRacesLogins. It returns
// how many logins and refreshes of the race were refused, and how many
// token pairs were answered in all.
func deletionRound(t *testing.T, envs []*env, round, workers, maxTries int) (int, int) {
	t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("racer-%d-%s@example.com", round, randomName(""))
	first := envs[0]
	sg := first.post("/v1/signup", "", map[string]string{"email": email, "password": "correct horse battery"})
	if sg.status != http.StatusCreated {
		t.Fatalf("signup: %d %s", sg.status, sg.raw)
	}
	uid := str(sg, "user_id")

	var (
		mu    sync.Mutex
		toks  []*handed
		fails []string
	)
	keep := func(h *handed) {
		mu.Lock()
		toks = append(toks, h)
		mu.Unlock()
	}
	failf := func(format string, args ...any) {
		mu.Lock()
		fails = append(fails, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Two sessions exist before the race; the self-service deletion uses
	// the first (a fresh login: its auth_time is now).
	for i := range 2 {
		h, status, err := loginOnce(envs[i%len(envs)], i%len(envs), email, false)
		if err != nil || h == nil {
			t.Fatalf("login before the race: %d %v", status, err)
		}
		keep(h)
	}
	self := toks[0]

	var deleted atomic.Bool
	var answeredN, refusedN atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			after := 0
			for try := range maxTries {
				began := deleted.Load() // the deletion had returned before this login began
				ni := (w + try) % len(envs)
				h, status, err := loginOnce(envs[ni], ni, email, w%2 == 1)
				switch {
				case err != nil:
					failf("login: %v", err)
					return
				case h != nil && began:
					failf("a login begun after the deletion returned got a session (%s on node %d)", h.how, ni)
				case h != nil:
					keep(h)
					answeredN.Add(1)
					// Refresh it at once, on the other node when there is one.
					nj := (ni + 1) % len(envs)
					beganR := deleted.Load()
					r, status, err := refreshOnce(envs[nj], nj, h.refresh)
					switch {
					case err != nil:
						failf("refresh: %v", err)
						return
					case r != nil && beganR:
						failf("a refresh begun after the deletion returned was answered")
					case r != nil:
						keep(r)
						answeredN.Add(1)
					case status != http.StatusUnauthorized:
						failf("refresh during the race: %d, want 200 or 401", status)
					default:
						refusedN.Add(1)
					}
				case status != http.StatusUnauthorized:
					failf("login during the race: %d, want 200 or 401", status)
				default:
					refusedN.Add(1)
				}
				if began {
					if after++; after == 2 {
						return
					}
				}
			}
		})
	}
	close(start)
	// Delete once the logins are under way.
	for deadline := time.Now().Add(10 * time.Second); answeredN.Load() < int64(workers/2) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	deleter := round % len(envs)
	de := envs[deleter]
	switch round % 3 {
	case 0: // the operator, with the admin API
		r := de.do("DELETE", "/admin/v1/users/"+uid, adminToken, "", "")
		if n, _ := r.body["revoked"].(float64); r.status != http.StatusOK || n < 2 {
			t.Fatalf("DELETE /admin/v1/users/{id}: %d %s", r.status, r.raw)
		}
	case 1: // the user, from a fresh login
		r := de.do("DELETE", "/v1/account", self.access, "", "")
		if n, _ := r.body["revoked"].(float64); r.status != http.StatusOK || n < 2 {
			t.Fatalf("DELETE /v1/account: %d %s", r.status, r.raw)
		}
	default: // sessiond users delete
		n, err := de.srv.Node().DeleteAccount(ctx, uid, "cli")
		if err != nil || n < 2 {
			t.Fatalf("DeleteAccount: %d %v", n, err)
		}
	}
	deleted.Store(true)
	wg.Wait()
	for _, f := range fails {
		t.Error(f)
	}

	// No live session in the store, nor on any node.
	for i, e := range envs {
		recs, err := e.backend.ListUser(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if !r.Expired(time.Now()) {
				t.Errorf("round %d: the store (node %d) still has a live session of the deleted account, created %v", round, i, r.CreatedAt)
			}
		}
		live, err := e.srv.Node().Manager().List(ctx, uid)
		if err != nil || len(live) != 0 {
			t.Errorf("round %d: node %d lists %d live sessions of the deleted account (%v)", round, i, len(live), err)
		}
	}
	for _, h := range toks {
		for i, e := range envs {
			// A refresh token ever answered: refused.
			if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": h.refresh}); r.status != http.StatusUnauthorized {
				t.Errorf("round %d: the refresh token of a %s on node %d refreshes on node %d: %d %v", round, h.how, h.node, i, r.status, r.body["error"])
			}
			// An access token ever answered: refused at once by the node
			// that deleted; by another as soon as the feed tells it.
			get := func() resp { return e.do("GET", "/v1/session", h.access, "", "") }
			if i != deleter {
				waitRefused(t, e, h.sid)
			}
			if r := get(); r.status != http.StatusUnauthorized {
				t.Errorf("round %d: the access token of a %s on node %d is accepted by node %d: %d", round, h.how, h.node, i, r.status)
			}
			for _, tok := range []string{h.access, h.refresh} {
				in := e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {tok}})
				if in.status != http.StatusOK || in.body["active"] != false {
					t.Errorf("round %d: node %d introspects a token of the deleted account as %d active=%v", round, i, in.status, in.body["active"])
				}
			}
		}
	}
	if n := strings.Count(de.logs.String(), `"event":"account.deleted"`); n != 1+round/len(envs) {
		// Each round deletes one account; the deleting node alternates.
		t.Errorf("round %d: node %d logged %d account.deleted events", round, deleter, n)
	}
	return int(refusedN.Load()), len(toks)
}

// waitRefused waits until e's node knows the session sid as revoked (the
// store's feed carries revocations between nodes). It waits for an event
// and asserts nothing about how long it took.
func waitRefused(t *testing.T, e *env, sid string) {
	t.Helper()
	m := e.srv.Node().Manager()
	for deadline := time.Now().Add(10 * time.Second); !m.Revoked(sid); {
		if time.Now().After(deadline) {
			t.Fatalf("a revocation never reached a node")
		}
		time.Sleep(time.Millisecond)
	}
}

// loginSteps is a store that runs a hook, once, at a chosen step of the
// next login: before its session is stored, once it is stored, or once the
// login has read the account again (the one AccountByID of a login). There
// a test deletes the account, to pin each interleaving of a login and a
// deletion that the race test meets by chance. Revocations of other nodes
// reach it as they reach the store it wraps.
type loginSteps struct {
	node.Backend
	mu   sync.Mutex
	at   string // "before create", "after create", "after reread"
	hook func()
}

func (s *loginSteps) arm(at string, hook func()) {
	s.mu.Lock()
	s.at, s.hook = at, hook
	s.mu.Unlock()
}

// fire runs the hook if it is armed for step at, and disarms it.
func (s *loginSteps) fire(at string) {
	s.mu.Lock()
	hook := s.hook
	if s.at != at {
		hook = nil
	}
	if hook != nil {
		s.hook = nil
	}
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
}

func (s *loginSteps) Create(ctx context.Context, r *session.Record) error {
	s.fire("before create")
	err := s.Backend.Create(ctx, r)
	s.fire("after create")
	return err
}

func (s *loginSteps) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	a, err := s.Backend.AccountByID(ctx, id)
	s.fire("after reread")
	return a, err
}

func (s *loginSteps) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if f, ok := s.Backend.(session.RevocationFeed); ok {
		return f.SubscribeRevocations(ctx, fn)
	}
	return nil
}

// TestAccountDeletedDuringLogin: on every store, the account is deleted
// (node.Node.DeleteAccount, on the other node of a shared store) at each
// step of a login. Between the login's read of the account and its
// session, the deletion finds no session to end (it answers 0), so the
// login itself must notice: 401, and no session is left. Once the session
// is stored, the deletion ends it, and the login, reading the account
// again, answers 401. After that second read the login answers its
// tokens, and the deletion ends the session: every node refuses them, and
// introspection calls them inactive.
func TestAccountDeletedDuringLogin(t *testing.T) {
	for _, b := range deletionBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			stores := b.open(t)
			hooked := &loginSteps{Backend: stores[0]}
			envs := deletionNodes(t, append([]node.Backend{hooked}, stores[1:]...))
			login, deleter := envs[0], envs[len(envs)-1]
			for _, tc := range []struct {
				at          string
				status      int // the login's answer
				wantRevoked int // what the deletion ended
			}{
				{"before create", http.StatusUnauthorized, 0},
				{"after create", http.StatusUnauthorized, 1},
				{"after reread", http.StatusOK, 1},
			} {
				t.Run(strings.ReplaceAll(tc.at, " ", "-"), func(t *testing.T) {
					email := randomName("step-") + "@example.com"
					sg := login.post("/v1/signup", "", map[string]string{"email": email, "password": "correct horse battery"})
					if sg.status != http.StatusCreated {
						t.Fatalf("signup: %d %s", sg.status, sg.raw)
					}
					uid := str(sg, "user_id")
					revoked, ran := -1, false
					hooked.arm(tc.at, func() {
						ran = true
						n, err := deleter.srv.Node().DeleteAccount(ctx, uid, "admin")
						if err != nil {
							t.Errorf("DeleteAccount: %v", err)
						}
						revoked = n
					})
					l := login.post("/v1/login", "", map[string]string{"email": email, "password": "correct horse battery"})
					if !ran {
						t.Fatal("the login never reached the step")
					}
					if l.status != tc.status || revoked != tc.wantRevoked {
						t.Fatalf("login %d %s, the deletion ended %d sessions; want %d and %d", l.status, l.raw, revoked, tc.status, tc.wantRevoked)
					}
					if l.status == http.StatusUnauthorized && l.body["error"] != "invalid_grant" {
						t.Fatalf("the refused login: %s", l.raw)
					}
					for i, e := range envs {
						recs, err := e.backend.ListUser(ctx, uid)
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range recs {
							if !r.Expired(time.Now()) {
								t.Errorf("node %d: the store keeps a live session of the deleted account", i)
							}
						}
						if live, err := e.srv.Node().Manager().List(ctx, uid); err != nil || len(live) != 0 {
							t.Errorf("node %d lists %d live sessions (%v)", i, len(live), err)
						}
					}
					if l.status != http.StatusOK {
						return
					}
					for i, e := range envs {
						if e != deleter {
							waitRefused(t, e, str(l, "session_id"))
						}
						if r := e.do("GET", "/v1/session", str(l, "access_token"), "", ""); r.status != http.StatusUnauthorized {
							t.Errorf("node %d accepts the access token: %d", i, r.status)
						}
						if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": str(l, "refresh_token")}); r.status != http.StatusUnauthorized {
							t.Errorf("node %d refreshes the session: %d", i, r.status)
						}
						for _, tok := range []string{str(l, "access_token"), str(l, "refresh_token")} {
							if in := e.form("/v1/introspect", "api", clientSecret, url.Values{"token": {tok}}); in.body["active"] != false {
								t.Errorf("node %d introspects a token as %d active=%v", i, in.status, in.body["active"])
							}
						}
					}
				})
			}
		})
	}
}

// failingDeleteUser is a memory store whose next DeleteUser fails, once
// armed: a store that goes away between a deletion's two steps.
type failingDeleteUser struct {
	*memstore.Store
	armed atomic.Bool
}

func (s *failingDeleteUser) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	if s.armed.CompareAndSwap(true, false) {
		return nil, fmt.Errorf("%w: the store went away", session.ErrStore)
	}
	return s.Store.DeleteUser(ctx, userID, except, until)
}

// TestDeleteAccountRoutes: DELETE /v1/account deletes the caller's own
// account (from a fresh login: its auth_time is now) and ends every one
// of its sessions, bearer and cookie alike; the old password no longer
// logs in, the email is free again, and the audit line says the user did
// it. By cookie it needs the CSRF token (without, 403 and nothing
// changes) and clears the cookies. A user a service minted a session for
// has no account: 404, and its session lives on. DELETE
// /admin/v1/users/{id} does the same for the operator: 404 for no such
// account, 400 for an id no store can keep. A store that fails between
// the steps is 503 saying what finishes the job.
func TestDeleteAccountRoutes(t *testing.T) {
	st := &failingDeleteUser{Store: memstore.New()}
	e := newEnv(t, func(c *config) {
		cl, err := server.ParseClients("api:" + clientSecret)
		if err != nil {
			t.Fatal(err)
		}
		generous := ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
		c.Node.Backend, c.Server.Clients, c.Server.AdminToken = st, cl, adminToken
		c.Server.LoginPerIP = generous
	})
	ctx := context.Background()
	refused := func(what, access string) {
		t.Helper()
		if r := e.do("GET", "/v1/session", access, "", ""); r.status != http.StatusUnauthorized {
			t.Errorf("%s: the access token still works: %d", what, r.status)
		}
	}

	t.Run("by the user, bearer", func(t *testing.T) {
		old := e.signupLogin("ann@example.com")
		first, err := e.backend.AccountByEmail(ctx, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		jar, _ := loginCookie(e, "ann@example.com")
		e.clock.Advance(time.Hour)
		fresh := e.login("ann@example.com")
		// The deletion's own token is of a login just now: its auth_time
		// is now (the freshness rule of sensitive actions lets it through).
		if in := e.introspectRefresh(str(fresh, "refresh_token")); in.body["auth_time"] != float64(e.clock.Now().Unix()) {
			t.Fatalf("the fresh login's auth_time %v, want now (%d)", in.body["auth_time"], e.clock.Now().Unix())
		}
		r := e.do("DELETE", "/v1/account", str(fresh, "access_token"), "", "")
		if r.status != http.StatusOK || r.raw != "{\"revoked\":3}\n" {
			t.Fatalf("DELETE /v1/account: %d %s, want 200 {\"revoked\":3}", r.status, r.raw)
		}
		if r.header.Get("Set-Cookie") != "" || r.header.Get("Clear-Site-Data") != "" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("a bearer deletion's headers: %v", r.header)
		}
		refused("this session", str(fresh, "access_token"))
		refused("an older session", str(old, "access_token"))
		refused("the cookie session", jar[httpauth.AccessCookie])
		for _, rt := range []string{str(old, "refresh_token"), str(fresh, "refresh_token"), jar[httpauth.RefreshCookie]} {
			if r := e.post("/v1/refresh", "", map[string]string{"refresh_token": rt}); r.status != http.StatusUnauthorized {
				t.Errorf("a refresh token of the deleted account: %d", r.status)
			}
		}
		if l := e.post("/v1/login", "", map[string]string{"email": "ann@example.com", "password": "correct horse battery"}); l.status != http.StatusUnauthorized || l.body["error"] != "invalid_grant" {
			t.Fatalf("the old password: %d %s", l.status, l.raw)
		}
		if !strings.Contains(e.logs.String(), `"event":"account.deleted"`) || !strings.Contains(e.logs.String(), `"reason":"self"`) {
			t.Fatalf("no account.deleted audit line by the user:\n%s", e.logs.String())
		}
		// The email is free: signing up again makes another account.
		again := e.signupLogin("ann@example.com")
		if in := e.introspectRefresh(str(again, "refresh_token")); in.body["sub"] == first.ID || in.body["active"] != true {
			t.Fatalf("signing up again: %s", in.raw)
		}
	})

	t.Run("by the user, cookie", func(t *testing.T) {
		jar, l := e.cookieLogin("bea@example.com")
		access := map[string]string{httpauth.AccessCookie: jar[httpauth.AccessCookie]}
		if r := e.cdo(creq{method: "DELETE", path: "/v1/account", cookies: access}); r.status != http.StatusForbidden || r.body["error"] != "csrf_failed" {
			t.Fatalf("by cookie without the CSRF token: %d %s", r.status, r.raw)
		}
		if _, err := e.backend.AccountByEmail(ctx, "bea@example.com"); err != nil {
			t.Fatalf("a refused deletion deleted: %v", err)
		}
		r := e.cdo(creq{method: "DELETE", path: "/v1/account", cookies: access, csrf: str(l, "csrf_token")})
		if r.status != http.StatusOK || r.body["revoked"] != float64(1) {
			t.Fatalf("by cookie: %d %s", r.status, r.raw)
		}
		got := setCookies(t, r.header)
		for _, name := range []string{httpauth.AccessCookie, httpauth.RefreshCookie} {
			if c := got[name]; c == nil || c.MaxAge >= 0 {
				t.Errorf("cookie %s not cleared: %v", name, r.header.Values("Set-Cookie"))
			}
		}
		if r.header.Get("Clear-Site-Data") != `"cookies"` {
			t.Errorf("Clear-Site-Data %q", r.header.Get("Clear-Site-Data"))
		}
		refused("the cookie session", jar[httpauth.AccessCookie])
	})

	t.Run("a user with no account", func(t *testing.T) {
		tk, err := e.srv.Node().Manager().Login(ctx, "user-of-a-service", session.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		r := e.do("DELETE", "/v1/account", tk.AccessToken, "", "")
		if r.status != http.StatusNotFound || r.body["error"] != "not_found" {
			t.Fatalf("DELETE /v1/account of a minted user: %d %s", r.status, r.raw)
		}
		if s := e.do("GET", "/v1/session", tk.AccessToken, "", ""); s.status != 200 {
			t.Fatalf("the minted user's session ended: %d", s.status)
		}
	})

	t.Run("by the operator", func(t *testing.T) {
		l := e.signupLogin("cy@example.com")
		acct, err := e.backend.AccountByEmail(ctx, "cy@example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, path, token string
			status            int
			code              string
		}{
			{"without the admin token", "/admin/v1/users/" + acct.ID, "", 401, "invalid_token"},
			{"a user id no store can keep", "/admin/v1/users/a%00b", adminToken, 400, "invalid_request"},
			{"no such account", "/admin/v1/users/no-such-account", adminToken, 404, "not_found"},
		} {
			if r := e.do("DELETE", tc.path, tc.token, "", ""); r.status != tc.status || r.body["error"] != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.raw, tc.status, tc.code)
			}
		}
		if s := e.do("GET", "/v1/session", str(l, "access_token"), "", ""); s.status != 200 {
			t.Fatalf("a refused deletion ended the session: %d", s.status)
		}
		r := e.do("DELETE", "/admin/v1/users/"+acct.ID, adminToken, "", "")
		if r.status != http.StatusOK || r.body["revoked"] != float64(1) {
			t.Fatalf("DELETE /admin/v1/users/{id}: %d %s", r.status, r.raw)
		}
		refused("the operator deleted it", str(l, "access_token"))
		if r := e.do("DELETE", "/admin/v1/users/"+acct.ID, adminToken, "", ""); r.status != http.StatusNotFound {
			t.Fatalf("deleting it again: %d %s", r.status, r.raw)
		}
	})

	t.Run("the store fails between the steps", func(t *testing.T) {
		for _, tc := range []struct{ who, finish string }{
			{"operator", "DELETE /admin/v1/users/{id}/sessions"},
			{"user", "log out everywhere"},
		} {
			l := e.signupLogin(tc.who + "-dee@example.com")
			acct, err := e.backend.AccountByEmail(ctx, tc.who+"-dee@example.com")
			if err != nil {
				t.Fatal(err)
			}
			st.armed.Store(true)
			var r resp
			if tc.who == "operator" {
				r = e.do("DELETE", "/admin/v1/users/"+acct.ID, adminToken, "", "")
			} else {
				r = e.do("DELETE", "/v1/account", str(l, "access_token"), "", "")
			}
			if r.status != http.StatusServiceUnavailable || r.body["error"] != "temporarily_unavailable" ||
				!strings.Contains(str(r, "error_description"), tc.finish) || r.header.Get("Retry-After") == "" {
				t.Errorf("%s: %d %s %v, want 503 saying %q", tc.who, r.status, r.raw, r.header, tc.finish)
			}
		}
	})
}

// loginCookie logs email in in cookie mode and returns its cookies.
func loginCookie(e *env, email string) (map[string]string, resp) {
	e.t.Helper()
	r := e.cdo(creq{method: "POST", path: "/v1/login", cookieMode: true, body: `{"email":"` + email + `","password":"correct horse battery"}`})
	if r.status != 200 {
		e.t.Fatalf("cookie login: %d %s", r.status, r.raw)
	}
	jar := map[string]string{}
	for name, c := range setCookies(e.t, r.header) {
		jar[name] = c.Value
	}
	return jar, r
}
