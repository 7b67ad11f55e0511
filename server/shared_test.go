package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/pgstore"
	"github.com/sessiond/sessiond/store/redisstore"
)

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// peer is one sessiond "process": its own store client (own connections
// and pub/sub or LISTEN connection), its own node and Server.
type peer struct {
	srv  *server.Server
	back node.Backend
}

func redisNodes(t testing.TB, n int) []peer {
	t.Helper()
	url := testenv.RedisURL(t)
	prefix := randomName("sdt")
	var out []peer
	for range n {
		st, err := redisstore.Open(context.Background(), url, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, newNode(t, st))
	}
	return out
}

func pgNodes(t testing.TB, n int) []peer {
	t.Helper()
	url := testenv.PostgresURL(t)
	schema := randomName("sdt_")
	var out []peer
	for i := range n {
		opts := []pgstore.Option{pgstore.WithSchema(schema)}
		if i == 0 {
			opts = append(opts, pgstore.WithAutoMigrate())
		}
		st, err := pgstore.Open(context.Background(), url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, newNode(t, st))
	}
	t.Cleanup(func() { dropSchema(t, url, schema) })
	return out
}

func newNode(t testing.TB, st node.Backend) peer {
	t.Helper()
	t.Cleanup(func() { st.Close() }) // after the node's own cleanup
	srv := startNode(t, node.Config{
		Backend: st, Shared: true, MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), Issuer: "iss", Audience: "aud",
		PasswordParams: fastParams, Logger: quietLogger(),
	}, server.Config{})
	return peer{srv: srv, back: st}
}

// measurePropagation revokes sessions on the last node and measures how
// long until the first node knows, through the store's change feed.
func measurePropagation(t testing.TB, nodes []peer, rounds int) (p50, p99 time.Duration) {
	t.Helper()
	ctx := context.Background()
	first, last := nodes[0].srv.Node().Manager(), nodes[len(nodes)-1].srv.Node().Manager()
	var lat []time.Duration
	for range rounds {
		tk, err := first.Login(ctx, "prop-user", session.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := last.Revoke(ctx, tk.Session.ID); err != nil {
			t.Fatal(err)
		}
		deadline := start.Add(10 * time.Second)
		for !first.Revoked(tk.Session.ID) {
			if time.Now().After(deadline) {
				t.Fatal("a revocation never reached the first node")
			}
			// Yield rather than spin: on two cores a busy loop would starve
			// the very goroutines that deliver the revocation.
			runtime.Gosched()
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// BenchmarkRevocationPropagation reports p50 and p99 of the time from a
// revocation returning on one node to another node refusing the session,
// across three nodes, per shared backend.
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, tc := range []struct {
		name  string
		nodes func(testing.TB, int) []peer
	}{{"redis", redisNodes}, {"postgres", pgNodes}} {
		b.Run(tc.name, func(b *testing.B) {
			nodes := tc.nodes(b, 3)
			b.ResetTimer()
			p50, p99 := measurePropagation(b, nodes, max(b.N, 200))
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
		})
	}
}

// TestRevocationReachesEveryNode: revoke on node 3, nodes 1 and 2 refuse
// the session's access token without reading the store.
func TestRevocationReachesEveryNode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes func(testing.TB, int) []peer
	}{{"redis", redisNodes}, {"postgres", pgNodes}} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes(t, 3)
			ctx := context.Background()
			m1, m2, m3 := nodes[0].srv.Node().Manager(), nodes[1].srv.Node().Manager(), nodes[2].srv.Node().Manager()
			tk, err := m1.Login(ctx, "u1", session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := m2.Refresh(ctx, tk.RefreshToken, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*session.Manager{m1, m2, m3} {
				if _, err := m.Verify(ctx, r.AccessToken); err != nil {
					t.Fatalf("a token of node 2 on another node: %v", err)
				}
			}
			ids, err := m3.RevokeUser(ctx, "u1", "")
			if err != nil || len(ids) != 1 {
				t.Fatalf("RevokeUser: %v %v", ids, err)
			}
			for _, m := range []*session.Manager{m1, m2} {
				deadline := time.Now().Add(10 * time.Second)
				for !m.Revoked(tk.Session.ID) {
					if time.Now().After(deadline) {
						t.Fatal("revocation never reached a node")
					}
					time.Sleep(time.Millisecond)
				}
				if _, err := m.Verify(ctx, r.AccessToken); err == nil {
					t.Fatal("a node accepts a revoked session's token")
				}
			}
			p50, p99 := measurePropagation(t, nodes, 50)
			t.Logf("%s: revocation propagation across 3 nodes: p50 %v, p99 %v (50 rounds)", tc.name, p50, p99)
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func dropSchema(t testing.TB, url, schema string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Errorf("drop schema: %v", err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop schema: %v", err)
	}
}

// TestRateLimitsSharedAcrossNodes: failed logins on one node count on the
// other, through Redis: three failures of one account from one address,
// spread over two nodes, put it in back-off on both, right password
// included.
func TestRateLimitsSharedAcrossNodes(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := randomName("sdt")
	on := true
	var envs []*env
	for range 2 {
		st, err := redisstore.Open(context.Background(), url, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		envs = append(envs, newEnv(t, func(c *config) {
			c.Node.Backend, c.Node.Shared, c.Server.AllowSignup = st, true, &on
			c.Server.LoginFailures.PerClient = ratelimit.Backoff{Free: 2, Base: time.Hour, Max: time.Hour, Decay: time.Hour}
			c.Server.LoginPerIP = ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
		}))
	}
	a, b := envs[0], envs[1]
	a.signupLogin("uma@example.com")
	for i, e := range []*env{a, b, a} { // the third failure starts the back-off
		if r := e.post("/v1/login", "", map[string]string{"email": "uma@example.com", "password": "wrong wrong wrong"}); r.status != 401 {
			t.Fatalf("failure %d: %d %s", i, r.status, r.raw)
		}
	}
	for _, e := range []*env{a, b} {
		r := e.post("/v1/login", "", map[string]string{"email": "uma@example.com", "password": "correct horse battery"})
		if r.status != 429 {
			t.Fatalf("after three failures across two nodes: %d", r.status)
		}
	}
}
